"""Figures that never enter pyplot: each has its own Agg canvas, so no global backend is switched and
nothing stays open once it is saved. Each strategy has one style (colour, marker, line style) in every figure, so
figures read alike, in colour or in black and white."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import seaborn as sns
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

PANEL = (3.4, 2.8)  # inches per subplot: one is a paper's column wide, two its text width
MAX_COLUMNS = 3  # tasks side by side; more wrap onto another row rather than shrink every panel on the page
FORMATS = (".png", ".pdf")
# TrueType in the PDF: the Type 3 fonts matplotlib embeds by default fail IEEE's and ACM's checks of a paper's PDF
PAPER_FONTS = {"pdf.fonttype": 42}
MAX_DECIMALS = 4  # percent ticks closer than 0.0001% are not told apart
# seaborn's colour-blind palette without its pale pink and yellow, which vanish on white (the critical-difference
# diagram also writes its labels in them), and with brown, close to orange and vermilion, last of the eight
COLOURS = tuple(sns.color_palette("colorblind")[i] for i in (0, 1, 2, 3, 4, 9, 7, 5))
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # 7 against 8 colours: no (colour, marker) repeats before 56 strategies
LINESTYLES = ("-", "--", ":", "-.")  # with the markers, lines apart in black and white too
MARK_STEP = 0.1  # markers on a long line: one per tenth of the axes' diagonal
NO_LINE = {"linestyle": "none"}
FAINT_WIDTH, FAINT_ALPHA = 0.9, 0.5  # pale enough that the means stand out, dark enough to follow in print
LEGEND_WIDTH = 0.95  # of the figure's, at most
Colour = tuple[float, float, float]


@dataclass(frozen=True)
class Style:
    """How one strategy is drawn; `offset` staggers the markers of lines that coincide."""

    colour: Colour
    marker: str
    linestyle: str
    offset: float

    def line(self, dense: bool = False) -> dict[str, Any]:
        """Keywords for `Axes.plot`; a dense line (many points) gets a marker every MARK_STEP only."""
        every = (self.offset, MARK_STEP) if dense else None
        return {"color": self.colour, "marker": self.marker, "linestyle": self.linestyle, "markevery": every,
                "markersize": 5}

    def faint(self, alone: bool = False) -> dict[str, Any]:
        """Keywords for `Axes.plot`: a thin, pale line under this style's own (one seed under the mean); a line of
        one point, which draws nothing, as a small marker `alone`."""
        return {"color": self.colour, "linestyle": self.linestyle, "linewidth": FAINT_WIDTH, "alpha": FAINT_ALPHA,
                "marker": self.marker if alone else "none", "markersize": 3}


def panels(columns: int, rows: int = 1) -> tuple[Figure, list[list[Axes]]]:
    """A figure of rows x columns subplots on its own canvas."""
    figure = Figure(figsize=(PANEL[0] * columns, PANEL[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False).tolist()


def task_panels(count: int, per_task: int = 1) -> tuple[Figure, list[list[Axes]]]:
    """`per_task` subplots stacked for each of `count` tasks (at least one), as `panels` indexes them: [j][task].

    At most MAX_COLUMNS tasks a row, so the figure fits a page; the cells a last, shorter row leaves are removed.
    """
    count, columns = max(count, 1), min(max(count, 1), MAX_COLUMNS)
    figure, grid = panels(columns, math.ceil(count / columns) * per_task)
    axes = [[grid[i // columns * per_task + j][i % columns] for i in range(count)] for j in range(per_task)]
    for ax in set(figure.axes) - {ax for row in axes for ax in row}:
        ax.remove()
    return figure, axes


def save(figure: Figure, stem: Path) -> list[Path]:
    """PNG for screens and the HTML page, PDF for papers."""
    paths = [Path(stem).with_suffix(suffix) for suffix in FORMATS]
    with rc_context(PAPER_FONTS):
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=150)
    return paths


def styles(strategies: Iterable[str]) -> dict[str, Style]:
    """One style per strategy, in the spec's order."""
    names = list(dict.fromkeys(strategies))
    return {name: Style(COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)], LINESTYLES[i % len(LINESTYLES)],
                        MARK_STEP * (i % len(MARKERS)) / len(MARKERS)) for i, name in enumerate(names)}


def palette(strategies: Iterable[str]) -> dict[str, Colour]:
    """Each strategy's colour, as `styles` gives it."""
    return {name: style.colour for name, style in styles(strategies).items()}


class TickPercent(PercentFormatter):
    """Fractions in percent with the fewest decimals that print every tick exactly: 92.5%, never 92%."""

    def set_locs(self, locs: list[float]) -> None:
        super().set_locs(locs)
        percents = 100 * np.asarray(locs, dtype=float) / self.xmax
        self.decimals = next((d for d in range(MAX_DECIMALS) if np.allclose(percents, percents.round(d), atol=1e-9)),
                             MAX_DECIMALS)


def percent(ax: Axes, axis: str = "y") -> None:
    getattr(ax, f"{axis}axis").set_major_formatter(TickPercent(xmax=1.0))


def integer_ticks(ax: Axes) -> None:
    """Epochs and trials are counted: no tick at 2.5, even on an axis around one epoch or trial alone, where
    matplotlib would otherwise fall back to ticks at 0.945, 0.96, …."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def empty_note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")


def strategy_legend(figure: Figure, looks: dict[str, Style], labels: dict[str, str] | None = None,
                    lines: bool = True) -> None:
    """One legend for the whole figure, under its panels, where it covers no data; in as few rows as the figure's
    width takes, and the figure grows by its height so the panels keep theirs. `lines=False`: markers alone."""
    handles = [Line2D([], [], label=(labels or {}).get(name, name), **(style.line() | ({} if lines else NO_LINE)))
               for name, style in looks.items()]
    renderer, width = figure.canvas.get_renderer(), LEGEND_WIDTH * figure.get_figwidth() * figure.dpi
    for rows in range(1, len(handles) + 1):  # rows as full as each other: 6 entries on 2 rows are 3 and 3
        legend = figure.legend(handles=handles, ncols=math.ceil(len(handles) / rows), loc="outside lower center",
                               title="Strategy", frameon=False)
        if rows == len(handles) or legend.get_window_extent(renderer).width <= width:
            break
        legend.remove()
    figure.set_figheight(figure.get_figheight() + legend.get_window_extent(renderer).height / figure.dpi)
