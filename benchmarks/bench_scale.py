"""Study scale: how each stage's time and memory grow with the world, and the sweeps at the study's true size.

Part 1, the streaming stages. The study's world (configs/study.toml: accounts of 1 to 3 posts, 8 tokens) at
--base-accounts, 4x and 16x that. Collect, filter, curate, labels and embed (AlexNet fc6/fc7 and mirrors, random
weights: speed does not depend on them) each run as their own `likeability STAGE` process, as a user runs them,
one run folder per size. Per stage and size: wall seconds, items (rows of the table the stage writes) and the
peak memory of the stage's process and every process it starts (the embedded Ray's raylet and workers), summed.
    time_per_item_growth_ratio: the stage's seconds per item at 16x over that at 1x (its own time, from its
        summary: the process's and Ray's start left out). Actors and models load inside the stage, a fixed cost
        that flatters the larger sizes; the printed ms per added item (4x to 16x against 1x to 4x) cancels it.
    peak_memory_growth_ratio: peak memory at 16x over peak memory at 1x.
Part 2, the sweeps at the study's size: planted synthetic features of --sweep-photos photos (the study's 35,000),
a quarter of the users held out as the labels stage does, each photo with its mirror, 4,096 float32 per layer
for fc6 and fc7, swept by the sweeps stage's own `run_trials` on a local Ray with every core, study.toml's grid.
--sweep-sample sweeps a spread of that grid on fc6 with mirror copies (4 C values, 4 SGD corners, the forest) and
projects the full grid's time from each family's measured CPU-seconds per trial.
--study-stages runs part 1's stages once, on the study's own world (100,000 accounts), instead of the three sizes.

    .venv/bin/python benchmarks/bench_scale.py [--base-accounts 500] [--sweep-photos 35000] [--sweep-sample]
                                               [--study-stages] [--skip-stages] [--skip-sweeps]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import ray

from likeability.config import load
from likeability.run import RunFolder
from likeability.schemas import embeddings_table
from likeability.tune.folds import grouped_folds
from likeability.tune.sweeps import run_trials, sweep_points
from likeability.tune.synthetic import planted_features
from measure import PeakMemory, emit, free_port

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "configs" / "study.toml"
LIKEABILITY = Path(sys.executable).parent / "likeability"
SCALES = (1, 4, 16)
# Each streaming stage and the table whose rows are its items.
STAGE_ITEMS = {
    "collect": "posts", "filter": "candidates", "curate": "downloads", "labels": "labels",
    "embed": embeddings_table("alexnet"),
}
STUDY_WIDTH = 4096
PHOTOS_PER_USER = 3  # the study's users had few photos each: most of the 100,000 posted once or twice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-accounts", type=int, default=500)
    parser.add_argument("--sweep-photos", type=int, default=35_000)
    parser.add_argument("--sweep-sample", action="store_true", help="a spread of the grid, full grid projected")
    parser.add_argument("--study-stages", action="store_true",
                        help="the streaming stages once, on the study's own world, instead of the three scaled ones")
    parser.add_argument("--skip-stages", action="store_true")
    parser.add_argument("--skip-sweeps", action="store_true")
    args = parser.parse_args()
    headline: dict = {"cores": os.cpu_count()}
    if args.study_stages:
        headline.update(study_stages())
    elif not args.skip_stages:
        headline.update(streaming_stages(args.base_accounts))
    if not args.skip_sweeps:
        headline.update(study_sweeps(args.sweep_photos, args.sweep_sample))
    emit(headline)


def streaming_stages(base_accounts: int) -> dict:
    measured = {scale: run_stages(base_accounts * scale) for scale in SCALES}
    headline = {"base_accounts": base_accounts}
    for stage in STAGE_ITEMS:
        (t1, n1, m1), (t4, n4, m4), (t16, n16, m16) = (measured[s][stage] for s in SCALES)
        # A stage that takes under a second even at 16x (filter, labels: Arrow compute) has no time to scale.
        growth = (t16 / n16) / (t1 / n1) if t16 >= 1 and t1 > 0 else None
        print(f"{stage:<8} items {n1:>6} {n4:>6} {n16:>6}; seconds {t1:6.2f} {t4:6.2f} {t16:6.2f}; "
              f"ms per added item {1000 * (t4 - t1) / (n4 - n1):6.2f} then {1000 * (t16 - t4) / (n16 - n4):6.2f}; "
              f"peak MiB {m1:7.0f} {m4:7.0f} {m16:7.0f}")
        headline[f"{stage}_items_16x"] = n16
        headline[f"{stage}_ms_per_item_16x"] = round(1000 * (t16 - t4) / (n16 - n4), 2)
        headline[f"{stage}_peak_mib_16x"] = m16
        headline[f"{stage}_time_per_item_growth_ratio"] = None if growth is None else round(growth, 2)
        headline[f"{stage}_peak_memory_growth_ratio"] = round(m16 / m1, 2)
    return headline


def study_stages() -> dict:
    accounts = load(str(STUDY), []).simulator.accounts
    headline: dict = {"study_accounts": accounts}
    for stage, (seconds, items, peak_mib) in run_stages(accounts).items():
        headline |= {f"study_{stage}_s": round(seconds, 1), f"study_{stage}_items": items,
                     f"study_{stage}_peak_mib": peak_mib}
    return headline


def run_stages(accounts: int) -> dict[str, tuple[float, int, float]]:
    """(seconds, items, peak MiB) of each streaming stage on a world of `accounts`, in a fresh run folder."""
    port = free_port()
    destination = f'["127.0.0.1:{port}"]'
    settings = [
        f"simulator.accounts={accounts}", f"simulator.port={port}", f"download.allowed_hosts={destination}",
        f"download.private_hosts={destination}", "embed.weights=random",
    ]
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        for stage, table in STAGE_ITEMS.items():
            command = [str(LIKEABILITY), stage, "--config", str(STUDY), "--run", folder]
            command += [arg for setting in settings for arg in ("--set", setting)]
            with PeakMemory() as memory:
                started = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True)
                process_s = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            run = RunFolder(folder)
            # The stage's own time, as its summary records it: without the process's start and Ray's.
            seconds = run.done_summary(stage)["seconds"]
            results[stage] = (seconds, run.table(table).num_rows(), memory.peak_mib)
            print(f"  {accounts} accounts: {stage} {results[stage][1]} items in {seconds:.1f} s "
                  f"({process_s:.1f} s with the process's start), peak {memory.peak_mib:.0f} MiB", flush=True)
    return results


def study_sweeps(photos: int, sample: bool) -> dict:
    sweeps = load(str(STUDY), []).sweeps
    full_grid = sweep_points(sweeps, ["fc6", "fc7"])
    if sample:
        sweeps = sweeps.model_copy(update={
            "linear_svc_c": sweeps.linear_svc_c[::4] + sweeps.linear_svc_c[-1:],
            "sgd_alpha": [sweeps.sgd_alpha[0], sweeps.sgd_alpha[-1]],
            "sgd_eta0": [sweeps.sgd_eta0[0], sweeps.sgd_eta0[-1]],
            "mirrored": [True],
        })
    layers = ["fc6"] if sample else ["fc6", "fc7"]
    points = sweep_points(sweeps, layers)
    with PeakMemory() as memory:
        data = planted_features(photos // PHOTOS_PER_USER, PHOTOS_PER_USER, dict.fromkeys(layers, STUDY_WIDTH),
                                strength=0.15)
        train = data.training()
        del data  # the sweeps stage keeps only the training split, too
        folds = grouped_folds(train, sweeps.folds, "user", sweeps.seed)
        print(f"sweeps: {len(train)} training rows (with mirrors) x {STUDY_WIDTH} float32 x {len(layers)} layers "
              f"({sum(m.nbytes for m in train.layers.values()) / 2**30:.2f} GiB), {len(points)} grid points x "
              f"{sweeps.folds} folds", flush=True)
        ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as storage:
            rows = run_trials(points, train.layers, train.label, folds, sweeps, storage, echo=print)
        wall = time.perf_counter() - started
        ray.shutdown()

    cpu_seconds = defaultdict(float)
    trials = defaultdict(int)
    for row in rows:
        cpus = sweeps.forest_cpus_per_trial if row["family"] == "random_forest" else sweeps.cpus_per_trial
        cpu_seconds[row["family"]] += row["seconds"] * cpus
        trials[row["family"]] += 1
    for family in trials:
        print(f"  {family:<14} {trials[family]:3} trials, {cpu_seconds[family] / trials[family]:7.1f} CPU-s a trial")
    best = max(rows, key=lambda row: row["mean_ap"])
    print(f"sweeps: {wall:.0f} s wall for {len(points)} trials; best {best['family']} {best['params']} CV AP "
          f"{best['mean_ap']:.3f}; peak memory {memory.peak_mib:.0f} MiB")
    headline = {
        "sweep_photos": photos, "sweep_rows": len(train), "sweep_trials": len(points),
        "study_sweeps_s": round(wall), "study_sweeps_peak_mib": memory.peak_mib,
        "study_sweeps_best_cv_ap": round(best["mean_ap"], 3),
    }
    if sample:
        # Every trial of the full grid costs what its family's measured trials cost on average; those without
        # mirror copies fit on half the rows, so this overstates them.
        total = sum(cpu_seconds[p["family"]] / trials[p["family"]] for p in full_grid)
        headline["study_sweeps_full_grid_trials"] = len(full_grid)
        headline["study_sweeps_full_grid_projected_s"] = round(total / os.cpu_count())
        print(f"full grid: {len(full_grid)} trials, projected {total / os.cpu_count() / 60:.0f} min on "
              f"{os.cpu_count()} cores")
    return headline


if __name__ == "__main__":
    main()
