import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import rankdata

from likeability.explain.correlations import UserBootstrap, midranks, spearman, weighted_pearson


def test_spearman_is_one_for_any_rising_relation_and_nan_for_a_constant():
    x = np.arange(20.0)
    assert spearman(x, np.exp(x)) == pytest.approx(1)
    assert spearman(x, -x**3) == pytest.approx(-1)
    assert np.isnan(spearman(x, np.zeros(20)))


def test_each_resample_takes_a_users_photos_all_together():
    users = np.array(["a", "a", "a", "b", "c", "c"])
    weights = UserBootstrap(users, rounds=50, seed=1).weights
    assert weights.shape == (50, 6) and (weights.sum(axis=1) > 0).all()
    for row in weights:  # as many copies of each photo as its user was drawn; three users drawn each time
        assert len(set(row[:3])) == 1 and row[4] == row[5] and row[0] + row[3] + row[4] == 3


@given(st.lists(st.integers(0, 5), min_size=2, max_size=12), st.data())
def test_weighted_ranks_and_correlation_match_the_sample_written_out(values, data):
    values = np.array(values, dtype=float)
    other = np.array(data.draw(st.lists(st.floats(-5, 5), min_size=len(values), max_size=len(values))))
    weights = np.array([data.draw(st.lists(st.integers(0, 3), min_size=len(values), max_size=len(values)))],
                       dtype=float)
    copies = np.repeat(np.arange(len(values)), weights[0].astype(int))
    ranks = midranks(values, weights)[0]
    assert np.allclose(ranks[copies], rankdata(values[copies]))
    expected = spearman(values[copies], other[copies]) if len(copies) else np.nan
    got = weighted_pearson(ranks[None], midranks(other, weights), weights)[0]
    assert np.isnan(expected) == np.isnan(got) and (np.isnan(got) or np.isclose(got, expected))


def test_an_interval_excludes_zero_for_a_real_relation_and_not_for_noise():
    rng = np.random.default_rng(0)
    users = np.repeat([f"u{i}" for i in range(40)], 4)
    x = rng.normal(size=160)
    bootstrap = UserBootstrap(users, rounds=300, seed=0)
    real = bootstrap.correlation(x, x + rng.normal(scale=0.5, size=160))
    assert real.low > 0.5 and real.low <= real.value <= real.high
    noise = bootstrap.correlation(x, rng.normal(size=160))
    assert noise.low < 0 < noise.high


def test_a_users_many_alike_photos_widen_the_interval():
    # 10 users with 20 copies each of one photo: 200 rows but only 10 independent photos
    rng = np.random.default_rng(3)
    x_user, y_user = rng.normal(size=10), rng.normal(size=10)
    users = np.repeat(np.arange(10), 20)
    x, y = x_user[users], y_user[users]
    by_user = UserBootstrap(users, rounds=300, seed=0).correlation(x, y)
    by_row = UserBootstrap(np.arange(200), rounds=300, seed=0).correlation(x, y)
    assert (by_user.high - by_user.low) > 2 * (by_row.high - by_row.low)
