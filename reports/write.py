"""Writers: the run's frames and its report on disk, and the summary table for the terminal.

Raw frames are written beside the report so every number in it can be recomputed from the files.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pandas as pd
from rich.table import Table

from reports.figures import plot_anytime
from reports.tables import HEADERS, NOTE, NUMERIC_FROM, format_rows, markdown_table, summary

FIGURE_STEM = "best_so_far"


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


def _report_markdown(summary_frame: pd.DataFrame, figure: Path) -> str:
    """The page a reader pastes from: heading, table with its note, the anytime figure."""
    return (
        "# Benchmark report\n\n"
        "Best validation accuracy found by each tuning strategy on each task, over seeds.\n\n"
        f"{markdown_table(summary_frame)}\n"
        f"![Best validation accuracy so far against epochs spent]({figure.name})\n"
    )


def write_report(results: pd.DataFrame, curves: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Write frames, `summary.csv`, `report.md` and the best-so-far figure into `out_dir`; name -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _write_frames({"results": results, "curves": curves}, out_dir)
    summary_frame = summary(results)
    paths["summary.csv"] = out_dir / "summary.csv"
    summary_frame.to_csv(paths["summary.csv"], index=False)
    figures = plot_anytime(results, out_dir / FIGURE_STEM)
    paths.update({path.name: path for path in figures})
    paths["report.md"] = out_dir / "report.md"
    paths["report.md"].write_text(_report_markdown(summary_frame, figures[0]), encoding="utf-8")
    return paths


def rich_table(summary_frame: pd.DataFrame) -> Table:
    """The Markdown table's columns and numbers for the terminal, with the same note as caption."""
    table = Table(caption=NOTE)
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="right" if i >= NUMERIC_FROM else "left")
    for row in format_rows(summary_frame):
        table.add_row(*row)
    return table
