"""Shared fixtures, each started only if a test asks for it: one local Ray cluster, one S3 server (SeaweedFS)
and one finished demo run for the whole session."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from helpers import DEMO_TEST_SETTINGS
from likeability.cli import main
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


@pytest.fixture(scope="session")
def demo_run(ray_cluster, tmp_path_factory) -> tuple[Path, str, list[str]]:
    """The demo, every stage, on a smaller grid: its run folder, its console output and its arguments. Tests
    only read it (the end-to-end tests, `serve`)."""
    run_dir = tmp_path_factory.mktemp("e2e") / "demo"
    args = ["demo", "--run", str(run_dir)] + [a for item in DEMO_TEST_SETTINGS for a in ("--set", item)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return run_dir, out.getvalue(), args
