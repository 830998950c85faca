"""The per-worker training loop that Ray Train runs on each DDP worker.

Iterations are global: every worker takes batch_size / workers photos per step, so the model sees the same number
of photos per update whatever the number of workers. A checkpoint (model, optimiser, scheduler, iteration, best
validation AP, the metrics so far) is reported every eval_every iterations and at the end; Ray Train keeps its
checkpoints under the run folder and hands the latest back through `get_checkpoint` when the same run is started
again, so a killed job resumes at its last checkpoint. Randomness (crops, mirrors, dropout) is seeded from
(seed, iteration, rank) at every step, so the generators' state is a function of the iteration and a resumed run
draws what an uninterrupted one would have.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from ray.data.collate_fn import NumpyBatchCollateFn
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor, nn

from likeability.config import FinetuneConfig
from likeability.finetune.batches import SquareBatches
from likeability.finetune.model import build_model, param_groups, save_best
from likeability.finetune.schedule import step_scheduler
from likeability.finetune.steps import scores_of, train_mode, train_step
from likeability.run import RunFolder

STATE_FILE = "state.pt"
EVAL_BATCH = 64


def train_loop(loop_config: dict) -> None:
    config: FinetuneConfig = loop_config["finetune"]
    run = RunFolder(loop_config["run"])
    context = ray.train.get_context()
    rank, workers = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()

    torch.manual_seed(config.seed)  # the new layer starts the same on every worker and in every rerun
    model = build_model(config)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    ddp = ray.train.torch.prepare_model(model)
    optimizer = torch.optim.SGD(param_groups(model, config), momentum=config.momentum,
                                weight_decay=config.weight_decay)
    scheduler = step_scheduler(optimizer, config.lr_step, config.lr_gamma)
    state = {"iteration": 0, "best_ap": -1.0, "metrics": []}
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            saved = torch.load(Path(folder) / STATE_FILE, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = {key: saved[key] for key in state}
    start = state["iteration"]

    collate = SquaresAndLabels(SquareBatches(device, loop_config["max_pixels"], config.decode_threads))
    shard = ray.train.get_dataset_shard("train")
    local_batch = config.batch_size // workers
    # loss sum, correct, photos since the last log; on the device, where NCCL can sum it across workers
    window = torch.zeros(3, dtype=torch.float64, device=device)
    iteration, epoch, started = start, 0, time.perf_counter()
    while iteration < config.iterations:
        stepped = False
        batches = shard.iter_torch_batches(
            batch_size=local_batch, drop_last=True, collate_fn=collate, device=device,
            local_shuffle_buffer_size=4 * local_batch,
            local_shuffle_seed=hash((config.seed, start, epoch, rank)) & 0x7FFF_FFFF,
        )
        for squares, labels in batches:
            stepped = True
            torch.manual_seed(hash((config.seed, iteration, rank)) & 0x7FFF_FFFF)
            train_mode(model)
            # logged as base_lr's schedule (the new layer runs at x new_layer_lr_mult), whichever groups exist
            group = optimizer.param_groups[0]
            lr = config.base_lr * group["lr"] / group["initial_lr"]
            window[:2] += train_step(ddp, optimizer, squares, labels, torch.default_generator, device)
            window[2] += len(labels)
            scheduler.step()
            iteration += 1
            if rank == 0 and loop_config.get("progress") is not None:
                loop_config["progress"].set.remote(iteration)  # not awaited: the driver reads it once a second
            if iteration % config.log_every == 0 or iteration == config.iterations:
                loss_sum, correct, seen = _summed(window)
                state["metrics"].append({"iteration": iteration, "loss": loss_sum / seen, "lr": lr,
                                         "train_accuracy": correct / seen})
                window.zero_()
            if iteration % config.eval_every == 0 or iteration == config.iterations:
                progress = {"start_iteration": start, "iteration": iteration,
                            "images_per_s_per_worker": (iteration - start) * local_batch / (time.perf_counter() - started)}
                state["iteration"] = iteration
                if rank == 0:
                    _evaluate(model, config, run, state, collate, device)
                _report(rank, model, optimizer, scheduler, state, progress)
            if iteration == config.iterations:
                break
        if not stepped:
            raise ValueError(f"worker {rank} got fewer than {local_batch} training photos in an epoch: "
                             f"lower finetune.batch_size or finetune.workers, or label more photos")
        epoch += 1
    # A rerun that found the last checkpoint trained nothing: without this report, Ray's result (the latest
    # checkpoint's) would carry the killed run's start.
    if start == config.iterations:
        _report(rank, model, optimizer, scheduler, state,
                {"start_iteration": start, "iteration": start, "images_per_s_per_worker": None})
    if rank == 0:  # also when a rerun finds the last checkpoint: the kill may have come before this write
        run.table("finetune_metrics").write_part("all", state["metrics"])


class SquaresAndLabels(NumpyBatchCollateFn):
    """A stream batch -> (squares, labels). Ray Data collates on a thread of its own, one batch ahead, so the next
    batch is decoded (on the CPU threads and by nvJPEG, when the worker decodes) while the device trains on this one."""

    def __init__(self, squares: SquareBatches) -> None:
        self.squares = squares

    def __call__(self, batch: dict[str, np.ndarray]) -> tuple[Tensor, Tensor]:
        return self.squares(batch), torch.from_numpy(batch["label"])


def _summed(values: Tensor) -> list[float]:
    if dist.is_available() and dist.is_initialized():
        values = values.clone()
        dist.all_reduce(values)
    return values.tolist()


def _evaluate(model: nn.Module, config: FinetuneConfig, run: RunFolder, state: dict, collate: SquaresAndLabels,
              device: torch.device) -> None:
    """Validation metrics into the log row of this iteration; the weights saved as the best when its AP is."""
    batches = ray.train.get_dataset_shard("validation").iter_torch_batches(batch_size=EVAL_BATCH, collate_fn=collate,
                                                                            device=device)
    labels, scores = scores_of(model, batches, device)
    evaluation = {
        "val_accuracy": float(np.mean((scores > 0.5) == labels)),
        "val_ap": float(average_precision_score(labels, scores)),
        "val_roc_auc": float(roc_auc_score(labels, scores)),
    }
    iteration = state["iteration"]
    if not state["metrics"] or state["metrics"][-1]["iteration"] != iteration:
        state["metrics"].append({"iteration": iteration})
    state["metrics"][-1].update(evaluation)
    if evaluation["val_ap"] > state["best_ap"]:
        state["best_ap"] = evaluation["val_ap"]
        save_best(run, config.backbone, iteration, evaluation["val_ap"], model.state_dict())


def _report(rank: int, model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, state: dict, progress: dict) -> None:
    """Rank 0 reports with a checkpoint, the others without: Ray Train waits for a report from every worker."""
    if rank == 0:
        _checkpoint(model, optimizer, scheduler, state, progress)
    else:
        ray.train.report(progress)


def _checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                state: dict, progress: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), **state}, Path(folder) / STATE_FILE)
        metrics = {**progress, **{k: v for k, v in state["metrics"][-1].items() if k.startswith("val_")}}
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
