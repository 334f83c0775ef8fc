"""Built-in strategies; importing this package registers them."""

from strategies import fixed, samplers

__all__ = ["fixed", "samplers"]
