"""Evaluating a model: one hyperparameter setting across the folds, and a final model once on the test split."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix, roc_auc_score

from likeability.learn.uncertainty import ENDS, chance_level, user_bootstrap
from likeability.tune.families import build_estimator, ranking_scores
from likeability.tune.folds import Folds


def cross_validate(
    family: str,
    params: dict[str, Any],
    features: np.ndarray,
    labels: np.ndarray,
    folds: Folds,
    mirrored: bool,
    seed: int,
    n_jobs: int = 1,
) -> dict[str, float]:
    """Fit on each fold's training rows (with mirror copies when `mirrored`), score its validation originals:
    mean and standard deviation of average precision and accuracy, and how many fits stopped unconverged."""
    aps, accuracies = [], []
    with warnings.catch_warnings(record=True) as caught:
        # Recorded, not shown: a large-C grid point warns on every fold, which would flood a sweep's console.
        warnings.simplefilter("always", ConvergenceWarning)
        for fold in range(folds.count):
            train, validation = folds.training_rows(fold, mirrored), folds.validation_rows(fold)
            model = build_estimator(family, params, seed, n_jobs).fit(features[train], labels[train])
            truth = labels[validation]
            aps.append(average_precision_score(truth, ranking_scores(family, model, features[validation])))
            accuracies.append(accuracy_score(truth, model.predict(features[validation])))
    for warning in caught:
        if not issubclass(warning.category, ConvergenceWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return {
        "mean_ap": float(np.mean(aps)),
        "std_ap": float(np.std(aps)),
        "mean_accuracy": float(np.mean(accuracies)),
        "std_accuracy": float(np.std(accuracies)),
        "fits_not_converged": sum(issubclass(w.category, ConvergenceWarning) for w in caught),
    }


def held_out_metrics(
    labels: np.ndarray, p_good: np.ndarray, ranking: np.ndarray, users: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """A model's one look at the test split: P(good) >= 0.5 counts as predicting good; AP and ROC AUC rank by
    `ranking` (the SVMs' margins), which stays informative where Platt scaling flattens P(good) on a small
    training split. Each figure has its 95% interval from a bootstrap over the test `users`, and AP its chance
    level (the share of good photos)."""
    predicted = (p_good >= 0.5).astype(labels.dtype)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    intervals = user_bootstrap(labels, predicted, ranking, users, seed)
    return {
        "test_accuracy": float(accuracy_score(labels, predicted)),
        "test_ap": float(average_precision_score(labels, ranking)),
        "test_roc_auc": float(roc_auc_score(labels, ranking)),
        **{f"test_{name}_{end}": getattr(interval, end) for name, interval in intervals.items() for end in ENDS},
        "chance_ap": chance_level(labels),
        "confusion": [int(tn), int(fp), int(fn), int(tp)],
    }
