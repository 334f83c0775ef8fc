"""Writers: the run's frames and its report on disk, and the accuracy table for the terminal.

Raw frames are written beside the report so every number in it can be recomputed from the files.
"""

from __future__ import annotations

from collections.abc import Collection
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table as RichTable

from reports.analysis import Analysis
from reports.anytime import SPENT, anytime_frame
from reports.document import build
from reports.figures import ANYTIME_STEMS, draw_figures
from reports.figures.search import anytime_bands
from reports.html import render_html
from reports.layout import accuracy_table, report_tables
from reports.markdown import render_markdown
from reports.provenance import SPEC_FILE, search_space_table, spec_yaml
from reports.render import to_latex
from reports.stats import VALIDATION, Metric, problem_matrix, problem_ranks

FORMATS = ("md", "tex", "csv", "html")
LATEX_PREAMBLE = "% Tables of a harness report; they need \\usepackage{booktabs} in the preamble.\n\n"


def _write_frames(frames: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    """CSV always (readable anywhere); Parquet as well when pyarrow is installed (typed, compact)."""
    formats = ["csv", "parquet"] if find_spec("pyarrow") is not None else ["csv"]
    paths = {}
    for name, frame in frames.items():
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            getattr(frame, f"to_{fmt}")(path, index=False)
            paths[path.name] = path
    return paths


def _write_csv(analysis: Analysis, out_dir: Path) -> dict[str, Path]:
    """The numbers behind every table and figure, one CSV each."""
    ranks = problem_ranks(problem_matrix(analysis.cells, analysis.metric)[0]).reset_index()
    frames = {"summary": analysis.summary, "cells": analysis.cells, "problem_ranks": ranks,
              "expected_max": analysis.expected_max,
              "importance": analysis.importance, "profile_ratios": analysis.ratios.reset_index()}
    for by, stem in ANYTIME_STEMS.items():
        frames[f"{stem}_seeds"] = anytime_frame(analysis.results, by)  # each seed's line, drawn with few seeds
        frames[stem] = anytime_bands(frames[f"{stem}_seeds"], SPENT[by])
    frames |= {table.name: table.data for table in report_tables(analysis) if table.name != "accuracy"}
    paths = {}
    for name, frame in frames.items():
        paths[f"{name}.csv"] = out_dir / f"{name}.csv"
        frame.to_csv(paths[f"{name}.csv"], index=False)
    return paths


def _write_text(path: Path, text: str) -> dict[str, Path]:
    path.write_text(text, encoding="utf-8")
    return {path.name: path}


def write_report(results: pd.DataFrame, curves: pd.DataFrame, out_dir: Path, manifest: dict[str, Any] | None = None,
                 formats: Collection[str] = FORMATS, metric: Metric = VALIDATION) -> dict[str, Path]:
    """Write the frames, then the report in each of `formats` (md, tex, csv, html) into `out_dir`; name -> path.

    `manifest` (the run's manifest.json) adds the reproducibility section and `spec.yaml`; the rank tests compare
    the selected trials' `metric`.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"report formats must be among {', '.join(FORMATS)}, but got {', '.join(sorted(unknown))}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _write_frames({"results": results, "curves": curves}, out_dir)
    analysis = Analysis(results, curves, metric)
    if manifest is not None:
        paths |= _write_text(out_dir / SPEC_FILE, spec_yaml(manifest))
    if "csv" in formats:
        paths |= _write_csv(analysis, out_dir)
    if "tex" in formats:
        space = search_space_table(manifest) if manifest is not None else None
        latex = "\n".join(map(to_latex, [*report_tables(analysis), *filter(None, [space])]))
        paths |= _write_text(out_dir / "tables.tex", LATEX_PREAMBLE + latex)
    if {"md", "html"} & set(formats):
        figures = draw_figures(analysis, out_dir)
        paths |= {path.name: path for figure in figures for path in figure.paths}
        sections = build(analysis, figures, manifest)
        if "md" in formats:
            paths |= _write_text(out_dir / "report.md", render_markdown(sections))
        if "html" in formats:
            paths |= _write_text(out_dir / "index.html", render_html(sections))
    return paths


def rich_table(results: pd.DataFrame) -> RichTable:
    """The report's accuracy table for the terminal, with the same columns and note."""
    table = accuracy_table(Analysis(results))
    terminal = RichTable(caption=table.note)
    for header, side in zip(table.cells.columns, table.alignment):
        terminal.add_column(header, justify="left" if side == "l" else "right")
    bold = table.bold_mask()
    for i, row in enumerate(table.cells.itertuples(index=False)):
        terminal.add_row(*(f"[bold]{cell}[/]" if bold[i, j] else cell for j, cell in enumerate(row)))
    return terminal
