import numpy as np
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.preprocessing import StandardScaler

from likeability.tune.gradient_svm import GradientDescentSVM, fit_subsets
from likeability.tune.synthetic import planted_features
from linear_problems import peak_allocation, skewed_problem


def mllib_svm_with_sgd(features, labels, regulariser, step, iterations=100, tolerance=1e-3):
    """SVMWithSGD as MLlib runs it, on an explicitly standardised copy with the bias appended as a feature:
    the reference the fold-batched, copy-free solver must reproduce. Returns the raw-feature margin function."""
    scaler = StandardScaler().fit(features)
    design = np.hstack([scaler.transform(features), np.ones((len(features), 1))])
    signs = np.where(labels == 1, 1.0, -1.0)
    weights = np.zeros(design.shape[1])
    for t in range(1, iterations + 1):
        violated = signs * (design @ weights) < 1
        gradient = -(design[violated].T @ signs[violated]) / len(design)
        rate = step / np.sqrt(t)
        previous, weights = weights, weights * (1 - rate * regulariser) - rate * gradient
        if np.linalg.norm(weights - previous) < tolerance * max(np.linalg.norm(weights), 1.0):
            break
    return lambda x: np.hstack([scaler.transform(x), np.ones((len(x), 1))]) @ weights


@pytest.mark.parametrize("regulariser, step", [(1e-4, 1.0), (1e-2, 0.1), (1e-6, 10.0), (0.5, 1.0)])
def test_each_fold_is_the_model_mllib_would_fit_on_its_rows_alone(regulariser, step):
    features, labels = skewed_problem(1500, 24)
    subsets = np.random.default_rng(2).random((4, 1500)) < 0.75
    margins = fit_subsets(features, labels, subsets, regulariser, step).margins(features)
    for k in range(4):
        reference = mllib_svm_with_sgd(features[subsets[k]], labels[subsets[k]], regulariser, step)(features)
        # float32 against float64: a step of 10 amplifies rounding, so within 1% of the margins' range.
        np.testing.assert_allclose(margins[:, k], reference, rtol=1e-2, atol=1e-2 * np.abs(reference).max())


def test_strong_regularisation_converges_early_and_says_when():
    features, labels = skewed_problem(1000, 8)
    models = fit_subsets(features, labels, np.ones((2, 1000), dtype=bool), regulariser=0.9, step=1.0)
    assert (models.iterations < 100).all()


def test_the_folds_read_the_matrix_without_copying_it():
    features, labels = skewed_problem(20_000, 1024)
    features.flags.writeable = False  # as Ray maps it from the object store
    subsets = np.random.default_rng(3).random((5, len(labels))) < 0.8
    # One fold's training rows alone would be 0.8 of the matrix.
    peak = peak_allocation(lambda: fit_subsets(features, labels, subsets, 1e-4, 1.0, iterations=3))
    assert peak < 0.1 * features.nbytes


def test_the_classifier_learns_planted_features_and_calibrates():
    data = planted_features(users=60, photos_per_user=10, widths={"fc6": 64}, test_fraction=0.0, mirror=False)
    features, labels = data.layers["fc6"], data.label
    svm = GradientDescentSVM(alpha=1e-4, eta0=1.0).fit(features, labels)
    assert svm.score(features, labels) > 0.7 and svm.n_iter_ <= 100
    calibrated = CalibratedClassifierCV(clone(svm), method="sigmoid", cv=3).fit(features, labels)
    p_good = calibrated.predict_proba(features)[:, 1]
    assert ((p_good > 0.5) == labels).mean() > 0.7


def test_one_class_is_refused_by_name():
    with pytest.raises(ValueError, match=r"GradientDescentSVM needs two classes.*\[1\]"):
        GradientDescentSVM().fit(np.ones((5, 3), dtype=np.float32), np.ones(5, dtype=int))
