"""Fine-tuning's input: labelled photos of one split as a Ray Data stream, and the crops the model sees.

The `images` table can be far larger than memory, so nothing reads it whole: the driver reads only its sha256
column to plan which part holds each wanted photo, and Ray Data reads one part per task, keeps the wanted bodies
and decodes them to 256 x 256 squares (shorter side 256, centre square; Caffe's 256 x 256 input, without its
aspect warp). Squares stay uint8 until the worker, where the 224 crops are taken: random crop and mirror for
training from a generator seeded by (seed, iteration, rank), so a resumed run draws the same crops; the centre
crop for evaluation (the centre 224 of the square is the embedding stage's centre crop).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import ray
import torch
from PIL import Image
from torch import Tensor

from likeability.backbones import CROP, RESIZE
from likeability.config import ConfigError
from likeability.image_decode import decode_rgb
from likeability.image_store import plan_parts, read_bodies
from likeability.run import RunFolder

DECODE_CHUNK = 32  # photos per output block: 6 MiB of squares


def split_photos(run: RunFolder, split: str) -> pa.Table:
    """media_id, sha256, label of the labelled photos on one side of the grouped split, in media_id order."""
    if not run.table("labels").part_paths():
        raise ConfigError(f"no labels table in {run.location}: run the labels stage first")
    labels = run.table("labels").read(["media_id", "sha256", "label", "split"])
    photos = labels.filter(pc.equal(labels.column("split"), split)).drop_columns(["split"])
    if not photos.num_rows:
        raise ConfigError(f"the labels table in {run.location} has no {split} photos; fine-tuning needs both sides")
    return photos.sort_by("media_id")


def square(pixels: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 -> 256 x 256 x 3: shorter side to 256 (bilinear), centre square."""
    height, width = pixels.shape[:2]
    scale = RESIZE / min(height, width)
    left, top = (width * scale - RESIZE) / 2 / scale, (height * scale - RESIZE) / 2 / scale
    box = (left, top, left + RESIZE / scale, top + RESIZE / scale)
    return np.asarray(Image.fromarray(pixels).resize((RESIZE, RESIZE), Image.Resampling.BILINEAR, box))


def decode_squares(batch: dict[str, np.ndarray], max_pixels: int, filesystem: pafs.FileSystem
                   ) -> Iterator[dict[str, np.ndarray]]:
    """Entries of `plan_parts` -> blocks of {media_id, label, pixels (N x 256 x 256 x 3 uint8)}."""
    for part, photos in zip(batch["part"], batch["photos"], strict=True):
        bodies = read_bodies(part, filesystem, [p["sha256"] for p in photos])
        for start in range(0, len(photos), DECODE_CHUNK):
            chunk = photos[start : start + DECODE_CHUNK]
            yield {
                "media_id": np.array([p["media_id"] for p in chunk]),
                "label": np.array([p["label"] for p in chunk], np.int64),
                "pixels": np.stack([square(decode_rgb(bodies[p["sha256"]], max_pixels, fit=RESIZE).pixels)
                                    for p in chunk]),
            }


def photo_dataset(run: RunFolder, photos: pa.Table, max_pixels: int) -> ray.data.Dataset:
    """The photos as a lazy Ray Data stream of decoded squares; each images part is read by one task."""
    entries = plan_parts(run, photos)
    return ray.data.from_items(entries, override_num_blocks=len(entries)).map_batches(
        decode_squares,
        fn_kwargs={"max_pixels": max_pixels, "filesystem": run.fs},
        batch_size=1,  # one images part per call; it yields a block per DECODE_CHUNK photos
        batch_format="numpy",
    )


def train_crops(squares: Tensor, generator: torch.Generator) -> Tensor:
    """N x 256 x 256 x 3 uint8 -> N x 3 x 224 x 224 uint8: a random crop per photo, mirrored half the time."""
    count = squares.shape[0]
    offsets = torch.randint(0, RESIZE - CROP + 1, (count, 2), generator=generator).tolist()
    mirror = torch.rand(count, generator=generator).lt(0.5).tolist()
    crops = []
    for image, (top, left), flip in zip(squares, offsets, mirror, strict=True):
        crop = image[top : top + CROP, left : left + CROP]
        crops.append(crop.flip(1) if flip else crop)
    return torch.stack(crops).permute(0, 3, 1, 2)


def centre_crops(squares: Tensor) -> Tensor:
    margin = (RESIZE - CROP) // 2
    return squares[:, margin : margin + CROP, margin : margin + CROP].permute(0, 3, 1, 2)
