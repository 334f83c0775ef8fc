"""Executors beyond the in-process `local` one, one module each; importing this registers them."""

from harness.executors import processes, ray_tasks  # noqa: F401
