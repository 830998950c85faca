"""How strongly an attribute goes with a score, with a 95% interval that respects users: photos of one user
are not independent (same face, same rooms, same followers), so the bootstrap resamples users, each with all
their photos, as the test figures' intervals do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


@dataclass(frozen=True)
class Correlation:
    value: float  # Spearman's rank correlation; NaN when either side is constant
    low: float
    high: float


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


class UserBootstrap:
    """Resamples of the users (with replacement), drawn once and shared by every attribute and target, so their
    intervals come from the same resamples. A resample is held as weights, each photo's number of copies in it
    (its user's draws), so every resample's correlation is computed at once."""

    def __init__(self, users: np.ndarray, rounds: int, seed: int):
        names, user_of_row = np.unique(users, return_inverse=True)
        draws = np.random.default_rng(seed).integers(0, len(names), (rounds, len(names)))
        copies = np.zeros((rounds, len(names)))
        np.add.at(copies, (np.arange(rounds)[:, None], draws), 1)
        self.weights = copies[:, user_of_row]  # rounds x photos

    def correlation(self, x: np.ndarray, y: np.ndarray) -> Correlation:
        value = spearman(x, y)
        if np.isnan(value):
            return Correlation(value, float("nan"), float("nan"))
        resampled = weighted_pearson(midranks(x, self.weights), midranks(y, self.weights), self.weights)
        resampled = resampled[~np.isnan(resampled)]
        low, high = np.percentile(resampled, [2.5, 97.5]) if len(resampled) else (float("nan"), float("nan"))
        return Correlation(value, float(low), float(high))


def midranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each value's rank in each weighted sample (rows of `weights`: copies of each value), ties sharing the mean
    of their ranks, as `rankdata` gives on the sample written out copy by copy."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    group_ends = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
    group_of = np.searchsorted(group_ends, np.arange(len(values)))  # each sorted position's tie group
    through_end = np.cumsum(weights[:, order], axis=1)[:, group_ends]  # copies up to each group's end
    in_group = np.diff(through_end, axis=1, prepend=0)
    ranks = np.empty_like(weights)
    ranks[:, order] = (through_end - in_group + (in_group + 1) / 2)[:, group_of]
    return ranks


def weighted_pearson(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson's correlation of each row of `a` with the same row of `b`, under that row's weights; NaN where
    either side does not vary."""
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty or constant row is NaN, not a warning
        total = weights.sum(axis=1, keepdims=True)
        a = a - (weights * a).sum(axis=1, keepdims=True) / total
        b = b - (weights * b).sum(axis=1, keepdims=True) / total
        spread = np.sqrt((weights * a * a).sum(axis=1) * (weights * b * b).sum(axis=1))
        return np.where(spread > 1e-12, (weights * a * b).sum(axis=1) / spread, np.nan)
