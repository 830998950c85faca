"""What every benchmark needs: peak memory of this process and its descendants, and the closing JSON line; and
what several need: the simulator in a process of its own, a small finished run."""

from __future__ import annotations

import json
import multiprocessing
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from likeability.config import SimulatorConfig
from likeability.simulator.server import SimulatorServer, serve_in_thread

TINY_DEMO = ["simulator.accounts=16", "sweeps.linear_svc_c=[1e-3]", "sweeps.sgd_alpha=[1e-3]", "sweeps.sgd_eta0=[1e-3]",
             "sweeps.forest_trees=10", "sweeps.mirrored=[true]", "sweeps.folds=2", "finetune.iterations=2",
             "finetune.eval_every=2", "finetune.batch_size=8"]


def tiny_demo_run(folder: str | Path) -> str:
    """A finished demo run (every stage, final models, a fine-tuned network) on a tiny world, in a minute or two."""
    run = str(Path(folder) / "run")
    subprocess.run([str(Path(sys.executable).parent / "likeability"), "demo", "--run", run,
                    *[a for item in TINY_DEMO for a in ("--set", item)]], check=True, capture_output=True)
    return run


class PeakMemory:
    """Samples the resident memory of this process tree (the driver, Ray's raylet and workers) in a thread.

    Ray workers are not waited-for children of the driver, so `getrusage(RUSAGE_CHILDREN)` would miss them.
    """

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return round(self.peak_bytes / 2**20, 1)

    def _sample(self) -> None:
        root = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [root, *root.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval)


def stream_rates(counts: Iterable[int]) -> dict:
    """Items/s of a stream that yields item counts as results arrive: end to end (start-up included), and
    steady, from the first result to the last (start-up, such as actors loading their models, left out)."""
    started = time.perf_counter()
    arrivals = [(time.perf_counter(), count) for count in counts]
    finished = time.perf_counter()
    total = sum(count for _, count in arrivals)
    first_at, first = arrivals[0]
    return {
        "end_to_end": total / (finished - started),
        "steady": (total - first) / (finished - first_at),
        "first_result_s": first_at - started,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def emit(headline: dict) -> None:
    """The benchmark's last output line: its headline figures as one JSON object."""
    print(json.dumps(headline), flush=True)


class SimulatorProcess:
    """The simulator in a process of its own, as a real API server would be: in this process its request
    handling would share the interpreter lock with the driver, and late arrival stamps would look like bursts.
    """

    def __init__(self, config: SimulatorConfig, tokens: list[str]):
        self._parent, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(config, tokens, child), daemon=True
        )
        self.stats: dict = {}
        self.call_times: dict[str, list[float]] = {}

    def __enter__(self) -> tuple[str, list[str]]:
        self._process.start()
        return self._parent.recv()

    def __exit__(self, *exc) -> None:
        self._parent.send("stop")
        self.stats, self.call_times = self._parent.recv()
        self._process.join()


def _serve(config: SimulatorConfig, tokens: list[str], conn) -> None:
    server = SimulatorServer(config, tokens=tokens)
    with serve_in_thread(server) as url:
        conn.send((url, server.world.usernames))
        conn.recv()
        conn.send((server.stats_json(), {label: list(times) for label, times in server.stats.call_times.items()}))
