"""Shared fixtures and helpers: a tiny spec of the embedded tasks that trains in seconds on a CPU."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# Derived-data caches (trained tokenizers, Hugging Face data sets) go to a throw-away directory, and
# nothing reaches for the network; set before any test module imports `datasets`, which reads them once.
_CACHE = tempfile.mkdtemp(prefix="harness-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ.update(HARNESS_CACHE=os.path.join(_CACHE, "harness"), HF_HOME=os.path.join(_CACHE, "huggingface"),
                  HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")

TABLES_ONLY = ("--format", "csv")  # `harness run`'s report without figures, for tests that read none of them
TINY_LISTOPS = {"name": "listops", "model_family": "transformer", "train_size": 120, "val_size": 40,
                "test_size": 40, "max_length": 24, "max_depth": 3}


def tiny_spec(**changes: Any) -> dict[str, Any]:
    """Two tasks x two strategies x one seed, 2 trials of 1 epoch, the smallest models."""
    spec = {
        "name": "tiny",
        "tasks": ["digits", TINY_LISTOPS],
        "strategies": [{"name": "grid", "resolution": 2}, "random"],
        "seeds": [0],
        "budget": {"trials": 2, "epochs": 1},
        "space": {"width": 8, "depth": 1, "d_model": 32, "layers": 1, "batch_size": [64, 128]},
        "device": "cpu",
    }
    spec.update(changes)
    return spec


def interrupt_at_epoch(n: int) -> Callable[[Any], None]:
    """An `on_epoch` hook that raises KeyboardInterrupt at the n-th epoch it sees, as a Ctrl-C there would."""
    seen: list[Any] = []

    def hook(record: Any) -> None:
        seen.append(record)
        if len(seen) == n:
            raise KeyboardInterrupt

    return hook


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec dict as YAML in tmp_path and return its path."""

    def write(spec: dict[str, Any], name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec))
        return path

    return write


from postgres_server import postgres_server, postgres_url  # noqa: E402,F401  fixtures for the PostgreSQL tests
