"""Raw text data sets: Hugging Face `datasets` (hub ids or local copies) and local CSV / JSONL / Parquet files.

Both give (texts, labels) tables for train and test; splitting off validation, tokenising and
padding happen in `tasks.text_tasks`, the same for every source. Problems a user can fix (no
network and not cached, a missing column, an unknown file type) are one-line `HarnessError`s.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from harness.errors import HarnessError, first_line



def read_json(path: Path) -> pd.DataFrame:
    """A JSON array of records, or one record per line as `datasets` also accepts in a .json file."""
    try:
        return pd.read_json(path)
    except ValueError:
        return pd.read_json(path, lines=True)


READERS = {".csv": pd.read_csv, ".jsonl": lambda path: pd.read_json(path, lines=True), ".json": read_json,
           ".parquet": pd.read_parquet}


@dataclass(frozen=True)
class TextTable:
    """Texts and their labels, as read (labels may be ints or strings)."""

    texts: list[str]
    labels: list[Any]

    @classmethod
    def of(cls, texts: Sequence[Any], labels: Sequence[Any], where: str) -> TextTable:
        """A table from read columns: a missing text is an empty one; a missing label is refused, naming its rows."""
        unlabelled = [row for row, label in enumerate(labels) if pd.isna(label)]
        if unlabelled:
            rows = ", ".join(str(row + 1) for row in unlabelled[:5]) + (", ..." if len(unlabelled) > 5 else "")
            raise HarnessError(f"{where}: {len(unlabelled)} example(s) have no label (rows {rows}, counting from 1); "
                               "label them or remove them")
        return cls(["" if pd.isna(text) else str(text) for text in texts], list(labels))

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int]) -> TextTable:
        return TextTable([self.texts[i] for i in index], [self.labels[i] for i in index])


def columns(found: Sequence[str], text_column: str, label_column: str, where: str) -> None:
    """Raise naming the columns there are when a wanted one is absent."""
    for kind, name in (("text", text_column), ("label", label_column)):
        if name not in found:
            raise HarnessError(f"{where} has no {kind} column {name!r}; columns found: {', '.join(map(str, found))}; "
                               f"set the task's `{kind}_column` option")


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a local data set, or None when it can."""
    if path.suffix.lower() not in READERS:
        return f"{path}: unknown file type {path.suffix!r}; allowed: {', '.join(READERS)}"
    if not path.is_file():
        return f"{path}: no such file"
    return None


def read_local(path: Path, text_column: str, label_column: str) -> TextTable:
    """A CSV, JSON Lines or Parquet file with one example per row."""
    problem = file_problem(path)
    if problem:
        raise HarnessError(problem)
    try:
        frame = READERS[path.suffix.lower()](path)
    except (OSError, ValueError) as error:  # pandas' and pyarrow's parse errors are ValueErrors
        reason = first_line(error) or type(error).__name__
        raise HarnessError(f"cannot read {path} as {path.suffix.lower()[1:]}: {reason}") from None
    columns(list(frame.columns), text_column, label_column, str(path))
    return TextTable.of(frame[text_column].tolist(), frame[label_column].tolist(), str(path))


def hub_unreachable(endpoint: str, timeout: float = 3.0) -> str | None:
    """Why the Hub at `endpoint` cannot be reached, or None when it can (or a proxy decides): without this check,
    a machine with no network spends `huggingface_hub`'s five retries, about 30 s, before the load fails."""
    address = urlsplit(endpoint)
    if address.scheme in urllib.request.getproxies():
        return None
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        socket.create_connection((address.hostname, port), timeout=timeout).close()
    except OSError as error:
        return f"{address.hostname}:{port}: {error.strerror or error or type(error).__name__}"
    return None


@contextmanager
def hub_offline() -> Iterator[None]:
    """Offline mode for one load: both libraries read their flag from the environment only when imported,
    and from these module attributes at every request."""
    import datasets
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def load_hub(path: str, splits: tuple[str, str], text_column: str, label_column: str,
             config: str | None = None) -> tuple[TextTable, TextTable]:
    """Train and test tables through `datasets.load_dataset` (its cache; HF_DATASETS_OFFLINE honoured).

    `path` is a hub id ("fancyzhx/ag_news") or a local directory in the hub's layout. A hub id is read from
    the cache alone when the Hub cannot be reached.
    """
    import datasets  # imported here: it is slow to import and only these tasks need it

    unreachable = None if datasets.config.HF_HUB_OFFLINE or Path(path).exists() else hub_unreachable(
        datasets.config.HF_ENDPOINT)
    try:
        with hub_offline() if unreachable else nullcontext():
            loaded = datasets.load_dataset(path, config)
    except Exception as error:  # network, missing cache and bad paths arrive as many types; all are the user's to fix
        offline = (" (offline mode is on)" if datasets.config.HF_HUB_OFFLINE else
                   f" (the Hub cannot be reached: {unreachable}; only the cache was read)" if unreachable else "")
        reason = first_line(error) or type(error).__name__
        raise HarnessError(f"cannot load data set {path!r}{offline}: {reason}. A hub data set must be in the "
                           f"Hugging Face cache ({datasets.config.HF_DATASETS_CACHE}) or downloadable: load it once "
                           "with network access, or point the task's `path` at a local copy") from None
    tables = []
    for split in splits:
        if split not in loaded:
            raise HarnessError(f"data set {path!r} has no split {split!r}; splits found: {', '.join(loaded)}")
        columns(loaded[split].column_names, text_column, label_column, f"data set {path!r} split {split!r}")
        tables.append(TextTable.of(loaded[split][text_column], loaded[split][label_column],
                                   f"data set {path!r} split {split!r}"))
    return tables[0], tables[1]
