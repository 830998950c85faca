"""The ImageNet CNNs that turn photos into feature vectors: their models, their input and their layers.

`load_backbone` takes the configured weights (`embed.weights`), builds the torchvision model and wraps it in a
`Backbone` whose forward pass returns the layers the study used (`schemas.BACKBONE_LAYERS`). `preprocess`
turns uint8 photos into one uint8 batch (normalising happens in `embed`, on the model's device, so batches
travel at a quarter of their float size).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import Tensor, nn

from likeability.config import EmbedConfig
from likeability.embed.weights import WeightsError, resolve_weights
from likeability.images.crop_geometry import CROP, crop_box
from likeability.schemas import BACKBONE_LAYERS

# torchvision's ImageNet normalisation, the same for both backbones (the crop is in images.crop_geometry).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": torchvision.models.alexnet,
    "vgg16": torchvision.models.vgg16,
    "resnet50": torchvision.models.resnet50,
    "vit_b_16": torchvision.models.vit_b_16,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
}
# The last (class) layer of each model: fine-tuning swaps it for a 2-way one, so its width is read from the
# weights rather than assumed to be ImageNet's 1,000.
HEADS = {
    "alexnet": "classifier.6",
    "vgg16": "classifier.6",
    "resnet50": "fc",
    "vit_b_16": "heads.head",
    "mobilenet_v2": "classifier.1",
}


# ---------------------------------------------------------------------------------------------- models


def build_torchvision_model(name: str, state_dict: dict[str, Tensor] | None = None) -> nn.Module:
    """torchvision's `name` model, with `state_dict` loaded strictly, or randomly initialised when None.

    Raises ValueError summarising the keys and shapes that do not fit.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(_BUILDERS)}")
    head = f"{HEADS[name]}.weight"
    classes = state_dict[head].shape[0] if state_dict is not None and head in state_dict else 1000
    model = _BUILDERS[name](weights=None, num_classes=classes)
    if state_dict is not None:
        misfit = _misfit(model.state_dict(), state_dict)
        if misfit:
            raise ValueError(f"not {name} weights: {misfit}")
        model.load_state_dict(state_dict)
    return model


def _misfit(wanted: dict[str, Tensor], given: dict[str, Tensor]) -> str:
    """A one-line summary of what keeps `given` from loading where `wanted` is expected ("" if nothing)."""

    def some(keys: list[str]) -> str:
        return ", ".join(sorted(keys)[:3]) + (", ..." if len(keys) > 3 else "")

    missing = [key for key in wanted if key not in given]
    unexpected = [key for key in given if key not in wanted]
    resized = [key for key in wanted if key in given and wanted[key].shape != given[key].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} keys missing ({some(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({some(unexpected)})")
    if resized:
        shapes = (f"{key}: {tuple(given[key].shape)} not {tuple(wanted[key].shape)}" for key in resized[:3])
        problems.append(f"{len(resized)} keys of another shape ({', '.join(shapes)})")
    return "; ".join(problems)


def _alexnet_layers(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    # Caffe's fc6/fc7 blobs are rectified in place, so the study's features are the ReLU outputs. The
    # classifier is [Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear]; dropout is identity in eval mode.
    x = torch.flatten(model.avgpool(model.features(x)), 1)
    fc6 = model.classifier[2](model.classifier[1](model.classifier[0](x)))
    fc7 = model.classifier[5](model.classifier[4](model.classifier[3](fc6)))
    return {"fc6": fc6, "fc7": fc7}


def _vgg16_layers(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    # As AlexNet's, rectified; VGG's classifier is [Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear].
    x = torch.flatten(model.avgpool(model.features(x)), 1)
    fc6 = model.classifier[1](model.classifier[0](x))
    fc7 = model.classifier[4](model.classifier[3](model.classifier[2](fc6)))
    return {"fc6": fc6, "fc7": fc7}


def _resnet50_layers(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    # Everything before the class layer, as torchvision's ResNet.forward runs it.
    for stage in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool"):
        x = getattr(model, stage)(x)
    return {"pool": torch.flatten(x, 1)}


def _vit_b_16_layers(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    # The class token after the encoder, what torchvision's VisionTransformer.forward hands to its head.
    x = model._process_input(x)
    x = torch.cat([model.class_token.expand(x.shape[0], -1, -1), x], dim=1)
    return {"cls": model.encoder(x)[:, 0]}


def _mobilenet_v2_layers(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    # The classifier's input, pooled exactly as torchvision's MobileNetV2.forward pools it.
    return {"pool": torch.flatten(nn.functional.adaptive_avg_pool2d(model.features(x), 1), 1)}


_LAYERS: dict[str, Callable[[nn.Module, Tensor], dict[str, Tensor]]] = {
    "alexnet": _alexnet_layers,
    "vgg16": _vgg16_layers,
    "resnet50": _resnet50_layers,
    "vit_b_16": _vit_b_16_layers,
    "mobilenet_v2": _mobilenet_v2_layers,
}


class Backbone(nn.Module):
    """A torchvision model whose forward pass returns the feature layers of `BACKBONE_LAYERS[name]`.

    Input: N x 3 x 224 x 224 float, normalised (see `normalize`). Output: {layer: N x width}.
    """

    def __init__(self, name: str, model: nn.Module):
        super().__init__()
        self.name = name
        self.model = model
        self.layers = BACKBONE_LAYERS[name]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return _LAYERS[self.name](self.model, x)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def load_backbone(config: EmbedConfig, device: str | torch.device = "cpu") -> Backbone:
    """The configured backbone with its weights, in eval mode on `device` (channels-last on CUDA)."""
    state_dict = resolve_weights(config)
    try:
        model = build_torchvision_model(config.backbone, state_dict)
    except ValueError as err:
        raise WeightsError(f"embed.weights = {config.weights!r}: {err}") from err
    backbone = Backbone(config.backbone, model).eval().to(device)
    if backbone.device.type == "cuda":
        backbone = backbone.to(memory_format=torch.channels_last)
    return backbone


# ------------------------------------------------------------------------------------------------ input


def preprocess(images: Sequence[np.ndarray], mirror: bool) -> Tensor:
    """Photos (H x W x 3 uint8 RGB, any sizes) -> one uint8 batch M x 3 x 224 x 224, channels-last in memory.

    With `mirror`, M = 2N and rows alternate: photo i at 2i, its horizontal flip at 2i + 1 (the flip of the
    crop, as Caffe mirrors its crops). Without, M = N in input order.
    """
    copies = 2 if mirror else 1
    batch = np.empty((len(images) * copies, CROP, CROP, 3), np.uint8)
    for index, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image {index}: expected H x W x 3 uint8 RGB, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        crop = Image.fromarray(image).resize((CROP, CROP), Image.Resampling.BILINEAR, crop_box(width, height))
        batch[index * copies] = np.asarray(crop)
        if mirror:
            batch[index * copies + 1] = batch[index * copies, :, ::-1]
    # N x H x W x C seen as N x C x H x W is exactly the channels-last layout: no copy.
    return torch.from_numpy(batch).permute(0, 3, 1, 2)


def normalize(batch: Tensor) -> Tensor:
    """A uint8 batch from `preprocess` -> float32 normalised with ImageNet's mean and std (same device, layout)."""
    mean = torch.tensor(MEAN, device=batch.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=batch.device).view(1, 3, 1, 1) * 255
    return batch.float().sub_(mean).div_(std)


def embed(backbone: Backbone, batch: Tensor) -> dict[str, np.ndarray]:
    """Feature layers of a uint8 batch from `preprocess`: {layer: M x width float32}, rows in batch order.

    The batch goes to the backbone's device as uint8 and is normalised there; CUDA runs in bfloat16 autocast.
    """
    device = backbone.device
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"),
    ):
        x = normalize(batch.to(device, non_blocking=True)).contiguous(memory_format=torch.channels_last)
        return {layer: values.float().cpu().numpy() for layer, values in backbone(x).items()}
