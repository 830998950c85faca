"""Fine-tuning's squares and crops: any photo size gives a 256 square (Instagram's 1080 x 1349 crashed it once),
and the batched crops are exactly the per-photo crops the random draws describe."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from likeability.finetune.crops import centre_crops, train_crops
from likeability.finetune.squares import square
from likeability.images.crop_geometry import CROP, RESIZE, centre_square_box


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 8000), height=st.integers(1, 8000))
@example(width=1080, height=1349)
@example(width=1349, height=1687)
@example(width=8000, height=8000)
@example(width=7919, height=1)
def test_any_photo_becomes_a_256_square_cut_from_inside_it(width, height):
    left, top, right, bottom = centre_square_box(width, height)
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    assert right - left == bottom - top == min(width, height)
    if width * height <= 4_000_000:
        pixels = np.full((height, width, 3), 200, np.uint8)
        assert square(pixels).shape == (RESIZE, RESIZE, 3)


def test_training_crops_are_the_drawn_offsets_and_flips():
    squares = torch.arange(4 * 256 * 256 * 3, dtype=torch.int64).remainder(251).to(torch.uint8).reshape(4, 256, 256, 3)
    crops = train_crops(squares.repeat(8, 1, 1, 1), torch.Generator().manual_seed(0))
    draws = torch.Generator().manual_seed(0)
    offsets = torch.randint(0, RESIZE - CROP + 1, (32, 2), generator=draws).tolist()
    mirror = torch.rand(32, generator=draws).lt(0.5).tolist()
    assert crops.shape == (32, 3, CROP, CROP)
    assert len({(top, left) for top, left in offsets}) > 4 and 0 < sum(mirror) < 32
    for index, ((top, left), flip) in enumerate(zip(offsets, mirror, strict=True)):
        crop = squares[index % 4, top : top + CROP, left : left + CROP]
        expected = (crop.flip(1) if flip else crop).permute(2, 0, 1)
        assert torch.equal(crops[index], expected)


def test_evaluation_takes_the_centre():
    squares = torch.arange(256 * 256 * 3, dtype=torch.int64).remainder(251).to(torch.uint8).reshape(1, 256, 256, 3)
    assert torch.equal(centre_crops(squares)[0], squares[0, 16:240, 16:240].permute(2, 0, 1))
