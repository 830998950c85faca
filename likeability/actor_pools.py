"""How many actors a Ray Data actor pool gets: as configured, or as many as the cluster can hold at once."""

from __future__ import annotations

import ray

from likeability.config import ConfigError


def pool_size(section: str, actors: int | None, gpus_per_actor: float) -> int:
    """`actors` if the cluster can run that many (one CPU each, plus `gpus_per_actor` GPUs), else an error;
    None means one per CPU, or per GPU share when GPUs are asked for. A pool larger than the cluster would
    wait forever for its missing actors, so it is refused up front with the numbers."""
    resources = ray.cluster_resources()
    cpus = int(resources.get("CPU", 0))
    fit = min(int(resources.get("GPU", 0) / gpus_per_actor), cpus) if gpus_per_actor else cpus
    wanted = actors or fit
    if wanted > fit or wanted < 1:
        raise ConfigError(
            f"{section}.actors={wanted} actors need {wanted} CPUs"
            + (f" and {wanted * gpus_per_actor:g} GPUs" if gpus_per_actor else "")
            + f"; this Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs"
        )
    return wanted
