"""Row subsets of one feature matrix, each standardised by its own rows' mean and spread, as linear operators
that read the matrix and never copy it.

A cross-validation trial fits one linear model per fold on the same matrix. Applying each fold's rows and its
standardisation to the weights and residuals instead of to the matrix lets the folds share it: the k per-fold
matrix-vector products of a solver step become one matrix-matrix product that reads the matrix once, and the
matrix stays the read-only copy in Ray's object store (a trial makes none of its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

CHUNK_BYTES = 4 << 20  # the moments are summed in float64 over chunks of rows: bounded scratch, not a copy


@dataclass(frozen=True)
class LinearModels:
    """k linear models on the raw (unstandardised) features: margin = features @ weights + intercepts."""

    weights: np.ndarray  # [width, k] float32
    intercepts: np.ndarray  # [k] float32
    iterations: np.ndarray  # [k] solver steps each model took
    converged: np.ndarray  # [k] bool: met its solver's tolerance within its step budget

    def margins(self, features: np.ndarray) -> np.ndarray:
        """[rows, k]: every row's margin under each model."""
        return features @ self.weights + self.intercepts


class StandardisedSubsets:
    """x~ = (x - mean_k) / scale_k on the rows of subset k (a row's membership is `member[row, k]`); weights
    live on standardised features, with a bias (the appended constant feature of MLlib and liblinear)."""

    def __init__(self, features: np.ndarray, subsets: np.ndarray):
        self.features = np.asarray(features, dtype=np.float32)  # float32 input (the sweeps') passes uncopied
        self.member = subsets.T.astype(np.float32)  # [rows, k]
        self.count = subsets.sum(axis=1)  # [k]
        self.mean, self.scale = subset_moments(self.features, subsets)

    def times(self, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """[rows, k]: x~ . w_k + b_k for every row (rows outside subset k included: callers mask them)."""
        raw_weights, raw_bias = self._unstandardised(weights, bias)
        return self.features @ raw_weights + raw_bias

    def transpose_times(self, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X~_k^T r_k for each column of `residual` ([rows, k], zero outside subset k): ([width, k], bias [k])."""
        total = residual.sum(axis=0)
        return (self.features.T @ residual - self.mean.T * total) / self.scale.T, total

    def models(self, weights: np.ndarray, bias: np.ndarray, iterations: np.ndarray,
               converged: np.ndarray) -> LinearModels:
        return LinearModels(*self._unstandardised(weights, bias), iterations, converged)

    def _unstandardised(self, weights: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """w.(x - mean)/scale + b = x.(w/scale) + (b - mean.(w/scale))."""
        raw = weights / self.scale.T
        return raw, bias - np.einsum("kd,dk->k", self.mean, raw)


def subset_moments(features: np.ndarray, subsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each subset's per-unit mean and standard deviation ([k, width] float32 each; a constant unit gets 1, as
    StandardScaler gives it), summed in float64 over chunks of rows."""
    total = np.zeros((len(subsets), features.shape[1]))
    squares = np.zeros_like(total)
    rows = max(1, CHUNK_BYTES // (8 * features.shape[1]))
    buffer = np.empty((min(rows, len(features)), features.shape[1]))
    for start in range(0, len(features), rows):
        chunk = buffer[:len(features[start:start + rows])]
        chunk[:] = features[start:start + rows]
        members = subsets[:, start:start + rows].astype(np.float64)
        total += members @ chunk
        squares += members @ np.square(chunk, out=chunk)
    counts = subsets.sum(axis=1, keepdims=True)
    mean = total / counts
    std = np.sqrt(np.maximum(squares / counts - mean**2, 0.0))
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


class SubsetLinearClassifier(ClassifierMixin, BaseEstimator):
    """A solver of this module's kind as a scikit-learn classifier (a final model, and Platt scaling's base):
    one subset, every row. Subclasses name their solver in `fit_subsets(features, labels, subsets)`."""

    def fit(self, features: np.ndarray, labels: np.ndarray) -> SubsetLinearClassifier:
        self.classes_ = np.unique(labels)
        if len(self.classes_) != 2:
            raise ValueError(f"{type(self).__name__} needs two classes to separate; got {self.classes_.tolist()}")
        models = self.fit_subsets(features, (labels == self.classes_[1]).astype(int),
                                  np.ones((1, len(labels)), dtype=bool))
        self.coef_, self.intercept_ = models.weights[:, 0], models.intercepts[0]
        self.n_iter_ = int(models.iterations[0])
        self.n_samples_fit_ = len(labels)
        return self

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float32) @ self.coef_ + self.intercept_

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes_[(self.decision_function(features) > 0).astype(int)]
