"""What `harness check` says about a spec before any run: its plan, each task's search space, what the run
directory holds, and, when asked, whether each task's data load.

No run directory or storage is written (only, with --data, the data sets' own files and caches), so a spec
can be checked on a laptop before it is sent to the machine that runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from harness.errors import HarnessError
from harness.plan import Plan, TaskRun
from harness.store import RunStore


def plan_line(plan: Plan, device: torch.device | str) -> str:
    """One line: the run, its cells and the budget each gets (the noise floor's cells apart: theirs differs)."""
    crossed = len(plan.tasks) * len(plan.strategies) * len(plan.spec.seeds)
    floor = (f", and {len(plan.cells) - crossed} noise-floor cell(s) of {plan.noise_floor.budget.describe()}"
             if plan.noise_floor is not None else "")
    return (f"run {plan.spec.name} (spec {plan.spec.hash()}): {len(plan.tasks)} task(s) x {len(plan.strategies)} "
            f"strategies x {len(plan.spec.seeds)} seed(s) = {crossed} cells, {plan.budget.describe()} per cell"
            f"{floor}, on {device}")


def strategy_notes(plan: Plan) -> list[str]:
    """What each strategy will do on each task, as its note in the report will say (a grid's size and the part the
    budget runs, the recipes `manual` trains and where they depart from the space), for the spec's first seed."""
    notes = []
    for task in plan.tasks:
        for run in plan.strategies:
            note = run.strategy.plan(task.space, run.budget, plan.spec.seeds[0]).note
            notes += [f"{run.label} on {task.label}: {note}"] if note else []
    return notes


def run_directory_state(store: RunStore) -> str:
    """What `harness run` would do with the run directory, read from its manifest alone (no storage is opened:
    opening a new SQLite file or database would write one)."""
    recorded = store.recorded_hash()
    if recorded is None:
        return f"{store.dir} holds no run: `harness run` starts one there"
    if recorded == store.plan.spec.hash() and (changed := store.space_change()) is not None:
        return (f"{store.dir} holds this spec's run, drawn in another search space ({changed}): `harness run` "
                "refuses to resume it if it stored any trial (--force-new moves it aside)")
    if recorded == store.plan.spec.hash():
        return f"{store.dir} holds this spec's run: `harness run` resumes it, repeating no finished trial"
    return (f"{store.dir} holds a run of another spec (hash {recorded}): `harness run` refuses it if it stored any "
            "trial (give this spec another `name:`, use --runs-dir, or --force-new), and replaces it if not")


@dataclass(frozen=True)
class DataCheck:
    task: str
    problem: str = ""  # the load's one-line error; empty when the data loaded
    sizes: tuple[int, int, int] = (0, 0, 0)  # training, validation and test examples
    classes: int = 0

    def line(self) -> str:
        if self.problem:  # the tasks' own messages mostly start with their label
            return self.problem if self.problem.startswith(self.task) else f"{self.task}: {self.problem}"
        train, val, test = self.sizes
        return f"{self.task}: {train:,} training, {val:,} validation and {test:,} test examples, {self.classes} classes"


def check_data(run: TaskRun) -> list[DataCheck]:
    """Load the task's data as each configuration the space offers trains on them (one load per distinct data: a
    text task's vocabulary sizes each train a tokenizer, cached for the run), so a missing file or a wrong column
    shows before any run directory is written."""
    checks = []
    for label, config in data_variants(run).items():
        try:
            data = run.task.data_for(config)
        except HarnessError as error:
            if all(check.problem != str(error) for check in checks):  # a missing file is said once, not per variant
                checks.append(DataCheck(label, str(error)))
        else:
            checks.append(DataCheck(label, sizes=(len(data.train), len(data.val), len(data.test)),
                                    classes=data.num_classes))
    return checks


def data_variants(run: TaskRun) -> dict[str, dict[str, Any]]:
    """A configuration for each distinct data the task's space can ask for (`Task.data_key`), labelled by what sets
    it apart from the defaults: each offered value of every choice, the others at their defaults."""
    defaults = run.space.defaults()
    variants = {run.task.data_key(defaults): (run.label, defaults)}
    for name in run.space:
        for value in run.space.offered(name) or ():
            try:
                config = run.space.complete({name: value})
            except ValueError:  # a choice used only with other values of its parents
                continue
            variants.setdefault(run.task.data_key(config), (f"{run.label} with {name}={value!r}", config))
    return dict(variants.values())

