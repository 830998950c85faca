import json
from collections import Counter

import numpy as np
import pytest

from likeability.config import Config, EmbedConfig, SweepsConfig
from likeability.run import RunFolder
from likeability.tune.features import MissingInputError
from likeability.tune.final_models import load_final_model
from likeability.tune.folds import grouped_folds
from likeability.tune.sweeps import run_sweeps, sweep_points
from likeability.tune.synthetic import planted_features, write_run

BACKBONE = "mobilenet_v2"
CONFIG = Config(
    embed=EmbedConfig(backbone=BACKBONE),
    sweeps=SweepsConfig(folds=3, linear_svc_c=[1e-3, 1e-1], sgd_alpha=[1e-3], sgd_eta0=[1e-2], forest_trees=20),
)


class CountingRun(RunFolder):
    """The real run folder, counting how often each table is read."""

    def __init__(self, location: str):
        super().__init__(location)
        self.reads: Counter[str] = Counter()

    def table(self, name):
        table = super().table(name)
        read = table.read

        def counted(*args, **kwargs):
            self.reads[name] += 1
            return read(*args, **kwargs)

        table.read = counted
        return table


def training_split():
    return planted_features(users=40, photos_per_user=6, widths={"pool": 32}).training()


@pytest.mark.parametrize("group_by", ["user", "photo"])
def test_folds_keep_groups_apart_and_mirror_copies_with_their_originals(group_by):
    data = training_split()
    folds = grouped_folds(data, count=3, group_by=group_by, seed=0)
    originals = np.flatnonzero(~data.mirrored)
    validated = np.concatenate([folds.validation_rows(k) for k in range(3)])
    assert sorted(validated) == list(originals)  # every original validated exactly once, no mirror scored
    users_on_both_sides = 0
    for k in range(3):
        train, validation = folds.training_rows(k, with_mirrors=True), folds.validation_rows(k)
        assert data.mirrored[train].sum() == (~data.mirrored[train]).sum()  # each training photo and its mirror
        assert not set(data.media_id[train]) & set(data.media_id[validation])  # no mirror of a validated photo
        shared_users = set(data.username[train]) & set(data.username[validation])
        users_on_both_sides += len(shared_users)
        assert set(data.label[validation]) == {0, 1}
        assert not data.mirrored[folds.training_rows(k, with_mirrors=False)].any()
    if group_by == "user":
        assert users_on_both_sides == 0
    else:
        assert users_on_both_sides > 0  # the photo split groups by photo only, as the study did


def test_calibration_partition_puts_each_mirror_on_its_originals_side():
    data = training_split()
    folds = grouped_folds(data, count=3, group_by="user", seed=0)
    rows = np.arange(len(data))
    splits = folds.partition(rows)
    assert sorted(np.concatenate([validation for _, validation in splits])) == list(rows)
    for train, validation in splits:
        assert not set(data.media_id[train]) & set(data.media_id[validation])
        assert not set(data.username[train]) & set(data.username[validation])


def test_too_few_users_for_the_folds_names_the_setting():
    data = planted_features(users=4, photos_per_user=6, widths={"pool": 8}).training()
    with pytest.raises(ValueError, match=r"sweeps.folds = 5, but the training split has only 3 users"):
        grouped_folds(data, count=5, group_by="user", seed=0)


def test_missing_embeddings_say_which_stage_to_run(tmp_path):
    run = RunFolder(str(tmp_path))
    write_run(run, planted_features(users=8, photos_per_user=2, widths={"pool": 1280}), BACKBONE)
    run.table("embeddings_mobilenet_v2").delete_part("synthetic")
    with pytest.raises(MissingInputError, match="embeddings_mobilenet_v2 .* is empty; run the embed stage first"):
        run_sweeps(CONFIG, run, None)


def test_sweeping_mirror_copies_that_were_never_embedded_is_refused(tmp_path):
    run = RunFolder(str(tmp_path))
    write_run(run, planted_features(users=8, photos_per_user=2, widths={"pool": 1280}, mirror=False), BACKBONE)
    with pytest.raises(ValueError, match=r"sweeps.mirrored includes true, but .* holds no mirror copies"):
        run_sweeps(CONFIG, run, None)


def test_sweep_stage_scores_every_grid_point_and_keeps_the_best_of_each_family(ray_cluster, tmp_path):
    run = CountingRun(str(tmp_path))
    data = planted_features(users=40, photos_per_user=6, widths={"pool": 1280})
    write_run(run, data, BACKBONE)
    run.reads.clear()

    summary = run_sweeps(CONFIG, run, None)
    reads = dict(run.reads)

    results = run.table("sweep_results").read().to_pylist()
    points = sweep_points(CONFIG.sweeps, ["pool"])
    assert len(points) == 8  # forest 2 + LinearSVC 4 + SGD 2: each family on pool, without and with mirrors
    assert [(r["family"], r["layer"], r["mirrored"], json.loads(r["params"])) for r in results] == [
        (p["family"], p["layer"], p["mirrored"], p["params"]) for p in points
    ]
    assert {r["backbone"] for r in results} == {BACKBONE}
    best = json.loads(run.read_text("sweeps/best.json"))[BACKBONE]
    for family in ("linear_svc", "sgd_svm", "random_forest"):
        assert best[family]["mean_ap"] == max(r["mean_ap"] for r in results if r["family"] == family)
    # Half the photos are good, so chance AP is about 0.5; the planted signal is far above it.
    assert best["linear_svc"]["mean_ap"] > 0.8
    assert all(0 <= r["std_ap"] < 0.2 and r["seconds"] > 0 for r in results)

    # Features reach the trials through the object store: the run is read once, and no trial got a private copy.
    assert reads == {"labels": 1, "embeddings_mobilenet_v2": 1}
    assert summary["features_zero_copy"] is True and summary["trials"] == 8

    finals = {row["family"]: row for row in run.table("final_models").read().to_pylist()}
    assert set(finals) == {"linear_svc", "sgd_svm", "random_forest"}
    model = load_final_model(run)
    assert model.metrics["cv_ap"] == max(row["cv_ap"] for row in finals.values())  # chosen on the training split
    test = data.test_originals()
    assert sum(finals[model.family]["confusion"]) == len(test) == 60
    p_good = model.p_good(test.layers["pool"])
    assert p_good.shape == (60,) and ((0 <= p_good) & (p_good <= 1)).all()


def test_each_backbone_gets_its_sweep_and_final_models_and_the_best_is_loaded_across_them(ray_cluster, tmp_path):
    run = RunFolder(str(tmp_path))
    strong = planted_features(users=40, photos_per_user=6, widths={"pool": 2048}, strength=0.9)
    weak = planted_features(users=40, photos_per_user=6, widths={"pool": 1280}, strength=0.05)
    write_run(run, strong, "resnet50")
    run.table("embeddings_mobilenet_v2").write_part("synthetic", run.table("embeddings_mobilenet_v2").conform(
        [{"media_id": m, "mirrored": bool(f), "pool": v.tolist()}
         for m, f, v in zip(weak.media_id, weak.mirrored, weak.layers["pool"], strict=True)]
    ))
    config = CONFIG.model_copy(update={"embed": EmbedConfig(backbones=["mobilenet_v2", "resnet50"])})
    summary = run_sweeps(config, run, None)

    results = run.table("sweep_results").read().to_pylist()
    assert Counter(r["backbone"] for r in results) == {"mobilenet_v2": 8, "resnet50": 8} and summary["trials"] == 16
    finals = run.table("final_models").read().to_pylist()
    assert sorted((r["backbone"], r["family"]) for r in finals) == sorted(
        (b, f) for b in ("mobilenet_v2", "resnet50") for f in ("linear_svc", "random_forest", "sgd_svm")
    )
    assert load_final_model(run).backbone == "resnet50"  # the planted signal is in its features
    assert load_final_model(run, "linear_svc", "mobilenet_v2").backbone == "mobilenet_v2"
    assert set(json.loads(run.read_text("sweeps/best.json"))) == {"mobilenet_v2", "resnet50"}
