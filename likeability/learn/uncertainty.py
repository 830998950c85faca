"""How sure a test figure is: 95% intervals by a bootstrap over test users, since one user's photos are not
independent of each other (a user's style and audience shape all of them), and the chance level beside AP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

DRAWS = 1000
LEVEL = 0.95
ENDS = ("low", "high")  # an interval's fields, as the tables name them: test_ap_low, test_ap_high


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def user_bootstrap(
    labels: np.ndarray, predicted: np.ndarray, ranking: np.ndarray, users: np.ndarray, seed: int = 0,
    draws: int = DRAWS,
) -> dict[str, Interval]:
    """Percentile intervals of accuracy (of `predicted`), AP and ROC AUC (of `ranking`), resampling whole users
    with replacement; draws in which one label is missing (AP and AUC undefined) are drawn again."""
    if labels.min() == labels.max():
        raise ValueError("the test photos are all of one label: AP and ROC AUC need both")
    _, user_of = np.unique(users, return_inverse=True)
    by_user = np.argsort(user_of, kind="stable")  # each user's photos next to each other
    counts = np.bincount(user_of)
    starts = np.cumsum(counts) - counts
    rng = np.random.default_rng(seed)
    figures: dict[str, list[float]] = {"accuracy": [], "ap": [], "roc_auc": []}
    while len(figures["ap"]) < draws:
        chosen = rng.integers(0, len(counts), len(counts))
        rows = by_user[_ranges(starts[chosen], counts[chosen])]
        truth = labels[rows]
        if truth.min() == truth.max():
            continue
        figures["accuracy"].append(float(np.mean(truth == predicted[rows])))
        figures["ap"].append(average_precision(truth, ranking[rows]))
        figures["roc_auc"].append(roc_auc(truth, ranking[rows]))
    tail = 100 * (1 - LEVEL) / 2
    return {
        name: Interval(*(float(v) for v in np.percentile(values, [tail, 100 - tail])))
        for name, values in figures.items()
    }


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of range(start, start + length) for each pair, without a Python loop."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1]) - np.repeat(ends - lengths - starts, lengths)


def chance_level(labels: np.ndarray) -> float:
    """The AP of a ranking that knows nothing: the share of good photos."""
    return float(np.mean(labels))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's average_precision_score (tied scores share one threshold), without its per-call checks:
    the bootstrap calls it a thousand times per model."""
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    last_of_each_score = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    true_positives = np.cumsum(hits)[last_of_each_score]
    precision = true_positives / (last_of_each_score + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half), equal to scikit-learn's roc_auc_score."""
    positives = labels == 1
    n_good, n_bad = int(positives.sum()), int((~positives).sum())
    rank_sum = rankdata(scores)[positives].sum()
    return float((rank_sum - n_good * (n_good + 1) / 2) / (n_good * n_bad))
