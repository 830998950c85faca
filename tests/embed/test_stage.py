"""The embed stage on a real local Ray with MobileNetV2's offline ImageNet weights: original and mirror rows,
features equal to embedding the photo directly, and a resumed run that embeds only what was left."""

from __future__ import annotations

import numpy as np
import pytest

from likeability.config import Config, EmbedConfig
from likeability.embed import stage as embed_stage
from likeability.embed.backbones import embed, load_backbone, preprocess
from likeability.embed.photo_features import DECODE_FIT
from likeability.embed.stage import embed_into, plan, run_embed
from likeability.images.decode import decode_rgb
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.simulator.images import render_jpeg
from likeability.simulator.world import KINDS

CONFIG = Config(embed=EmbedConfig(backbone="mobilenet_v2", batch_size=4))
PHOTOS = 18


def stored_run(folder) -> tuple[RunFolder, list[bytes]]:
    run = RunFolder(str(folder))
    bodies = [render_jpeg(2, 10**9 + i, KINDS[i % 4], 320) for i in range(PHOTOS)]
    images = [{"sha256": f"{i:064x}", "format": "JPEG", "body": b} for i, b in enumerate(bodies)]
    run.table("images").write_part("a", images[:10])
    run.table("images").write_part("b", images[10:])
    run.table("labels").write_part("all", [
        {"media_id": f"m{i}", "username": f"u{i % 5}", "sha256": f"{i:064x}", "like_count": 1, "followers_count": 9,
         "ratio": 0.1, "follower_group": 0, "label": i % 2, "split": "train"} for i in range(PHOTOS)
    ])
    return run, bodies


def test_features_of_each_photo_and_its_mirror_and_a_resume_that_finishes_the_rest(
    ray_cluster, tmp_path, monkeypatch
):
    run, bodies = stored_run(tmp_path)
    monkeypatch.setattr(embed_stage, "COMMIT_EVERY", 4)  # several committed groups, so a crash can fall between
    entries = plan(run, "mobilenet_v2")
    assert [len(e["photos"]) for e in entries] == [10, 8]  # one entry per images part

    interrupted = embed_into(run, CONFIG, entries)
    first = next(interrupted)
    interrupted.close()  # the driver dies after its first committed group
    done_first = set(first.column("media_id").to_pylist())

    summary = run_embed(CONFIG, run, Runtime("x", lambda: []))
    assert summary["photos"] == {"mobilenet_v2": PHOTOS - len(done_first)}
    table = run.table("embeddings_mobilenet_v2").read()
    rows = list(zip(table.column("media_id").to_pylist(), table.column("mirrored").to_pylist()))
    assert sorted(rows) == sorted((f"m{i}", m) for i in range(PHOTOS) for m in (False, True))  # exactly once

    features = {(m, f): np.asarray(v, np.float32) for m, f, v in
                zip(*(table.column(c).to_pylist() for c in ("media_id", "mirrored", "pool")))}
    backbone = load_backbone(CONFIG.embed)
    direct = embed(backbone, preprocess([decode_rgb(bodies[3], 10**8, fit=DECODE_FIT).pixels], mirror=True))["pool"]
    np.testing.assert_allclose(features[("m3", False)], direct[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(features[("m3", True)], direct[1], rtol=1e-4, atol=1e-4)
    assert not np.allclose(features[("m3", False)], features[("m3", True)])
    assert plan(run, "mobilenet_v2") == []  # nothing left: a further run embeds nothing


def test_labelled_photo_without_a_stored_image_is_reported(tmp_path):
    run, _ = stored_run(tmp_path)
    run.table("images").delete_part("b")
    with pytest.raises(ValueError, match="8 labelled photos have no stored image .* run curate again"):
        plan(run, "mobilenet_v2")


def test_several_backbones_each_fill_their_own_table(ray_cluster, tmp_path):
    """The Ray path of a better base (ResNet-50, random weights: none ship offline) beside MobileNetV2."""
    run, _ = stored_run(tmp_path)
    config = Config(embed=EmbedConfig(backbones=["mobilenet_v2", "resnet50"], weights="random", batch_size=6))
    summary = run_embed(config, run, Runtime("x", lambda: []))
    assert summary["photos"] == {"mobilenet_v2": PHOTOS, "resnet50": PHOTOS}
    assert summary["rows"] == {"mobilenet_v2": 2 * PHOTOS, "resnet50": 2 * PHOTOS}
    pool = run.table("embeddings_resnet50").read(["pool"]).column("pool")
    assert pool.type.list_size == 2048 and pool.null_count == 0
