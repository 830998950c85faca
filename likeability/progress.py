"""The one progress line a long stage shows: items done of a total, the rate and the time left.

On a terminal the line is redrawn in place (at most twice a second); into a file or a pipe it is a plain line
every 10 s; the last one is always shown. Time is injected, so tests drive it without waiting.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import ray

Item = TypeVar("Item")
BAR = 24


class Progress:
    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        echo: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interactive: bool | None = None,
    ):
        self.label, self.total, self.unit = label, total, unit
        self.interactive = sys.stdout.isatty() if interactive is None else interactive
        self.echo = echo
        self.clock = clock
        self.every = 0.5 if self.interactive else 10.0
        self.started = clock()
        self.last = float("-inf")
        self.done = 0
        self.shown: int | None = None

    def show(self, done: int, detail: str = "", final: bool = False) -> None:
        """Report `done` of the total; drawn when the last line is old enough, or when `final`."""
        now = self.clock()
        # between lines, only news: a count that moved, and not yet the end, which the final line shows
        quiet = done == self.shown or done >= self.total or now - self.last < self.every
        self.done = done
        if quiet and not final:
            return
        self.last, self.shown = now, done
        self._write(self.line(done, now - self.started, detail), final)

    def advance(self, items: int, detail: str = "") -> None:
        self.show(self.done + items, detail)

    def finish(self, detail: str = "") -> None:
        self.show(self.done, detail, final=True)

    def line(self, done: int, elapsed: float, detail: str = "") -> str:
        elapsed = max(elapsed, 1e-9)
        left = self.total - done
        eta = f"ETA {left * elapsed / done:.0f} s" if done and left > 0 else ("done" if left <= 0 else "ETA unknown")
        bar = ""
        if self.interactive:
            filled = round(BAR * min(done / self.total, 1.0)) if self.total else BAR
            bar = "[" + "#" * filled + "." * (BAR - filled) + "] "
        extra = f", {detail}" if detail else ""
        return f"{self.label}: {bar}{done:,}/{self.total:,} {self.unit} ({done / elapsed:.1f}/s){extra}, {eta}"

    def _write(self, line: str, final: bool) -> None:
        if self.echo is not None:
            self.echo(line)
        elif self.interactive:
            # sys.stdout looked up now, not kept: Tune pickles callbacks that hold a Progress
            sys.stdout.write("\r\033[K" + line + ("\n" if final else ""))
            sys.stdout.flush()
        else:
            print(line, flush=True)


def tally(items: Iterable[Item], progress: Progress, count: Callable[[Item], int]) -> Iterator[Item]:
    """`items` passed through unchanged, each one advancing `progress` by `count(item)`; finished at the end."""
    for item in items:
        progress.advance(count(item))
        yield item
    progress.finish()


@ray.remote(num_cpus=0)
class Counter:
    """A count that workers elsewhere in the cluster set (fine-tuning's iteration) and the driver reads."""

    def __init__(self) -> None:
        self.value = 0

    def set(self, value: int) -> None:
        self.value = value

    def get(self) -> int:
        return self.value


@contextmanager
def watching(progress: Progress, counter: ray.actor.ActorHandle, every_s: float = 1.0) -> Iterator[None]:
    """Shows `counter` on `progress` from a thread while the body runs (the body keeps the main thread, where
    Ray Train wants its signal handlers), and once more when it ends."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(every_s):
            progress.show(ray.get(counter.get.remote()))

    thread = threading.Thread(target=poll, name=f"{progress.label}-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    progress.show(ray.get(counter.get.remote()), final=True)
