"""The `harness` command: run a spec, report a run, list what is registered, train one configuration."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.errors import (YAML_STRING_NUMBER, HarnessError, Wording, cause_line, first_line, storage_failed, worded,
                            wording)

if TYPE_CHECKING:
    import torch

    from harness.budget import Spent
    from harness.plan import Cell
    from harness.store import RunStore
    from reports.stats import Metric

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Benchmark tuning strategies on deep-learning tasks.")
console = Console(width=None if sys.stdout.isatty() else 120)  # logs and pipes get the whole table
errors = Console(stderr=True)
ReportFormats = Annotated[str, typer.Option("--format", help="the report's formats, comma-separated: md, tex, csv, "
                                                             "html (md and html draw the figures)")]
EVERY_FORMAT = "md,tex,csv,html"  # reports.FORMATS, which is not imported before a report is written


def user_errors(command: Callable) -> Callable:
    """Print a user's mistake as one message and exit non-zero, never with a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HarnessError as error:
            errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            errors.print("interrupted: finished trials are stored; run the same command again to resume")
            raise typer.Exit(130) from None
        except Exception as error:
            if not storage_failed(error):
                raise
            errors.print(f"[bold red]error:[/] the storage failed ({escape(cause_line(error))}); every finished trial "
                         "is kept: free space on its disk (or bring its database back), then run the same command "
                         "again to resume", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@user_errors
def run(spec_file: Annotated[Path, typer.Argument(help="YAML spec")],
        runs_dir: Annotated[Path, typer.Option(help="where run directories are made")] = Path("runs"),
        storage: Annotated[str | None, typer.Option(help="SQLAlchemy URL or journal:///path, instead of the "
                                                         "spec's `storage:`")] = None,
        force_new: Annotated[bool, typer.Option(help="move aside a run directory that holds another spec's "
                                                     "run, or trials drawn in another search space, and start "
                                                     "afresh")] = False,
        format: ReportFormats = EVERY_FORMAT,
        ) -> None:
    """Run (or resume) every task x strategy x seed of a spec, then write its report."""
    from harness.plan import build_plan
    from harness.spec import load_spec
    from harness.store import RunStore

    formats = parse_formats(format)
    spec = load_spec(spec_file)
    if storage is not None:
        spec = spec.model_copy(update={"storage": storage})
    plan = build_plan(spec, spec_file.resolve().parent)
    device = check_device(spec.device)
    store = RunStore(plan, runs_dir)
    if plan.executor.shares_storage:
        store.check_shareable()
    if spec.storage is not None:  # apart from the run directory, so moving it aside cannot help: checked first
        store.check_storage()
    if force_new and store.recorded_hash() not in (None, spec.hash()):
        console.print(f"moved the run of another spec aside, to {escape(str(store.move_aside()))}")
    elif force_new and spec.storage is None and (store.space_change() or store.params_not_drawn()):  # and studies
        console.print(f"moved the run drawn in another search space aside, to {escape(str(store.move_aside()))}")
    store.check_writable()
    with store.sole_writer():
        replaced = store.check_same_spec()  # opens the storage: an unreachable one fails before anything is written
        if replaced is not None:
            console.print(f"{escape(str(store.dir))} held a run of another spec (hash {replaced}) with no trial; "
                          "this spec's run replaces it")
        run_plan(store, device, spec_file.parent)
    write_and_show(store.dir, store.storage, spec.hash(), formats=formats)


def run_plan(store: RunStore, device: torch.device, spec_dir: Path) -> None:
    """Run every cell of the store's plan as one session, with progress bars."""
    from harness.budget import Spent
    from harness.executor import Hooks
    from harness.preflight import plan_line

    plan, cells = store.plan, store.plan.cells
    console.print(escape(plan_line(plan, device)))
    with progress_bars() as progress, interrupts(progress.console), store.session(device, spec_dir):
        spent = [Spent.of(store.existing_trials(c)) for c in cells]
        trials = progress.add_task("trials", total=remaining_trials(cells, spent))
        epochs = progress.add_task("epochs", total=plan.budget.epochs)
        hooks = Hooks(on_cell=lambda cell: progress.update(trials, description=cell.study_name),
                      on_trial=lambda cell, trial: trial_ended(progress, cell, trial),
                      on_epoch=lambda record: progress.update(epochs, completed=record.epoch),
                      on_warning=lambda message: progress.console.print(f"[yellow]{escape(message)}[/]"))
        plan.executor.run(plan, store, device, hooks)
        progress.remove_task(epochs)  # reset after every trial, it would end at 0 of N


@app.command()
@user_errors
def check(spec_file: Annotated[Path, typer.Argument(help="YAML spec")],
          runs_dir: Annotated[Path, typer.Option(help="where `harness run` would make the run directory")
                              ] = Path("runs"),
          data: Annotated[bool, typer.Option("--data", help="also load each task's data (a download or a tokenizer "
                                                            "training may take a while)")] = False,
          ) -> None:
    """Check a spec and show what `harness run` would do: its cells, budget and each task's search space; no run
    directory or storage is written. Exits 2 on an invalid spec, or with --data on a task whose data do not load."""
    from harness.plan import build_plan
    from harness.preflight import check_data, plan_line, run_directory_state, strategy_notes
    from harness.spec import load_spec
    from harness.store import RunStore

    spec = load_spec(spec_file)
    plan = build_plan(spec, spec_file.resolve().parent)
    try:
        device: Any = check_device(spec.device)
    except HarnessError as error:
        device = f"{spec.device} ({error})"  # the spec may be meant for another machine
    console.print(escape(plan_line(plan, device)), highlight=False)
    for run in plan.tasks:
        table = Table("Parameter", "Values", "Default", "Used when", title=f"search space of {run.label}",
                      title_justify="left")
        for row in run.space.rows():
            table.add_row(*map(escape, row))
        console.print(table)
    for note in strategy_notes(plan):
        console.print(escape(note), highlight=False)
    console.print(escape(run_directory_state(RunStore(plan, runs_dir))), highlight=False)
    if data:
        checks = [check for run in plan.tasks for check in check_data(run)]
        for result in checks:
            console.print(f"[{'red' if result.problem else 'green'}]data[/] {escape(result.line())}", highlight=False)
        if any(result.problem for result in checks):
            raise typer.Exit(2)


@app.command()
@user_errors
def worker(run_dir: Annotated[Path, typer.Argument(help="the run directory of a run started by `harness run`")],
           storage: Annotated[str | None, typer.Option(help="the run's storage URL, if not the one its manifest "
                                                            "records (e.g. PostgreSQL seen from this machine)")] = None,
           device: Annotated[str | None, typer.Option(help="instead of the spec's device")] = None,
           spec: Annotated[Path | None, typer.Option(help="start the run from this spec if RUN_DIR holds none "
                                                          "yet (every task of an array job the same command)")] = None,
           ) -> None:
    """Join a run from this process and work on its cells until every budget is spent."""
    from harness.worker import open_run, work

    store = open_run(run_dir, storage, spec)
    target = check_device(device or store.plan.spec.device)
    console.print(f"worker joined run {store.plan.spec.name} on {target}, storage {store.url}", markup=False)
    with interrupts(console):
        work(store, target, worker_hooks(), spec.parent if spec else None)
    console.print("every cell has spent its budget")


def worker_hooks() -> Any:
    """A worker logs one line per trial, for its log file."""
    from harness.executor import Hooks
    from harness.positions import position

    def ended(cell: Any, trial: Any) -> None:
        reason = f" ({trial.user_attrs['fail_reason']})" if "fail_reason" in trial.user_attrs else ""
        console.print(f"{cell.study_name} trial {position(trial)}: {trial.state.name} {trial.value}{reason}",
                      markup=False, highlight=False)

    return Hooks(on_trial=ended)


@app.command("repair-journal")
@user_errors
def repair_journal(path: Annotated[Path, typer.Argument(help="a journal file, e.g. runs/NAME/journal.log")]) -> None:
    """Cut off the torn last line a killed worker left in a journal file (a copy is kept)."""
    from harness.journal import repair

    backup = repair(path)
    console.print(f"cut the torn last line off {path}; the file as it was is {backup}" if backup
                  else f"{path} has no torn line; nothing changed", markup=False, soft_wrap=True)  # paths stay whole


def interrupts(where: Console) -> Any:
    """The first Ctrl-C finishes the epoch and marks the trial; the second stops at once."""
    from harness.stopping import graceful_interrupts

    return graceful_interrupts(lambda message: where.print(f"[yellow]{message}[/]"))


def remaining_trials(cells: list[Cell], spent: list[Spent]) -> int | None:
    """Trials still to run, known in advance only when every cell's budget counts trials."""
    if any(cell.strategy.budget.trials is None for cell in cells):
        return None
    return sum(max(0, cell.strategy.budget.trials - s.trials) for cell, s in zip(cells, spent))


def trial_ended(progress: Progress, cell: Any, trial: Any) -> None:
    """Advance the bars; a failed trial gets one line saying why, numbered by its position (`trial` in results.csv).
    A trial an interruption failed (a worker killed) spends no budget and runs again, so it does not advance the
    count of trials still to run."""
    from harness.budget import counts_against_budget
    from harness.positions import position

    trials, epochs = progress.task_ids
    if counts_against_budget(trial):
        progress.advance(trials)
    progress.reset(epochs)
    if trial.state.name == "FAIL":
        progress.console.print(f"[yellow]{escape(cell.study_name)} trial {position(trial)} failed:[/] "
                               f"{escape(trial.user_attrs.get('fail_reason', 'interrupted'))}", highlight=False)


def check_device(name: str) -> torch.device:
    """The spec's device, refused with a clear message when this machine lacks it."""
    import torch

    from harness.spec import DEVICE_PATTERN
    from harness.trainer import resolve_device

    words = wording()
    instead = f"use {words.device('auto')} or cpu"
    if not re.match(DEVICE_PATTERN, name):  # `harness worker --device` is not checked as a spec's field is
        raise HarnessError(f"device {name!r} is not one of auto, cpu, mps, cuda or cuda:N; {instead}")
    device = resolve_device(name)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise HarnessError(f"device {name!r} is not available here ({torch.cuda.device_count()} CUDA devices); "
                           f"{instead}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise HarnessError(f"device 'mps' is not available here; {instead}")
    return device


def progress_bars() -> Progress:
    return Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def write_and_show(run_dir: Path, storage: Any, spec_hash: str, out: Path | None = None,
                   formats: tuple[str, ...] | None = None, metric: Metric | None = None) -> None:
    """Write the run's report (into `out`, default the run directory) and print its accuracy table."""
    from harness.store import frames
    from reports import FORMATS, rich_table, write_report
    from reports.noise import split_noise_floor
    from reports.stats import VALIDATION

    results, curves = frames(storage, spec_hash)
    if results.empty or split_noise_floor(results)[0].empty:
        raise HarnessError(f"{run_dir} has no finished trials of any strategy yet; nothing to report")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    written = write_report(results, curves, out or run_dir, manifest, formats or FORMATS, metric or VALIDATION)
    console.print(rich_table(results))
    main = next((written[name] for name in ("index.html", "report.md", "tables.tex", "summary.csv") if name in written))
    console.print(f"report: {main}", markup=False)


def open_run(run_dir: Path) -> tuple[dict[str, Any], Any]:
    """A run directory's manifest and storage (its own file, for a run that was copied or moved)."""
    from harness.store import open_storage, recorded_storage

    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise HarnessError(f"{run_dir} is not a run directory (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    return manifest, open_storage(recorded_storage(run_dir, manifest))


def parse_formats(text: str) -> tuple[str, ...]:
    from reports import FORMATS

    formats = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise HarnessError(f"--format takes a comma-separated list of {', '.join(FORMATS)}, but got {text!r}")
    return formats


def parse_metric(name: str) -> Metric:
    """The accuracy the rank tests compare; which trial a cell selected is decided on validation either way."""
    from reports.stats import METRICS

    if name not in METRICS:
        raise HarnessError(f"--metric must be one of {', '.join(METRICS)}, but got {name!r}")
    return METRICS[name]


@app.command()
@user_errors
def report(run_dir: Annotated[Path | None, typer.Argument(help="a run directory, e.g. runs/quickstart")] = None,
           out: Annotated[Path | None, typer.Option(help="where to write the report (default: the run directory)")]
           = None,
           format: ReportFormats = EVERY_FORMAT,
           compare: Annotated[tuple[Path, Path] | None, typer.Option(help="diff two run directories instead; "
                                                                     "exits 1 when their numbers differ, 2 when "
                                                                     "neither has a trial")] = None,
           metric: Annotated[str, typer.Option(help="the accuracy the statistics rank strategies on: validation, "
                                                    "or test (that of the trial validation selected)")]
           = "validation",
           ) -> None:
    """Write the tables, statistics, figures and HTML page of a run from its storage, or diff two runs."""
    if compare is not None:
        compare_and_show(*compare, out)
        return
    if run_dir is None:
        raise HarnessError("give a run directory, or --compare A B")
    formats, chosen = parse_formats(format), parse_metric(metric)
    manifest, storage = open_run(run_dir)
    write_and_show(run_dir, storage, manifest["spec_hash"], out, formats, chosen)


def compare_and_show(run_a: Path, run_b: Path, out: Path | None) -> None:
    """Print (and with --out, write) the diff of two runs; exit 1 when their numbers differ, like diff, and 2 when
    neither run has a trial, so that two empty runs never pass for the same."""
    from harness.store import frames
    from reports.compare import compare_runs, diff_markdown

    (manifest_a, storage_a), (manifest_b, storage_b) = open_run(run_a), open_run(run_b)
    results_a = frames(storage_a, manifest_a["spec_hash"])[0]
    results_b = frames(storage_b, manifest_b["spec_hash"])[0]
    diff = compare_runs(results_a, results_b, manifest_a, manifest_b)
    text = diff_markdown(diff, str(run_a), str(run_b))
    console.print(text, markup=False, highlight=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(text, encoding="utf-8")
    if diff.nothing_to_compare:
        raise typer.Exit(2)
    if not diff.same_numbers:
        raise typer.Exit(1)


@app.command("ls")
@user_errors
def list_registered() -> None:
    """List every registered task, strategy, optimizer, schedule and executor with one line of help."""
    from harness.optim import optimizers, schedules
    from harness.plugins import load_builtins
    from harness.executor import executors
    from harness.strategy import strategies
    from harness.task import tasks

    load_builtins()
    for registry in (tasks, strategies, optimizers, schedules, executors):
        table = Table(title=registry.plural, title_justify="left", show_header=False, box=None)
        for entry in registry:
            table.add_row(f"[bold]{entry.name}[/]", entry.help + options_of(entry.obj))
        console.print(table)


def options_of(obj: Any) -> str:
    """A task's, strategy's or executor's spec options with their defaults, as one dim line: those a spec may set,
    as the spec check decides (an option the class inherits but refuses is left out)."""
    from harness.options import Options

    fields = obj.accepted() if isinstance(obj, type) and issubclass(obj, Options) else {}
    listed = ", ".join(f"{name}=(required)" if field.is_required() else f"{name}={field.default!r}"
                       for name, field in fields.items())
    return f"\n[dim]options: {listed}[/]" if listed else ""


def parse_assignments(pairs: list[str], what: str) -> dict[str, Any]:
    """`key=value` pairs, values read as YAML scalars (so 0.1 is a float and true a bool), and `1e-3` as the number
    it is on a command line, not the string YAML 1.1 reads."""
    parsed = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise HarnessError(f"{what} must look like key=value, but got {pair!r}")
        value = yaml.safe_load(text)
        parsed[key] = float(value) if isinstance(value, str) and YAML_STRING_NUMBER.fullmatch(value) else value
    return parsed


class TrainWording(Wording):
    """`harness train`'s words: the arguments it builds its one-task spec from, so that a problem the spec check
    finds names the argument that gave the value (`--option root`), not the spec field (`tasks[0].root`)."""

    heading = "invalid arguments"
    FLAGS: ClassVar[dict[str, str]] = {"device": "--device", "budget.epochs": "--epochs", "seeds[0]": "--seed"}

    def path(self, path: str) -> str:
        entry, _, field = path.partition(".")
        if entry == "tasks[0]":
            return "TASK" if field == "name" else f"--option {field}" if field else "--option"
        if entry.startswith("plugins["):
            return "--plugin"
        return self.FLAGS.get(path, path)

    def option(self, name: str) -> str:
        return f"`--option {name}`"

    def set_option(self, name: str, value: object) -> str:
        return f"add `--option {name}={json.dumps(value)}`"

    def device(self, name: str) -> str:
        return f"--device {name}"


@app.command()
@user_errors
def train(task: Annotated[str, typer.Argument(help="a registered task name")],
          set_: Annotated[list[str], typer.Option("--set", help="hyperparameter, e.g. --set lr=0.1")] = [],
          option: Annotated[list[str], typer.Option(help="task option, e.g. --option model_family=vgg")] = [],
          plugin: Annotated[list[str], typer.Option(help="module registering the task, as a spec's `plugins:` "
                                                         "(importable from here)")] = [],
          epochs: Annotated[int, typer.Option(help="epochs to train")] = 3,
          seed: Annotated[int, typer.Option(help="training seed: initialisation and data order")] = 0,
          device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps")] = "auto") -> None:
    """Train one configuration (the task's defaults plus --set) with no study around it."""
    import torch

    from harness.plan import TASK_KEYS, build_plan
    from harness.spec import parse_spec
    from harness.trainer import Diverged, fit

    options = parse_assignments(option, "--option")
    entry_keys = [key for key in TASK_KEYS if key in options]  # a spec entry's, not the task's: name would swap it
    if entry_keys:
        raise HarnessError(f"--option {entry_keys[0]}: not an option of the task; the task is the TASK argument, "
                           "its hyperparameters go in --set, and `harness ls` lists each task's options")
    with worded(TrainWording()):  # a problem the spec check or the task finds names the argument, not a spec field
        spec = parse_spec({"name": "train", "tasks": [{"name": task, **options}],
                           "strategies": ["manual"], "seeds": [seed], "budget": {"trials": 1, "epochs": epochs},
                           "device": device, "plugins": plugin})
        run = build_plan(spec, Path.cwd()).tasks[0]
        try:
            config = run.space.complete(parse_assignments(set_, "--set"))
        except ValueError as error:
            raise HarnessError(f"--set: {error}") from None
        target = check_device(device)
        data = run.task.data_for(config).to(target)
        torch.manual_seed(seed)
        model = run.task.model(config, data).to(target)
        console.print(f"{run.label} on {target}: {config}", markup=False)
        table = Table("epoch", "train loss", "val loss", "val acc.", "lr", "s")
        try:
            result = fit(model, data, config, epochs, seed, on_epoch=lambda r: table.add_row(
                str(r.epoch), f"{r.train_loss:.4f}", f"{r.val_loss:.4f}", f"{r.val_accuracy:.2%}", f"{r.lr:.2e}",
                f"{r.seconds:.1f}"))
        except Diverged as error:  # this configuration's outcome, as a trial's failure is: said, not a traceback
            raise HarnessError(f"training diverged after {len(table.rows)} finished epoch(s): {error}") from None
        finally:
            console.print(table)
        console.print(f"test accuracy {result.test_accuracy:.2%} in {result.seconds:.1f} s")


@app.command()
@user_errors
def bench(names: Annotated[list[str] | None, typer.Argument(help="benchmarks to run (default: all)")] = None,
          full: Annotated[bool, typer.Option(help="the full size, meant for a GPU")] = False) -> None:
    """Run the performance benchmarks (the same as python -m benchmarks) and record their results."""
    from benchmarks import main as run_benchmarks

    raise typer.Exit(run_benchmarks([*(names or []), *(["--full"] if full else [])]))


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
