"""What the figures show, read from the figures themselves: each strategy's style, legends, layout."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from reports_frames import NAN, curves_for, frame, trials

from reports import Analysis
from reports.figures.canvas import COLOURS, PANEL, styles
from reports.figures.outcomes import (
    critical_difference_figure,
    final_accuracy_figure,
    learning_curves_figure,
    plot_profiles,
    profiles_figure,
)
from reports.figures.search import anytime_figure, expected_max_figure, lr_scatter_figure, spread_caption
from reports.stats import RankComparison

ACCURACY = {"a": 0.6, "b": 0.7, "c": 0.8}


def two_tasks() -> pd.DataFrame:
    """Three strategies on two tasks and two seeds; c is seen first on task b, and fails on task a."""
    rows = [trials(task, name, seed, [(0, "COMPLETE", ACCURACY[name] + 0.05 * seed, 0.5, 2),
                                      (1, "PRUNED", 0.2, NAN, 1)])
            for task, order in (("a", "ab"), ("b", "cba")) for name in order for seed in (0, 1)]
    failed = [trials("a", "c", seed, [(0, "FAIL", NAN, NAN, 1)]) for seed in (0, 1)]
    return frame(*rows, *failed)


def line_styles(figure: Figure) -> dict[str, set[tuple[str, str, str]]]:
    """Per strategy, every (colour, marker, line style) its labelled lines have in any panel."""
    found: dict[str, set[tuple[str, str, str]]] = {}
    for ax in figure.axes:
        for line in ax.get_lines():
            name = line.get_label().split(" (area")[0]
            if not name.startswith("_"):
                found.setdefault(name, set()).add((to_hex(line.get_color()), line.get_marker(), line.get_linestyle()))
    return found


def test_a_strategy_has_one_style_in_every_figure() -> None:
    results = two_tasks()
    analysis = Analysis(results, curves_for(results))
    figures = [anytime_figure(results, "epochs"), anytime_figure(results, "seconds"),
               expected_max_figure(analysis.expected_max), learning_curves_figure(results, analysis.curves),
               profiles_figure(analysis.ratios)]
    seen: dict[str, set[tuple[str, str, str]]] = {}
    for figure in figures:
        for name, found in line_styles(figure).items():
            seen.setdefault(name, set()).update(found)
    assert sorted(seen) == ["a", "b", "c"]
    assert all(len(found) == 1 for found in seen.values()), seen
    assert len({found.pop() for found in seen.values()}) == 3  # and no two strategies share one


def test_many_strategies_stay_apart_in_colour_and_in_black_and_white() -> None:
    looks = list(styles(f"s{i}" for i in range(56)).values())
    assert len({(s.colour, s.marker) for s in looks}) == 56
    assert len({(s.marker, s.linestyle) for s in looks[:28]}) == 28  # apart in grey too


@pytest.mark.parametrize("colour", COLOURS)
def test_no_colour_fades_into_white_paper(colour) -> None:
    """Relative luminance below one half: seaborn's pale pink (0.56) and yellow (0.71) are out."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    assert 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2] < 0.5


def overlaps(boxes: list) -> list[tuple[int, int]]:
    """The pairs of bounding boxes (display units) that share more than a pixel's width."""
    return [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes[i + 1:], i + 1)
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1]


def test_many_tasks_wrap_onto_rows_of_three_with_no_empty_panel() -> None:
    """Four tasks' learning curves: a row of three tasks, then the fourth, each task's accuracy under its loss;
    no cell left empty, and no panel's labels run into another's."""
    results = frame(*[trials(f"t{i}", "a", 0, [(0, "COMPLETE", 0.5, 0.5, 2)]) for i in range(4)])
    figure = learning_curves_figure(results, curves_for(results))
    legend = figure.legends[0].get_window_extent().height / figure.dpi  # the figure grows by the legend's height
    assert (figure.get_figwidth(), figure.get_figheight() - legend) == pytest.approx((3 * PANEL[0], 4 * PANEL[1]))
    assert len(figure.axes) == 8
    loss = [ax for ax in figure.axes if ax.get_ylabel() == "Validation loss"]
    accuracy = [ax for ax in figure.axes if ax.get_ylabel() == "Validation accuracy"]
    assert [ax.get_title() for ax in loss] == ["t0", "t1", "t2", "t3"]
    rows = [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in loss + accuracy]
    assert rows == [(0, 0), (0, 1), (0, 2), (2, 0), (1, 0), (1, 1), (1, 2), (3, 0)]
    figure.canvas.draw()
    assert overlaps([ax.get_tightbbox() for ax in figure.axes]) == []



def seeds_apart(seeds: int) -> pd.DataFrame:
    """random on `seeds` seeds from 0.2 to 0.8 apart, each seed's best-so-far 0.1 higher after its second epoch."""
    return frame(*[trials("t", "random", seed, [(trial, "COMPLETE", 0.2 + 0.6 * seed / (seeds - 1) + 0.1 * trial,
                                                 0.5, 1) for trial in (0, 1)]) for seed in range(seeds)])


def test_two_seeds_draw_each_seed_not_a_band_over_the_panel_and_four_seeds_their_band() -> None:
    """With 2 seeds t = 12.7: their band filled the panel from 0% to 100%, so each seed's own line is drawn, faint
    and unlabelled under the mean; from 4 seeds the t-band stays and no seed is drawn."""
    two = anytime_figure(seeds_apart(2)).axes[0]
    seeds = [line.get_ydata().tolist() for line in two.get_lines() if line.get_label().startswith("_")]
    assert seeds == [pytest.approx([0.2, 0.3]), pytest.approx([0.8, 0.9])]
    assert [line.get_label() for line in two.get_lines()] == ["_child0", "_child1", "random"]
    assert not [c for c in two.collections if isinstance(c, PolyCollection)]
    four = anytime_figure(seeds_apart(4)).axes[0]
    assert [line.get_label() for line in four.get_lines()] == ["random"]
    assert len([c for c in four.collections if isinstance(c, PolyCollection)]) == 1


@pytest.mark.parametrize(("seeds", "says"), [
    ({"a": 2, "b": 3}, "The thin, faint lines are the best-so-far of each seed on its own"),
    ({"a": 4, "b": 5}, "The band is the Student-t 95% interval of the mean."),
    ({"a": 2, "b": 4}, "For a strategy with fewer than 4 seeds on a task the thin, faint lines"),
])
def test_the_anytime_caption_says_whether_it_draws_seeds_or_a_band(seeds, says) -> None:
    results = frame(*[trials("t", name, seed, [(0, "COMPLETE", 0.5, 0.5, 1)])
                      for name, count in seeds.items() for seed in range(count)])
    assert says in spread_caption(results)

SIX = ["manual", "grid", "random", "tpe", "hyperband", "asha"]


def six_strategies() -> pd.DataFrame:
    """Six strategies on three tasks and two seeds, with trials at every accuracy, so panels fill with data."""
    return frame(*[trials(task, name, seed, [(i, "COMPLETE", 0.1 + 0.2 * i + 0.02 * j, 0.5, 1 + i) for i in range(4)])
                   for task in ("digits", "listops", "digits-vgg") for j, name in enumerate(SIX) for seed in (0, 1)])


# every figure with a panel of strategies, drawn from an analysis; all but the first have a legend of strategies
FIGURES = {"final_accuracy": lambda a: final_accuracy_figure(a.cells),
           "best_so_far": lambda a: anytime_figure(a.results),
           "expected_max": lambda a: expected_max_figure(a.expected_max),
           "learning_curves": lambda a: learning_curves_figure(a.results, a.curves),
           "lr_vs_accuracy": lambda a: lr_scatter_figure(a.results),
           "profiles": lambda a: profiles_figure(a.ratios)}
LEGENDED = [name for name in FIGURES if name != "final_accuracy"]


@pytest.mark.parametrize("name", LEGENDED)
def test_one_legend_under_the_panels_covers_no_data(name) -> None:
    """Six strategies: one legend for the figure, in the spec's order, inside the figure and clear of every panel
    (its ticks and labels too)."""
    results = six_strategies()
    figure = FIGURES[name](Analysis(results, curves_for(results)))
    (legend,) = figure.legends
    assert [text.get_text().split(" (area")[0] for text in legend.get_texts()] == SIX
    assert all(ax.get_legend() is None for ax in figure.axes)
    figure.canvas.draw()
    box = legend.get_window_extent()
    assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1 and figure.bbox.y0 <= box.y0
    assert all(overlaps([box, ax.get_tightbbox()]) == [] for ax in figure.axes)


def test_strategy_names_under_the_boxes_end_at_their_tick() -> None:
    """Slanted names centred under their tick ran under the next one ("hyperband asha" read as one label): each
    must end at its own tick, within a letter's height."""
    figure = final_accuracy_figure(Analysis(six_strategies()).cells)
    figure.canvas.draw()
    ax = figure.axes[0]
    ticks = ax.transData.transform([(x, 0) for x in ax.get_xticks()])[:, 0]
    labels = ax.get_xticklabels()
    assert [label.get_text() for label in labels] == SIX
    for tick, label in zip(ticks, labels):
        assert abs(label.get_window_extent().x1 - tick) <= label.get_fontsize() * figure.dpi / 72


def twelve_apart() -> RankComparison:
    """Twelve strategies on ten problems, s11 best and s0 worst, Friedman rejecting: mean ranks 1.8 … 10.8, 11.2."""
    results = frame(*[trials(task, f"s{j}", seed, [(0, "COMPLETE", 0.3 + 0.05 * j + 0.04 * ((7 * seed + 3 * j) % 5),
                                                    0.5, 1)])
                      for task in ("a", "b") for j in range(12) for seed in range(5)])
    return Analysis(results).ranks


def test_critical_difference_diagram_keeps_its_bar_names_and_title_apart() -> None:
    """Twelve strategies: the bar of the critical difference and its value clear the rank axis's numbers and the
    title, no two names touch, and mean ranks 10.8 and 11.2 read as such (not both "11")."""
    comparison = twelve_apart()
    assert comparison.rejected
    figure = critical_difference_figure(comparison)
    figure.canvas.draw()
    (ax,) = figure.axes
    value = next(text for text in ax.texts if text.get_text().startswith("CD = "))
    bar = next(line for line in ax.get_lines() if not line.get_clip_on())
    (title,) = figure.texts
    others = [title.get_window_extent()] + [label.get_window_extent() for label in ax.get_xticklabels()]
    assert value.get_text() == f"CD = {comparison.critical_difference:.2f}"
    assert not any(overlaps([box, other]) for box in (value.get_window_extent(), bar.get_window_extent())
                   for other in others)
    names = [text for text in ax.texts if text is not value]
    assert overlaps([text.get_window_extent() for text in names]) == []
    assert {"(10.80) s1", "(11.20) s0", "s11 (1.80)"} <= {text.get_text() for text in names}


def test_pdf_figures_embed_truetype_fonts_not_type_3(tmp_path) -> None:
    """IEEE's and ACM's checks of a paper's PDF refuse Type 3 fonts, matplotlib's default."""
    _, pdf = plot_profiles(Analysis(two_tasks()).ratios, tmp_path / "profiles")
    fonts = set(re.findall(rb"/Subtype\s*/(\w+)", pdf.read_bytes()))
    assert b"CIDFontType2" in fonts and b"Type3" not in fonts  # TrueType glyphs, in a font of type 0


def cut(figure: Figure) -> list[float]:
    """How far (inches) what the figure draws reaches past its left, bottom, right and top edges; 0 where it does
    not: a label reaching past an edge is cut off there."""
    figure.canvas.draw()  # the layout runs as it draws
    drawn = figure.get_tightbbox(figure.canvas.get_renderer())
    return [round(max(0.0, edge), 2) for edge in (-drawn.x0, -drawn.y0, drawn.x1 - figure.get_figwidth(),
                                                  drawn.y1 - figure.get_figheight())]


@pytest.mark.parametrize("name", FIGURES)
def test_no_text_is_cut_at_the_figure_edge(name) -> None:
    """One task, seven strategies, one with a long name: slanted under the boxes, it took the height the y label
    needed, whose ends were cut."""
    names = [*SIX, "coarse_to_fine"]
    results = frame(*[trials("digits", name, seed, [(0, "COMPLETE", 0.4 + 0.05 * j, 0.5, 2)])
                      for j, name in enumerate(names) for seed in (0, 1)])
    assert cut(FIGURES[name](Analysis(results, curves_for(results)))) == [0, 0, 0, 0]
