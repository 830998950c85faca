"""The finetune stage: a Ray Train TorchTrainer over the training photos, checkpoints chosen on validation
users carved out of them, then every test photo scored once by the chosen checkpoint into `finetune_scores`.

Ray Train's storage is the run folder (`finetune/train/finetune`): started again on the same run, Ray Train
finds its checkpoint snapshot there and `train_loop` resumes at the latest checkpoint, so a killed job ends at
the same iteration count as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import ray
import torch
from ray.train import CheckpointConfig, DataConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from likeability.config import Config, ConfigError, FinetuneConfig
from likeability.embed.weights import resolve_weights
from likeability.finetune.data import carve_validation, photo_dataset, split_photos
from likeability.finetune.loop import train_loop
from likeability.finetune.model import load_finetuned, weights_config
from likeability.images.decode import decode_rgb
from likeability.images.store import plan_parts, read_bodies
from likeability.progress import Counter, Progress, watching
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.tune.evaluation import held_out_metrics

STORAGE = ("finetune", "train")
EXPERIMENT = "finetune"
CHECKPOINTS_KEPT = 2  # the latest for resuming, one more in case the latest was being written when killed


def scaling(config: FinetuneConfig) -> ScalingConfig:
    """One worker per config.workers, with a GPU share when gpus_per_worker > 0 (Ray Train then sets up NCCL,
    else gloo). Workers take at most one CPU each and leave one CPU of the cluster free: Ray Data's read and
    decode tasks need it, and workers holding every CPU would starve them (the pipeline would hang)."""
    free = max(ray.cluster_resources().get("CPU", 1.0) - 1.0, 1.0)
    resources = {"CPU": min(1.0, free / config.workers)}
    if config.gpus_per_worker > 0:
        resources["GPU"] = config.gpus_per_worker
    return ScalingConfig(num_workers=config.workers, use_gpu=config.gpus_per_worker > 0,
                         resources_per_worker=resources)


def training_and_validation(config: FinetuneConfig, run: RunFolder) -> dict[str, pa.Table]:
    train, validation = carve_validation(split_photos(run, "train"), config.validation_fraction, config.seed)
    return {"train": train, "validation": validation}


def trainer(config: Config, run: RunFolder, loop: Callable[[dict], None], loop_config: dict) -> TorchTrainer:
    """A TorchTrainer of `loop` over the run's training photos (split across workers) and the validation photos
    carved from them (whole on each worker; only rank 0 reads them), with its storage in the run folder."""
    datasets = {
        name: photo_dataset(run, photos, config.download.max_pixels, bodies=config.finetune.decodes_on_device)
        for name, photos in training_and_validation(config.finetune, run).items()
    }
    return TorchTrainer(
        loop,
        train_loop_config=loop_config,
        scaling_config=scaling(config.finetune),
        datasets=datasets,
        dataset_config=DataConfig(datasets_to_split=["train"]),
        run_config=RunConfig(
            name=EXPERIMENT,
            storage_path=run.path(*STORAGE),
            storage_filesystem=run.fs,
            checkpoint_config=CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        ),
    )


def check(config: FinetuneConfig, run: RunFolder) -> None:
    """What would otherwise fail inside the workers, with a message that names the setting."""
    if config.batch_size < config.workers:
        raise ConfigError(f"finetune.batch_size = {config.batch_size} is smaller than finetune.workers = "
                          f"{config.workers}: each worker needs at least one photo per step")
    validation = training_and_validation(config, run)["validation"]
    for name, photos in (("validation", validation), ("test", split_photos(run, "test"))):
        labels = set(photos.column("label").to_pylist())
        if labels != {0, 1}:
            raise ConfigError(f"the {name} photos in {run.location} are all of label {labels}: their AP needs "
                              "both; label more photos (or change finetune.validation_fraction)")
    resolve_weights(weights_config(config))  # in the driver: missing weights fail once, with the fix


def score_test_photos(config: Config, run: RunFolder) -> pa.Table:
    """Every test photo's P(good) from the best checkpoint, best first; one images part in memory at a time."""
    model = load_finetuned(run, "cuda" if config.finetune.gpus_per_worker and torch.cuda.is_available() else "cpu")
    rows = []
    for entry in plan_parts(run, split_photos(run, "test")):
        wanted = [photo["sha256"] for photo in entry["photos"]]
        bodies = read_bodies(entry["part"], run.fs, wanted)
        pixels = [decode_rgb(bodies[digest], config.download.max_pixels, fit=256).pixels for digest in wanted]
        for photo, p_good in zip(entry["photos"], model.p_good(pixels), strict=True):
            rows.append({"media_id": photo["media_id"], "sha256": photo["sha256"], "label": photo["label"],
                         "p_good": float(p_good)})
    scores = pa.Table.from_pylist(rows)
    return scores.take(np.argsort(-scores.column("p_good").to_numpy(), kind="stable"))


def run_finetune(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    check(config.finetune, run)
    counter = Counter.remote()
    loop_config = {"finetune": config.finetune, "run": run.location, "max_pixels": config.download.max_pixels,
                   "progress": counter}
    with watching(Progress("finetune", config.finetune.iterations, "iterations"), counter):
        result = trainer(config, run, train_loop, loop_config).fit()
    scores = score_test_photos(config, run)
    run.table("finetune_scores").write_part("all", scores)
    best = load_finetuned(run)
    metrics = result.metrics or {}
    labels, p_good = scores.column("label").to_numpy(), scores.column("p_good").to_numpy()
    users = dict(zip(*split_photos(run, "test").select(["media_id", "username"]).to_pydict().values(), strict=True))
    test_users = np.asarray([users[media_id] for media_id in scores.column("media_id").to_pylist()])
    return {
        "backbone": config.finetune.backbone,
        "workers": config.finetune.workers,
        "iterations": metrics.get("iteration", config.finetune.iterations),
        "resumed_from": metrics.get("start_iteration", 0),
        "images_per_s_per_worker": metrics.get("images_per_s_per_worker"),
        "best_iteration": best.iteration,
        "best_val_ap": best.val_ap,
        "test_photos": scores.num_rows,
        # the test split's one look, by the checkpoint the validation photos chose
        **held_out_metrics(labels, p_good, p_good, test_users, config.finetune.seed),
    }
