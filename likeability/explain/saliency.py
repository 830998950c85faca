"""Where in a photo a CNN-based model finds its score: Grad-CAM (Selvaraju et al., 2017) for the run's fine-tuned
network and for its best linear classic model (an SVM on a CNN backbone's features, whose score is linear in
them, so its gradient flows back through the backbone). Forests have no gradient and ViT no convolutional maps:
they get none.

A map is the last convolutional block's activations weighted by the mean gradient of the score over each
channel, kept where positive, scaled to 0..1 per photo, and drawn over the photo's 224 px centre crop (the input
the models see)."""

from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib
import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from likeability.config import Config
from likeability.embed.backbones import Backbone, normalize, preprocess
from likeability.finetune.model import FinetunedModel, load_finetuned
from likeability.learn.predict import load_classic_model
from likeability.run import RunFolder
from likeability.schemas import BACKBONE_LAYERS
from likeability.tune.final_models import FinalModel

# The last convolutional block of each CNN backbone, by its attribute name on the torchvision model.
LAST_CONV = {"alexnet": "features", "vgg16": "features", "mobilenet_v2": "features", "resnet50": "layer4"}
LINEAR_FAMILIES = ("linear_svc", "sgd_svm")
OVERLAY_SIDE = 180
CHUNK = 8
HEAT_OPACITY = 0.5


def grad_cam(network: nn.Module, last_conv: nn.Module, score: Callable[[Tensor], Tensor], batch: Tensor) -> np.ndarray:
    """N x H x W maps in 0..1 for a normalised batch (N x 3 x H x W): `score` maps the batch to one number per
    photo through `network`, whose `last_conv` module's output is what the map weighs."""
    kept: dict[str, Tensor] = {}

    def keep(module: nn.Module, inputs: tuple, output: Tensor) -> None:
        output.retain_grad()
        kept["maps"] = output

    hook = last_conv.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            network.zero_grad(set_to_none=True)
            # The input asks for gradients too, so the maps have them even where the weights are frozen.
            score(batch.detach().requires_grad_(True)).sum().backward()
    finally:
        hook.remove()
    maps = kept["maps"]
    cam = torch.relu((maps.grad.mean(dim=(2, 3), keepdim=True) * maps).sum(dim=1, keepdim=True)).detach()
    cam = nn.functional.interpolate(cam, size=batch.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return (cam / cam.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)).numpy()


def linear_score(model: FinalModel) -> tuple[np.ndarray, float]:
    """w and b with the model's ranking score = features @ w + b, read off the model itself (exact, since the
    SVM families' score is a linear function of the features)."""
    width = BACKBONE_LAYERS[model.backbone][model.layer]
    bias = float(model.ranking_score(np.zeros((1, width), np.float32))[0])
    return model.ranking_score(np.eye(width, dtype=np.float32)) - bias, bias


def overlay(crop: np.ndarray, heat: np.ndarray) -> bytes:
    """A JPEG of the crop (H x W x 3 uint8) with the map (H x W, 0..1) over it in the 'jet' colours."""
    colours = matplotlib.colormaps["jet"](heat)[..., :3] * 255
    blended = ((1 - HEAT_OPACITY) * crop + HEAT_OPACITY * colours).astype(np.uint8)
    image = Image.fromarray(blended).resize((OVERLAY_SIDE, OVERLAY_SIDE), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


Scorer = tuple[nn.Module, nn.Module, Callable[[Tensor], Tensor]]  # network, its last conv block, score of a batch


class SaliencyMaps:
    """Models that Grad-CAM can explain, by name: `overlays` draws each one's maps over photos."""

    def __init__(self, scorers: dict[str, Scorer]):
        self.scorers = scorers

    @classmethod
    def of_run(cls, run: RunFolder, config: Config) -> SaliencyMaps:
        """The run's fine-tuned network and its best linear classic model on a CNN backbone, where it has them."""
        scorers = finetuned_scorer(load_finetuned(run)) if run.done_summary("finetune") else {}
        finals = run.table("final_models").read(["family", "backbone", "cv_ap"]).to_pylist()
        linear = [r for r in finals if r["family"] in LINEAR_FAMILIES and r["backbone"] in LAST_CONV]
        if linear:
            best = max(linear, key=lambda r: r["cv_ap"])
            scorers |= classic_scorer(*load_classic_model(run, config, best["family"], best["backbone"]))
        return cls(scorers)

    def overlays(self, photos: list[np.ndarray]) -> dict[str, list[bytes]]:
        """Model name -> one JPEG per photo (H x W x 3 uint8 RGB, any size): its map over the 224 px crop."""
        drawn: dict[str, list[bytes]] = {name: [] for name in self.scorers}
        for start in range(0, len(photos), CHUNK):  # the backward pass holds every activation of its batch
            crops = preprocess(photos[start : start + CHUNK], mirror=False)
            batch, pixels = normalize(crops), crops.permute(0, 2, 3, 1).numpy()
            for name, (network, conv, score) in self.scorers.items():
                drawn[name] += [overlay(p, h) for p, h in zip(pixels, grad_cam(network, conv, score, batch),
                                                               strict=True)]
        return drawn


def finetuned_scorer(finetuned: FinetunedModel) -> dict[str, Scorer]:
    """The fine-tuned network's margin of good over bad, or nothing on a backbone without convolutional maps."""
    if finetuned.backbone not in LAST_CONV:
        return {}
    network = finetuned.model.cpu().float()

    def good_over_bad(x: Tensor) -> Tensor:
        logits = network(x)
        return logits[:, 1] - logits[:, 0]

    return {finetuned.name: (network, getattr(network, LAST_CONV[finetuned.backbone]),
                                                 good_over_bad)}


def classic_scorer(model: FinalModel, backbone: Backbone) -> dict[str, Scorer]:
    """A linear model's score through its backbone, or nothing for a forest or a backbone without convolutions."""
    if model.family not in LINEAR_FAMILIES or model.backbone not in LAST_CONV:
        return {}
    weights, bias = linear_score(model)
    w = torch.from_numpy(weights.astype(np.float32))
    backbone = backbone.cpu().float()
    return {model.name: (
        backbone, getattr(backbone.model, LAST_CONV[model.backbone]), lambda x: backbone(x)[model.layer] @ w + bias
    )}
