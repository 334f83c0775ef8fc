"""Built-in tasks; importing this package registers them."""

from tasks import digits, listops

__all__ = ["digits", "listops"]
