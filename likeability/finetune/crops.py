"""What the fine-tuned network sees: 224 crops of the 256 x 256 squares of each photo (`squares`).

Squares stay uint8 until the worker, where the crops are taken on the training device: a random crop and mirror for
training, drawn from a generator seeded by (seed, iteration, rank) so a resumed run draws the same crops; the
centre crop for evaluation (the centre 224 of the square is the embedding stage's centre crop).
"""

from __future__ import annotations

import torch
from torch import Tensor

from likeability.images.crop_geometry import CROP, RESIZE


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
