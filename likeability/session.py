"""How to reach Ray: an existing cluster when one is named, otherwise an embedded local one; and where Ray's own
output goes (a log file, so the console shows the pipeline; or the console too, with --verbose)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ray

from likeability.config import RayConfig

# The loggers that own console handlers: Ray's, and Ray Data's and Ray Serve's (which do not propagate to Ray's).
RAY_LOGGERS = ("ray", "ray.data", "ray.serve")


def connect(config: RayConfig, address: str | None = None, log_file: Path | None = None) -> str:
    """Connect this process to Ray and return where it went: 'local' or the cluster address.

    The address comes from the flag, then RAY_ADDRESS (which `ray job submit` sets for its entrypoint),
    then the config. Resource settings apply to the embedded cluster only: a real cluster has its own.
    With `log_file`, Ray's log lines go there and workers' output stays in Ray's session logs.
    """
    address = address or os.environ.get("RAY_ADDRESS") or config.address
    if log_file is not None:
        ray_output_to(log_file)
    if ray.is_initialized():
        return address or "local"
    if address:
        ray.init(address=address, logging_level="WARNING", log_to_driver=log_file is None)
        return address
    object_store = config.object_store_memory_mb * 1024 * 1024 if config.object_store_memory_mb else None
    # Off unless asked for: collecting them makes Ray reach for 169.254.169.254 from a laptop. A variable the
    # user set wins.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "1" if config.usage_stats else "0")
    ray.init(
        # "local" starts a new cluster even when a `ray start` cluster runs on this machine.
        address="local",
        num_cpus=config.num_cpus,
        num_gpus=config.num_gpus,
        object_store_memory=object_store,
        include_dashboard=config.include_dashboard,
        logging_level="WARNING",
        log_to_driver=log_file is None,
    )
    return "local"


def ray_output_to(log_file: Path) -> None:
    """Ray's and Ray Data's log lines into `log_file` instead of the console, and no Tune tables or Ray Data
    progress bars on it: each stage shows its own progress line."""
    import ray.data  # Ray Data sets up its logger's console handler on import; it must exist to be replaced

    log_file.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_file)
    to_file.setLevel(logging.INFO)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in RAY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is not logging.FileHandler and isinstance(handler, logging.StreamHandler):
                logger.removeHandler(handler)
        logger.addHandler(to_file)
    ray.data.DataContext.get_current().enable_progress_bars = False
    # Tune's new console output prints its experiment box and TensorBoard hint even at verbose=0; the
    # legacy reporter at verbose=0 prints nothing.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
