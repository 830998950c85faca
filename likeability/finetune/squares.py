"""What fine-tuning reads: each photo as a 256 x 256 square, its centre square resized to 256 (Caffe's 256 x 256
input, without its aspect warp), decoded by Ray Data tasks; or, for workers that decode on their GPU, each photo's
stored bytes (`photo_bodies`: a seventh of a square's size, and no CPU decoding). Free of torch, so those tasks
start without importing it (seconds of every fresh worker process); the 224 crops are taken on the training
device (`crops`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow.fs as pafs
from PIL import Image

from likeability.images.crop_geometry import RESIZE, centre_square_box
from likeability.images.decode import decode_rgb
from likeability.images.store import read_bodies

DECODE_CHUNK = 32  # photos per output block: 6 MiB of squares


def square(pixels: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 -> 256 x 256 x 3: the centre square, resized to 256 (bilinear, antialiased)."""
    height, width = pixels.shape[:2]
    box = centre_square_box(width, height)
    return np.asarray(Image.fromarray(pixels).resize((RESIZE, RESIZE), Image.Resampling.BILINEAR, box))


def decode_squares(batch: dict[str, np.ndarray], max_pixels: int, filesystem: pafs.FileSystem
                   ) -> Iterator[dict[str, np.ndarray]]:
    """Entries of `plan_parts` -> blocks of {media_id, label, pixels (N x 256 x 256 x 3 uint8)}."""
    for photos, bodies in _parts(batch, filesystem):
        for start in range(0, len(photos), DECODE_CHUNK):
            chunk = photos[start : start + DECODE_CHUNK]
            yield {
                **_ids_and_labels(chunk),
                "pixels": np.stack([square(decode_rgb(bodies[p["sha256"]], max_pixels, fit=RESIZE).pixels)
                                    for p in chunk]),
            }


def photo_bodies(batch: dict[str, np.ndarray], filesystem: pafs.FileSystem) -> Iterator[dict[str, np.ndarray]]:
    """Entries of `plan_parts` -> blocks of {media_id, label, body (the stored bytes)}, one block per part."""
    for photos, bodies in _parts(batch, filesystem):
        yield {**_ids_and_labels(photos), "body": np.array([bodies[p["sha256"]] for p in photos], dtype=object)}


def _parts(batch: dict[str, np.ndarray], filesystem: pafs.FileSystem) -> Iterator[tuple[list[dict], dict[str, bytes]]]:
    """Each planned part's photos and the bodies of those photos, read from the part."""
    for part, photos in zip(batch["part"], batch["photos"], strict=True):
        yield photos, read_bodies(part, filesystem, [p["sha256"] for p in photos])


def _ids_and_labels(photos: list[dict]) -> dict[str, np.ndarray]:
    return {"media_id": np.array([p["media_id"] for p in photos]),
            "label": np.array([p["label"] for p in photos], np.int64)}
