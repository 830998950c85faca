"""Shared fixtures, each started only if a test asks for it: one local Ray cluster and one S3 server (SeaweedFS)
for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import ray

from object_store import ObjectStore, seaweedfs


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


@pytest.fixture(scope="session")
def object_store(tmp_path_factory) -> Iterator[ObjectStore]:
    """SeaweedFS for the session. Its AWS_* variables go into this process's environment, and so into every
    command a test starts, since pyarrow (and so the run folder, Ray Data, Tune and Train) reads them there."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as store:
        saved = {name: os.environ.get(name) for name in store.env}
        os.environ.update(store.env)
        yield store
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
