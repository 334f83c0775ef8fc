"""The `harness` command: run a spec, report a run, list what is registered, train one configuration."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.errors import HarnessError

if TYPE_CHECKING:
    import torch

    from harness.budget import Budget, Spent

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Benchmark tuning strategies on deep-learning tasks.")
console = Console(width=None if sys.stdout.isatty() else 120)  # logs and pipes get the whole table
errors = Console(stderr=True)


def user_errors(command: Callable) -> Callable:
    """Print a user's mistake as one message and exit non-zero, never with a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HarnessError as error:
            errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            errors.print("interrupted: finished trials are stored; run the same command again to resume")
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@user_errors
def run(spec_file: Annotated[Path, typer.Argument(help="YAML spec")],
        runs_dir: Annotated[Path, typer.Option(help="where run directories are made")] = Path("runs"),
        storage: Annotated[str | None, typer.Option(help="SQLAlchemy URL, instead of the spec's `storage:`")] = None,
        ) -> None:
    """Run (or resume) every task x strategy x seed of a spec, then write its report."""
    from harness.budget import Spent
    from harness.executor import Hooks
    from harness.plan import build_plan
    from harness.spec import load_spec
    from harness.store import RunStore

    spec = load_spec(spec_file)
    if storage is not None:
        spec = spec.model_copy(update={"storage": storage})
    plan = build_plan(spec, spec_file.resolve().parent)
    device = check_device(spec.device)
    store = RunStore(plan, runs_dir)
    store.check_same_spec()  # opens the storage too: an unreachable database fails before anything is written
    store.record_session(device)
    cells = plan.cells
    console.print(f"run [bold]{spec.name}[/] (spec {spec.hash()}): {len(plan.tasks)} task(s) x "
                  f"{len(plan.strategies)} strategies x {len(spec.seeds)} seed(s) = {len(cells)} cells, "
                  f"{plan.budget.describe()} per cell, on {device}")
    with progress_bars() as progress:
        spent = [Spent.of(store.existing_trials(c)) for c in cells]
        trials = progress.add_task("trials", total=remaining_trials(plan.budget, spent))
        epochs = progress.add_task("epochs", total=plan.budget.epochs)
        hooks = Hooks(on_cell=lambda cell: progress.update(trials, description=cell.study_name),
                      on_trial=lambda cell, trial: trial_ended(progress, cell, trial),
                      on_epoch=lambda record: progress.update(epochs, completed=record.epoch))
        plan.executor.run(plan, store, device, hooks)
    write_and_show(store.dir, store.storage, spec.hash())


def remaining_trials(budget: Budget, spent: list[Spent]) -> int | None:
    """Trials still to run, known in advance only when the budget counts trials."""
    if budget.trials is None:
        return None
    return sum(max(0, budget.trials - s.trials) for s in spent)


def trial_ended(progress: Progress, cell: Any, trial: Any) -> None:
    """Advance the bars; a failed trial gets one line saying why."""
    trials, epochs = progress.task_ids
    progress.advance(trials)
    progress.reset(epochs)
    if trial.state.name == "FAIL":
        progress.console.print(f"[yellow]{cell.study_name} trial {trial.number} failed:[/] "
                               f"{trial.user_attrs.get('fail_reason', 'interrupted')}", highlight=False)


def check_device(name: str) -> torch.device:
    """The spec's device, refused with a clear message when this machine lacks it."""
    import torch

    from harness.trainer import resolve_device

    device = resolve_device(name)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise HarnessError(f"device {name!r} is not available here ({torch.cuda.device_count()} CUDA devices); "
                           "use device: auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise HarnessError("device 'mps' is not available here; use device: auto or cpu")
    return device


def progress_bars() -> Progress:
    return Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def write_and_show(run_dir: Path, storage: Any, spec_hash: str) -> None:
    from harness.store import frames
    from reports import rich_table, summary, write_report

    results, curves = frames(storage, spec_hash)
    if results.empty:
        raise HarnessError(f"{run_dir} has no finished trials yet; nothing to report")
    written = write_report(results, curves, run_dir)
    console.print(rich_table(summary(results)))
    console.print(f"report: {written['report.md']}")


@app.command()
@user_errors
def report(run_dir: Annotated[Path, typer.Argument(help="a run directory, e.g. runs/quickstart")]) -> None:
    """Write the results frame, tables and figures of a run from its storage."""
    from harness.store import open_storage

    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise HarnessError(f"{run_dir} is not a run directory (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    url = manifest["storage"]
    local = run_dir / "studies.db"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists() and local.exists():
        url = f"sqlite:///{local.resolve()}"  # the run directory was moved
    write_and_show(run_dir, open_storage(url), manifest["spec_hash"])


@app.command("ls")
@user_errors
def list_registered() -> None:
    """List every registered task, strategy, optimizer and schedule with one line of help."""
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
    """A task's or strategy's spec options with their defaults, as one dim line."""
    fields = getattr(obj, "model_fields", {})
    listed = ", ".join(f"{name}={field.default!r}" for name, field in fields.items())
    return f"\n[dim]options: {listed}[/]" if listed else ""


def parse_assignments(pairs: list[str], what: str) -> dict[str, Any]:
    """`key=value` pairs, values read as YAML scalars (so 0.1 is a float and true a bool)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise HarnessError(f"{what} must look like key=value, but got {pair!r}")
        parsed[key] = yaml.safe_load(value)
    return parsed


@app.command()
@user_errors
def train(task: Annotated[str, typer.Argument(help="a registered task name")],
          set_: Annotated[list[str], typer.Option("--set", help="hyperparameter, e.g. --set lr=0.1")] = [],
          option: Annotated[list[str], typer.Option(help="task option, e.g. --option model_family=vgg")] = [],
          epochs: int = 3, seed: int = 0, device: str = "auto") -> None:
    """Train one configuration (the task's defaults plus --set) with no study around it."""
    import torch

    from harness.plan import build_plan
    from harness.spec import parse_spec
    from harness.trainer import fit

    spec = parse_spec({"name": "train", "tasks": [{"name": task, **parse_assignments(option, "--option")}],
                       "strategies": ["manual"], "seeds": [seed], "budget": {"trials": 1, "epochs": epochs},
                       "device": device})
    run = build_plan(spec).tasks[0]
    try:
        config = run.space.complete(parse_assignments(set_, "--set"))
    except ValueError as error:
        raise HarnessError(f"--set: {error}") from None
    target = check_device(device)
    data = run.task.data().to(target)
    torch.manual_seed(seed)
    model = run.task.model(config, data).to(target)
    console.print(f"{run.label} on {target}: {config}")
    table = Table("epoch", "train loss", "val loss", "val acc.", "lr", "s")
    result = fit(model, data, config, epochs, seed, on_epoch=lambda r: table.add_row(
        str(r.epoch), f"{r.train_loss:.4f}", f"{r.val_loss:.4f}", f"{r.val_accuracy:.2%}", f"{r.lr:.2e}",
        f"{r.seconds:.1f}"))
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
