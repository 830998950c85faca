"""The pipeline as a user runs it on a cluster: `ray job submit --working-dir .` to an autoscaling cluster made
of cluster.yaml's node types (head without CPUs, workers from zero), the run folder on a real S3 server."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import subprocess
import time

import psutil
import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from autoscaling_cluster import REPO, VENV_BIN, LocalCluster, local_autoscaling_cluster, worker_node_types
from helpers import free_port
from likeability.curate.stage import COMMIT_EVERY
from likeability.run import RunFolder
from likeability.simulator.images import render_jpeg

SIMULATOR_PORT = free_port()  # the demo's fixed port may be held by another test's demo
SMALL_DEMO = [
    "ray.autoscaling=true",
    "collect.cpus_per_token=0.25",
    f"simulator.port={SIMULATOR_PORT}",
    f"download.allowed_hosts=['127.0.0.1:{SIMULATOR_PORT}']",
    f"download.private_hosts=['127.0.0.1:{SIMULATOR_PORT}']",
    "simulator.accounts=16",
    "sweeps.linear_svc_c=[1e-3, 1e-2]",
    "sweeps.sgd_alpha=[1e-3]",
    "sweeps.sgd_eta0=[1e-3]",
    "sweeps.forest_trees=20",
    "sweeps.forest_cpus_per_trial=1",  # scaled down with the nodes, as their CPUs are
    "sweeps.mirrored=[true]",
    "sweeps.folds=3",
    "finetune.iterations=4",
    "finetune.eval_every=2",
    "finetune.batch_size=8",
]
IDLE_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def cluster(object_store):
    with local_autoscaling_cluster(worker_node_types(cpus_per_node=1, max_workers=2), object_store.env,
                                   IDLE_TIMEOUT_S) as running:
        yield running


def submit(cluster: LocalCluster, *command: str, wait: bool = True) -> subprocess.CompletedProcess:
    """`ray job submit --working-dir .` from the checkout, as a user submits; with `wait`, until the job ends."""
    return subprocess.run(
        [str(VENV_BIN / "ray"), "job", "submit", "--address", cluster.dashboard, "--working-dir", ".",
         *([] if wait else ["--no-wait"]), "--", *command],
        cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=1200,
    )


def likeability(*args: str) -> str:
    """The CLI on this machine, as a user reads a finished run from the object store."""
    done = subprocess.run([str(VENV_BIN / "likeability"), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def cluster_nodes(cluster: LocalCluster) -> list[dict]:
    """Every node the cluster has had, alive or not, as `ray list nodes` sees them."""
    listed = subprocess.run(
        [str(VENV_BIN / "ray"), "list", "nodes", "--address", cluster.dashboard, "--format", "json", "--detail",
         "--limit", "1000"],
        env=cluster.env, capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(listed.stdout)


def wait_until_only_the_head_is_alive(cluster: LocalCluster, seconds: float) -> list[dict]:
    deadline = time.monotonic() + seconds
    while True:
        nodes = cluster_nodes(cluster)
        if [n for n in nodes if n["state"] == "ALIVE"] == [n for n in nodes if n["is_head_node"]] or \
                time.monotonic() > deadline:
            return nodes
        time.sleep(1)


@pytest.mark.timeout(1800)
def test_submitted_demo_scales_out_and_its_run_folder_lives_on_s3(cluster, object_store, tmp_path):
    run_uri = object_store.uri("runs/cluster-demo")
    done = submit(cluster, "likeability", "demo", "--run", run_uri,
                  *[a for item in SMALL_DEMO for a in ("--set", item)])
    assert done.returncode == 0 and "succeeded" in done.stdout, done.stdout[-4000:] + done.stderr[-4000:]
    assert object_store.env["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
    secret = object_store.env["AWS_SECRET_ACCESS_KEY"].encode()
    leaked = [p for p in cluster.temp_dir.rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert not leaked, leaked  # Ray's own logs, every node's, included

    nodes = cluster_nodes(cluster)
    head = next(n["node_id"] for n in nodes if n["is_head_node"])
    workers = {n["node_id"] for n in nodes if not n["is_head_node"]}
    assert workers, "the autoscaler launched no worker node"
    run = RunFolder(run_uri)
    for stage in ("collect", "curate", "embed", "sweeps", "finetune"):
        used = set(run.done_summary(stage)["nodes"])
        assert used and used <= workers | {head} and used & workers, (stage, used)

    status = likeability("status", run_uri)
    assert re.search(r"^\s+ran on \d+ nodes?: ", status, re.M), status
    assert "<h2>Results</h2>" in run.read_text("report/index.html")  # drawn on the cluster, from S3
    person = tmp_path / "person.jpg"
    person.write_bytes(render_jpeg(5, 10**9, "outdoor", 320))
    assert likeability("predict", str(person), "--run", run_uri).startswith(f"{person}: P(good) = ")
    assert object_store.env["AWS_SECRET_ACCESS_KEY"] not in run.read_text("config.yaml")

    after = wait_until_only_the_head_is_alive(cluster, IDLE_TIMEOUT_S * 12)
    assert [n["node_id"] for n in after if n["state"] == "ALIVE"] == [head], "idle workers were not removed"


def node_processes(node_id: str) -> list[psutil.Process]:
    """A worker node's raylet and agents (their command lines name the node) and every process they started."""
    named = [p for p in psutil.process_iter(["cmdline"]) if node_id in " ".join(p.info["cmdline"] or [])]
    return [*named, *(child for p in named for child in p.children(recursive=True))]


def kill_node(node_id: str) -> None:
    """As a machine vanishes: every process of the node at once, with no chance to say goodbye."""
    for process in node_processes(node_id):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.5)
    return found


def job_ends(cluster: LocalCluster, job: str, seconds: float = 1200) -> JobStatus:
    client = JobSubmissionClient(cluster.dashboard)
    return wait_for(lambda: (status := client.get_job_status(job)).is_terminal() and status, seconds, f"end of {job}")


@pytest.mark.timeout(1800)
def test_losing_a_worker_node_during_curate_loses_no_row_and_refetches_nothing(cluster, object_store, monkeypatch):
    """Enough posts for curate to commit a group (COMMIT_EVERY) before the node goes; only the stages that fetch
    run, one verb after another, as a user runs them."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # this process reads the job's status, as the CLI does
    run_uri = object_store.uri("runs/node-loss")
    settings = [a for item in [*SMALL_DEMO, "simulator.accounts=50"] for a in ("--set", item)]
    verbs = [["likeability", verb, "--config", "configs/demo.toml", "--run", run_uri, *settings]
             for verb in ("collect", "filter", "curate")]
    command = ["sh", "-c", " && ".join(shlex.join(verb) for verb in verbs)]
    submitted = submit(cluster, *command, wait=False)
    job = re.search(r"raysubmit_\w+", submitted.stdout).group(0)
    run = RunFolder(run_uri)

    committed_before = wait_for(lambda: run.table("downloads").parts(), 600, "committed downloads part")
    working = wait_for(
        lambda: [n["node_id"] for n in cluster_nodes(cluster) if n["state"] == "ALIVE" and not n["is_head_node"]],
        60, "alive worker node")
    kill_node(working[0])

    if job_ends(cluster, job) != JobStatus.SUCCEEDED:
        rerun = submit(cluster, *command)
        assert rerun.returncode == 0, rerun.stdout[-4000:] + rerun.stderr[-4000:]
    # the kill took: Ray's health checks declare the node dead (within seconds, however the job went)
    wait_for(lambda: next(n["state"] for n in cluster_nodes(cluster) if n["node_id"] == working[0]) == "DEAD",
             120, "death of the killed node")
    assert run.done_summary("curate") is not None
    assert committed_before <= run.table("downloads").parts()  # what was committed stayed, nothing refetched
    downloads = run.table("downloads").read(["media_id"]).column("media_id").to_pylist()
    candidates = run.table("candidates").read(["media_id"]).column("media_id").to_pylist()
    assert len(candidates) > COMMIT_EVERY and sorted(downloads) == sorted(set(candidates))  # every photo exactly once
    posts = run.table("posts").read(["media_id"]).column("media_id").to_pylist()
    assert len(posts) == len(set(posts))
