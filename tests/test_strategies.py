"""Contract over every registered strategy, on a synthetic objective: no training at all."""

from __future__ import annotations

import math

import optuna
import pytest

from harness.executor import enqueue_planned
from harness.plugins import load_builtins
from harness.space import Choice, Float, Int, Space, when
from harness.budget import Budget
from harness.strategy import strategies

load_builtins()
BUDGET = Budget(trials=12, epochs=1)
SPACE = Space({
    "optimizer": Choice(default="adam", choices=("sgd", "adam")),
    "lr": Float(default=1e-2, low=1e-4, high=1.0, log=True),
    "momentum": Float(default=0.9, low=0.5, high=0.99, when=when(optimizer="sgd")),
    "width": Int(default=16, low=8, high=64, log=True),
})


def objective(config: dict) -> float:
    """Best near lr=1e-2 with SGD at high momentum; smooth enough for model-based samplers."""
    bonus = 0.2 * config.get("momentum", 0.0)
    return -abs(math.log10(config["lr"]) + 2) + bonus + 0.01 * math.log2(config["width"])


def search(name: str, seed: int, budget: Budget = BUDGET) -> list[optuna.trial.FrozenTrial]:
    plan = strategies.get(name)().plan(SPACE, budget, seed)
    study = optuna.create_study(direction="maximize", sampler=plan.sampler, pruner=plan.pruner)
    enqueue_planned(study, plan, budget)
    study.optimize(lambda trial: objective(SPACE.suggest(trial)), n_trials=budget.trials)
    return study.trials


@pytest.mark.parametrize("name", strategies.names())
def test_strategy_spends_exactly_the_budget_inside_the_space(name):
    trials = search(name, seed=0)
    assert len(trials) == BUDGET.trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    for trial in trials:
        assert SPACE.complete(trial.params) == trial.params  # every value allowed, every active parameter set


@pytest.mark.parametrize("name", strategies.names())
def test_strategy_is_deterministic_under_its_seed(name):
    assert [t.params for t in search(name, seed=1)] == [t.params for t in search(name, seed=1)]


@pytest.mark.parametrize("name", [n for n in strategies.names() if n != "manual"])
def test_strategy_draws_differently_under_another_seed(name):
    assert [t.params for t in search(name, seed=1)] != [t.params for t in search(name, seed=2)]


def test_grid_subset_is_random_not_a_prefix_and_never_repeats():
    full = SPACE.grid(3)
    chosen = [t.params for t in search("grid", seed=0)]
    assert len({tuple(sorted(c.items())) for c in chosen}) == BUDGET.trials
    assert chosen != full[:BUDGET.trials]


def test_manual_repeats_its_configurations_to_fill_the_budget():
    plan = strategies.get("manual")(configs=[{"optimizer": "sgd", "lr": 0.1}, {}]).plan(SPACE, BUDGET, 0)
    assert plan.configs == ({"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "width": 16},
                            {"optimizer": "adam", "lr": 1e-2, "width": 16})
    study = optuna.create_study(direction="maximize", sampler=plan.sampler)
    enqueue_planned(study, plan, BUDGET)
    study.optimize(lambda trial: objective(SPACE.suggest(trial)), n_trials=4)
    ran = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert [t.params["optimizer"] for t in ran] == ["sgd", "adam", "sgd", "adam"]


def test_tpe_concentrates_where_random_does_not():
    """After its random start, TPE's proposals score better on average than random search's."""
    budget = Budget(trials=40, epochs=1)

    def later_mean(name: str, seed: int) -> float:
        values = [t.value for t in search(name, seed, budget)][budget.trials // 2:]
        return sum(values) / len(values)

    seeds = range(3)
    assert sum(later_mean("tpe", s) for s in seeds) > sum(later_mean("random", s) for s in seeds)
