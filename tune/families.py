"""The study's three model families: their hyperparameter grids, their estimators, and their ranking scores."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from likeability.config import SweepsConfig
from likeability.tune.gradient_svm import GradientDescentSVM
from likeability.tune.squared_hinge_svm import SquaredHingeSVM

# Forests first: they are the longest trials, and starting them early keeps the sweep's tail short.
FAMILIES = ("random_forest", "linear_svc", "sgd_svm")


def family_grid(family: str, sweeps: SweepsConfig) -> list[dict[str, Any]]:
    """Every hyperparameter setting of `family` that the sweep tries."""
    if family == "linear_svc":
        return [{"C": c} for c in sweeps.linear_svc_c]
    if family == "sgd_svm":
        return [{"alpha": alpha, "eta0": eta0} for alpha in sweeps.sgd_alpha for eta0 in sweeps.sgd_eta0]
    if family == "random_forest":
        # Only what differs from the study's forest is named, so its grid points read as they always have.
        subsample = {} if sweeps.forest_max_samples is None else {"max_samples": sweeps.forest_max_samples}
        splitter = {} if sweeps.forest_splitter == "best" else {"splitter": sweeps.forest_splitter}
        return [{"n_estimators": sweeps.forest_trees, **subsample, **splitter}]
    raise ValueError(f"unknown model family {family!r}; families are {FAMILIES}")


def build_estimator(family: str, params: dict[str, Any], seed: int, n_jobs: int = 1) -> ClassifierMixin:
    """A fresh, unfitted estimator; `n_jobs` is the CPUs the caller holds (only forests use more than one)."""
    # The SVMs standardise their features (CNN activations span very different ranges per unit; standardising keeps
    # C comparable across layers) and are deterministic, so they take no seed.
    if family == "linear_svc":
        return SquaredHingeSVM(C=params["C"])
    if family == "sgd_svm":
        return GradientDescentSVM(alpha=params["alpha"], eta0=params["eta0"])
    if family == "random_forest":
        forest = ExtraTreesClassifier if params.get("splitter") == "random" else RandomForestClassifier
        return forest(
            n_estimators=params["n_estimators"], bootstrap=True, max_samples=params.get("max_samples"),
            n_jobs=n_jobs, random_state=seed,
        )
    raise ValueError(f"unknown model family {family!r}; families are {FAMILIES}")


def ranking_scores(family: str, model: ClassifierMixin, features: np.ndarray) -> np.ndarray:
    """Higher = more likely good: the SVMs' margin, the forest's vote share (what average precision ranks by)."""
    if family == "random_forest":
        return positive_probability(model, features)
    return model.decision_function(features)


def positive_probability(model: ClassifierMixin, features: np.ndarray) -> np.ndarray:
    """P(good) from a fitted classifier with predict_proba."""
    return model.predict_proba(features)[:, list(model.classes_).index(1)]
