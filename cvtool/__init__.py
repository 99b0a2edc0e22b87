"""cvtool: image filtering and template matching with a pure-NumPy core."""

__version__ = "0.1.0"

__all__ = ["__version__"]
