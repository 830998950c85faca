"""Which Ray nodes a stage's actors ran on: Tune trials, Train workers and Ray Data's actor pools are all actors
of this job, so the job's actors started since the stage began name the nodes that did its work."""

from __future__ import annotations

import sys
import time


def clock_ms() -> int:
    """Now, on the clock of the actor table's start times (milliseconds since the epoch)."""
    return int(time.time() * 1000)


def nodes_since(started_ms: int) -> list[str]:
    """The node ids of this job's actors started at or after `started_ms`, sorted; none when Ray is not running."""
    ray = sys.modules.get("ray")  # not imported means not running; importing it would slow `likeability status`
    if ray is None or not ray.is_initialized():
        return []
    job = ray.JobID.from_hex(ray.get_runtime_context().get_job_id())
    # ray.util.state would need the dashboard, which an embedded run does without; this reads the GCS directly.
    actors = ray._private.state.state.actor_table(None, job_id=job)
    return sorted({
        actor["Address"]["NodeID"]
        for actor in actors.values()
        if actor["StartTime"] >= started_ms and actor["Address"]["NodeID"]
    })
