"""Stand-ins for what the collector reads: a simulated API server, a synthetic organisation."""
