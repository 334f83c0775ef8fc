"""Built-in strategies; importing this package registers them."""

from strategies import coarse_to_fine, fixed, lr_range, multifidelity, samplers

__all__ = ["coarse_to_fine", "fixed", "lr_range", "multifidelity", "samplers"]
