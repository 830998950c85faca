"""The sweeps stage: Ray Tune cross-validates every (family, layer, mirrored, hyperparameters) point of the grid on
the training split, records each in `sweep_results`, and the best of each family becomes a final model; with
several backbones (`embed.backbones`), each gets its own sweep and its own final models, compared in the report.

The features go into Ray's object store once (`tune.with_parameters`); every trial maps them read-only from
shared memory instead of reading the run or receiving its own pickled copy. A trial cross-validates one grid
point on all folds, so the unit Tune schedules is big enough to outweigh its overhead. Each trial holds the CPUs
the config asks for (`sweeps.cpus_per_trial`, `sweeps.forest_cpus_per_trial`), so one sweep fills a laptop's
cores or a cluster's nodes alike. A killed sweep is not resumed: running the stage again starts it over.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow.fs as pafs
from ray import tune

from likeability.config import Config, ConfigError, SweepsConfig
from likeability.progress import Progress
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.schemas import SWEEP_RESULTS, embeddings_table
from likeability.tune.evaluation import cross_validate
from likeability.tune.families import FAMILIES, family_grid
from likeability.tune.features import load_labelled_features, sweep_layers
from likeability.tune.final_models import fit_final_models
from likeability.tune.folds import Folds, grouped_folds

PART = "all"  # one sweep, one part: a re-run rewrites it whole
BEST_PATH = "sweeps/best.json"


class SweepError(RuntimeError):
    """Trials failed; the message carries the first failure."""


def sweep_points(sweeps: SweepsConfig, layers: list[str]) -> list[dict[str, Any]]:
    """Every grid point: each family's hyperparameters on each layer, without and/or with mirror copies."""
    points = [
        {"family": family, "layer": layer, "mirrored": mirrored, "params": params}
        for family in FAMILIES
        for layer in layers
        for mirrored in sweeps.mirrored
        for params in family_grid(family, sweeps)
    ]
    if not points:
        raise ConfigError("the sweep grid is empty: sweeps.mirrored, or every family's grid, is an empty list")
    return points


def run_trials(
    points: list[dict[str, Any]],
    features: dict[str, np.ndarray],
    labels: np.ndarray,
    folds: Folds,
    sweeps: SweepsConfig,
    storage_path: str,
    echo: Callable[[str], None] | None = None,
    label: str = "",
) -> list[dict[str, Any]]:
    """One Tune trial per point; returns each point with its scores, in the order of `points`."""
    trainable = tune.with_resources(
        tune.with_parameters(_trial, features=features, labels=labels, folds=folds, seed=sweeps.seed),
        resources=_trial_resources(sweeps.cpus_per_trial, sweeps.forest_cpus_per_trial),
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"point": tune.grid_search(points)},
        # Reused actors skip a worker start per trial; trials of different sizes still get their own actors.
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(
            name="sweeps", storage_path=storage_path, verbose=0,
            callbacks=[_Progress(f"sweeps {label}".strip(), len(points), echo)],
        ),
    )
    with _credentials_hidden_from_tune():
        grid = tuner.fit()
    if grid.errors:
        raise SweepError(f"{len(grid.errors)} of {len(points)} sweep trials failed; first: {grid.errors[0]}")
    scored = {
        _key(result.config["point"]): {k: result.metrics[k] for k in _TRIAL_METRICS} for result in grid
    }
    return [{**point, **scored[_key(point)]} for point in points]


def best_per_family(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each family's trial with the highest mean CV average precision (the first of equals)."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["family"] not in best or row["mean_ap"] > best[row["family"]]["mean_ap"]:
            best[row["family"]] = row
    return best


def run_sweeps(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    for part in run.table("final_models").parts():  # a backbone no longer configured must not linger
        run.table("final_models").delete_part(part)
    rows, best, finals = [], {}, []
    for backbone, layers in sweep_layers(config.embed.backbones, config.sweeps.layers).items():
        swept, best[backbone], fitted = sweep_backbone(config, run, backbone, layers)
        rows += swept
        finals += fitted
    run.table("sweep_results").write_part(
        PART, [{**{k: row[k] for k in SWEEP_RESULTS.names}, "params": json.dumps(row["params"])} for row in rows]
    )
    run.write_text(BEST_PATH, json.dumps(best, indent=2))
    return {
        "trials": len(rows),
        "layers": {backbone: sorted({r["layer"] for r in rows if r["backbone"] == backbone}) for backbone in best},
        "trials_not_converged": sum(row["fits_not_converged"] > 0 for row in rows),
        "features_zero_copy": all(row["features_zero_copy"] for row in rows),
        "best_cv_ap": {
            f"{backbone}/{family}": round(row["mean_ap"], 4)
            for backbone, by_family in best.items() for family, row in by_family.items()
        },
        "test_ap": {f"{row['backbone']}/{row['family']}": round(row["test_ap"], 4) for row in finals},
    }


def sweep_backbone(
    config: Config, run: RunFolder, backbone: str, layers: list[str]
) -> tuple[list[dict], dict[str, dict], list[dict]]:
    """One backbone's sweep over `layers`, and its final models: (trial rows, best per family, final rows)."""
    everything = load_labelled_features(run, backbone, layers)
    train, test = everything.training(), everything.test_originals()
    # The training copy goes to the object store next; keeping the whole table besides would be a third copy.
    del everything
    if True in config.sweeps.mirrored and not train.mirrored.any():
        raise ConfigError(
            f"sweeps.mirrored includes true, but {embeddings_table(backbone)} holds no mirror copies "
            f"(embed.mirror = false when it was embedded); set sweeps.mirrored = [false] or embed again"
        )
    folds = grouped_folds(train, config.sweeps.folds, config.labels.split, config.sweeps.seed)
    points = sweep_points(config.sweeps, layers)
    with _tune_storage(run, backbone) as storage:
        rows = [{**row, "backbone": backbone} for row in run_trials(points, train.layers, train.label, folds,
                                                                     config.sweeps, storage, label=backbone)]
    best = best_per_family(rows)
    return rows, best, fit_final_models(config, run, backbone, train, test, folds, best)


_TRIAL_METRICS = (
    "mean_ap", "std_ap", "mean_accuracy", "std_accuracy", "fits_not_converged", "seconds", "features_zero_copy",
)


def _trial(config: dict, features: dict[str, np.ndarray], labels: np.ndarray, folds: Folds, seed: int) -> None:
    point = config["point"]
    matrix = features[point["layer"]]
    # The CPUs Tune reserved for this trial: a forest spreads its trees over all of them.
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    started = time.perf_counter()
    scores = cross_validate(
        point["family"], point["params"], matrix, labels, folds, point["mirrored"], seed, n_jobs=max(1, int(cpus))
    )
    tune.report({
        **scores,
        "seconds": time.perf_counter() - started,
        # Ray maps object-store arrays read-only; a writable array would be a private copy of the features.
        "features_zero_copy": not matrix.flags.writeable,
    })


def _trial_resources(cpus: float, forest_cpus: int) -> Callable[[dict], tune.PlacementGroupFactory]:
    def resources(config: dict) -> tune.PlacementGroupFactory:
        family = config["point"]["family"]
        return tune.PlacementGroupFactory([{"CPU": forest_cpus if family == "random_forest" else cpus}])

    return resources


# What Ray Tune copies from the driver's environment into every trial's runtime_env, which Ray's runtime-env
# agent then writes, in plain text, into its log on each node.
CLOUD_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN")


@contextmanager
def _credentials_hidden_from_tune() -> Iterator[None]:
    """Trials get their data through the object store (`tune.with_parameters`) and never reach the run folder,
    so they need no credentials; out of the environment while Tune starts them, they stay out of Ray's logs."""
    saved = {name: os.environ.pop(name) for name in CLOUD_CREDENTIALS if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True)


@contextmanager
def _tune_storage(run: RunFolder, backbone: str) -> Iterator[str]:
    """Where Tune keeps its own files (trial logs, error traces): inside a local run, where they can be read
    later; in a temporary folder when the run lives in object storage, since `sweep_results` holds the results."""
    if isinstance(run.fs, pafs.LocalFileSystem):
        path = run.path("sweeps", "tune", backbone)
        shutil.rmtree(path, ignore_errors=True)  # a killed sweep's leftovers: this one starts over
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="likeability-tune-") as path:
            yield path


class _Progress(tune.Callback):
    """The sweeps' progress line, advanced as trials finish."""

    def __init__(self, label: str, total: int, echo: Callable[[str], None] | None):
        self.progress = Progress(label, total, "trials", echo)

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self.progress.advance(1)
        if self.progress.done == self.progress.total:
            self.progress.finish()
