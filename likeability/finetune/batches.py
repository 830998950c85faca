"""A batch of the fine-tuning stream as squares on the training device: the squares Ray Data decoded, or squares
decoded there from the photos' bytes (nvJPEG takes the baseline JPEGs, CPU threads the others; see
`images.device.decode_on_device`), which spares a GPU node's CPUs almost all of the decoding."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from likeability.images.crop_geometry import RESIZE
from likeability.images.device import centre_squares, decode_on_device


class SquareBatches:
    """Callable: a stream batch ({pixels} or {body}, with labels) -> its N x 256 x 256 x 3 uint8 squares."""

    def __init__(self, device: torch.device, max_pixels: int, decode_threads: int) -> None:
        self.device = device
        self.max_pixels = max_pixels
        self._decoders = ThreadPoolExecutor(decode_threads, "decode") if decode_threads else None

    def __call__(self, batch: dict[str, np.ndarray]) -> Tensor:
        if "pixels" in batch:
            return torch.from_numpy(batch["pixels"])
        images = decode_on_device(list(batch["body"]), self.device, self.max_pixels, self._decoders, fit=RESIZE)
        return centre_squares(images, RESIZE)
