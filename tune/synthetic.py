"""Synthetic labelled features with a planted, learnable signal: the sweeps' benchmark and tests run on these
instead of a real embed stage, and a model that beats chance on them has found the planted signal."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from likeability.run import RunFolder
from likeability.schemas import BACKBONE_LAYERS, embeddings_table
from likeability.tune.features import LabelledFeatures


def planted_features(
    users: int,
    photos_per_user: int,
    widths: dict[str, int],
    *,
    signal_dims: int = 16,
    strength: float = 0.6,
    test_fraction: float = 0.25,
    mirror: bool = True,
    seed: int = 0,
) -> LabelledFeatures:
    """`users` x `photos_per_user` photos, half good; the last `test_fraction` of users form the test split.

    Good photos sit `strength` higher on the first `signal_dims` units of every layer; each user adds an offset
    of their own (as a person's photos share a look), so leaking a user across folds would flatter a model.
    A mirror copy is its original plus a little noise, as a flipped photo's CNN features nearly are.
    """
    rng = np.random.default_rng(seed)
    count = users * photos_per_user
    user_of = np.repeat(np.arange(users), photos_per_user)
    label = rng.permutation(np.arange(count) % 2).astype(np.int8)
    layers = {}
    for name, width in widths.items():
        matrix = rng.standard_normal((count, width), dtype=np.float32)
        matrix += rng.standard_normal((users, width), dtype=np.float32)[user_of] * 0.5
        matrix[:, :signal_dims] += strength * (2 * label[:, None] - 1)
        layers[name] = matrix
    test_users = users - int(round(users * (1 - test_fraction)))
    originals = LabelledFeatures(
        media_id=np.array([f"{i:07d}" for i in range(count)]),
        username=np.array([f"user{u:04d}" for u in user_of]),
        mirrored=np.zeros(count, dtype=bool),
        label=label,
        split=np.where(user_of >= users - test_users, "test", "train"),
        layers=layers,
    )
    if not mirror:
        return originals
    copies = {name: m + 0.1 * rng.standard_normal(m.shape, dtype=np.float32) for name, m in layers.items()}
    both = np.concatenate([np.arange(count), np.arange(count)])
    stacked = originals.subset(both)
    return LabelledFeatures(
        media_id=stacked.media_id,
        username=stacked.username,
        mirrored=np.arange(2 * count) >= count,
        label=stacked.label,
        split=stacked.split,
        layers={name: np.concatenate([layers[name], copies[name]]) for name in layers},
    )


def write_run(run: RunFolder, data: LabelledFeatures, backbone: str) -> None:
    """`data` as the labels and embeddings tables that the labels and embed stages would have written."""
    originals = data.subset(~data.mirrored)
    ratio = np.where(originals.label == 1, 0.2, 0.05)  # likes / followers on each side of a median
    run.table("labels").write_part("synthetic", [
        {
            "media_id": media_id, "username": username, "sha256": hashlib.sha256(media_id.encode()).hexdigest(),
            "like_count": int(1000 * r), "followers_count": 1000, "ratio": float(r), "follower_group": 0,
            "label": int(label), "split": split,
        }
        for media_id, username, label, split, r in zip(
            originals.media_id, originals.username, originals.label, originals.split, ratio, strict=True
        )
    ])
    widths = BACKBONE_LAYERS[backbone]
    if sorted(data.layers) != sorted(widths):
        raise ValueError(f"{backbone} has layers {sorted(widths)}; the synthetic data has {sorted(data.layers)}")
    run.table(embeddings_table(backbone)).write_part("synthetic", pa.table({
        "media_id": data.media_id,
        "mirrored": data.mirrored,
        **{name: pa.FixedSizeListArray.from_arrays(data.layers[name].ravel(), width) for name, width in widths.items()},
    }))
