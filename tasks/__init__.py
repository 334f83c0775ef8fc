"""Built-in tasks; importing this package registers them."""

from tasks import digits, image_datasets, listops, text_tasks

__all__ = ["digits", "image_datasets", "listops", "text_tasks"]
