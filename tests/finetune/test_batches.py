"""Squares made on the training device from the photos' bytes (CPU tensors here: the same code a GPU runs) against
the squares Ray Data tasks decode, for every kind of photo: baseline and progressive JPEGs, rotated, and a PNG."""

from __future__ import annotations

import numpy as np
import torch

from image_files import encode, gradient, orientation_exif
from likeability.finetune.batches import SquareBatches
from likeability.finetune.squares import square
from likeability.images.crop_geometry import RESIZE
from likeability.images.decode import decode_rgb

MAX_PIXELS = 50_000_000


def bodies() -> list[bytes]:
    photo = gradient(1080, 1349)
    return [encode(photo, "JPEG", quality=92), encode(photo, "JPEG", quality=92, progressive=True),
            encode(gradient(640, 335), "JPEG", exif=orientation_exif(6)), encode(gradient(300, 500), "PNG")]


def test_squares_from_bytes_are_close_to_the_squares_tasks_decode():
    batch = {"label": np.array([0, 1, 0, 1]), "body": np.array(bodies(), dtype=object)}
    squares = SquareBatches(torch.device("cpu"), MAX_PIXELS, decode_threads=2)(batch)
    assert squares.shape == (4, RESIZE, RESIZE, 3) and squares.dtype == torch.uint8
    for body, made in zip(batch["body"], squares, strict=True):
        expected = square(decode_rgb(body, MAX_PIXELS, fit=RESIZE).pixels)
        # one roi_align (a mean of bilinear samples) against Pillow's antialiased bilinear
        assert np.abs(made.numpy().astype(int) - expected.astype(int)).mean() < 3


def test_squares_decoded_by_tasks_pass_through():
    pixels = np.random.default_rng(0).integers(0, 256, (2, RESIZE, RESIZE, 3), dtype=np.uint8)
    squares = SquareBatches(torch.device("cpu"), MAX_PIXELS, decode_threads=0)({"pixels": pixels, "label": [0, 1]})
    assert np.array_equal(squares.numpy(), pixels)
