"""One table, four outputs: Markdown, LaTeX (booktabs), HTML and CSV, all from the same frames.

A `Table` holds its display strings (with Unicode marks such as ±), which cells are bold, and the
numbers behind them for CSV. LaTeX and HTML are rendered by pandas' Styler.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

LATEX_SYMBOLS = {"±": r"$\pm$", "–": "--", "—": "---", "−": "$-$", "≈": r"$\approx$", "†": r"$^\dagger$",
                 "‡": r"$^\ddagger$", "α": r"$\alpha$", "τ": r"$\tau$", "×": r"$\times$", "≤": r"$\leq$",
                 "≥": r"$\geq$", "∈": r"$\in$", "Δ": r"$\Delta$", "š": r"\v{s}"}  # so tables.tex is ASCII
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


@dataclass(frozen=True)
class Table:
    name: str  # file stem and LaTeX label
    caption: str
    cells: pd.DataFrame  # display strings; the columns are the headers
    data: pd.DataFrame  # the numbers behind them, written to CSV
    bold: pd.DataFrame | None = None  # True where a cell is the best of its group
    note: str = ""  # printed beneath: what ±, marks and units mean
    align: str = ""  # one of l/r per column; default: two text columns, then numbers

    @property
    def alignment(self) -> str:
        return self.align or "ll" + "r" * (self.cells.shape[1] - 2)

    @property
    def text(self) -> pd.DataFrame:
        """The display cells as strings, whatever dtype an empty column was given."""
        return self.cells.astype(str)

    def bold_mask(self) -> np.ndarray:
        return np.zeros(self.cells.shape, bool) if self.bold is None else self.bold.to_numpy(bool)


def to_markdown(table: Table) -> str:
    """A pipe table: text columns left-aligned, number columns right-aligned, bold as **…**."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"

    text = table.text
    shown = text.where(~table.bold_mask(), "**" + text + "**")
    rule = [":---" if side == "l" else "---:" for side in table.alignment]
    lines = [f"**Table: {table.caption}**", "", line(list(table.cells.columns)), "|" + "|".join(rule) + "|",
             *(line(list(row)) for row in shown.itertuples(index=False))]
    return "\n".join(lines) + (f"\n\n{table.note}" if table.note else "") + "\n"


def latex_text(text: str) -> str:
    """Plain text for LaTeX: special characters escaped, Unicode marks as math symbols."""
    escaped = "".join(LATEX_SPECIAL.get(char, char) for char in text)
    return "".join(LATEX_SYMBOLS.get(char, char) for char in escaped)


def to_latex(table: Table) -> str:
    """A floating `table` with booktabs rules, caption, label `tab:<name>` and the best values in bold."""
    cells = table.text.map(latex_text)
    cells.columns = [latex_text(c) for c in table.cells.columns]
    bold = table.bold_mask()
    styler = cells.style.hide(axis="index").apply(lambda _: np.where(bold, "bfseries: ;", ""), axis=None)
    latex = styler.to_latex(hrules=True, caption=latex_text(table.caption), label=f"tab:{table.name}",
                            position_float="centering", column_format=table.alignment)
    if table.note:
        latex = latex.replace(r"\end{table}", f"\\par\\smallskip{{\\footnotesize {latex_text(table.note)}}}\n"
                                              r"\end{table}")
    return latex


def to_html(table: Table) -> str:
    """An HTML table with its caption; the note follows as a paragraph. Deterministic ids."""
    bold = table.bold_mask()
    left = [{"selector": f"th.col{i}, td.col{i}", "props": "text-align: left"}
            for i, side in enumerate(table.alignment) if side == "l"]
    styler = (table.text.style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1)
              .apply(lambda _: np.where(bold, "font-weight: bold", ""), axis=None)
              .set_uuid(table.name).set_caption(table.caption).set_table_styles(left)
              .set_table_attributes('class="report-table"'))  # id: T_<name>
    return styler.to_html() + (f'<p class="note">{escape(table.note)}</p>' if table.note else "")
