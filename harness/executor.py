"""Running cells: one Optuna study per (task, strategy, seed), trials trained by the one trainer.

An executor decides where cells run (this process, worker processes, Ray tasks, `harness worker`
on other machines); every one of them trains trials through the same `CellRunner`, so trials are
the same whoever runs them, and every one claims its trials through `harness.claims`, so a cell
ends with exactly its planned trials however many workers share it.

A cell resumes where it stopped: trials that ended (complete, pruned, or failed with a recorded
reason) count against its budget and are never re-run; fixed configurations that were lost to an
interruption are enqueued again. A bad trial (non-finite value, out of memory, an exception in a
task) fails with its reason recorded and the study goes on.
"""

from __future__ import annotations

import itertools
import math
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any, ClassVar

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState
from pydantic import Field

from harness import stopping
from harness.attrs import set_user_attrs
from harness.budget import Budget, Spent, counts_against_budget
from harness.claims import Slot, claim, heartbeat
from harness.cost import Cost, metered
from harness.errors import HarnessError, first_line, storage_failed
from harness.options import Options
from harness.plan import Cell, Plan
from harness.positions import INTERRUPTED_KEY, POSITION_KEY, ByPosition, next_position, position, requeue_interrupted
from harness.registry import Registry
from harness.seeding import sampler_seed, training_seed
from harness.space import Space, config_key
from harness.store import HEARTBEAT_SECONDS, RunStore
from harness.strategy import SearchPlan
from harness.task import Data
from harness.trainer import (Diverged, EpochRecord, FitResult, RangeTest, RangeTestResult, device_bytes, fit,
                             lr_range_test, planned_sweep_epochs, release_memory)

optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by the caller, in one line

TrialHook = Callable[[Cell, FrozenTrial], None]
EpochHook = Callable[[EpochRecord], None]
executors: Registry = Registry("executor")


@dataclass(frozen=True)
class Hooks:
    """What a caller (the CLI's progress bars) hears while a plan runs."""

    on_cell: Callable[[Cell], None] | None = None
    on_trial: TrialHook | None = None
    on_epoch: EpochHook | None = None
    on_warning: Callable[[str], None] | None = None  # something went wrong that did not stop the run


def missing_configs(planned: Iterable[Mapping[str, Any]], trials: list[FrozenTrial]) -> Iterator[Mapping[str, Any]]:
    """Planned fixed configurations not yet run, running nor waiting in the queue (a multiset difference), in
    order; `planned` may be endless, as only the trials' configurations are counted off it."""
    have = Counter(config_key(t.params) for t in trials if counts_against_budget(t))
    have += Counter(config_key(t.system_attrs["fixed_params"]) for t in trials
                    if t.state in (TrialState.WAITING, TrialState.RUNNING) and "fixed_params" in t.system_attrs)
    for config in planned:
        key = config_key(config)
        if have[key] > 0:
            have[key] -= 1
        else:
            yield config


class AsSearched(Sequence[dict[str, Any]]):
    """A strategy's fixed configurations as the Optuna parameters `space` draws for each (`Space.as_searched`),
    each converted once: every claim looks the whole cycle over, and a conversion costs several times a lookup."""

    def __init__(self, configs: Sequence[Mapping[str, Any]], space: Space) -> None:
        self._configs, self._space = configs, space
        self._searched: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._configs)

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]  # no slices
        if index not in self._searched:
            self._searched[index] = self._space.as_searched(self._configs[index])
        return self._searched[index]


def enqueue_planned(study: optuna.Study, planned: Sequence[Mapping[str, Any]], budget: Budget) -> None:
    """Queue a strategy's fixed configurations (`AsSearched`), cycled to fill the budget, skipping those already run.

    A budget in trials queues them all up front (workers sharing the study share the queue). A
    budget in epochs or seconds has no trial count known in advance: called before each trial,
    this queues the next configuration of the cycle, for as long as the budget lasts. Only as many
    configurations are looked at as the study has trials (a grid in a seeded order draws no more).
    """
    if not planned:
        return
    trials = study.get_trials(deepcopy=False)
    first = next_position(trials)
    cycle = (planned[i % len(planned)] for i in itertools.count())
    if budget.trials is not None:
        missing = list(missing_configs(itertools.islice(cycle, budget.trials), trials))
    else:  # the first one no trial holds, whatever the other workers are running
        missing = list(itertools.islice(missing_configs(cycle, trials), 1))
    for i, config in enumerate(missing):
        study.enqueue_trial(dict(config), user_attrs={POSITION_KEY: first + i}, skip_if_exists=False)


def trial_claims(study: optuna.Study, storage: optuna.storages.BaseStorage, search: SearchPlan, budget: Budget,
                 space: Space, reseeded: Callable[[int], optuna.samplers.BaseSampler],
                 sweep_epochs: float = 0.0) -> Callable[[], optuna.Trial | Slot]:
    """Claims of the study's trials (harness.claims), each with its position: under the claim lock, the
    configurations of interrupted trials and the strategy's fixed ones are queued, a sampler drawing by
    position learns the next one, and a trial not taken from the queue is given it. A sampler that does not
    draw by position (a plugin's) is replaced by `reseeded(trials so far)` when other workers, or an earlier
    session, added trials, so no two draw the same sequence. A running trial that has not yet planned its range
    test's sweep counts `sweep_epochs` for it."""
    expected: list[int | None] = [None]
    planned = AsSearched(search.configs, space)

    def prepare(trials: list[FrozenTrial]) -> dict[str, int]:
        requeue_interrupted(study, trials)
        enqueue_planned(study, planned, budget)
        fresh = next_position(trials)
        if isinstance(study.sampler, ByPosition):
            study.sampler.next_position = fresh
        elif len(trials) != expected[0]:
            study.sampler = reseeded(len(trials))
        expected[0] = len(trials) + 1
        return {POSITION_KEY: fresh}

    return lambda: claim(study, storage, budget, prepare, sweep_epochs)


class CellRunner:
    """Runs cells in this process, one trial at a time, on one device."""

    def __init__(self, plan: Plan, store: RunStore, device: torch.device) -> None:
        self.plan, self.store, self.device = plan, store, device
        self._data: dict[tuple[str, Hashable], Data] = {}

    def data(self, cell: Cell, config: Mapping[str, Any]) -> Data:
        """The data a configuration of the cell's task trains on, loaded and moved to the device once per
        process (once per data key, for tasks whose data depend on a hyperparameter)."""
        task = cell.task.task
        key = (cell.task.label, task.data_key(config))
        if key not in self._data:
            self._data[key] = task.data_for(config).to(self.device)
        return self._data[key]

    def run_cell(self, cell: Cell, on_trial: TrialHook | None = None, on_epoch: EpochHook | None = None) -> bool:
        """Run the cell's trials while its budget has room; True once it is spent, False while the
        rest is being spent by other workers' running trials."""
        opened = self.open_cell(cell)
        if opened is None:
            return True
        study, search = opened
        done = self.run_trials(cell, study, search, on_trial, on_epoch)
        if done:
            study.set_user_attr("spent", asdict(Spent.of(study.get_trials(deepcopy=False))))  # the cell's account
        return done

    def open_cell(self, cell: Cell) -> tuple[optuna.Study, SearchPlan] | None:
        """The cell's study with its strategy's sampler and pruner, and the strategy's plan; None once spent."""
        study = self.store.study(cell)
        trials = study.get_trials(deepcopy=False)
        if cell.strategy.budget.exhausted(Spent.of(trials)):
            return None
        search = self.search_plan(cell)
        study.sampler, study.pruner = search.sampler, search.pruner
        study.set_user_attr("strategy_note", search.note)
        self.data(cell, cell.task.space.defaults())  # load before the first trial starts its clock
        return study, search

    def claims(self, cell: Cell, study: optuna.Study, search: SearchPlan) -> Callable[[], optuna.Trial | Slot]:
        """Claim the cell's next trial, or learn why there is none (harness.claims)."""
        return trial_claims(study, self.store.storage, search, cell.strategy.budget, cell.task.space,
                            lambda trials_so_far: self.search_plan(cell, trials_so_far).sampler,
                            self.longest_sweep(cell, search))

    def longest_sweep(self, cell: Cell, search: SearchPlan) -> float:
        """The longest range test's sweep the strategy's configurations (or the task's defaults) plan on the cell's
        data, in epochs: what a claimed trial counts for before it records its own plan (its data may be loading).
        The strategy's `sweep_epochs` alone undercounts it wherever an epoch has fewer batches than a sweep's
        least steps."""
        if search.lr_range_test is None:
            return 0.0
        space = cell.task.space
        data = self.data(cell, space.defaults())  # loaded when the cell was opened
        return max(planned_sweep_epochs(search.lr_range_test, data, space.complete(config))
                   for config in search.configs or [{}])

    def run_trials(self, cell: Cell, study: optuna.Study, search: SearchPlan, on_trial: TrialHook | None,
                   on_epoch: EpochHook | None) -> bool:
        """One trial at a time while the budget has room; True once it is spent."""
        next_trial = self.claims(cell, study, search)
        while True:
            stopping.check()
            trial = next_trial()
            if isinstance(trial, Slot):
                return trial is Slot.DONE
            before = device_bytes(self.device)
            with heartbeat(self.store.storage, trial):
                frozen = self.finish(study, trial, lambda: self.run_trial(cell, trial, on_epoch, search.lr_range_test))
            release_memory(self.device, before)  # once the trial's frames are gone
            if on_trial is not None:
                on_trial(cell, frozen)

    @staticmethod
    def finish(study: optuna.Study, trial: optuna.Trial, train: Callable[[], float]) -> FrozenTrial:
        """Train and tell the outcome; a bad trial (diverged, out of memory, any error inside a task)
        fails with its reason and the study goes on.

        An interruption, or a mistake of the user's (a HarnessError), fails the trial without a reason
        (it spends no budget and runs again) and propagates."""
        try:
            value = train()
            if not math.isfinite(value):
                raise Diverged(f"objective value is {value}")
        except optuna.TrialPruned:
            return study.tell(trial, state=TrialState.PRUNED)
        except BaseException as error:
            return fail(study, trial, error)
        return study.tell(trial, value)

    def search_plan(self, cell: Cell, trials_so_far: int = 0) -> SearchPlan:
        """The strategy's plan, seeded by the cell's seed (and, for a sampler that does not draw by position, the
        trials so far, so that it does not replay its draws on resume); its fixed configurations never change."""
        seed = sampler_seed(cell.seed, trials_so_far)
        return cell.strategy.strategy.plan(cell.task.space, cell.strategy.budget, seed)

    def run_trial(self, cell: Cell, trial: optuna.Trial, on_epoch: EpochHook | None = None,
                  range_test: RangeTest | None = None) -> float:
        """Train one configuration; report every epoch so pruners can act and curves survive a stop.

        With a `range_test` the learning rate is first picked by one on a fresh model (same seed),
        and the sweep's epochs are recorded so they count against the budget.
        """
        config = cell.task.space.suggest(trial)
        seed = training_seed(cell.seed, position(trial))
        curve_reporter = epoch_reporter(trial, on_epoch, cell.strategy.budget.epochs)
        unwritten = {"train_seed": seed}  # written with the configuration, or at the end by a trial that fails first
        ended: dict[str, Any] = {}  # written with the cost, in the trial's last write
        cost = Cost()  # nothing spent by a trial whose data cannot be loaded
        swept = 0.0  # the range test's sweep, once it ended
        try:
            data = self.data(cell, config)
            with metered(self.device) as cost:  # the range test's sweep included
                if range_test is not None:
                    probe = self.pick_lr(cell, trial, config, range_test, seed)
                    config["lr"], swept = probe.lr, probe.epochs
                set_user_attrs(trial, {**unwritten, "config": config})
                unwritten = {}
                torch.manual_seed(seed)
                model = cell.task.task.model(config, data).to(self.device)
                result = fit(model, data, config, cell.strategy.budget.epochs, seed, on_epoch=curve_reporter,
                             compile=self.plan.executor.compile)
            ended = result_attrs(result)
        except Diverged as error:  # `finish` records why; the epochs it trained still count
            ended = lost_epochs(error, swept)
            raise
        finally:
            set_user_attrs(trial, {**unwritten, **cost.attrs(), **ended})
        return result.val_accuracy

    def pick_lr(self, cell: Cell, trial: optuna.Trial, config: dict[str, Any], range_test: RangeTest,
                seed: int) -> RangeTestResult:
        """Smith's range test on a fresh model with the trial's seed, around the lr range of the trial's optimizer
        where the space gives each its own. Its epochs count against the budget: those it plans are recorded before
        it starts, so that other workers' claims count them while it runs, and those it took once it ends (fewer
        where its loss diverged)."""
        data = self.data(cell, config)
        set_user_attrs(trial, {"extra_epochs": planned_sweep_epochs(range_test, data, config)})
        lr = cell.task.space["lr"].within(config)
        range_test = range_test.around(lr.low, lr.high)  # the trial's optimizer's own range
        torch.manual_seed(seed)
        probe = lr_range_test(cell.task.task.model(config, data).to(self.device), data, config, range_test, seed)
        set_user_attrs(trial, {"lr_range_test": asdict(probe), "extra_epochs": probe.epochs})
        return probe


def failure_reason(error: Exception) -> str:
    """One line for the report: the trainer's own words for divergence, else the error's type and first line."""
    return first_line(error) if isinstance(error, Diverged) else interruption(error)


def run_cells(runner: CellRunner, cells: list[Cell], hooks: Hooks, poll_seconds: float = 1.0) -> None:
    """Work on every cell until each has spent its budget; a cell whose last trials other workers are
    running is visited again (its slots come back if those workers die)."""
    pending = list(cells)
    while pending:
        busy = []
        for cell in pending:
            if hooks.on_cell is not None:
                hooks.on_cell(cell)
            if not runner.run_cell(cell, hooks.on_trial, hooks.on_epoch):
                busy.append(cell)
        pending = busy
        if pending:
            time.sleep(poll_seconds)


def fail(study: optuna.Study, trial: optuna.Trial, error: BaseException) -> FrozenTrial:
    """A bad trial fails with its reason and the study goes on; an interruption or a user's mistake
    (a HarnessError) fails it without a reason (it spends no budget and runs again) and propagates."""
    if stops_the_run(error):
        try:
            trial.set_user_attr(INTERRUPTED_KEY, interruption(error))
            study.tell(trial, state=TrialState.FAIL)
        except Exception:
            if not storage_failed(error):
                raise
            # else it stays RUNNING until the next claim finds its worker gone and fails it, without a reason
        raise error
    if isinstance(error, torch.OutOfMemoryError) and torch.cuda.is_available():
        torch.cuda.empty_cache()  # so the next trial gets the memory back
    trial.set_user_attr("fail_reason", failure_reason(error))
    return study.tell(trial, state=TrialState.FAIL)


def interruption(error: BaseException) -> str:
    """What an interrupted trial records: the error's type and first line."""
    return f"{type(error).__name__}: {first_line(error)}".rstrip(": ")


def stops_the_run(error: BaseException) -> bool:
    """An interruption, a user's mistake or a failed storage: no trial's fault, so the run stops and the
    trial runs again."""
    return not isinstance(error, Exception) or isinstance(error, HarnessError) or storage_failed(error)


def epoch_reporter(trial: optuna.Trial, on_epoch: EpochHook | None, epochs: int) -> EpochHook:
    """Each epoch: store the curve so far, report to the pruner, tell the caller, and stop here on a
    first Ctrl-C; raise if the pruner stops the trial before its last epoch."""
    curve: list[dict[str, float]] = []

    def report(record: EpochRecord) -> None:
        curve.append(asdict(record))
        trial.set_user_attr("curve", curve)
        trial.report(record.val_accuracy, record.epoch)
        if on_epoch is not None:
            on_epoch(record)
        stopping.check()  # the epoch is recorded: a first Ctrl-C stops here
        if record.epoch < epochs and trial.should_prune():  # a finished trial is complete
            raise optuna.TrialPruned(f"pruned after epoch {record.epoch}")

    return report


def lost_epochs(error: Diverged, swept: float = 0.0) -> dict[str, float]:
    """The epochs a diverged trial trained but has no curve for: they count against the budget all the same. Those
    of a range test's sweep that ended are `swept`; a sweep that diverged is the error's (not what it planned)."""
    return {"extra_epochs": swept + error.epochs}


def result_attrs(result: FitResult) -> dict[str, float]:
    """What a trained trial records beside its curve: its test scores, and its compile time if it compiled."""
    attrs = {"test_accuracy": result.test_accuracy, "test_loss": result.test_loss}
    if result.compile_seconds:
        attrs["compile_seconds"] = result.compile_seconds
    return attrs


class Executor(Options):
    """Where a plan's cells run; its fields are the options of the spec's `executor:` entry."""

    shares_storage: ClassVar[bool] = False  # True when several processes write to the storage
    heartbeat_seconds: Annotated[int, Field(gt=0)] = HEARTBEAT_SECONDS  # a dead worker's trial is failed after 2x
    retries: Annotated[int, Field(ge=0)] = 0  # re-runs of a dead worker's trial with the same configuration
    compile: bool = False  # torch.compile every model; the compile time is recorded apart (compile_seconds)

    def refuses(self, search: SearchPlan) -> str | None:
        """Why this executor cannot run a strategy's plan, or None; checked with the spec, before anything runs."""
        return None

    @abstractmethod
    def run(self, plan: Plan, store: RunStore, device: torch.device, hooks: Hooks) -> None:
        """Run (or resume) every cell of `plan` until each has spent its budget."""


@executors.register("local")
class Local(Executor):
    """In this process, one trial at a time, on one device: the default."""

    def runner(self, plan: Plan, store: RunStore, device: torch.device) -> CellRunner:
        return CellRunner(plan, store, device)

    def run(self, plan: Plan, store: RunStore, device: torch.device, hooks: Hooks) -> None:
        run_cells(self.runner(plan, store, device), plan.cells, hooks)


import harness.batched  # noqa: E402,F401  registers `batched`, which builds on CellRunner above
import harness.executors  # noqa: E402,F401  the other executors register themselves; they import this module
