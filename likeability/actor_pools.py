"""How many actors a Ray Data actor pool gets: as configured, or as many as the cluster can hold at once; on an
autoscaling cluster, as many as the work asks for, while the autoscaler adds the nodes."""

from __future__ import annotations

import ray

from likeability.config import ConfigError, RayConfig


def actor_pool(
    section: str, actors: int | None, gpus_per_actor: float, work_items: int, cluster: RayConfig
) -> ray.data.ActorPoolStrategy:
    """A pool of one actor per CPU (one CPU each, plus `gpus_per_actor` GPUs) or per GPU share, or of `actors`,
    and never more than `work_items`: an actor without input would only hold its resources.

    On a fixed cluster the pool has that size, and a pool larger than the cluster is refused up front with the
    numbers, since it would wait forever for its missing actors. On an autoscaling cluster (`ray.autoscaling`)
    the resources present now say nothing (the head may have no CPU at all), so the pool starts with one actor
    and Ray Data grows it, up to `actors` or the work, as nodes join."""
    if cluster.autoscaling:
        return ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, min(actors or work_items, work_items)))
    return ray.data.ActorPoolStrategy(size=min(pool_size(section, actors, gpus_per_actor), max(work_items, 1)))


def pool_size(section: str, actors: int | None, gpus_per_actor: float) -> int:
    """`actors` if the cluster can run that many at once, else an error; None means as many as it can."""
    resources = ray.cluster_resources()
    cpus = int(resources.get("CPU", 0))
    fit = min(int(resources.get("GPU", 0) / gpus_per_actor), cpus) if gpus_per_actor else cpus
    wanted = actors or fit
    if wanted > fit or wanted < 1:
        each = "1 CPU" + (f" and {gpus_per_actor:g} GPU" if gpus_per_actor else "")
        asked = f"{section}.actors={actors}: {actors} actors ({each} each) cannot" if actors else \
            f"not one {section} actor ({each}) can"
        raise ConfigError(
            f"{asked} run at once on this Ray cluster, which has {resources.get('CPU', 0):g} CPUs and "
            f"{resources.get('GPU', 0):g} GPUs (set ray.autoscaling = true if it adds nodes on demand)"
        )
    return wanted
