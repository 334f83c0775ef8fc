"""Small text data sets written in real formats, for the text tests: local files and hub-layout directories."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import datasets
import pandas as pd
import pytest
import torch

TOPICS = {"sport": "goal match team win score league coach", "money": "stock market price bank trade fund rate",
          "film": "actor movie scene plot cinema director cast"}
FILLER = "the a of and to in it was on with".split()


def topic_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """`n` short texts of a few topic words among filler words, of varied lengths; the label is the topic."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topic = rng.choice(sorted(TOPICS))
        words = [rng.choice(TOPICS[topic].split()) if rng.random() < 0.4 else rng.choice(FILLER)
                 for _ in range(rng.randint(3, 25))]
        rows.append({"text": " ".join(words), "label": topic})
    return rows


def write_local(path: Path, rows: list[dict[str, str]]) -> Path:
    """One file in the format its suffix names (CSV, JSON Lines, a JSON array or Parquet), written by pandas."""
    frame = pd.DataFrame(rows)
    {".csv": lambda: frame.to_csv(path, index=False), ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     ".json": lambda: frame.to_json(path, orient="records"), ".parquet": lambda: frame.to_parquet(path)}[path.suffix]()
    return path


def write_hub_dir(root: Path, splits: dict[str, list[dict]]) -> Path:
    """A data set directory laid out as on the hub (`data/<split>-00000-of-00001.parquet`), written by `datasets`."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        datasets.Dataset.from_list(rows).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine more threads only wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
