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
    intervals come from the same resamples."""

    def __init__(self, users: np.ndarray, rounds: int, seed: int):
        names, user_of_row = np.unique(users, return_inverse=True)
        order = np.argsort(user_of_row, kind="stable")
        starts = np.searchsorted(user_of_row[order], np.arange(len(names) + 1))
        photos_of = [order[starts[u]:starts[u + 1]] for u in range(len(names))]
        rng = np.random.default_rng(seed)
        self.samples = [np.concatenate([photos_of[u] for u in rng.integers(0, len(names), len(names))])
                        for _ in range(rounds)]

    def correlation(self, x: np.ndarray, y: np.ndarray) -> Correlation:
        value = spearman(x, y)
        if np.isnan(value):
            return Correlation(value, float("nan"), float("nan"))
        resampled = np.array([spearman(x[rows], y[rows]) for rows in self.samples])
        resampled = resampled[~np.isnan(resampled)]
        low, high = np.percentile(resampled, [2.5, 97.5]) if len(resampled) else (float("nan"), float("nan"))
        return Correlation(value, float(low), float(high))
