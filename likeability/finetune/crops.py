"""What the fine-tuned network sees: 256 x 256 squares of each photo, then 224 crops of them.

A square is the photo's centre square resized to 256 (Caffe's 256 x 256 input, without its aspect warp). Squares
stay uint8 until the worker, where the crops are taken on the training device: a random crop and mirror for
training, drawn from a generator seeded by (seed, iteration, rank) so a resumed run draws the same crops; the
centre crop for evaluation (the centre 224 of the square is the embedding stage's centre crop).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow.fs as pafs
import torch
from PIL import Image
from torch import Tensor

from likeability.images.crop_geometry import CROP, RESIZE
from likeability.images.decode import decode_rgb
from likeability.images.device import centre_square_box
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


def train_crops(squares: Tensor, generator: torch.Generator) -> Tensor:
    """N x 256 x 256 x 3 uint8 -> N x 3 x 224 x 224 uint8 on the squares' device: a random crop per photo,
    mirrored half the time. The draws come from `generator` (on the CPU), whatever the device; the crops are
    one gather, not a Python loop over photos."""
    count, device = squares.shape[0], squares.device
    offsets = torch.randint(0, RESIZE - CROP + 1, (count, 2), generator=generator).to(device)
    mirror = torch.rand(count, generator=generator).lt(0.5).to(device)
    steps = torch.arange(CROP, device=device)
    rows = offsets[:, :1] + steps  # N x 224
    columns = offsets[:, 1:] + torch.where(mirror.unsqueeze(1), CROP - 1 - steps, steps)
    photos = torch.arange(count, device=device).view(count, 1, 1)
    return squares[photos, rows.unsqueeze(2), columns.unsqueeze(1)].permute(0, 3, 1, 2)


def centre_crops(squares: Tensor) -> Tensor:
    margin = (RESIZE - CROP) // 2
    return squares[:, margin : margin + CROP, margin : margin + CROP].permute(0, 3, 1, 2)
