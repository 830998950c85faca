"""The nodes a stage's actors ran on, read from the GCS actor table of the session's cluster."""

from __future__ import annotations

import ray

from likeability.stage_nodes import clock_ms, nodes_since


@ray.remote(num_cpus=0)
class WhereAmI:
    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()


def test_the_nodes_of_actors_started_since_a_time_are_named(ray_cluster):
    started = clock_ms()
    actor = WhereAmI.remote()
    node = ray.get(actor.node.remote())
    assert nodes_since(started) == [node]
    assert nodes_since(clock_ms() + 60_000) == []  # none started after it
