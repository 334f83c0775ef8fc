"""Performance profiles (Dolan & Moré, 2002), as MLCommons AlgoPerf scores training algorithms.

A problem is one (task, seed). Its target is a fraction of the best final validation accuracy any
strategy reached on it; each strategy's cost is the budget it spent until its best-so-far reached the
target. ρ_s(τ) is the fraction of problems that strategy s solves within τ times the cost of the
fastest strategy on that problem. The area under ρ_s on [1, τ_max], normalised to [0, 1], scores it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.anytime import spent_to_reach
from reports.tables import complete_trials

TARGET_FRACTION = 0.99  # of the best final val. accuracy on the problem
TAU_MAX = 4.0  # AlgoPerf's upper limit on the budget ratio


def cost_ratios(results: pd.DataFrame, target_fraction: float = TARGET_FRACTION, by: str = "epochs") -> pd.DataFrame:
    """Problems x strategies: budget to reach the target over the fastest strategy's; inf when never reached."""
    targets = target_fraction * complete_trials(results).groupby(["task", "seed"])["val_accuracy"].max()
    spent = spent_to_reach(results, targets, by).unstack("strategy")[list(pd.unique(results["strategy"]))]
    spent = spent[spent.notna().all(axis=1)]  # problems where every strategy has a cell
    spent = spent[np.isfinite(spent.min(axis=1))]  # and some strategy reached the target
    return spent.div(spent.min(axis=1), axis=0)


def profile(ratios: pd.DataFrame, taus: np.ndarray) -> pd.DataFrame:
    """ρ_s(τ) for every τ in `taus`: the fraction of problems with ratio ≤ τ."""
    return pd.DataFrame({s: [(ratios[s] <= tau).mean() for tau in taus] for s in ratios.columns},
                        index=pd.Index(taus, name="tau"))


def area_under_profile(ratios: pd.DataFrame, tau_max: float = TAU_MAX) -> pd.Series:
    """∫₁^τmax ρ_s(τ) dτ / (τmax − 1), exactly: each problem adds (τmax − r)/(τmax − 1) where r ≤ τmax."""
    return ((tau_max - ratios).clip(lower=0) / (tau_max - 1)).mean()
