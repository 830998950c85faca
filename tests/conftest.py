"""Shared fixtures: one local Ray cluster for the whole session, started only if a test asks for it."""

from __future__ import annotations

import pytest
import ray


@pytest.fixture(scope="session")
def ray_cluster():
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=500 * 1024 * 1024,
    )
    yield
    ray.shutdown()
