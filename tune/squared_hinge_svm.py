"""LinearSVC's problem for every fold of a trial at once, on the shared matrix: the L2-regularised squared hinge
(liblinear's default for LinearSVC; the bias is a regularised constant feature, as liblinear's intercept),

    min over w  1/2 |w|^2 + C * sum over the subset's rows of max(0, 1 - y x~.w)^2,

solved by Newton steps, each direction from conjugate gradients and a backtracking line search (liblinear's primal
Newton method, without its preconditioner), the folds' products sharing one pass over the matrix
(standardised_subsets). liblinear itself needs a float64 copy of each fold's rows; this reads the float32 matrix,
so it stops at liblinear's tolerance or where a Newton step no longer lowers the objective at float32's
resolution, whichever comes first (decision values agree with liblinear's within about 1e-4 of their range).
Subsets with no more rows than units go to liblinear's dual solver instead (`_liblinear_dual`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from likeability.tune.standardised_subsets import LinearModels, StandardisedSubsets, SubsetLinearClassifier

TOLERANCE = 1e-4  # LinearSVC's tol, in liblinear's rule: |grad| <= tol * min(#good, #bad) / #rows * |grad at 0|
NEWTON_STEPS = 100
CG_STEPS = 250
CG_TOLERANCE = 0.1  # liblinear's: a direction is good enough once its residual is a tenth of the gradient
STALLED = 1e-6  # a Newton step that lowers the objective by less than this share is float32's last word
ARMIJO = 0.01
HALVINGS = 20
FLOAT32_TOLERANCE = 1e-2  # a run that stalls with |grad| within this share of |grad at 0| has converged in float32
LIBLINEAR_MAX_ITER = 2000  # LinearSVC's coordinate-descent passes on the small (rows < units) problems


def fit_subsets(
    features: np.ndarray, labels: np.ndarray, subsets: np.ndarray, c: float,
    tolerance: float = TOLERANCE, newton_steps: int = NEWTON_STEPS,
) -> LinearModels:
    """One LinearSVC (squared hinge, C = `c`) per row of `subsets` ([k, rows] bool), each standardised by its
    own rows; `labels` are 1 (good) and 0."""
    if subsets.sum(axis=1).min() <= features.shape[1]:
        return _liblinear_dual(features, labels, subsets, c, tolerance)
    data = StandardisedSubsets(features, subsets)
    signs = np.where(labels == 1, 1.0, -1.0).astype(np.float32)[:, None]
    good = (data.member * (signs > 0)).sum(axis=0)
    target = tolerance * np.maximum(np.minimum(good, data.count - good), 1) / data.count
    k = len(subsets)
    weights = np.zeros((data.features.shape[1], k), dtype=np.float32)
    bias = np.zeros(k, dtype=np.float32)
    margins = np.zeros((len(labels), k), dtype=np.float32)
    steps, converged, running = np.zeros(k, dtype=int), np.zeros(k, dtype=bool), np.ones(k, dtype=bool)
    for step in range(1, newton_steps + 1):
        slack = np.maximum(0, 1 - signs * margins) * data.member
        grad_w, grad_b = data.transpose_times(-2 * c * signs * slack)
        grad_w += weights
        grad_b += bias
        norm = np.sqrt(_dot(grad_w, grad_b, grad_w, grad_b))
        if step == 1:
            initial = norm
        converged |= running & (norm <= target * initial)
        running &= ~converged
        if not running.any():
            break
        move_w, move_b = _newton_direction(data, c, slack > 0, grad_w, grad_b, norm, running)
        moves = data.times(move_w, move_b)
        objective = _objective(weights, bias, slack, c)
        rate, lowered = _line_search(weights, bias, margins, move_w, move_b, moves, signs, data.member, c,
                                     objective, _dot(grad_w, grad_b, move_w, move_b))
        rate = np.where(running, rate, 0).astype(np.float32)
        weights += rate * move_w
        bias += rate * move_b
        margins += rate * moves
        steps[running] = step
        # Float32's last word: converged if the gradient is as small as this precision allows.
        stalled = running & (objective - lowered <= STALLED * objective)
        converged |= stalled & (norm <= np.maximum(target, FLOAT32_TOLERANCE) * initial)
        running &= ~stalled
    return data.models(weights, bias, steps, converged)


def _liblinear_dual(
    features: np.ndarray, labels: np.ndarray, subsets: np.ndarray, c: float, tolerance: float
) -> LinearModels:
    """Subsets of fewer rows than units are (nearly) separable, where at large C the primal Newton method stalls
    short of the optimum and liblinear's dual coordinate descent is the right algorithm (scikit-learn's
    dual="auto" picks it too); such subsets are small, so fitting each on a copy of its rows costs little."""
    weights, intercepts, iterations, converged = [], [], [], []
    for rows in subsets:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            scaler, svm = make_pipeline(
                StandardScaler(), LinearSVC(C=c, dual=True, tol=tolerance, max_iter=LIBLINEAR_MAX_ITER, random_state=0)
            ).fit(features[rows], labels[rows])
        raw = svm.coef_[0] / scaler.scale_
        weights.append(raw)
        intercepts.append(svm.intercept_[0] - scaler.mean_ @ raw)
        iterations.append(svm.n_iter_)
        converged.append(not any(issubclass(w.category, ConvergenceWarning) for w in caught))
    return LinearModels(np.stack(weights, axis=1).astype(np.float32), np.array(intercepts, dtype=np.float32),
                        np.array(iterations), np.array(converged))


def _dot(a_w: np.ndarray, a_b: np.ndarray, b_w: np.ndarray, b_b: np.ndarray) -> np.ndarray:
    """Per column, the inner product of (a_w, a_b) and (b_w, b_b), in float64: at the grid's largest C the
    curvatures exceed float32's range."""
    return np.einsum("dk,dk->k", a_w, b_w, dtype=np.float64) + a_b.astype(np.float64) * b_b


def _objective(weights: np.ndarray, bias: np.ndarray, slack: np.ndarray, c: float) -> np.ndarray:
    return 0.5 * _dot(weights, bias, weights, bias) + c * np.einsum("nk,nk->k", slack, slack, dtype=np.float64)


def _newton_direction(
    data: StandardisedSubsets, c: float, active: np.ndarray, grad_w: np.ndarray, grad_b: np.ndarray,
    norm: np.ndarray, running: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Conjugate gradients on (I + 2C X~_A^T X~_A) d = -grad, A the rows inside the margin, for every column
    still running, each until its residual is CG_TOLERANCE of its gradient's norm."""
    active = active.astype(np.float32)
    move_w, move_b = np.zeros_like(grad_w), np.zeros_like(grad_b)
    rest_w, rest_b = -grad_w, -grad_b
    along_w, along_b = rest_w.copy(), rest_b.copy()
    rest = _dot(rest_w, rest_b, rest_w, rest_b)
    solving = running.copy()
    for _ in range(CG_STEPS):
        curve_w, curve_b = data.transpose_times(2 * c * active * data.times(along_w, along_b))
        curve_w += along_w
        curve_b += along_b
        curvature = _dot(along_w, along_b, curve_w, curve_b)
        alpha = np.where(solving, rest / np.where(solving, curvature, 1), 0).astype(np.float32)
        move_w += alpha * along_w
        move_b += alpha * along_b
        rest_w -= alpha * curve_w
        rest_b -= alpha * curve_b
        new_rest = _dot(rest_w, rest_b, rest_w, rest_b)
        solving &= np.sqrt(new_rest) > CG_TOLERANCE * norm
        if not solving.any():
            break
        # A finished column's direction is left alone (beta 0): scaling it on would overflow float32.
        beta = np.where(solving, new_rest / np.where(solving, rest, 1), 0).astype(np.float32)
        along_w = rest_w + beta * along_w
        along_b = rest_b + beta * along_b
        rest = new_rest
    return move_w, move_b


def _line_search(
    weights: np.ndarray, bias: np.ndarray, margins: np.ndarray, move_w: np.ndarray, move_b: np.ndarray,
    moves: np.ndarray, signs: np.ndarray, member: np.ndarray, c: float, objective: np.ndarray, slope: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the first of 1, 1/2, 1/4 ... that lowers the objective enough (Armijo; 0 if none does) and
    the objective there; each try costs no pass over the matrix, since the margins move along `moves`."""
    rate = np.ones(len(bias))
    for _ in range(HALVINGS):
        slack = np.maximum(0, 1 - signs * (margins + rate.astype(np.float32) * moves)) * member
        lowered = _objective(weights + rate * move_w, bias + rate * move_b, slack, c)
        enough = lowered <= objective + ARMIJO * rate * slope
        if enough.all():
            break
        rate = np.where(enough, rate, rate / 2)
    return np.where(enough, rate, 0), np.where(enough, lowered, objective)


class SquaredHingeSVM(SubsetLinearClassifier):
    """LinearSVC's model (C, squared hinge, standardised features) as a scikit-learn classifier."""

    def __init__(self, C: float = 1.0, tol: float = TOLERANCE, max_iter: int = NEWTON_STEPS):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter

    def fit_subsets(self, features: np.ndarray, labels: np.ndarray, subsets: np.ndarray) -> LinearModels:
        return fit_subsets(features, labels, subsets, self.C, self.tol, self.max_iter)
