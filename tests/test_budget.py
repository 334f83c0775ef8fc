"""Equal budgets: every strategy, under each kind of budget, stops within one trial of it, and says what it spent."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from synthetic import SPACE, run_strategy

from harness.budget import Budget, Spent, counts_against_budget, trial_epochs
from harness.executor import trial_claims
from harness.strategy import strategies

BUDGETS = {
    "trials": Budget(trials=7, epochs=3),
    "total_epochs": Budget(total_epochs=20, epochs=3),
    "seconds": Budget(seconds=0.25, epochs=3),
}


@pytest.mark.parametrize("kind", BUDGETS)
@pytest.mark.parametrize("name", strategies.names())
def test_no_strategy_exceeds_its_budget_by_more_than_its_last_trial(name, kind):
    budget = BUDGETS[kind]
    trials = run_strategy(name, seed=0, budget=budget, seconds_per_epoch=0.01 if kind == "seconds" else 0.0)
    ended = [t for t in trials if counts_against_budget(t)]
    assert len(ended) == len(trials)  # nothing left waiting or running
    assert budget.exhausted(Spent.of(ended))
    assert not budget.exhausted(Spent.of(ended[:-1]))  # the last trial started while budget was left
    assert all(trial_epochs(t) <= budget.epochs for t in ended)  # so the overshoot is one trial's epochs at most
    if kind == "total_epochs":
        assert Spent.of(ended).epochs < budget.total_epochs + budget.epochs


def test_spent_counts_trials_by_state_with_epochs_and_seconds():
    budget = Budget(total_epochs=40, epochs=4)
    trials = run_strategy("asha", seed=0, budget=budget, seconds_per_epoch=0.002, sampler="random")
    spent = Spent.of(trials)
    states = [t.state for t in trials]
    assert spent.started == spent.trials == len(trials) == spent.completed + spent.pruned + spent.failed
    assert (spent.completed, spent.pruned, spent.failed) == (states.count(TrialState.COMPLETE),
                                                             states.count(TrialState.PRUNED),
                                                             states.count(TrialState.FAIL))
    assert spent.pruned > 0 and spent.failed > 0  # asha stopped some; the diverging corner failed some
    assert spent.epochs == sum(len(t.user_attrs.get("curve", ())) + t.user_attrs.get("extra_epochs", 0) for t in trials)
    assert spent.seconds >= 0.002 * spent.epochs


def test_a_trial_lost_to_an_interruption_spends_nothing():
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"curve": [{}]}))
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"curve": [{}], "fail_reason": "nan",
                                                                                  "extra_epochs": 1}))
    assert Spent.of(study.trials) == Spent(started=2, trials=1, failed=1, epochs=2, seconds=0.0)


def test_a_budget_caps_exactly_one_thing():
    with pytest.raises(ValueError, match="exactly one"):
        Budget(epochs=1, trials=2, seconds=3.0)
    assert Budget(epochs=4, total_epochs=12).planned_trials == 3 and Budget(epochs=4, seconds=9).planned_trials is None
    assert Budget(epochs=4, total_epochs=10).planned_trials == 3  # the third trial starts with 2 epochs left and finishes


@pytest.mark.parametrize("recorded", [None, 2.0], ids=["sweeping", "swept"])
def test_workers_sharing_a_cell_count_the_range_test_sweeps_of_running_trials(recorded):
    """A running trial counts as its epochs and its sweep (the one the claims are given until it records its own):
    counting the epochs alone, six workers of this cell once all started a trial, and spent two or three times its
    budget."""
    budget = Budget(total_epochs=6, epochs=1)
    plan = strategies.get("lr_range_test")(sweep_epochs=1.0).plan(SPACE, budget, 0)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="synthetic/cell", direction="maximize",
                                sampler=plan.sampler)
    next_trial = trial_claims(study, storage, plan, budget, SPACE, lambda n: plan.sampler, plan.lr_range_test.epochs)
    claimed = []
    while isinstance(trial := next_trial(), optuna.Trial):  # as workers would, each before any of them ends
        SPACE.suggest(trial)
        if recorded is not None:  # its sweep ended, longer than asked (a sweep takes at least 20 steps)
            trial.set_user_attr("extra_epochs", recorded)
        claimed.append(trial)
    sweep = recorded or 1.0
    for trial in claimed:  # as the runner records them: the sweep, then one epoch
        trial.set_user_attr("extra_epochs", sweep)
        trial.set_user_attr("curve", [{}])
        study.tell(trial, 0.5)
    spent = Spent.of(study.trials).epochs
    assert spent >= budget.total_epochs > spent - (budget.epochs + sweep)  # the last trial started with budget left
