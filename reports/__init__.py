"""Reports: pure functions from the results frame to tables, figures and the files of a report."""

from __future__ import annotations

from reports.figures import anytime_frame, plot_anytime
from reports.tables import cell_summary, format_rows, markdown_table, summary
from reports.write import rich_table, write_report

__all__ = [
    "anytime_frame",
    "cell_summary",
    "format_rows",
    "markdown_table",
    "plot_anytime",
    "rich_table",
    "summary",
    "write_report",
]
