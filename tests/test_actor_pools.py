"""Actor pool sizes on the session's 2-CPU cluster, fixed and autoscaling."""

from __future__ import annotations

import pytest

from likeability.actor_pools import actor_pool
from likeability.config import ConfigError, RayConfig

FIXED, AUTOSCALING = RayConfig(), RayConfig(autoscaling=True)


def test_a_fixed_cluster_gets_one_actor_per_cpu_and_never_more_than_the_work(ray_cluster):
    assert (actor_pool("faces", None, 0.0, 10, FIXED).min_size, actor_pool("faces", None, 0.0, 10, FIXED).max_size) \
        == (2, 2)
    assert actor_pool("faces", None, 0.0, 1, FIXED).max_size == 1
    assert actor_pool("faces", 1, 0.0, 10, FIXED).max_size == 1


def test_a_pool_larger_than_a_fixed_cluster_is_refused_with_the_way_out(ray_cluster):
    with pytest.raises(ConfigError, match=r"embed.actors=3: 3 actors \(1 CPU each\) cannot run at once on this Ray "
                       r"cluster, which has 2 CPUs and 0 GPUs \(set ray.autoscaling = true"):
        actor_pool("embed", 3, 0.0, 10, FIXED)
    with pytest.raises(ConfigError, match=r"not one embed actor \(1 CPU and 1 GPU\) can run at once"):
        actor_pool("embed", None, 1.0, 10, FIXED)  # a GPU share with no GPU: not one actor fits


def test_an_autoscaling_cluster_starts_with_one_actor_and_may_grow_to_the_work(ray_cluster):
    pool = actor_pool("embed", None, 1.0, 12, AUTOSCALING)  # no GPU now: the autoscaler adds GPU nodes
    assert (pool.min_size, pool.max_size) == (1, 12)
    assert actor_pool("embed", 4, 0.0, 12, AUTOSCALING).max_size == 4
