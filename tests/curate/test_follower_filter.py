from datetime import UTC, datetime

import numpy as np
import pytest

from likeability.config import Config, FilterConfig
from likeability.curate.follower_filter import follower_verdicts, run_filter
from likeability.run import RunFolder
from likeability.runtime import Runtime

FOLLOWERS = np.array([10, 100, 1000, 1000, 10_000, 10_000_000, 0])
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def test_mad_band_on_log10_followers_by_hand():
    # log10: 1 2 3 3 4 7 (the 0 is set aside); median 3; |deviations| 2 1 0 0 1 4 -> MAD 1; band 3 +/- 1.5
    reasons, t = follower_verdicts(FOLLOWERS, FilterConfig(mad_k=1.5, log_followers=True))
    assert reasons == [
        "followers_below_mad_band", None, None, None, None, "followers_above_mad_band", "zero_followers",
    ]
    assert (t.median, t.mad) == (1000.0, 1.0)
    assert t.low == pytest.approx(10**1.5) and t.high == pytest.approx(10**4.5)
    assert (t.removed_below, t.removed_above, t.removed_zero, t.kept) == (1, 1, 1, 4)


def test_mad_band_on_raw_followers_by_hand():
    # median 1000; |deviations| 990 900 0 0 9000 9999000 -> MAD (900 + 990) / 2 = 945; band 1000 +/- 945
    reasons, t = follower_verdicts(FOLLOWERS, FilterConfig(mad_k=1.0, log_followers=False))
    assert reasons[:6] == [
        "followers_below_mad_band", None, None, None, "followers_above_mad_band", "followers_above_mad_band",
    ]
    assert (t.median, t.mad, t.low, t.high) == (1000.0, 945.0, 55.0, 1945.0)


def test_absolute_bounds_apply_before_the_band_is_computed():
    reasons, t = follower_verdicts(FOLLOWERS, FilterConfig(mad_k=10, min_followers=50, max_followers=10**6))
    assert reasons[0] == "below_min_followers" and reasons[5] == "above_max_followers"
    assert t.removed_bounds == 2 and t.median == 1000.0  # median of 100, 1000, 1000, 10000


def test_stage_writes_verdicts_candidates_and_reasons(tmp_path):
    run = RunFolder(str(tmp_path))
    users = [("tiny", 10), ("ann", 900), ("bob", 1100), ("cy", 1000), ("huge", 10_000_000)]
    run.table("users").write_part("u", [
        dict(username=u, ig_id=u, followers_count=f, media_count=1, fetched_at=NOW) for u, f in users
    ])

    def post(media_id, username, likes=5, media_type="IMAGE", url="http://h/x.jpg"):
        return dict(media_id=media_id, username=username, like_count=likes, comments_count=0, media_type=media_type,
                    media_url=url, permalink=None, timestamp=NOW, caption="#me", image_path=None)

    run.table("posts").write_part("u", [
        post("1", "ann"), post("2", "ann", likes=None), post("3", "bob", media_type="VIDEO"),
        post("4", "cy", url=None), post("5", "huge"), post("6", "tiny"), post("7", "cy", media_type="CAROUSEL_ALBUM"),
    ])
    config = Config(filter=FilterConfig(mad_k=2.0))
    summary = run_filter(config, run, Runtime("http://unused", lambda: []))
    candidates = run.table("candidates").read().to_pylist()
    assert [(c["media_id"], c["followers_count"]) for c in candidates] == [("1", 900), ("7", 1000)]
    excluded = {r["media_id"]: r["reason"] for r in run.table("excluded_posts").read().to_pylist()}
    assert excluded == {
        "2": "hidden_likes", "3": "video", "4": "no_image",
        "5": "followers_above_mad_band", "6": "followers_below_mad_band",
    }
    assert summary["removed_below"] == 1 and summary["removed_above"] == 1 and summary["candidates"] == 2
    assert summary["excluded"]["hidden_likes"] == 1
    verdicts = run.table("user_filter").read().to_pylist()
    assert [v["kept"] for v in verdicts] == [False, True, True, True, False]
