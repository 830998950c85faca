"""What every benchmark needs: peak memory of this process and its descendants, and the closing JSON line."""

from __future__ import annotations

import json
import threading

import psutil


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


def emit(headline: dict) -> None:
    """The benchmark's last output line: its headline figures as one JSON object."""
    print(json.dumps(headline), flush=True)

