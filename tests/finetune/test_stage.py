"""Fine-tuning with 2 CPU workers on a planted task (red photos good, blue photos bad), run by the CLI as a user
runs it and killed after its first checkpoint: the rerun resumes there, the loss falls, the LR follows the step
rule across the resume, the best model scores every test photo; and on the tests' local Ray, the 2 workers see
disjoint shards that cover the training set."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import ray.train
import torch
from PIL import Image

from likeability.config import Config, ConfigError, FinetuneConfig, RayConfig, dump_yaml, load
from likeability.finetune.batches import SquareBatches
from likeability.finetune.data import carve_validation
from likeability.finetune.model import load_finetuned
from likeability.finetune.schedule import lr_factor
from likeability.finetune.stage import run_finetune, trainer, training_and_validation
from likeability.run import RunFolder
from likeability.runtime import Runtime

TRAIN, TEST = 48, 8  # about 10 of the 48 become validation photos; 4 steps of 8 per epoch remain
RUNTIME = Runtime("x", lambda: [])


def photo(index: int, red: bool) -> bytes:
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 90, (72, 96, 3), dtype=np.uint8)
    pixels[..., 0 if red else 2] += 160
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


def planted_run(folder) -> RunFolder:
    run = RunFolder(str(folder))
    count = TRAIN + TEST
    images = [{"sha256": f"{i:064x}", "format": "JPEG", "body": photo(i, i % 2 == 1)} for i in range(count)]
    run.table("images").write_part("a", images[: count // 2])
    run.table("images").write_part("b", images[count // 2 :])
    run.table("labels").write_part("all", [
        {"media_id": f"m{i:02d}", "username": f"u{i}", "sha256": f"{i:064x}", "like_count": 1, "followers_count": 9,
         "ratio": 0.1, "follower_group": 0, "label": i % 2, "split": "train" if i < TRAIN else "test"}
        for i in range(count)
    ])
    return run


def planted_config(folder, **finetune) -> Config:
    settings = dict(backbone="mobilenet_v2", freeze_features=True, batch_size=8, base_lr=0.01, lr_step=3,
                    lr_gamma=0.5, log_every=1, eval_every=4, workers=2, seed=3)
    return Config(run_dir=str(folder), finetune=FinetuneConfig(**{**settings, **finetune}))


def test_step_rule_counts_iterations_from_zero_like_caffe():
    assert [lr_factor(i, 5000, 0.1) for i in (0, 4999, 5000, 9999, 10000)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01])


def test_two_workers_see_disjoint_shards_that_cover_the_training_photos(ray_cluster, tmp_path):
    """Streamed as the photos' stored bytes, as to workers that decode on their GPU."""
    run = planted_run(tmp_path / "run")
    seen_folder = tmp_path / "seen"
    seen_folder.mkdir()
    config = planted_config(tmp_path, decode_on_device=True)

    def record_one_epoch(loop_config: dict) -> None:
        rank = ray.train.get_context().get_world_rank()
        squares_of, ids = SquareBatches(torch.device("cpu"), 50_000_000, decode_threads=1), []
        for batch in ray.train.get_dataset_shard("train").iter_batches(batch_size=4, batch_format="numpy"):
            ids += batch["media_id"].tolist()
            indices = [int(media_id[1:]) for media_id in batch["media_id"]]
            assert list(batch["body"]) == [photo(i, i % 2 == 1) for i in indices]
            assert squares_of(batch).shape == (len(indices), 256, 256, 3)
        (loop_config["folder"] / f"rank{rank}.json").write_text(json.dumps(ids))

    trainer(config, run, record_one_epoch, {"folder": seen_folder}).fit()
    seen = [set(json.loads((seen_folder / f"rank{r}.json").read_text())) for r in (0, 1)]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    carved = training_and_validation(config.finetune, run)
    assert seen[0] | seen[1] == set(carved["train"].column("media_id").to_pylist())


def test_validation_users_are_carved_from_the_training_users_by_user_and_label():
    photos = pa.table({"media_id": [f"m{i:03d}" for i in range(120)], "username": [f"u{i // 3}" for i in range(120)],
                       "label": [(i // 3) % 2 for i in range(120)], "sha256": ["x"] * 120})
    train, validation = carve_validation(photos, 0.2, seed=0)
    assert train.num_rows + validation.num_rows == 120 and 18 <= validation.num_rows <= 30
    assert not set(train.column("username").to_pylist()) & set(validation.column("username").to_pylist())
    assert set(validation.column("label").to_pylist()) == {0, 1}
    assert carve_validation(photos, 0.2, seed=0)[1] == validation  # the same carve on every rerun
    with pytest.raises(ConfigError, match="validation_fraction = 0.2 needs at least 5 training users"):
        carve_validation(photos.slice(0, 9), 0.2, seed=0)


def test_missing_labels_table_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no labels table .* run the labels stage first"):
        run_finetune(planted_config(tmp_path), RunFolder(str(tmp_path)), RUNTIME)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> tuple[RunFolder, dict, Path]:
    """The planted task fine-tuned by the CLI as a user runs it (2 workers, 7 iterations), its job killed (the
    driver and the Ray it started) after the first checkpoint, then run again to the end: the run, the rerun's
    summary and the config file."""
    folder = tmp_path_factory.mktemp("resumed")
    run = planted_run(folder / "run")
    for earlier in ("collect", "filter", "curate", "labels", "embed", "sweeps"):  # planted_run stands for them
        run.mark_done(earlier, {})
    # the photos' bytes streamed and made squares by the workers, as on GPUs (the demo trains on tasks' squares)
    planted = planted_config(folder / "run", iterations=7, decode_on_device=True)
    config = folder / "finetune.yaml"  # the planted settings as a user's config file, on a Ray of 2 CPUs
    config.write_text(dump_yaml(planted.model_copy(update={"ray": RayConfig(num_cpus=2)})))
    command = [str(Path(sys.executable).parent / "likeability"), "finetune", "--config", str(config)]
    with open(folder / "first.log", "w") as log:
        job = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        # A checkpoint counts once Ray Train has recorded it in its snapshot, not when its folder appears.
        snapshot = folder / "run" / "finetune" / "train" / "finetune" / "checkpoint_manager_snapshot.json"
        deadline = time.monotonic() + 600
        while job.poll() is None and time.monotonic() < deadline and not (
            snapshot.is_file() and '"checkpoint_results":[{' in snapshot.read_text()
        ):
            time.sleep(0.2)
        os.killpg(job.pid, signal.SIGKILL)  # the driver and the Ray it started, mid-training
        job.wait()
    assert run.done_summary("finetune") is None, f"finished before the kill; see {folder / 'first.log'}"

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    return run, run.done_summary("finetune"), config


@pytest.mark.timeout(1500)  # two whole runs, each with its own Ray start, on a possibly loaded machine
def test_a_killed_job_resumes_from_its_last_checkpoint_to_the_same_iteration_count(resumed):
    run, summary, _ = resumed
    # the kill came after the first checkpoint (4), so the rerun starts from one (4, or 7 on a slow poll)
    assert summary["resumed_from"] in (4, 7) and summary["iterations"] == 7
    log = run.table("finetune_metrics").read().to_pylist()
    assert [row["iteration"] for row in log] == list(range(1, 8))  # the killed run's rows came back with its state
    assert [row["iteration"] for row in log if row["val_ap"] is not None] == [4, 7]


@pytest.mark.timeout(1500)
def test_the_resumed_fine_tuning_learned_and_scored_the_test_photos(resumed):
    run, summary, _ = resumed
    assert 0 <= summary["test_roc_auc"] <= 1 and summary["test_photos"] == TEST
    log = run.table("finetune_metrics").read().to_pylist()
    for row in log:  # the LR used at step i is base_lr x 0.5 ^ floor((i - 1) / 3), across the resume too
        assert row["lr"] == pytest.approx(0.01 * 0.5 ** ((row["iteration"] - 1) // 3))
    losses = [row["loss"] for row in log]
    assert np.mean(losses[-2:]) < 0.7 * np.mean(losses[:2])
    assert max(row["val_ap"] for row in log if row["val_ap"] is not None) == pytest.approx(summary["best_val_ap"])

    scores = run.table("finetune_scores").read().to_pylist()
    assert sorted(row["media_id"] for row in scores) == [f"m{i:02d}" for i in range(TRAIN, TRAIN + TEST)]
    assert [row["p_good"] for row in scores] == sorted((row["p_good"] for row in scores), reverse=True)
    assert np.mean([row["label"] for row in scores[: TEST // 2]]) > 0.5  # red photos ranked first

    model = load_finetuned(run)
    assert model.backbone == "mobilenet_v2" and model.iteration == summary["best_iteration"]
    red = np.zeros((80, 120, 3), np.uint8)
    red[..., 0] = 230
    blue = red[..., ::-1].copy()
    p_red, p_blue = model.p_good([red, blue])
    assert p_red > p_blue
    spec = json.loads(run.read_text("finetune/best.json"))
    assert spec == {"backbone": "mobilenet_v2", "iteration": model.iteration, "val_ap": model.val_ap}


@pytest.mark.timeout(1500)
def test_a_rerun_that_finds_the_last_checkpoint_trains_nothing_and_keeps_the_log(resumed, ray_cluster):
    """As when a job is killed between its last checkpoint and the end of the stage."""
    run, summary, config = resumed
    log = run.table("finetune_metrics").read()
    again = run_finetune(load(config), run, RUNTIME)
    assert (again["resumed_from"], again["iterations"]) == (7, 7)
    assert again["best_iteration"] == summary["best_iteration"]
    assert run.table("finetune_metrics").read() == log
