"""Hyperparameter importance per task: Optuna's fANOVA evaluator over all trials of the task.

Reports read the results frame only, so the trials are rebuilt from its `param_*` columns as Optuna
FrozenTrials in a temporary in-memory study. The frame keeps values, not distributions: numbers are
taken as a range from their smallest to largest value, on a log scale when positive and spanning two
decades or more (learning rates, weight decays); anything else is categorical.
"""

from __future__ import annotations

import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.importance import FanovaImportanceEvaluator

from reports.tables import complete_trials, in_first_seen_order, is_missing, param_columns

FANOVA_SEED = 0
FANOVA_DEPTH = 8  # Optuna's default (64) costs ~7x more on 1,000 trials for the same ranking (benchmarks/)
LOG_SPAN = 100.0  # max/min at or above this: the parameter was searched on a log scale


def plain(value: object) -> object:
    """A numpy scalar as the Python one Optuna's distributions take (it warns about `numpy.bool_` choices)."""
    return value.item() if hasattr(value, "item") else value


def infer_distribution(values: pd.Series) -> BaseDistribution | None:
    """The narrowest distribution holding every value; None for a parameter that never varied."""
    values = values.dropna()
    if values.nunique() < 2:
        return None
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return CategoricalDistribution(sorted(map(plain, pd.unique(values)), key=str))
    low, high = values.min(), values.max()
    log = low > 0 and high / low >= LOG_SPAN
    if pd.api.types.is_integer_dtype(values):
        return IntDistribution(int(low), int(high), log=bool(log))
    return FloatDistribution(float(low), float(high), log=bool(log))


def _frozen_trials(trials: pd.DataFrame, distributions: dict[str, BaseDistribution]) -> list:
    """One FrozenTrial per row, with the parameters it had (conditional ones may be missing)."""
    frozen = []
    for _, row in trials.iterrows():
        params = {name: plain(row[f"param_{name}"]) for name in distributions if not is_missing(row[f"param_{name}"])}
        frozen.append(optuna.trial.create_trial(params=params, distributions={k: distributions[k] for k in params},
                                                value=float(row["val_accuracy"])))
    return frozen


def task_importances(trials: pd.DataFrame, max_depth: int = FANOVA_DEPTH) -> dict[str, float]:
    """fANOVA importances (summing to 1) of the task's varied parameters; empty when fewer than two vary, or when
    every trial reached the same accuracy (nothing to explain: fANOVA's variance is zero)."""
    distributions = {c.removeprefix("param_"): infer_distribution(trials[c]) for c in param_columns(trials)}
    distributions = {k: d for k, d in distributions.items() if d is not None}
    if not distributions or trials["val_accuracy"].nunique() < 2:
        return {}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line for a throwaway study
    try:
        study = optuna.create_study(direction="maximize")  # in memory, gone after this call
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(_frozen_trials(trials, distributions))
    evaluator = FanovaImportanceEvaluator(max_depth=max_depth, seed=FANOVA_SEED)
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {name: float(value) for name, value in importances.items()}


def importance_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Long frame (task, parameter, importance) over every strategy's and seed's COMPLETE trials."""
    rows = [{"task": task, "parameter": name, "importance": value}
            for task, trials in complete_trials(results).groupby("task", sort=False)
            for name, value in task_importances(trials).items()]
    if not rows:
        return pd.DataFrame(columns=["task", "parameter", "importance"])
    return in_first_seen_order(pd.DataFrame(rows), results)
