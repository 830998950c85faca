"""The planted world's Bayes rule: which kinds it calls good, and the accuracy the noise leaves."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from likeability.config import SimulatorConfig
from likeability.simulator.bayes import bayes_rule
from likeability.simulator.world import World

WALL_NOW = 1_750_000_000.0


def test_the_bayes_rule_calls_the_kinds_the_planted_signal_favours_good():
    world = World(SimulatorConfig(accounts=400), now=WALL_NOW)
    posts = np.arange(world.n_posts)
    ratio = world.post_like_count / world.account_followers[world.post_owner]
    median = np.median(ratio)
    labels = pa.table({
        "media_id": [str(m) for m in world.post_media_id],
        "label": (ratio > median).astype(np.int8),
        "split": np.where(posts % 4 == 0, "test", "train"),
    })
    rule = bayes_rule(world, labels)
    # KIND_EFFECTS: outdoor and closeup +0.5, indoor 0, meme -0.4, and the median lies between
    assert set(rule.good_kinds) == {"outdoor", "closeup"}
    assert rule.p_good["meme"] < rule.p_good["indoor"] < 0.5 < rule.p_good["closeup"]
    # the noise (sd 0.45) and account effects (sd 0.15) cap it, as the world's docstring says: about 75%;
    # on a test split of about 1,000 posts the rule's realised accuracy lies near its expectation
    assert 0.70 < rule.accuracy < 0.80
    assert abs(rule.realised - rule.accuracy) < 0.05
    with pytest.raises(KeyError, match="not posts of this world"):
        world.kinds_of(["12345"])
