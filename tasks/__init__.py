"""Built-in tasks; importing this package registers them."""

from tasks import digits, listops, text_tasks

__all__ = ["digits", "listops", "text_tasks"]
