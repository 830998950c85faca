import numpy as np
import pytest

from likeability.tune.evaluation import cross_validate
from likeability.tune.folds import grouped_folds
from likeability.tune.synthetic import planted_features
from linear_problems import peak_allocation

POINTS = {
    "linear_svc": {"C": 1e-2},
    "sgd_svm": {"alpha": 1e-4, "eta0": 1.0},
    "random_forest": {"n_estimators": 10, "max_samples": 0.5},
}


def mirrored_training_split(users: int, width: int):
    data = planted_features(users=users, photos_per_user=10, widths={"fc6": width}, test_fraction=0.0, mirror=True)
    return data, grouped_folds(data, 3, "user", seed=0)


@pytest.mark.parametrize("family", sorted(POINTS))
def test_rows_a_trial_leaves_out_change_nothing(family):
    data, folds = mirrored_training_split(users=40, width=16)
    features = data.layers["fc6"]
    scrambled = features.copy()
    scrambled[data.mirrored] = np.random.default_rng(1).normal(size=scrambled[data.mirrored].shape)
    # Without mirror copies, a trial must neither train on them nor score them.
    plain = cross_validate(family, POINTS[family], features, data.label, folds, mirrored=False, seed=0)
    again = cross_validate(family, POINTS[family], scrambled, data.label, folds, mirrored=False, seed=0)
    assert plain == again
    assert plain["mean_ap"] > 0.6  # and it found the planted signal


@pytest.mark.parametrize("family", sorted(POINTS))
def test_every_family_cross_validates_without_copying_the_matrix(family):
    data, folds = mirrored_training_split(users=400, width=512)
    features = data.layers["fc6"]
    features.flags.writeable = False  # as a trial maps it from Ray's object store
    peak = peak_allocation(
        lambda: cross_validate(family, POINTS[family], features, data.label, folds, mirrored=True, seed=0)
    )
    # One fold's training rows alone are two thirds of the matrix; a fold's validation originals are a sixth.
    assert peak < 0.4 * features.nbytes
