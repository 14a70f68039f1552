"""smki: the GB Smart Metering Key Infrastructure in Python."""

__version__ = "0.1.0"
