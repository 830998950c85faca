"""The collect stage through the CLI: a driver killed with SIGKILL mid-run, then resumed, against the real
simulator; every output file and log is then searched for the tokens."""

from __future__ import annotations

import glob
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from helpers import check_exactly_once
from likeability.collect.stage import read_usernames
from likeability.config import CollectConfig, ConfigError, SimulatorConfig
from likeability.run import RunFolder
from likeability.simulator.server import SimulatorServer, serve_in_thread

LIKEABILITY = str(Path(sys.executable).parent / "likeability")


def test_usernames_from_config_and_file_lowercased_without_repeats(tmp_path):
    names = tmp_path / "users.txt"
    names.write_text("@Ann\nbob\n\n# a comment\nann\ncarl\n")
    collect = CollectConfig(usernames=["Zed", "bob"], usernames_file=str(names))
    assert read_usernames(collect) == ["zed", "bob", "ann", "carl"]
    with pytest.raises(ConfigError, match="usernames_file: .*nope.txt not found"):
        read_usernames(CollectConfig(usernames_file=str(tmp_path / "nope.txt")))


@pytest.fixture(params=["local", "s3"])
def run_location(request, tmp_path) -> str:
    """The run folder on local disk, or on a real S3 server, where no write can be renamed into place."""
    if request.param == "local":
        return str(tmp_path / "run")
    return request.getfixturevalue("object_store").uri(f"runs/{tmp_path.name}")


@pytest.mark.timeout(1500)  # two whole runs, each with its own Ray start, on a possibly loaded machine
def test_driver_killed_mid_run_resumes_exactly_once_and_no_token_leaks(tmp_path, run_location):
    # Capitals outside hex (Ray's logs are full of hex ids), no shared prefix: 5 leaked characters are findable.
    tokens = ["".join(secrets.choice("GHJKLMNPQRSTVWXYZ") for _ in range(32)) for _ in range(2)]
    server = SimulatorServer(SimulatorConfig(accounts=36, seed=5, calls_per_window=1000), tokens=tokens)
    token_file = tmp_path / "tokens.txt"
    token_file.write_text("\n".join(tokens))
    started = time.time()
    with serve_in_thread(server) as url:
        (tmp_path / "usernames.txt").write_text("\n".join(server.world.usernames))
        config = tmp_path / "collect.toml"
        config.write_text(f"""
run_dir = "{run_location}"
[ray]
num_cpus = 1
[collect]
api_base_url = "{url}"
usernames_file = "{tmp_path / 'usernames.txt'}"
usernames_per_part = 3
# Paced (4 calls/s/token, a unit of 3 accounts about every 0.4 s) so that the driver is surely killed mid-run.
calls_per_window = 4
window_seconds = 1.0
[collect.tokens]
file = "{token_file}"
""")
        log = open(tmp_path / "first.log", "w")
        driver = subprocess.Popen([LIKEABILITY, "collect", "--config", str(config)], stdout=log, stderr=log,
                                  start_new_session=True)
        run = RunFolder(run_location)
        deadline = time.monotonic() + 120
        while len(run.table("users").parts()) < 3 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        os.killpg(driver.pid, signal.SIGKILL)  # the embedded Ray it started, as a crash would leave it
        committed = len(run.table("users").parts())
        assert 3 <= committed < 12, f"killed after {committed} of 12 units; see {tmp_path / 'first.log'}"
        first_start = run.started_at("collect")

        second = subprocess.run([LIKEABILITY, "collect", "--config", str(config)], capture_output=True, text=True,
                                timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        (tmp_path / "second.log").write_text(second.stdout + second.stderr)
    check_exactly_once(run, server, CollectConfig())
    assert run.started_at("collect") == first_start  # post ages judged at the same moment on resume
    assert run.done_summary("collect")["accounts_collected"] == 36 - 3 * committed  # only the uncommitted again

    leaks = []
    ray_logs = [p for p in glob.glob("/tmp/ray/session_*/logs/**/*", recursive=True)
                if os.path.isfile(p) and os.path.getmtime(p) >= started]
    files = [p for p in glob.glob(f"{tmp_path}/**/*", recursive=True) if os.path.isfile(p)] + ray_logs
    for path in files:
        if path == str(token_file):
            continue
        data = Path(path).read_bytes()
        leaks += [path for token in tokens if token[:5].encode() in data]
    for info in run.fs.get_file_info(pafs.FileSelector(run.root, recursive=True)):  # the run, wherever it is
        if info.type == pafs.FileType.File:
            with run.fs.open_input_stream(info.path) as stream:
                data = stream.read()
            leaks += [info.path for token in tokens if token[:5].encode() in data]
    assert not leaks
