"""Sweep throughput: the stage's Ray Tune sweep against a plain scikit-learn loop over the same grid.

Synthetic features with a planted signal, grouped by fake users, are cross-validated twice on the same grouped
folds with the same models: once by `run_trials` (the sweeps stage's Tune sweep, features in the object store
once, trials sized by the config) on a local Ray with every core, once by a plain loop that calls the same
`cross_validate` one grid point at a time (a forest gets the CPUs its trial would, the rest one). The ratio is
loop time / Tune time; both must reach the same scores. Ray's start-up is timed apart: a pipeline pays it once.

    .venv/bin/python benchmarks/bench_tune.py [--photos 4000] [--width 1024] [--c-values 12] [--sgd-points 4]
                                              [--trees 100] [--folds 5] [--mirrored]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict

import ray

from likeability.config import SweepsConfig
from likeability.tune.evaluation import cross_validate
from likeability.tune.folds import grouped_folds
from likeability.tune.sweeps import run_trials, sweep_points
from likeability.tune.synthetic import planted_features
from measure import PeakMemory, emit

PHOTOS_PER_USER = 10
LAYER = "features"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=4000)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--c-values", type=int, default=12, help="the first N of the study's C grid 1e-6..1e5")
    parser.add_argument("--sgd-points", type=int, default=4, help="1 or 4 (alpha x eta0 around the study's best)")
    parser.add_argument("--trees", type=int, default=100, help="one forest of this many trees")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--mirrored", action="store_true", help="also sweep with mirror copies (doubles the grid)")
    args = parser.parse_args()

    data = planted_features(
        args.photos // PHOTOS_PER_USER, PHOTOS_PER_USER, {LAYER: args.width}, test_fraction=0.0,
        mirror=args.mirrored, strength=0.15,
    )
    sgd_alpha, sgd_eta0 = ([1e-4, 1e-3], [0.1, 1.0]) if args.sgd_points == 4 else ([1e-4], [1.0])
    sweeps = SweepsConfig(
        folds=args.folds,
        mirrored=[False, True] if args.mirrored else [False],
        linear_svc_c=SweepsConfig().linear_svc_c[: args.c_values],
        sgd_alpha=sgd_alpha,
        sgd_eta0=sgd_eta0,
        forest_trees=args.trees,
        forest_cpus_per_trial=os.cpu_count(),
    )
    points = sweep_points(sweeps, [LAYER])
    folds = grouped_folds(data, sweeps.folds, "user", sweeps.seed)
    print(f"{args.photos} photos x {args.width} float32 in {args.photos // PHOTOS_PER_USER} users, {len(points)} grid "
          f"points x {args.folds} folds, {os.cpu_count()} cores")

    with PeakMemory() as memory:
        started = time.perf_counter()
        ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        ray_init_s = time.perf_counter() - started

        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as storage:
            tuned = run_trials(points, data.layers, data.label, folds, sweeps, storage)
        tune_s = time.perf_counter() - started
        ray.shutdown()

        started = time.perf_counter()
        looped, loop_family_s = [], defaultdict(float)
        for point in points:
            point_started = time.perf_counter()
            cpus = sweeps.forest_cpus_per_trial if point["family"] == "random_forest" else 1
            looped.append(cross_validate(
                point["family"], point["params"], data.layers[LAYER], data.label, folds, point["mirrored"],
                sweeps.seed, n_jobs=cpus,
            ))
            loop_family_s[point["family"]] += time.perf_counter() - point_started
        loop_s = time.perf_counter() - started

    ap_difference = max(abs(t["mean_ap"] - loop["mean_ap"]) for t, loop in zip(tuned, looped, strict=True))
    trial_family_s = defaultdict(float)
    for row in tuned:
        trial_family_s[row["family"]] += row["seconds"]
    for family in loop_family_s:
        print(f"  {family:<14} loop {loop_family_s[family]:6.1f} s, inside Tune trials {trial_family_s[family]:6.1f} s")
    best = max(tuned, key=lambda row: row["mean_ap"])
    print(f"ray.init {ray_init_s:.1f} s (not counted); Tune sweep {tune_s:.1f} s; plain loop {loop_s:.1f} s; "
          f"ratio {loop_s / tune_s:.2f}; largest AP difference {ap_difference:.2g}; best {best['family']} "
          f"{best['params']} CV AP {best['mean_ap']:.3f}; peak memory {memory.peak_mib} MiB")
    emit({
        "photos": args.photos,
        "width": args.width,
        "grid_points": len(points),
        "folds": args.folds,
        "ray_init_s": round(ray_init_s, 1),
        "tune_s": round(tune_s, 1),
        "loop_s": round(loop_s, 1),
        "speedup_ratio": round(loop_s / tune_s, 2),
        "max_ap_difference": ap_difference,
        "peak_mib": memory.peak_mib,
    })


if __name__ == "__main__":
    main()
