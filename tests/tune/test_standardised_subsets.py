import numpy as np
from sklearn.preprocessing import StandardScaler

from likeability.tune.standardised_subsets import StandardisedSubsets, subset_moments
from linear_problems import peak_allocation, skewed_problem


def test_subset_moments_are_each_subsets_standard_scaler():
    features, _ = skewed_problem(3000, 40)
    subsets = np.random.default_rng(1).random((3, 3000)) < 0.6
    mean, scale = subset_moments(features, subsets)
    for k in range(3):
        scaler = StandardScaler().fit(features[subsets[k]].astype(np.float64))
        np.testing.assert_allclose(mean[k], scaler.mean_, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(scale[k], scaler.scale_, rtol=1e-5)


def test_a_constant_unit_is_scaled_by_one_as_standard_scaler_does():
    features = np.hstack([np.full((50, 1), 7.0), np.arange(50.0)[:, None]]).astype(np.float32)
    _, scale = subset_moments(features, np.ones((1, 50), dtype=bool))
    assert scale[0, 0] == 1.0


def test_the_operators_are_the_standardised_subsets_products():
    features, _ = skewed_problem(500, 12)
    subsets = np.random.default_rng(2).random((2, 500)) < 0.7
    data = StandardisedSubsets(features, subsets)
    rng = np.random.default_rng(3)
    weights, bias = rng.normal(size=(12, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    residual = rng.normal(size=(500, 2)).astype(np.float32) * subsets.T
    for k in range(2):
        standardised = StandardScaler().fit(features[subsets[k]]).transform(features)
        np.testing.assert_allclose(data.times(weights, bias)[:, k], standardised @ weights[:, k] + bias[k],
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(data.transpose_times(residual)[0][:, k], standardised.T @ residual[:, k],
                                   rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(data.transpose_times(residual)[1][k], residual[:, k].sum(), rtol=1e-5)
        raw = data.models(weights, bias, np.zeros(2), np.ones(2, dtype=bool))
        np.testing.assert_allclose(raw.margins(features)[:, k], data.times(weights, bias)[:, k], rtol=1e-4,
                                   atol=1e-4)


def test_the_moments_need_a_bounded_scratch_not_a_copy():
    features, _ = skewed_problem(20_000, 1024)
    features.flags.writeable = False  # as Ray maps it from the object store
    subsets = np.random.default_rng(3).random((5, len(features))) < 0.8
    assert peak_allocation(lambda: subset_moments(features, subsets)) < 0.1 * features.nbytes
