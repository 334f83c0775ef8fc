"""The `batched` executor: a cell's trials asked K at a time and trained together.

Small models leave a large device mostly idle. On a CPU, K trials of one architecture train as one
stacked model (harness.stacked); on a GPU, where a lone trial already replays a CUDA graph of its
step and stacks lost to it, the K trials take turns, each on its own stream (harness.interleaved).
Every trial is still its own Optuna trial with its own configuration, training seed, curve, test
score and cost, stored exactly as the local executor stores them, so reports cannot tell the two
apart (their numbers agree within float tolerance).

Asking K trials before telling any works for every strategy: queued configurations (manual, grid)
are popped K at a time, random and QMC samplers do not look at results, and model-based samplers
(TPE, GP) propose K points from the trials that have ended, as in Optuna's own parallel optimisation.
Trials whose configurations differ in architecture or batch size cannot share a stack; they are
stacked in groups of equal shape (in the worst case one at a time); taking turns, only their data
must match. A budget in seconds counts each trial's wall duration, which for batched trials
overlaps, so it is spent faster than it need be.
Trials are claimed one by one as the local runner claims them (harness.claims), so the budget,
the queue of fixed configurations and the heartbeats of running trials work as there.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from contextlib import ExitStack
from typing import Annotated, Any, ClassVar

import optuna
import torch
from optuna.trial import TrialState
from pydantic import Field
from torch import nn

from harness import stopping
from harness.attrs import set_user_attrs
from harness.claims import Slot, heartbeat
from harness.cost import metered
from harness.executor import (CellRunner, EpochHook, Local, TrialHook, epoch_reporter, executors, fail, interruption,
                              lost_epochs, result_attrs, stops_the_run)
from harness.interleaved import fit_interleaved
from harness.plan import Cell, Plan
from harness.positions import INTERRUPTED_KEY, position
from harness.seeding import training_seed
from harness.stacked import Outcome, architecture, fit_batched
from harness.store import RunStore
from harness.strategy import SearchPlan
from harness.trainer import Diverged, TrainConfig, device_bytes, release_memory


class BatchedRunner(CellRunner):
    """Runs cells in this process, `batch_trials` trials at a time (see the module)."""

    def __init__(self, plan: Plan, store: RunStore, device: torch.device, batch_trials: int) -> None:
        super().__init__(plan, store, device)
        self.batch_trials = batch_trials

    def run_trials(self, cell: Cell, study: optuna.Study, search: SearchPlan, on_trial: TrialHook | None,
                   on_epoch: EpochHook | None) -> bool:
        """Up to `batch_trials` claimed trials at a time while the budget has room; True once it is spent."""
        next_trial = self.claims(cell, study, search)
        while True:
            stopping.check()
            trials: list[optuna.Trial] = []
            while len(trials) < self.batch_trials and not isinstance(claimed := next_trial(), Slot):
                trials.append(claimed)
            if not trials:
                return claimed is Slot.DONE
            before = device_bytes(self.device)
            try:
                with ExitStack() as beating:
                    for trial in trials:
                        beating.enter_context(heartbeat(self.store.storage, trial))
                    built, models = self.models(cell, study, trials, on_trial)
                    configs = [trial.user_attrs["config"] for trial in built]
                    for group in self.groups(cell, models, configs):
                        self.run_batch(cell, study, [built[i] for i in group], [models[i] for i in group],
                                       on_trial, on_epoch)
                    del models
            except BaseException as error:  # a Ctrl-C or a user's mistake: the trials it cut short run again
                fail_unfinished(study, trials, error)
                raise
            release_memory(self.device, before)

    def models(self, cell: Cell, study: optuna.Study, trials: list[optuna.Trial],
               on_trial: TrialHook | None) -> tuple[list[optuna.Trial], list[nn.Module]]:
        """The trials whose models were made, and their models; a trial whose model or data cannot be made fails
        with why, as it would alone."""
        built, models = [], []
        for trial in trials:
            try:
                models.append(self.model(cell, trial))
            except Exception as error:
                if stops_the_run(error):
                    raise
                frozen = fail(study, trial, error)
                if on_trial is not None:
                    on_trial(cell, frozen)
            else:
                built.append(trial)
        return built, models

    def model(self, cell: Cell, trial: optuna.Trial) -> nn.Module:
        """The trial's configuration and seed recorded, and its model built as the local executor builds it."""
        config = cell.task.space.suggest(trial)
        seed = training_seed(cell.seed, position(trial))
        set_user_attrs(trial, {"config": config, "train_seed": seed})
        torch.manual_seed(seed)
        return cell.task.task.model(config, self.data(cell, config)).to(self.device)

    def run_batch(self, cell: Cell, study: optuna.Study, trials: list[optuna.Trial], models: list[nn.Module],
                  on_trial: TrialHook | None, on_epoch: EpochHook | None) -> None:
        """Train one stack of trials and tell each its own outcome, as `CellRunner.finish` would."""
        epochs = cell.strategy.budget.epochs
        reporters = [epoch_reporter(trial, on_epoch, epochs) for trial in trials]
        configs = [trial.user_attrs["config"] for trial in trials]
        train_together = fit_interleaved if self.device.type == "cuda" else fit_batched
        try:
            with metered(self.device) as cost:  # the group's trials share their data (see `groups`)
                outcomes = train_together(models, self.data(cell, configs[0]), configs,
                                          epochs, [trial.user_attrs["train_seed"] for trial in trials],
                                          on_epoch=lambda i, record: reporters[i](record))
        except Exception as error:  # the stack as a whole failed (out of memory, a model's own error)
            if stops_the_run(error):
                raise
            outcomes = [Outcome(None, error, 1.0) for _ in trials]  # each fails with the reason, at an equal share
        total_seconds = sum(o.seconds for o in outcomes) or 1.0
        for trial, outcome in zip(trials, outcomes):
            ended = result_attrs(outcome.result) if outcome.result is not None else {}
            if isinstance(outcome.error, Diverged):
                ended = lost_epochs(outcome.error)
            set_user_attrs(trial, {**cost.attrs(share=outcome.seconds / total_seconds), **ended})
            if outcome.result is not None:
                frozen = study.tell(trial, outcome.result.val_accuracy)
            elif isinstance(outcome.error, optuna.TrialPruned):
                frozen = study.tell(trial, state=TrialState.PRUNED)
            else:
                frozen = fail(study, trial, outcome.error)
            if on_trial is not None:
                on_trial(cell, frozen)

    def groups(self, cell: Cell, models: list[nn.Module], configs: list[Mapping[str, Any]]) -> list[list[int]]:
        """Indices of the trials that can train together: those on the same data, and for a stack (off CUDA)
        of the same architecture and batch size too."""
        keys: list[Hashable] = [cell.task.task.data_key(config) for config in configs]
        if self.device.type != "cuda":
            keys = [(key, architecture(model), TrainConfig.from_config(config).batch_size)
                    for key, model, config in zip(keys, models, configs)]
        return same_keys(keys)


def fail_unfinished(study: optuna.Study, trials: list[optuna.Trial], error: BaseException) -> None:
    """Fail those of `trials` still running as interrupted by `error`: they spend no budget and run again."""
    running = {frozen.number for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for trial in trials:
        if trial.number in running:
            trial.set_user_attr(INTERRUPTED_KEY, interruption(error))
            study.tell(trial, state=TrialState.FAIL)


def same_keys(keys: list[Hashable]) -> list[list[int]]:
    """The indices of equal keys, grouped, in order of first appearance."""
    found: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        found.setdefault(key, []).append(i)
    return list(found.values())


@executors.register("batched")
class Batched(Local):
    """In this process, `batch_trials` trials at a time: stacked on a CPU, taking turns on a GPU's streams."""

    unsupported: ClassVar[dict[str, str]] = {
        "compile": "compile: true is not supported by the batched executor; use executor: local"}
    batch_trials: Annotated[int, Field(ge=1)] = 8  # 8-32 suit small conv nets on one large GPU

    def refuses(self, search: SearchPlan) -> str | None:
        if search.lr_range_test is not None:
            return "the batched executor cannot run a learning-rate range test; use executor: local"
        return None

    def runner(self, plan: Plan, store: RunStore, device: torch.device) -> CellRunner:
        return BatchedRunner(plan, store, device, self.batch_trials)
