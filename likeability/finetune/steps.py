"""One training step and one evaluation pass of the fine-tuned network, free of Ray: the Ray Train loop
(`loop.train_loop`) runs them on each worker, and the GPU benchmark runs them directly.

Squares arrive as uint8 and are cropped on the training device; a step returns its loss sum and correct count as
device tensors, so nothing waits for the device until the loop logs.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from likeability.embed.backbones import normalize
from likeability.finetune.crops import centre_crops, train_crops
from likeability.finetune.model import p_good_of

_CRITERION = nn.CrossEntropyLoss()


def model_input(crops: Tensor, device: torch.device) -> Tensor:
    """uint8 N x 3 x 224 x 224 -> the normalised float batch on `device` (channels-last on CUDA)."""
    batch = normalize(crops.to(device, non_blocking=True))
    return batch.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else batch


def train_mode(model: nn.Module) -> None:
    """Train mode, except for layers whose weights are frozen: their batch norms keep ImageNet's statistics."""
    model.train()
    for module in model.modules():
        weights = list(module.parameters(recurse=False))
        if weights and not any(weight.requires_grad for weight in weights):
            module.training = False  # this module only: eval() would reach a trainable child (ViT's root holds one)


def train_step(network: nn.Module, optimizer: torch.optim.Optimizer, squares: Tensor, labels: Tensor,
               generator: torch.Generator, device: torch.device) -> Tensor:
    """One SGD step on random crops of `squares` (N x 256 x 256 x 3 uint8); returns [loss sum, correct] on `device`.
    `network` may be the DDP wrapper; the caller sets train mode and steps the LR scheduler."""
    squares = squares.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    inputs = model_input(train_crops(squares, generator), device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = network(inputs)
        loss = _CRITERION(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return torch.stack([loss.detach() * len(labels), (logits.argmax(1) == labels).sum().to(loss.dtype)])


def scores_of(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], device: torch.device
              ) -> tuple[np.ndarray, np.ndarray]:
    """Labels and P(good) of every photo in `batches` of (squares, labels), centre-cropped."""
    labels, scores = [np.empty(0, np.int64)], [np.empty(0)]
    model.eval()
    for squares, batch_labels in batches:
        squares = squares.to(device, non_blocking=True)
        scores.append(p_good_of(model, model_input(centre_crops(squares), device)).double().numpy())
        labels.append(batch_labels.cpu().numpy())
    return np.concatenate(labels), np.concatenate(scores)
