"""Expected best validation accuracy after n trials (Dodge et al., 2019, "Show Your Work").

With the N observed accuracies v(1) ≤ … ≤ v(N) as the distribution of one trial's outcome, the
maximum of n independent draws equals v(i) with probability (i/N)^n − ((i−1)/N)^n, which gives the
expectation and variance exactly: no simulation. It is exact for random search, whose trials are
independent draws; for adaptive strategies it treats the trials as exchangeable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.tables import PAIR, complete_trials, in_first_seen_order


def expected_max(values: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[max] and Var[max] of n draws with replacement from `values`, for every n given."""
    v = np.sort(np.asarray(values, dtype=float))
    count = len(v)
    cdf = np.arange(count + 1) / count
    n = np.asarray(n, dtype=float)[:, None]
    weights = cdf[1:] ** n - cdf[:-1] ** n  # P(max = v(i)), one row per n
    mean = weights @ v
    return mean, np.maximum(weights @ v**2 - mean**2, 0.0)


def expected_max_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Per (task, strategy), the COMPLETE trials of all its seeds pooled, for n = 1 … the most trials a cell ran."""
    rows = []
    completed = complete_trials(results)
    most = results.groupby(["task", "strategy", "seed"])["trial"].size().groupby(level=PAIR).max()
    for (task, strategy), trials in completed.groupby(PAIR, sort=False):
        n = np.arange(1, int(most[(task, strategy)]) + 1)
        mean, var = expected_max(trials["val_accuracy"].to_numpy(), n)
        rows.append(pd.DataFrame({"task": task, "strategy": strategy, "n_trials": n, "expected_max": mean,
                                  "std": np.sqrt(var)}))
    if not rows:
        return pd.DataFrame(columns=[*PAIR, "n_trials", "expected_max", "std"])
    return in_first_seen_order(pd.concat(rows, ignore_index=True), results)
