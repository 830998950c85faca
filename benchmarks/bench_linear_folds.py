"""The linear families' cross-validation at the study's size: every fold at once on the shared matrix (the
project's `cross_validate`, as a sweep trial runs it) against scikit-learn fold by fold on copies of each
fold's rows (the estimators the families used before: LinearSVC, and SGDClassifier for the SGD-SVM).

Synthetic planted features of the study's shape (35,000 photos, a quarter of the users held out, the rest with
mirror copies: 52,500 rows x 4,096 float32), 5 grouped folds, one grid point each: LinearSVC C 1e-2, and the
SGD-SVM at the study's best (regulariser 1e-4, step 1; SGDClassifier at its own scale's step 1e-2). Working
memory is what each way allocates on top of the matrix (tracemalloc: numpy and scikit-learn allocate through
it); the process's peak resident memory is printed too.

    .venv/bin/python benchmarks/bench_linear_folds.py [--photos 35000] [--width 4096] [--c 0.01]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import average_precision_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from likeability.tune.evaluation import cross_validate
from likeability.tune.folds import Folds, grouped_folds
from likeability.tune.synthetic import planted_features
from measure import PeakMemory, emit

PHOTOS_PER_USER = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=35_000)
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--c", type=float, default=1e-2, help="LinearSVC's C")
    args = parser.parse_args()

    with PeakMemory() as memory:
        data = planted_features(args.photos // PHOTOS_PER_USER, PHOTOS_PER_USER, {"fc6": args.width}, strength=0.15)
        train = data.training()
        del data
        features, labels = train.layers["fc6"], train.label
        features.flags.writeable = False  # as a sweep trial maps it from Ray's object store
        folds = grouped_folds(train, 5, "user", seed=0)
        print(f"{len(labels)} training rows (with mirrors) x {args.width} float32 "
              f"({features.nbytes / 2**30:.2f} GiB), 5 folds", flush=True)
        points = {"linear_svc": {"C": args.c}, "sgd_svm": {"alpha": 1e-4, "eta0": 1.0}}
        before = {
            "linear_svc": make_pipeline(StandardScaler(), LinearSVC(C=args.c, dual="auto", max_iter=2000)),
            "sgd_svm": make_pipeline(StandardScaler(), SGDClassifier(
                loss="hinge", alpha=1e-4, eta0=1e-2, learning_rate="invscaling", power_t=0.5, random_state=0)),
        }
        headline = {"rows": len(labels), "width": args.width}
        for family, params in points.items():
            batched = measure(f"{family} all folds at once", features.nbytes, lambda: cross_validate(
                family, params, features, labels, folds, mirrored=True, seed=0)["mean_ap"])
            sklearn = measure(f"{family} scikit-learn fold by fold", features.nbytes,
                              lambda: fold_by_fold(before[family], features, labels, folds))
            headline |= {
                f"{family}_all_folds_s": round(batched["seconds"], 1),
                f"{family}_sklearn_s": round(sklearn["seconds"], 1),
                f"{family}_all_folds_working_mib": batched["working_mib"],
                f"{family}_sklearn_working_mib": sklearn["working_mib"],
                f"{family}_all_folds_cv_ap": round(batched["cv_ap"], 4),
                f"{family}_sklearn_cv_ap": round(sklearn["cv_ap"], 4),
                f"{family}_sklearn_vs_all_folds_ratio": round(sklearn["seconds"] / batched["seconds"], 2),
            }
    print(f"process peak memory {memory.peak_mib:.0f} MiB")
    emit({**headline, "process_peak_mib": memory.peak_mib})


def measure(name: str, matrix_bytes: int, way: Callable[[], float]) -> dict:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        cv_ap = way()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"  {name:<38} {seconds:7.1f} s, working memory {peak / 2**20:7.0f} MiB "
          f"({peak / matrix_bytes:.2f} x the matrix), CV AP {cv_ap:.4f}", flush=True)
    return {"seconds": seconds, "working_mib": round(peak / 2**20, 1), "cv_ap": cv_ap}


def fold_by_fold(model: ClassifierMixin, features: np.ndarray, labels: np.ndarray, folds: Folds) -> float:
    aps = []
    for fold in range(folds.count):
        train, validation = folds.training_rows(fold, True), folds.validation_rows(fold)
        ranking = model.fit(features[train], labels[train]).decision_function(features[validation])
        aps.append(average_precision_score(labels[validation], ranking))
    return float(np.mean(aps))


if __name__ == "__main__":
    main()
