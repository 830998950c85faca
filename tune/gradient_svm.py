"""The study's SGD-SVM, as Spark MLlib's SVMWithSGD trains it: hinge loss, an L2 regulariser, the whole training
set's gradient at every step (miniBatchFraction 1.0) and a step of stepSize / sqrt(t), on standardised features;
every fold of a trial at once, on the shared matrix (standardised_subsets)."""

from __future__ import annotations

import numpy as np

from likeability.tune.standardised_subsets import LinearModels, StandardisedSubsets, SubsetLinearClassifier

ITERATIONS = 100  # MLlib's numIterations
TOLERANCE = 1e-3  # MLlib's convergenceTol: stop once a step moves the weights less than this share of their norm


def fit_subsets(
    features: np.ndarray,
    labels: np.ndarray,
    subsets: np.ndarray,
    regulariser: float,
    step: float,
    iterations: int = ITERATIONS,
    tolerance: float = TOLERANCE,
) -> LinearModels:
    """One SVM per row of `subsets` ([k, rows] bool: the rows it trains on), each standardised by its own rows'
    mean and standard deviation. `labels` are 1 (good) and 0; the intercept is MLlib's appended bias feature,
    regularised with the weights. MLlib's step budget is its design, so a model that uses it all is not counted
    as unconverged."""
    data = StandardisedSubsets(features, subsets)
    signs = np.where(labels == 1, 1.0, -1.0).astype(np.float32)[:, None]
    share = data.member / data.count.astype(np.float32)  # [rows, k]: 1/n on the subset's rows
    weights = np.zeros((data.features.shape[1], len(subsets)), dtype=np.float32)
    bias = np.zeros(len(subsets), dtype=np.float32)
    done = np.zeros(len(subsets), dtype=int)
    for t in range(1, iterations + 1):
        violated = signs * data.times(weights, bias) < 1
        gradient_w, gradient_b = data.transpose_times(np.where(violated, -signs, 0).astype(np.float32) * share)
        rate = step / np.sqrt(t)
        new_weights = weights * (1 - rate * regulariser) - rate * gradient_w
        new_bias = bias * (1 - rate * regulariser) - rate * gradient_b
        moved = np.sqrt(((new_weights - weights) ** 2).sum(axis=0) + (new_bias - bias) ** 2)
        norm = np.sqrt((new_weights**2).sum(axis=0) + new_bias**2)
        running = done == 0
        weights[:, running], bias[running] = new_weights[:, running], new_bias[running]
        done[running & (moved < tolerance * np.maximum(norm, 1.0))] = t
        if done.all():
            break
    return data.models(weights, bias, np.where(done == 0, iterations, done), np.ones(len(subsets), dtype=bool))


class GradientDescentSVM(SubsetLinearClassifier):
    """MLlib's SVMWithSGD (regParam `alpha`, stepSize `eta0`) as a scikit-learn classifier."""

    def __init__(self, alpha: float = 0.01, eta0: float = 1.0, max_iter: int = ITERATIONS, tol: float = TOLERANCE):
        self.alpha = alpha
        self.eta0 = eta0
        self.max_iter = max_iter
        self.tol = tol

    def fit_subsets(self, features: np.ndarray, labels: np.ndarray, subsets: np.ndarray) -> LinearModels:
        return fit_subsets(features, labels, subsets, self.alpha, self.eta0, self.max_iter, self.tol)
