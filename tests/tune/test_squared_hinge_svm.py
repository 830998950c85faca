import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from likeability.tune.squared_hinge_svm import SquaredHingeSVM, fit_subsets
from likeability.tune.synthetic import planted_features
from linear_problems import peak_allocation, skewed_problem


@pytest.mark.parametrize("c", [10.0**e for e in range(-6, 6)])
def test_each_fold_is_liblinears_linear_svc_on_its_rows_alone(c):
    # The study's whole C grid: the largest C values are where float32 curvatures overflow if summed naively.
    features, labels = skewed_problem(2000, 60)
    subsets = np.random.default_rng(2).random((3, 2000)) < 0.75
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no invalid value
        models = fit_subsets(features, labels, subsets, c)
    assert models.converged.all()
    for k in range(3):
        liblinear = make_pipeline(StandardScaler(), LinearSVC(C=c, dual=False, tol=1e-4, max_iter=2000))
        reference = liblinear.fit(features[subsets[k]], labels[subsets[k]]).decision_function(features)
        # Both stop at the same tolerance from slightly different paths.
        np.testing.assert_allclose(models.margins(features)[:, k], reference, atol=5e-4 * np.abs(reference).max())
        assert abs(models.iterations[k] - liblinear[-1].n_iter_) <= 2  # Newton steps, as liblinear counts them


def test_a_step_budget_too_small_is_reported_as_not_converged():
    features, labels = skewed_problem(1000, 20)
    models = fit_subsets(features, labels, np.ones((2, 1000), dtype=bool), c=1.0, newton_steps=1)
    assert not models.converged.any() and (models.iterations == 1).all()


def test_the_folds_read_the_matrix_without_copying_it():
    features, labels = skewed_problem(20_000, 1024)
    features.flags.writeable = False  # as Ray maps it from the object store
    subsets = np.random.default_rng(3).random((5, len(labels))) < 0.8
    # One fold's training rows alone would be 0.8 of the matrix (and liblinear's float64 copy 1.6).
    peak = peak_allocation(lambda: fit_subsets(features, labels, subsets, 1e-2, newton_steps=2))
    assert peak < 0.1 * features.nbytes


def test_the_classifier_learns_planted_features_and_calibrates():
    data = planted_features(users=60, photos_per_user=10, widths={"fc6": 64}, test_fraction=0.0, mirror=False)
    features, labels = data.layers["fc6"], data.label
    svm = SquaredHingeSVM(C=1e-2).fit(features, labels)
    assert svm.score(features, labels) > 0.7
    calibrated = CalibratedClassifierCV(clone(svm), method="sigmoid", cv=3).fit(features, labels)
    assert ((calibrated.predict_proba(features)[:, 1] > 0.5) == labels).mean() > 0.7


def test_one_class_is_refused_by_name():
    with pytest.raises(ValueError, match=r"SquaredHingeSVM needs two classes.*\[0\]"):
        SquaredHingeSVM().fit(np.ones((5, 3), dtype=np.float32), np.zeros(5, dtype=int))


def test_subsets_of_fewer_rows_than_units_go_to_liblinears_dual_solver():
    # Nearly separable: at large C the primal Newton method stalls short of the optimum there.
    features, labels = skewed_problem(300, 400)
    subsets = np.random.default_rng(4).random((2, 300)) < 0.8
    models = fit_subsets(features, labels, subsets, c=100.0)
    for k in range(2):
        dual = make_pipeline(StandardScaler(), LinearSVC(C=100.0, tol=1e-4, max_iter=2000, random_state=0))
        reference = dual.fit(features[subsets[k]], labels[subsets[k]]).decision_function(features)
        np.testing.assert_allclose(models.margins(features)[:, k], reference, atol=1e-4 * np.abs(reference).max())
        assert models.iterations[k] == dual[-1].n_iter_
