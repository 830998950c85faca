import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from likeability.run import RunFolder
from likeability.serve.gallery import Gallery, percentile, unit_rows
from likeability.tune.features import load_labelled_features
from likeability.tune.final_models import load_final_model

scores = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50).map(lambda s: np.sort(np.array(s)))


@given(scores, st.floats(-1e6, 1e6))
def test_percentile_counts_the_scores_below_and_half_the_ties(sorted_scores, score):
    expected = 100 * (np.sum(sorted_scores < score) + 0.5 * np.sum(sorted_scores == score)) / len(sorted_scores)
    assert percentile(sorted_scores, score) == np.float64(expected)


@given(scores, st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_a_higher_score_never_falls_lower(sorted_scores, a, b):
    low, high = sorted((a, b))
    assert 0 <= percentile(sorted_scores, low) <= percentile(sorted_scores, high) <= 100


def test_rows_become_unit_length_and_zero_rows_stay_zero():
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(rows, [[0.6, 0.8], [0.0, 0.0]])


def test_each_test_photo_is_its_own_nearest_in_its_half_and_halves_do_not_meet(demo_run):
    run = RunFolder(str(demo_run[0]))
    model = load_final_model(run)
    gallery = Gallery(run, model)
    test = load_labelled_features(run, model.backbone, [model.layer]).test_originals()
    assert len(gallery) == len(test)
    assert set(gallery.sha256) <= set(run.table("labels").read(["sha256"]).column("sha256").to_pylist())
    likeable_ids, unlikeable_ids = set(), set()
    for row in (0, len(test) // 2, len(test) - 1):
        likeable, unlikeable = gallery.nearest(test.layers[model.layer][row], 5)
        assert len(likeable) == len(unlikeable) == 5
        mine = likeable if test.media_id[row] in {n.media_id for n in likeable} else unlikeable
        assert mine[0].media_id == test.media_id[row] and mine[0].distance < 1e-5
        for half in (likeable, unlikeable):
            assert [n.distance for n in half] == sorted(n.distance for n in half)
        likeable_ids |= {n.media_id for n in likeable}
        unlikeable_ids |= {n.media_id for n in unlikeable}
    assert not likeable_ids & unlikeable_ids
    # the likeable half is the one the model scores higher (P(good) rises with the score it ranks by)
    likeable, unlikeable = gallery.nearest(test.layers[model.layer][0], len(test))
    assert len(likeable) + len(unlikeable) == len(test)
    assert min(n.p_good for n in likeable) >= max(n.p_good for n in unlikeable) - 1e-9
