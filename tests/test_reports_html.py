"""The written report: every format's files, and the HTML page rendered by headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from reports_frames import (
    NAN,
    all_tied,
    curves_for,
    frame,
    friedman_short_of_rejecting,
    swap_val_and_test,
    textbook_friedman,
    three_seeds_and_one,
    trials,
)

from reports import Analysis, anytime_frame, cell_summary, write_report
from reports.figures import draw_figures, plot_anytime
from reports.figures.canvas import integer_ticks, palette, panels, percent, styles
from reports.figures.outcomes import draw_final_accuracy, draw_profiles
from reports.figures.search import anytime_bands, draw_band
from reports.profiles import cost_ratios
from reports.stats import TEST

MANIFEST = {"spec": {"name": "demo", "tasks": ["digits"], "strategies": ["before", "after", "later"],
                     "seeds": list(range(7)), "budget": {"trials": 1, "epochs": 1}},
            "spec_hash": "0123456789ab", "storage": "sqlite:///runs/demo/studies.db",
            "sessions": [{"started": "2026-01-01T00:00:00+00:00", "packages": {"torch": "2.4.0"},
                          "git_commit": "abc1234", "hardware": {"device": "cpu", "cpu_count": 2}}]}


def small_run() -> pd.DataFrame:
    """The textbook Friedman frame plus a noise floor and one more trial, so every section has content."""
    noise = trials("task", "noise-floor", 0, [(i, "COMPLETE", v, 0.5, 1) for i, v in enumerate([0.4, 0.45, 0.5])])
    more = trials("task", "after", 0, [(1, "COMPLETE", 0.3, 0.3, 1)], param_optimizer="adam")
    return pd.concat([textbook_friedman(), frame(noise, more)], ignore_index=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    results = small_run()
    return write_report(results, curves_for(results), tmp_path_factory.mktemp("report"), MANIFEST)


def test_every_format_is_written(written) -> None:
    figures = {"final_accuracy", "critical_difference", "performance_profiles", "best_so_far", "best_so_far_seconds",
               "expected_max", "learning_curves", "importance", "lr_vs_accuracy"}
    expected = {f"{stem}.{ext}" for stem in figures for ext in ("png", "pdf")}
    expected |= {"report.md", "tables.tex", "index.html", "spec.yaml", "summary.csv", "cost.csv", "ranks.csv",
                 "pairwise.csv", "best_configs.csv", "noise_floor.csv", "results.csv", "curves.csv"}
    assert expected <= set(written)
    assert written["best_so_far.png"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert written["best_so_far.pdf"].read_bytes().startswith(b"%PDF")


def test_csv_holds_the_numbers_of_the_tables(written) -> None:
    ranks = pd.read_csv(written["ranks.csv"]).set_index("strategy")["mean_rank"]
    assert ranks.to_dict() == pytest.approx({"after": 1.0, "later": 17 / 7, "before": 18 / 7})
    per_problem = pd.read_csv(written["problem_ranks.csv"])
    assert per_problem.columns.tolist() == ["task", "seed", "before", "after", "later"]
    assert per_problem[["before", "after", "later"]].iloc[0].tolist() == [3.0, 1.0, 2.0]  # 72, 120, 76
    noise = pd.read_csv(written["noise_floor.csv"]).iloc[0]
    assert noise["val_std"] == pytest.approx(0.05) and noise["trainings"] == 3
    # the numbers behind the best-so-far figures, whose lines end at the accuracy table's means
    ends = pd.read_csv(written["best_so_far.csv"]).groupby("strategy")["mean"].last()
    means = pd.read_csv(written["summary.csv"]).set_index("strategy")["val_mean"]
    assert ends.to_dict() == pytest.approx(means.to_dict())
    assert {"seconds_spent", "mean", "low", "high"} <= set(pd.read_csv(written["best_so_far_seconds.csv"]))
    seeds = pd.read_csv(written["best_so_far_seeds.csv"])  # each seed's own line, whose mean the bands hold
    last = seeds.groupby(["strategy", "seed"])["best_val_accuracy"].last().groupby("strategy").mean()
    assert last.to_dict() == pytest.approx(ends.to_dict())


def test_markdown_has_every_section_and_the_reproduction(written) -> None:
    report = written["report.md"].read_text(encoding="utf-8")
    for heading in ("## Results", "## Statistics", "## Search behaviour", "## Best configurations",
                    "## Noise floor", "## Reproducibility"):
        assert heading in report
    assert "Friedman: statistic 10.571, p = 0.00506 over N = 7 (task, seed) problems" in report
    assert "harness run spec.yaml --runs-dir runs" in report and "git checkout abc1234" in report
    assert "harness report runs/demo\n```" in report
    assert "**Table: Mean rank of validation accuracy over (task, seed) problems**" in report
    assert "](best_so_far.png)" in report
    assert written["spec.yaml"].read_text().startswith("name: demo\n")


def test_a_report_on_test_accuracy_says_so_wherever_it_ranks(tmp_path) -> None:
    """The textbook accuracies as test accuracies, every validation accuracy tied: each statement of the statistics
    names test accuracy, the CSV holds its ranks, and the reproduction writes the same report again."""
    results = swap_val_and_test(textbook_friedman())
    written = write_report(results, curves_for(results), tmp_path, MANIFEST, ("md", "csv"), metric=TEST)
    report = written["report.md"].read_text(encoding="utf-8")
    for line in ("**Table: Mean rank of test accuracy over (task, seed) problems**",
                 "Friedman: statistic 10.571, p = 0.00506 over N = 7 (task, seed) problems",
                 "Rank 1 is the best test accuracy (of the trial validation selected) on a problem",
                 "**Table: Pairwise post-hoc tests (Nemenyi) of test accuracy**",
                 "Mean ranks of test accuracy (of the trial validation selected) over N = 7 (task, seed) problems",
                 "harness report runs/demo --metric test"):
        assert line in report
    assert "best validation accuracy on a problem" not in report
    per_problem = pd.read_csv(written["problem_ranks.csv"])
    assert per_problem[["before", "after", "later"]].iloc[0].tolist() == [3.0, 1.0, 2.0]  # 72, 120, 76


def test_latex_file_has_every_table(written) -> None:
    latex = written["tables.tex"].read_text(encoding="utf-8")
    labels = re.findall(r"\\label\{tab:(\w+)\}", latex)
    assert labels == ["accuracy", "cost", "ranks", "pairwise", "best_configs", "noise_floor"]
    assert latex.count(r"\toprule") == latex.count(r"\bottomrule") == 6


def marked_run() -> pd.DataFrame:
    """Every mark the tables print: fewer seeds (†), a seed without a result (‡), a gap inside the noise (≈)."""
    nothing = trials("digits-resnet", "tpe", 3, [(0, "FAIL", NAN, NAN, 1)])
    noise = trials("digits-resnet", "noise-floor", 0, [(i, "COMPLETE", v, 0.5, 1) for i, v in enumerate([0.7, 0.8, 0.9])])
    return pd.concat([three_seeds_and_one(), frame(nothing, noise)], ignore_index=True)


@pytest.mark.parametrize("results", [small_run(), marked_run(), friedman_short_of_rejecting()])
def test_latex_file_is_ascii_so_pdflatex_reads_it(results, tmp_path) -> None:
    """pdflatex stops on a Unicode character it has no definition for (∈, ≥, …): every mark is a command."""
    latex = write_report(results, curves_for(results), tmp_path, formats=("tex",))["tables.tex"].read_text("utf-8")
    assert latex.isascii(), sorted({char for char in latex if not char.isascii()})
    assert r"$\tau$ $\in$ [1, 4]" in latex


def test_latex_marks_of_every_kind(tmp_path) -> None:
    latex = write_report(marked_run(), pd.DataFrame(), tmp_path, formats=("tex",))["tables.tex"].read_text("utf-8")
    for mark in (r"$^\dagger$", r"$^\ddagger$", r"$\approx$", r"$\pm$", r"$\times$"):
        assert mark in latex


@pytest.mark.parametrize("ylim", [(0.8, 1.0), (0.0, 1.0), (0.931, 0.936)])
def test_percent_ticks_print_the_value_they_mark(ylim) -> None:
    """Ticks every 2.5% (on 80-100%) must not print 92% for 92.5%: the decimals follow the ticks."""
    figure, ((ax,),) = panels(1)
    ax.set_ylim(*ylim)
    percent(ax)
    figure.canvas.draw()
    ticks = [tick for tick in ax.get_yticks() if ylim[0] <= tick <= ylim[1]]
    labels = ax.yaxis.get_major_formatter().format_ticks(ticks)
    assert [float(label.rstrip("%")) for label in labels] == pytest.approx([100 * tick for tick in ticks])


@pytest.mark.parametrize("epochs", [[1], [1, 2, 3], [1, 12]])
def test_epoch_and_trial_ticks_are_whole_numbers(epochs) -> None:
    """A one-epoch run's learning curves, or one trial's expected best: ticks at 1, never at 0.945, 0.96, …"""
    figure, ((ax,),) = panels(1)
    ax.plot(epochs, [0.5] * len(epochs), marker="o")
    integer_ticks(ax)
    figure.canvas.draw()
    low, high = ax.get_xlim()
    ticks = [tick for tick in ax.get_xticks() if low <= tick <= high]
    assert ticks and all(float(tick).is_integer() for tick in ticks), ticks


def test_a_best_so_far_of_one_grid_point_is_drawn() -> None:
    """One two-epoch trial per cell: the mean has a value at the last epoch only, which a line does not draw."""
    results = frame(*[trials("t", "manual", seed, [(0, "COMPLETE", value, 0.5, 2)])
                      for seed, value in enumerate([0.6, 0.7])])
    seeds = anytime_frame(results)
    figure, ((ax,),) = panels(1)
    draw_band(ax, anytime_bands(seeds, "epochs_spent"), seeds, "epochs_spent", styles(["manual"])["manual"], "manual")
    figure.canvas.draw()
    drawn = [line.get_xydata().tolist() for line in ax.lines if line.get_marker() not in ("None", "", None)]
    assert [[2.0, pytest.approx(0.65)]] in drawn
    assert ax.get_legend_handles_labels()[1] == ["manual"]


def test_final_accuracy_names_its_axes_as_the_other_figures_do() -> None:
    """Capitalised, as "Epochs spent" or "Learning rate": seaborn would name an unlabelled axis "strategy"."""
    cells = cell_summary(three_seeds_and_one())
    _, ((ax,),) = panels(1)
    draw_final_accuracy(ax, cells, palette(cells["strategy"]))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Strategy", "Selected validation accuracy")


def test_performance_profiles_legend_their_areas_and_without_a_problem_say_why() -> None:
    """a reaches the target in 4 epochs, b in 8 (area 2/3); with a and b on different seeds no problem has both, so
    every area would read nan: the panel says why and has no legend."""
    reached = frame(trials("t", "a", 0, [(0, "COMPLETE", 0.9, 0.5, 4)]),
                    trials("t", "b", 0, [(0, "COMPLETE", 0.5, 0.5, 4), (1, "COMPLETE", 0.9, 0.5, 4)]))
    figure, ((ax,),) = panels(1)
    draw_profiles(ax, cost_ratios(reached))
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == ["a (area 1.00)", "b (area 0.67)"]
    apart = frame(trials("t", "a", 0, [(0, "COMPLETE", 0.9, 0.5, 4)]),
                  trials("t", "b", 1, [(0, "COMPLETE", 0.9, 0.5, 4)]))
    figure, ((empty,),) = panels(1)
    draw_profiles(empty, cost_ratios(apart))
    assert figure.legends == [] and empty.get_legend() is None
    note = "no problem where every strategy\nhas a cell and one has a result"
    assert [text.get_text() for text in empty.texts] == [note]


@pytest.mark.parametrize("results", [all_tied(), friedman_short_of_rejecting()])
def test_no_critical_difference_diagram_unless_friedman_rejects(results, tmp_path) -> None:
    names = [figure.name for figure in draw_figures(Analysis(results), tmp_path)]
    assert "critical_difference" not in names and "expected_max" in names


def test_best_so_far_caption_says_a_line_runs_past_what_its_strategy_spent(tmp_path) -> None:
    """asha spent 2 epochs, grid 5: asha's line is drawn on to 5 epochs at its final best, and the caption says so."""
    results = frame(trials("t", "asha", 0, [(0, "COMPLETE", 0.9, 0.5, 2)]),
                    trials("t", "grid", 0, [(0, "COMPLETE", 0.7, 0.5, 5)]))
    asha = anytime_frame(results).query("strategy == 'asha'")
    assert asha["epochs_spent"].max() == 5 and asha["best_val_accuracy"].iloc[-1] == 0.9
    captions = {figure.name: figure.caption for figure in draw_figures(Analysis(results), tmp_path)}
    assert "keeps its final best to the end of the axis: a line runs on past the epochs its strategy spent" in (
        captions["best_so_far"])


def test_html_is_self_contained(written) -> None:
    page = written["index.html"].read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 9
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere
    assert "0123456789ab" in page and "abc1234" in page and "torch 2.4.0" in page


def test_figures_are_deterministic_and_leave_no_pyplot_figure(tmp_path) -> None:
    import matplotlib.pyplot as plt

    results = small_run()
    first = plot_anytime(results, tmp_path / "a", by="seconds")[0].read_bytes()
    second = plot_anytime(results, tmp_path / "b", by="seconds")[0].read_bytes()
    assert first == second and first.startswith(b"\x89PNG")
    assert plt.get_fignums() == []


def test_a_run_without_any_complete_trial_still_gets_its_report(tmp_path) -> None:
    failed = frame(*[trials("task", name, 0, [(0, "FAIL", NAN, NAN, 1), (1, "PRUNED", NAN, NAN, 1)])
                     for name in ("a", "b")])
    written = write_report(failed, curves_for(failed), tmp_path, formats=("md", "tex", "html"))
    report = written["report.md"].read_text(encoding="utf-8")
    assert "| task | a | 1 ‡1 | – | – | – | – | – |" in report
    assert "a on task: 1 of 1 seed(s) ended without a COMPLETE trial" in report


def browser():
    """Headless Chromium through selenium with Debian's chromedriver; None where Chromium is not installed."""
    binary, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if binary is None or driver is None:
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_html_renders_in_headless_chromium(written) -> None:
    chromium = browser()
    if chromium is None:
        pytest.skip("chromium and chromedriver are not installed (.ci/run installs them)")
    try:
        chromium.get(written["index.html"].resolve().as_uri())
        assert chromium.title == "Benchmark report"
        tables = chromium.execute_script("return [...document.querySelectorAll('table.report-table')].map("
                                         "t => [t.id, t.rows.length, t.offsetHeight > 0])")
        assert [t[0] for t in tables] == ["T_accuracy", "T_cost", "T_ranks", "T_pairwise",
                                          "T_best_configs", "T_noise_floor", "T_provenance"]
        assert all(rows > 1 and shown for _, rows, shown in tables)
        images = chromium.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth])")
        assert len(images) == 9 and all(done and width > 100 for done, width in images)
        cell = chromium.execute_script("return document.querySelector('#T_accuracy tbody tr').innerText")
        # before: 72 … 82 over 200, mean 580/1400 = 41.4%, std √(3688/7 / 6)/200 = 4.7%
        assert cell.split("\t")[:4] == ["task", "before", "7", "41.4 ± 4.7"]
    finally:
        chromium.quit()
