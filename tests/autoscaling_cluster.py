"""A local autoscaling Ray cluster built from cluster.yaml's own node types, on Ray's fake multi-node provider:
a head that takes no tasks, and worker nodes (real raylets on this machine) that the autoscaler launches on demand
and removes when idle. Used by the cluster tests and by benchmarks/bench_cluster.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from helpers import free_port

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
NODE_OBJECT_STORE_BYTES = 200 * 1024 * 1024  # each fake node would otherwise claim 30% of this machine's memory


@dataclass(frozen=True)
class LocalCluster:
    gcs: str  # host:port, what RAY_ADDRESS names
    dashboard: str  # http://host:port, where `ray job submit` goes
    env: dict[str, str]  # a client's environment: PATH to this venv's ray, no RAY_ADDRESS, token auth off
    temp_dir: Path  # Ray's session folders and logs, every node's


def worker_node_types(cpus_per_node: int, max_workers: int, min_workers: int = 0) -> dict:
    """cluster.yaml's worker types as they are but for size: `cpus_per_node` CPUs each (a GPU type keeps its GPU
    count, which here is a label only: no stage asks for a GPU in these tests), between `min_workers` and
    `max_workers` nodes of each, and no cloud node_config."""
    declared = yaml.safe_load((REPO / "cluster.yaml").read_text())
    return {
        name: {
            "resources": {**spec["resources"], "CPU": cpus_per_node, "object_store_memory": NODE_OBJECT_STORE_BYTES},
            "node_config": {},
            "min_workers": min_workers,
            "max_workers": min(spec["max_workers"], max_workers),
        }
        for name, spec in declared["available_node_types"].items()
        if name != declared["head_node_type"]
    }


def autoscaling_config(gcs: str, workers: dict, idle_timeout_s: float) -> dict:
    """The fake provider's config: cluster.yaml's head type (CPU 0 there too) and the given worker types."""
    declared = yaml.safe_load((REPO / "cluster.yaml").read_text())
    head_type = declared["head_node_type"]
    return {
        "cluster_name": "likeability-local",
        "max_workers": sum(w["max_workers"] for w in workers.values()),
        "upscaling_speed": declared["upscaling_speed"],
        "idle_timeout_minutes": idle_timeout_s / 60,
        "provider": {"type": "external", "module": "own_disk_nodes.OwnDiskFakeMultiNodeProvider", "gcs_address": gcs,
                     "use_node_id_as_ip": True, "disable_node_updaters": True, "disable_launch_config_check": True},
        "available_node_types": {
            head_type: {"resources": declared["available_node_types"][head_type]["resources"], "node_config": {},
                        "max_workers": 0},
            **workers,
        },
        "head_node_type": head_type,
        "auth": {}, "docker": {}, "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [], "setup_commands": [],
        "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


@contextmanager
def local_autoscaling_cluster(workers: dict, node_env: dict[str, str], idle_timeout_s: float = 10.0,
                              start_within_s: float = 120.0) -> Iterator[LocalCluster]:
    """`ray start --head` with the fake provider; stopped by its process group (the autoscaler's worker nodes are
    its children), never by `ray stop`, which would stop every Ray cluster on the machine. `node_env` reaches every
    node's processes, as an instance profile's credentials reach every node of a cloud cluster."""
    gcs_port, dashboard_port = free_port(), free_port()
    gcs = f"127.0.0.1:{gcs_port}"
    temp_dir = tempfile.mkdtemp(prefix="ray-as-")  # short: Ray's socket paths must fit in 107 bytes
    config_file = Path(temp_dir) / "autoscaling.json"
    config_file.write_text(json.dumps(autoscaling_config(gcs, workers, idle_timeout_s)))
    client_env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "RAY_AUTH_MODE": "disabled"}
    client_env.pop("RAY_ADDRESS", None)
    head_env = {**client_env, **node_env, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1",
                "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(Path(__file__).parent)}  # the autoscaler's provider
    head = subprocess.Popen(
        [str(VENV_BIN / "ray"), "start", "--head", "--block", f"--port={gcs_port}",
         f"--dashboard-port={dashboard_port}", f"--dashboard-agent-listen-port={free_port()}",
         "--dashboard-host=127.0.0.1", "--include-dashboard=true", "--num-cpus=0",
         f"--object-store-memory={NODE_OBJECT_STORE_BYTES}", f"--autoscaling-config={config_file}",
         f"--temp-dir={temp_dir}"],
        env=head_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    try:
        wait_for_port(dashboard_port, start_within_s)
        wait_for_job_agent(dashboard, client_env, start_within_s)
        yield LocalCluster(gcs, dashboard, client_env, Path(temp_dir))
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.25)
    raise TimeoutError(f"nothing listens on port {port} after {seconds} s")


def wait_for_job_agent(dashboard: str, env: dict, seconds: float) -> None:
    """The dashboard answers before the head's job agent has registered; until then submissions fail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [str(VENV_BIN / "ray"), "job", "submit", "--address", dashboard, "--no-wait", "--", "true"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        if probe.returncode == 0:
            return
        time.sleep(1)
    raise TimeoutError(f"no job agent at {dashboard} after {seconds} s: {probe.stdout[-300:]}{probe.stderr[-300:]}")
