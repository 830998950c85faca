"""Fine-tuning's input: labelled photos of one split as a Ray Data stream of decoded squares, and the
validation photos carved out of the training users.

The `images` table can be far larger than memory, so nothing reads it whole: the driver reads only its sha256
column to plan which part holds each wanted photo, and Ray Data reads one part per task, keeps the wanted bodies
and decodes them to 256 x 256 squares (`squares.decode_squares`), or passes the bodies on to workers that decode
on their GPU (`squares.photo_bodies`); the workers take the 224 crops.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
from sklearn.model_selection import StratifiedGroupKFold

from likeability.config import ConfigError
from likeability.finetune.squares import decode_squares, photo_bodies
from likeability.images.store import plan_parts
from likeability.run import RunFolder


def split_photos(run: RunFolder, split: str) -> pa.Table:
    """media_id, sha256, label, username of the labelled photos on one side of the split, in media_id order."""
    if not run.table("labels").part_paths():
        raise ConfigError(f"no labels table in {run.location}: run the labels stage first")
    labels = run.table("labels").read(["media_id", "sha256", "label", "username", "split"])
    photos = labels.filter(pc.equal(labels.column("split"), split)).drop_columns(["split"])
    if not photos.num_rows:
        raise ConfigError(f"the labels table in {run.location} has no {split} photos; fine-tuning needs both sides")
    return photos.sort_by("media_id")


def carve_validation(photos: pa.Table, fraction: float, seed: int) -> tuple[pa.Table, pa.Table]:
    """(train, validation): the training photos split again, by user (no user on both sides) and stratified by
    label, about `fraction` of them for validation. Checkpoints are chosen on these, so the test photos are
    scored once, by the chosen checkpoint, and no choice is made on them."""
    folds = max(2, round(1 / fraction))
    users = photos.column("username").to_numpy(zero_copy_only=False)
    labels = photos.column("label").to_numpy()
    if len(set(users)) < folds:
        raise ConfigError(f"finetune.validation_fraction = {fraction} needs at least {folds} training users to "
                          f"hold some out; there are {len(set(users))}: label more photos or raise the fraction")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    train, validation = next(splitter.split(np.zeros(len(labels)), labels, users))
    return photos.take(np.sort(train)), photos.take(np.sort(validation))


def photo_dataset(run: RunFolder, photos: pa.Table, max_pixels: int, bodies: bool = False) -> ray.data.Dataset:
    """The photos as a lazy Ray Data stream of decoded squares, or with `bodies` of their stored bytes (for
    workers that decode on their device); each images part is read by one task."""
    entries = plan_parts(run, photos)
    items = ray.data.from_items(entries, override_num_blocks=len(entries))
    if bodies:
        return items.map_batches(photo_bodies, fn_kwargs={"filesystem": run.fs}, batch_size=1, batch_format="numpy")
    return items.map_batches(
        decode_squares,
        fn_kwargs={"max_pixels": max_pixels, "filesystem": run.fs},
        batch_size=1,  # one images part per call; it yields a block per DECODE_CHUNK photos
        batch_format="numpy",
    )


