"""Intervals by a bootstrap over users: honest about photos of one user, exact where nothing can vary."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from likeability.learn.uncertainty import average_precision, chance_level, roc_auc, user_bootstrap


def noisy_test_split(users: int, photos_per_user: int, seed: int = 0):
    """Labels and a ranking that is right about 70% of the time; a user's photos share one label and one
    error, as photos of one account share an audience."""
    rng = np.random.default_rng(seed)
    label_of_user = rng.integers(0, 2, users)
    right_about_user = rng.random(users) < 0.7
    labels = np.repeat(label_of_user, photos_per_user)
    guesses = np.repeat(np.where(right_about_user, label_of_user, 1 - label_of_user), photos_per_user)
    ranking = guesses + rng.normal(0, 0.1, labels.size)
    return labels, guesses, ranking, np.repeat([f"user{i}" for i in range(users)], photos_per_user)


def test_a_perfect_ranking_has_a_point_interval():
    labels = np.array([0, 1, 0, 1, 1, 0])
    users = np.array(["a", "a", "b", "b", "c", "c"])
    intervals = user_bootstrap(labels, labels, labels.astype(float), users, draws=200)
    for interval in intervals.values():
        assert (interval.low, interval.high) == (1.0, 1.0)


def test_photos_of_few_users_give_wider_intervals_than_as_many_photos_of_many_users():
    few = user_bootstrap(*noisy_test_split(users=10, photos_per_user=20), draws=300)
    many = user_bootstrap(*noisy_test_split(users=200, photos_per_user=1), draws=300)
    for name in ("accuracy", "ap", "roc_auc"):
        assert few[name].high - few[name].low > 2 * (many[name].high - many[name].low)


def test_the_interval_holds_the_figure_and_is_the_same_for_the_same_seed():
    labels, guesses, ranking, users = noisy_test_split(users=60, photos_per_user=3)
    first = user_bootstrap(labels, guesses, ranking, users, seed=4, draws=300)
    assert first == user_bootstrap(labels, guesses, ranking, users, seed=4, draws=300)
    accuracy = np.mean(guesses == labels)
    assert first["accuracy"].low < accuracy < first["accuracy"].high


def test_one_label_only_is_refused_and_chance_is_the_share_of_good():
    with pytest.raises(ValueError, match="all of one label"):
        user_bootstrap(np.ones(4, int), np.ones(4, int), np.ones(4), np.array(["a", "b", "c", "d"]))
    assert chance_level(np.array([1, 0, 0, 1, 1])) == pytest.approx(0.6)


@settings(max_examples=200, deadline=None)
@given(
    labels=st.lists(st.integers(0, 1), min_size=2, max_size=60).filter(lambda v: 0 < sum(v) < len(v)),
    data=st.data(),
)
def test_the_fast_metrics_equal_scikit_learns_with_ties(labels, data):
    labels = np.asarray(labels)
    # few distinct values, so ties are common
    scores = np.asarray(data.draw(st.lists(st.integers(0, 5), min_size=len(labels), max_size=len(labels))), float)
    assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores))
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
