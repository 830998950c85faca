"""Evaluating a model: one hyperparameter setting across the folds, and a final model once on the test split."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix, roc_auc_score

from likeability.learn.uncertainty import ENDS, chance_level, user_bootstrap
from likeability.tune.families import build_estimator, ranking_scores
from likeability.tune.folds import Folds
from likeability.tune.standardised_subsets import SubsetLinearClassifier


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
    mean and standard deviation of average precision and accuracy, and how many fits stopped unconverged.
    `features` is only read (a sweep trial's is the read-only matrix in Ray's object store): no model copies it,
    only each fold's validation rows are gathered."""
    with warnings.catch_warnings(record=True) as caught:
        # Recorded, not shown: a large-C grid point warns on every fold, which would flood a sweep's console.
        warnings.simplefilter("always", ConvergenceWarning)
        estimator = build_estimator(family, params, seed, n_jobs)
        if isinstance(estimator, SubsetLinearClassifier):
            scored = _linear_folds(estimator, features, labels, folds, mirrored)
        else:
            scored = _forest_folds(estimator, features, labels, folds, mirrored)
        aps = [average_precision_score(truth, ranking) for truth, ranking, _ in scored]
        accuracies = [accuracy_score(truth, predicted) for truth, _, predicted in scored]
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


FoldScores = list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per fold: validation truth, ranking, prediction


def _forest_folds(
    forest: ClassifierMixin, features: np.ndarray, labels: np.ndarray, folds: Folds, mirrored: bool
) -> FoldScores:
    """A forest fitted fold by fold on the shared matrix itself, the rows outside the fold given weight 0:
    scikit-learn's trees leave those out, and each training row's bootstrap count keeps its mean (a Poissonised
    bootstrap)."""
    scored = []
    for fold in range(folds.count):
        weight = np.zeros(len(labels))
        weight[folds.training_rows(fold, mirrored)] = 1
        model = clone(forest).fit(features, labels, sample_weight=weight)
        held_out = features[folds.validation_rows(fold)]
        scored.append((labels[folds.validation_rows(fold)], ranking_scores("random_forest", model, held_out),
                       model.predict(held_out)))
    return scored


def _linear_folds(
    svm: SubsetLinearClassifier, features: np.ndarray, labels: np.ndarray, folds: Folds, mirrored: bool
) -> FoldScores:
    """An SVM on every fold at once, reading the shared matrix without copying it (standardised_subsets)."""
    subsets = np.zeros((folds.count, len(labels)), dtype=bool)
    for fold in range(folds.count):
        subsets[fold, folds.training_rows(fold, mirrored)] = True
    models = svm.fit_subsets(features, labels, subsets)
    for fold in np.flatnonzero(~models.converged):
        warnings.warn(f"{type(svm).__name__} stopped on fold {fold} after {models.iterations[fold]} steps "
                      "without converging", ConvergenceWarning)
    margins = models.margins(features)
    validation = [folds.validation_rows(fold) for fold in range(folds.count)]
    return [(labels[rows], margins[rows, fold], (margins[rows, fold] > 0).astype(labels.dtype))
            for fold, rows in enumerate(validation)]


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
