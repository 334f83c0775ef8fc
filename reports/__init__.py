"""Reports: pure functions from the results frame to tables, statistics, figures and report files."""

from __future__ import annotations

from reports.analysis import Analysis
from reports.anytime import anytime_frame
from reports.tables import cell_summary, summary
from reports.write import FORMATS, rich_table, write_report

__all__ = ["FORMATS", "Analysis", "anytime_frame", "cell_summary", "rich_table", "summary", "write_report"]
