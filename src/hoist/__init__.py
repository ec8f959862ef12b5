"""hoist: promote the exact container image you tested, by digest."""

__version__ = "0.1.0"
