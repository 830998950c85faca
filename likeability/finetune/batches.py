"""A batch of the fine-tuning stream as squares: the squares Ray Data tasks decoded, or squares made on the
training device from the photos' stored bytes (nvJPEG takes the baseline JPEGs, CPU threads the others; see
`images.device.decode_on_device`), which leaves a GPU node's CPUs only the JPEGs nvJPEG cannot batch."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from torch import Tensor

from likeability.images.crop_geometry import RESIZE
from likeability.images.device import centre_squares, cpu_decoders, decode_on_device


class SquareBatches:
    """Callable: a stream batch ({pixels} or {body}, with labels) -> its N x 256 x 256 x 3 uint8 squares, on
    `device` when made from bytes (squares from tasks stay on the host; the step moves them)."""

    def __init__(self, device: torch.device, max_pixels: int, decode_threads: int) -> None:
        self.device = device
        self.max_pixels = max_pixels
        self._decoders = cpu_decoders(decode_threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> Tensor:
        if "pixels" in batch:
            return torch.from_numpy(batch["pixels"])
        # The caller may be another thread (the loop's is Ray Data's collating one), whose current CUDA device is
        # the first GPU, not this worker's: work that follows the current device would start a context there.
        with torch.cuda.device(self.device) if self.device.type == "cuda" else nullcontext():
            images = decode_on_device(list(batch["body"]), self.device, self.max_pixels, self._decoders, fit=RESIZE)
            return centre_squares(images, RESIZE)
