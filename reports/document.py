"""The report as sections of blocks (text, code, tables, figures), so Markdown and HTML say the same."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pandas as pd

from reports.analysis import Analysis
from reports.layout import report_tables
from reports.provenance import SPEC_FILE, commands, provenance_rows, search_space_table, spec_yaml
from reports.render import Table
from reports.stats import VALIDATION, Metric

TITLE = "Benchmark report"


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Code:
    text: str
    language: str


@dataclass(frozen=True)
class FigureFile:
    name: str
    title: str
    caption: str
    paths: list[Path]  # PNG first, then PDF

    @property
    def png(self) -> Path:
        return self.paths[0]


Block = Union[Text, Code, Table, FigureFile]


@dataclass(frozen=True)
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def _figures(figures: list[FigureFile], *names: str) -> list[Block]:
    return [f for f in figures if f.name in names]


def _tables(tables: list[Table], *names: str) -> list[Block]:
    return [t for t in tables if t.name in names]


def build(analysis: Analysis, figures: list[FigureFile], manifest: dict[str, Any] | None) -> list[Section]:
    """Sections in reading order: caveats, results, statistics, the search, noise, reproducibility."""
    tables = report_tables(analysis)
    caveats = analysis.warnings()
    sections = [Section("Caveats", [Text("- " + line) for line in caveats])] if caveats else []
    sections += [
        Section("Results", [Text("Each cell (task × strategy × seed) is one Optuna study at the same budget; "
                                 "it is credited with the trial its validation accuracy selected."),
                            *_tables(tables, "accuracy", "cost"), *_figures(figures, "final_accuracy")]),
        Section("Statistics", [*_tables(tables, "ranks", "pairwise"),
                               *_figures(figures, "critical_difference", "performance_profiles")]),
        Section("Search behaviour", _figures(figures, "best_so_far", "best_so_far_seconds", "expected_max",
                                             "learning_curves", "importance", "lr_vs_accuracy")),
        Section("Best configurations", _tables(tables, "best_configs")),
        Section("Noise floor", _tables(tables, "noise_floor") or [
            Text("Not measured: add `noise_floor: N` to the spec to re-train the default configuration N times "
                 "with different training seeds, so differences inside seed noise are marked.")]),
    ]
    if manifest is not None:
        sections.append(reproducibility(manifest, analysis.metric))
    return sections


def reproducibility(manifest: dict[str, Any], metric: Metric = VALIDATION) -> Section:
    """The commands and spec that regenerate the run, and where and with what it ran."""
    rows = provenance_rows(manifest)
    provenance = pd.DataFrame(rows, columns=["What", "Value"])
    return Section("Reproducibility", [
        Text(f"To run this study again and regenerate this report (`{SPEC_FILE}` is written beside it):"),
        Code("\n".join(commands(manifest, metric)), "bash"),
        Text(f"The spec (hash `{manifest['spec_hash']}`):"),
        Code(spec_yaml(manifest), "yaml"),
        *filter(None, [search_space_table(manifest)]),
        Table("provenance", "Provenance of every session of the run", provenance, provenance, align="ll"),
    ])
