"""How to reach Ray: an existing cluster when one is named, otherwise an embedded local one."""

from __future__ import annotations

import os

import ray

from likeability.config import RayConfig


def connect(config: RayConfig, address: str | None = None) -> str:
    """Connect this process to Ray and return where it went: 'local' or the cluster address.

    The address comes from the flag, then RAY_ADDRESS (which `ray job submit` sets for its entrypoint),
    then the config. Resource settings apply to the embedded cluster only: a real cluster has its own.
    """
    address = address or os.environ.get("RAY_ADDRESS") or config.address
    if ray.is_initialized():
        return address or "local"
    if address:
        ray.init(address=address, logging_level="WARNING")
        return address
    object_store = config.object_store_memory_mb * 1024 * 1024 if config.object_store_memory_mb else None
    ray.init(
        # "local" starts a new cluster even when a `ray start` cluster runs on this machine.
        address="local",
        num_cpus=config.num_cpus,
        num_gpus=config.num_gpus,
        object_store_memory=object_store,
        include_dashboard=config.include_dashboard,
        logging_level="WARNING",
    )
    return "local"
