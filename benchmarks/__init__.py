"""Scale benchmarks and the soak test: `make bench`, `make soak`."""
