"""adoption-collector: measures whether developers use the platform's golden paths."""

__version__ = "0.1.0"
