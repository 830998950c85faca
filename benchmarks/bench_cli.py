"""CLI start-up: `likeability --help`, `status RUN` and `report RUN` on a finished run, against `python -c pass`.

A small demo run is made first (a minute or two); then each command runs N times as a whole process, and the
median wall time of each is compared with the interpreter's own start. `-X importtime` shows the heaviest
imports that remain for `status`.

    .venv/bin/python benchmarks/bench_cli.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import emit, tiny_demo_run

BIN = Path(sys.executable).parent


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def heaviest_imports(command: list[str], count: int = 5) -> list[tuple[str, float]]:
    """The top-level imports that took longest (cumulative seconds), from `python -X importtime`."""
    done = subprocess.run([sys.executable, "-X", "importtime", *command], capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("   "):
            rows.append((parts[2].strip(), int(parts[1]) / 1e6))
    return sorted(rows, key=lambda row: -row[1])[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = tiny_demo_run(folder)
        baseline = median_seconds([sys.executable, "-c", "pass"], args.repeats)
        cli = str(BIN / "likeability")
        seconds = {
            "help": median_seconds([cli, "--help"], args.repeats),
            "status": median_seconds([cli, "status", run], args.repeats),
            "report": median_seconds([cli, "report", run], args.repeats),
        }
        imports = heaviest_imports(["-c", f"from likeability.cli import main; main(['status', {run!r}])"])

    print(f"median of {args.repeats} runs each, whole processes; python -c pass: {baseline:.3f} s")
    for name, value in seconds.items():
        print(f"  likeability {name:<7} {value:6.3f} s   {value - baseline:+.3f} s over python")
    print("heaviest imports left in `status`: " + ", ".join(f"{name} {s:.2f} s" for name, s in imports))
    emit({
        **{f"{name}_over_python_s": round(value - baseline, 3) for name, value in seconds.items()},
        "status_vs_python_ratio": round(seconds["status"] / baseline, 2),
        "python_s": round(baseline, 3),
    })


if __name__ == "__main__":
    main()
