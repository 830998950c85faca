"""A real head node started with `ray start --head` on this machine, reached the ways a user reaches one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import ray

from autoscaling_cluster import wait_for_job_agent, wait_for_port
from helpers import free_port
from likeability import session
from likeability.config import Config, RayConfig, dump_yaml
from likeability.run import RunFolder

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def head_node():
    """A one-CPU head node with the job API; stopped by its process group, since `ray stop` would stop every
    Ray cluster on the machine, the test session's own included."""
    gcs_port, dashboard_port = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray-head-")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    # Ray turns token auth on when ~/.ray/auth_token exists, which depends on what ran here before; a
    # loopback test cluster is reproducible only with it off, on the head and on the clients alike.
    env["RAY_AUTH_MODE"] = "disabled"
    head = subprocess.Popen(
        [
            str(VENV_BIN / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={gcs_port}",
            f"--dashboard-port={dashboard_port}",
            # the default agent port (52365) is taken by the test session's own cluster
            f"--dashboard-agent-listen-port={free_port()}",
            "--dashboard-host=127.0.0.1",
            "--include-dashboard=true",
            "--num-cpus=1",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(dashboard_port, 60)
        wait_for_job_agent(f"http://127.0.0.1:{dashboard_port}", env, 60)
        yield {"gcs": f"127.0.0.1:{gcs_port}", "dashboard": f"http://127.0.0.1:{dashboard_port}", "env": env}
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_embedded_session_is_reused_when_already_connected(ray_cluster):
    assert session.connect(RayConfig(num_cpus=64)) == "local"
    assert ray.cluster_resources()["CPU"] == 2  # the existing session, not a new 64-CPU one


def test_ray_address_from_the_environment_joins_the_cluster(head_node):
    probe = (
        "import ray; from likeability import session; from likeability.config import RayConfig; "
        "where = session.connect(RayConfig(num_cpus=7)); print(where, int(ray.cluster_resources()['CPU']))"
    )
    env = {**head_node["env"], "RAY_ADDRESS": head_node["gcs"]}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == [head_node["gcs"], "1"]


def test_job_submit_ships_the_checkout_and_runs_the_cli(head_node, tmp_path):
    """As a user submits: `--working-dir .` from the checkout, so the shipped source is what runs."""
    RunFolder(str(tmp_path)).write_text("config.yaml", dump_yaml(Config()))  # a run nothing has run in yet
    out = subprocess.run(
        [
            str(VENV_BIN / "ray"),
            "job",
            "submit",
            "--address",
            head_node["dashboard"],
            "--working-dir",
            ".",
            "--",
            "sh",
            "-c",
            "python -c 'import likeability.actors as a, likeability.tune as t; print(a.__file__, t.__file__)'"
            f" && likeability status {tmp_path}",
        ],
        cwd=REPO,
        env=head_node["env"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr

    actors_file, tune_file = next(line for line in out.stdout.splitlines() if "actors/__init__.py" in line).split()
    assert "working_dir_files" in actors_file and tune_file.endswith("tune/__init__.py")  # the shipped copy
    assert f"run {tmp_path}" in out.stdout
    assert "collect" in out.stdout and "users=0, posts=0" in out.stdout
    assert "succeeded" in out.stdout


QUIET_PROBE = """
import sys
from pathlib import Path

import ray
from ray import tune

from likeability import session
from likeability.config import Config, RayConfig, dump_yaml

session.connect(RayConfig(num_cpus=2), log_file=Path(sys.argv[1]))


class Double:
    def __call__(self, batch):
        print("a worker's print")
        return {"id": batch["id"] * 2}


doubled = ray.data.range(8, override_num_blocks=2).map_batches(
    Double, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1
)
assert sorted(row["id"] for row in doubled.iter_rows()) == list(range(0, 16, 2))


def trial(config):
    print("a trial's print")
    tune.report({"score": config["x"]})


tune.Tuner(
    trial, param_space={"x": tune.grid_search([1, 2])},
    run_config=tune.RunConfig(name="probe", storage_path=sys.argv[2], verbose=0),
).fit()
print("our line")
"""


def test_rays_own_output_goes_to_the_log_file_and_the_console_keeps_ours(tmp_path):
    """Ray Data's execution logs, Tune's tables, the token-auth notice and workers' prints stay off the console."""
    log = tmp_path / "logs" / "ray.log"
    out = subprocess.run(
        [sys.executable, "-c", QUIET_PROBE, str(log), str(tmp_path / "tune")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == ["our line"]
    # The one line Ray's core worker writes itself, outside Python's logging: Ray Data's map actors take their
    # transformer as an object reference (see the README's console section).
    others = [line for line in out.stderr.splitlines() if "has constructor arguments in the object store" not in line]
    assert others == []
    logged = log.read_text()
    assert "Starting execution of Dataset" in logged


NO_OUTSIDE = REPO / "tests" / "no_outside_connections"


def outside_connections(tmp_path: Path, *command: str, **env: str) -> str:
    """What `command` and every Python process it starts connected to outside loopback."""
    record = tmp_path / "outside.txt"
    record.write_text("")
    pythonpath = os.pathsep.join([str(NO_OUTSIDE), *filter(None, [os.environ.get("PYTHONPATH")])])
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": pythonpath, "LIKEABILITY_OUTSIDE_CONNECTIONS": str(record), **env},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return record.read_text()


def test_the_watch_on_outside_connections_sees_one(tmp_path):
    # 192.0.2.1 is TEST-NET-1: never routed, so the attempt fails fast, but the hook has seen it.
    probe = (
        "import socket; s = socket.socket(); s.settimeout(0.1)\n"
        "try: s.connect(('192.0.2.1', 9))\nexcept OSError: pass"
    )
    assert "192.0.2.1" in outside_connections(tmp_path, sys.executable, "-c", probe)


def test_a_cli_run_opens_no_connection_outside_loopback_but_rays_dashboard_probe(tmp_path):
    command = [str(VENV_BIN / "likeability"), "collect", "--config", str(REPO / "configs" / "demo.toml"),
               "--run", str(tmp_path / "run"), "--set", "simulator.accounts=3"]
    seen = outside_connections(tmp_path, *command).splitlines()
    # Ray 2.60 starts its dashboard process even without a dashboard, loading only the usage-stats module, which
    # asks the cloud metadata address what cloud it runs on whether usage stats are on or off (they are off).
    assert all("ray/dashboard/dashboard.py" in line and "169.254.169.254" in line for line in seen), seen
