"""Expected best validation accuracy after n trials (Dodge et al., 2019, "Show Your Work").

With the N observed accuracies v(1) ≤ … ≤ v(N) as the distribution of one trial's outcome, the
maximum of n independent draws equals v(i) with probability (i/N)^n − ((i−1)/N)^n, which gives the
expectation and variance exactly: no simulation. It is exact for random search, whose trials are
independent draws; for adaptive strategies it treats the trials as exchangeable.

Every trial a strategy spent budget on is a draw: a pruned one at the last validation accuracy it
reported, a failed one (or a pruned one that reported none) at 0, as it found no model. Drawing from
the COMPLETE trials alone would drop a pruner's bad configurations and flatter it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.stats import NO_RESULT
from reports.tables import PAIR, in_first_seen_order, unit_band


def expected_max(values: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[max] and Var[max] of n draws with replacement from `values`, for every n given."""
    v = np.sort(np.asarray(values, dtype=float))
    count = len(v)
    cdf = np.arange(count + 1) / count
    n = np.asarray(n, dtype=float)[:, None]
    weights = cdf[1:] ** n - cdf[:-1] ** n  # P(max = v(i)), one row per n
    mean = weights @ v
    return mean, np.maximum(weights @ v**2 - mean**2, 0.0)


def trial_draws(results: pd.DataFrame) -> pd.Series:
    """Each trial's outcome as a draw of its strategy: COMPLETE and PRUNED at their value, the others at 0."""
    reported = results["val_accuracy"].where(results["state"].isin(["COMPLETE", "PRUNED"]))
    return reported.fillna(NO_RESULT)


def expected_max_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Per (task, strategy), every trial of all its seeds pooled, for n = 1 … the most trials a cell ran;
    `low` and `high` are the ±1 std band within [0, 1]."""
    rows = []
    draws = results.assign(draw=trial_draws(results))
    most = results.groupby(["task", "strategy", "seed"])["trial"].size().groupby(level=PAIR).max()
    for (task, strategy), trials in draws.groupby(PAIR, sort=False):
        n = np.arange(1, int(most[(task, strategy)]) + 1)
        mean, var = expected_max(trials["draw"].to_numpy(), n)
        std = np.sqrt(var)
        low, high = unit_band(mean, std)
        rows.append(pd.DataFrame({"task": task, "strategy": strategy, "n_trials": n, "expected_max": mean,
                                  "std": std, "low": low, "high": high}))
    if not rows:
        return pd.DataFrame(columns=[*PAIR, "n_trials", "expected_max", "std", "low", "high"])
    return in_first_seen_order(pd.concat(rows, ignore_index=True), results)
