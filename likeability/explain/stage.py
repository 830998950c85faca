"""The explain stage: what the run's model likes, measured instead of eyeballed.

The model is the best classic one by cross-validated AP (the one `predict` and `serve` use by default). Each
test photo (originals) gets its attributes (likeability.explain.attributes), the model's score and a place on a
map of the test photos (t-SNE of the model's features); each attribute gets its rank correlation with the
score and with the true label, with 95% intervals over users. Images are read and measured in chunks, so memory
holds one chunk of photos however large the test split."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from likeability.config import Config
from likeability.explain.attributes import ATTRIBUTES, MEASURE_SIDE, measure_photo
from likeability.explain.correlations import UserBootstrap
from likeability.images.decode import decode_rgb
from likeability.images.store import ImageStore
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.tune.features import image_digests, load_labelled_features
from likeability.tune.final_models import load_final_model

CHUNK = 256  # photos read and measured at a time
MAP_DIMENSIONS = 50  # PCA before t-SNE, as its authors advise for wide features


def run_explain(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    model = load_final_model(run)
    test = load_labelled_features(run, model.backbone, [model.layer]).test_originals()
    features = test.layers[model.layer]
    photos = pa.table({
        "media_id": test.media_id, "username": test.username, "sha256": image_digests(run, test.media_id),
        "label": test.label, "score": model.ranking_score(features), "p_good": model.p_good(features),
    })
    measured = measure_photos(run, photos, config.download.max_pixels)
    x, y = photo_map(features, config.explain.seed).T
    table = pa.Table.from_pylist(
        [{**photo, **attributes, "map_x": float(px), "map_y": float(py)}
         for photo, attributes, px, py in zip(photos.to_pylist(), measured, x, y, strict=True)]
    )
    run.table("photo_attributes").write_part("all", table)
    effects = attribute_effects(table, config.explain.bootstrap_rounds, config.explain.seed)
    run.table("attribute_effects").write_part("all", effects)
    ranked = sorted(effects, key=lambda e: -abs(np.nan_to_num(e["with_score"])))
    return {
        "model": model.name,
        "photos": table.num_rows,
        "strongest_with_score": [e["attribute"] for e in ranked[:3]],
    }


def measure_photos(run: RunFolder, photos: pa.Table, max_pixels: int) -> list[dict]:
    """Each photo's attributes, in the order of `photos` (media_id, sha256)."""
    faces = run.table("faces").read(["media_id", "boxes"], where=pc.field("media_id").isin(photos["media_id"]))
    boxes = dict(zip(faces.column("media_id").to_pylist(), faces.column("boxes").to_pylist(), strict=True))
    store = ImageStore(run)
    measured = []
    for start in range(0, photos.num_rows, CHUNK):
        chunk = photos.slice(start, CHUNK).to_pylist()
        bodies = store.get(sorted({p["sha256"] for p in chunk}))
        for photo in chunk:
            decoded = decode_rgb(bodies[photo["sha256"]], max_pixels, fit=MEASURE_SIDE)
            # Face boxes are in the photo's full-size pixels; the decoded photo may be smaller.
            in_decoded = np.asarray(boxes.get(photo["media_id"]) or np.zeros((0, 4))) / decoded.scale
            measured.append(measure_photo(decoded.pixels, in_decoded))
    return measured


def photo_map(features: np.ndarray, seed: int) -> np.ndarray:
    """Two coordinates per photo: t-SNE of the features (after PCA), so photos the model sees alike lie close."""
    count = len(features)
    if count < 4:
        return np.zeros((count, 2), np.float32)
    reduced = PCA(min(MAP_DIMENSIONS, count, features.shape[1]), random_state=seed).fit_transform(features)
    perplexity = min(30.0, (count - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced).astype(np.float32)


def attribute_effects(table: pa.Table, rounds: int, seed: int) -> list[dict]:
    """Each attribute's correlation with the score and with the label, both with intervals over users."""
    bootstrap = UserBootstrap(table.column("username").to_numpy(zero_copy_only=False), rounds, seed)
    score, label = table.column("score").to_numpy(), table.column("label").to_numpy()
    effects = []
    for name in ATTRIBUTES:
        values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        with_score, with_label = bootstrap.correlation(values, score), bootstrap.correlation(values, label)
        effects.append({
            "attribute": name,
            "with_score": with_score.value, "with_score_low": with_score.low, "with_score_high": with_score.high,
            "with_label": with_label.value, "with_label_low": with_label.low, "with_label_high": with_label.high,
        })
    return effects
