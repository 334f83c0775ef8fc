"""Robust aggregates over seeds: the interquartile mean with a bootstrap confidence interval.

Agarwal et al. (2021), "Deep RL at the edge of the statistical precipice": with few seeds the IQM
is less swayed by one lucky or unlucky seed than the mean, and its bootstrap interval says how sure
we are. scipy.stats does both.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

BOOTSTRAP_SEED = 0  # fixed, so a report regenerated from the same frame prints the same interval
RESAMPLES = 2000


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean of the middle 50%: scipy's trimmed mean with a quarter cut from each end."""
    return stats.trim_mean(values, 0.25, axis=axis)


def iqm_with_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """IQM and its percentile-bootstrap interval; the interval is NaN with fewer than two values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return (float(values[0]) if len(values) else np.nan), np.nan, np.nan
    point = float(iqm(values))
    if np.ptp(values) == 0:  # every resample is the same; scipy would warn of a degenerate distribution
        return point, point, point
    result = stats.bootstrap((values,), iqm, confidence_level=confidence, n_resamples=RESAMPLES,
                             method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED))
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)
