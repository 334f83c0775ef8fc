"""Hyperparameter importance per task: Optuna's fANOVA evaluator over all trials of the task.

Reports read the results frame only, so the trials are rebuilt from its `param_*` columns as Optuna
FrozenTrials in a temporary in-memory study. The frame keeps values, not distributions: numbers are
taken as a range from their smallest to largest value, on a log scale when positive and spanning two
decades or more (learning rates, weight decays); anything else is categorical. A value whose range
follows another choice (`lr`, whose range is the optimizer's own) is taken as its position in that
range (its `position_*` column), as it was drawn: fANOVA averages each parameter over every value of
the others, and a rate read as itself would be averaged over optimizers whose ranges never held it,
crediting the optimizers' different scales to `lr`.
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
POSITION_PREFIX = "position_"  # the results frame's columns of positions in ranges that follow a choice


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


def as_drawn(trials: pd.DataFrame) -> dict[str, tuple[pd.Series, BaseDistribution | None]]:
    """Each parameter's values as the samplers drew them, with their distribution (None: never varied). A value
    with a position in every trial that holds it is taken as that position, on 0..1; one without (a spec fixed
    it, or the run was recorded before positions were) is taken as itself."""
    drawn = {}
    for column in param_columns(trials):
        name, values = column.removeprefix("param_"), trials[column]
        position = trials.get(POSITION_PREFIX + name)
        if position is not None and position.notna().equals(values.notna()):
            drawn[name] = (position, FloatDistribution(0.0, 1.0) if position.nunique() > 1 else None)
        else:
            drawn[name] = (values, infer_distribution(values))
    return drawn


def _frozen_trials(trials: pd.DataFrame, drawn: dict[str, tuple[pd.Series, BaseDistribution]]) -> list:
    """One FrozenTrial per row, with the parameters it had (conditional ones may be missing)."""
    frozen = []
    for i, accuracy in enumerate(trials["val_accuracy"]):
        params = {name: plain(values.iloc[i]) for name, (values, _) in drawn.items() if not is_missing(values.iloc[i])}
        frozen.append(optuna.trial.create_trial(params=params, distributions={k: drawn[k][1] for k in params},
                                                value=float(accuracy)))
    return frozen


def task_importances(trials: pd.DataFrame, max_depth: int = FANOVA_DEPTH) -> dict[str, float]:
    """fANOVA importances (summing to 1) of the task's varied parameters; empty when fewer than two vary, or when
    every trial reached the same accuracy (nothing to explain: fANOVA's variance is zero)."""
    drawn = {name: found for name, found in as_drawn(trials).items() if found[1] is not None}
    if not drawn or trials["val_accuracy"].nunique() < 2:
        return {}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line for a throwaway study
    try:
        study = optuna.create_study(direction="maximize")  # in memory, gone after this call
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(_frozen_trials(trials, drawn))
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
