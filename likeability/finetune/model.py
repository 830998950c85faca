"""The 2-way model: an ImageNet backbone with its last layer replaced, its optimiser groups, and the best
checkpoint's weights as saved in the run for prediction (`load_finetuned`)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from likeability.config import EmbedConfig, FinetuneConfig, InputNotFoundError
from likeability.embed.backbones import HEADS, build_torchvision_model, normalize, preprocess
from likeability.embed.weights import WeightsError, resolve_weights
from likeability.run import RunFolder

BEST_WEIGHTS = "finetune/best.pt"
BEST_SPEC = "finetune/best.json"
CLASSES = 2
PREDICT_BATCH = 64


def weights_config(config: FinetuneConfig) -> EmbedConfig:
    """The embedding stage's view of the same weights, so both stages resolve and verify them alike."""
    return EmbedConfig(backbone=config.backbone, weights=config.weights, weights_sha256=config.weights_sha256)


def head(model: nn.Module, backbone: str) -> nn.Linear:
    return model.get_submodule(HEADS[backbone])


def two_way(backbone: str, model: nn.Module) -> nn.Module:
    """`model` with its class layer swapped for a fresh 2-way one (the study's new fc8)."""
    parent, _, name = HEADS[backbone].rpartition(".")
    setattr(model.get_submodule(parent), name, nn.Linear(head(model, backbone).in_features, CLASSES))
    return model


def freeze_features(model: nn.Module, backbone: str) -> None:
    """Caffe's frozen convolutions: the convolutional part when the model has one apart (AlexNet, VGG,
    MobileNet's `features`), else everything but the new layer (ResNet, ViT)."""
    body = model.features if isinstance(getattr(model, "features", None), nn.Module) else model
    body.requires_grad_(False)
    head(model, backbone).requires_grad_(True)


def build_model(config: FinetuneConfig) -> nn.Module:
    """The configured backbone with its pretrained weights, a new 2-way layer, and frozen convolutions if asked."""
    try:
        model = build_torchvision_model(config.backbone, resolve_weights(weights_config(config)))
    except ValueError as err:
        raise WeightsError(f"finetune.weights = {config.weights!r}: {err}") from err
    model = two_way(config.backbone, model)
    if config.freeze_features:
        freeze_features(model, config.backbone)
    return model


def param_groups(model: nn.Module, config: FinetuneConfig) -> list[dict]:
    """Caffe's fine-tuning recipe: the pretrained layers at base_lr, the new layer at base_lr x lr_mult.
    Frozen parameters are left out, so SGD neither decays nor moves them."""
    new = {id(p) for p in head(model, config.backbone).parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in new], "lr": config.base_lr},
        {"params": [p for p in trainable if id(p) in new], "lr": config.base_lr * config.new_layer_lr_mult},
    ]
    return [group for group in groups if group["params"]]


def p_good_of(model: nn.Module, batch: Tensor) -> Tensor:
    """P(good) of a normalised batch (float32 on the CPU); bf16 autocast on CUDA."""
    device = model_device(model)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(batch.to(device, non_blocking=True))
    return torch.softmax(logits.float(), dim=1)[:, 1].cpu()


@dataclass
class FinetunedModel:
    """The best fine-tuned checkpoint (by validation AP), ready to score photos."""

    backbone: str
    iteration: int
    val_ap: float
    model: nn.Module

    @property
    def name(self) -> str:
        return f"fine-tuned {self.backbone}"

    def p_good(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """P(good) of each photo (H x W x 3 uint8 RGB), with the evaluation input: shorter side 256, centre 224."""
        device = model_device(self.model)
        scores = [np.empty(0)]
        for start in range(0, len(images), PREDICT_BATCH):
            batch = normalize(preprocess(images[start : start + PREDICT_BATCH], mirror=False).to(device))
            if device.type == "cuda":
                batch = batch.contiguous(memory_format=torch.channels_last)
            scores.append(p_good_of(self.model, batch).double().numpy())
        return np.concatenate(scores)


def save_best(run: RunFolder, backbone: str, iteration: int, val_ap: float, state_dict: dict[str, Tensor]) -> None:
    """Weights first, spec last: the spec names a complete weights file whenever it exists."""
    buffer = io.BytesIO()
    torch.save({key: value.detach().cpu() for key, value in state_dict.items()}, buffer)
    run.write_bytes(BEST_WEIGHTS, buffer.getvalue())
    run.write_text(BEST_SPEC, json.dumps({"backbone": backbone, "iteration": iteration, "val_ap": val_ap}))


def load_finetuned(run: RunFolder, device: str = "cpu") -> FinetunedModel:
    spec_text = run.read_text(BEST_SPEC)
    weights = run.read_bytes(BEST_WEIGHTS)
    if spec_text is None or weights is None:
        raise InputNotFoundError(f"no fine-tuned model in {run.location}: run the finetune stage first")
    spec = json.loads(spec_text)
    state_dict = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    model = build_torchvision_model(spec["backbone"], state_dict).eval().to(device)
    if model_device(model).type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return FinetunedModel(spec["backbone"], spec["iteration"], spec["val_ap"], model)


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
