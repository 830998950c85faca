"""Photos from their bytes to model input on a CUDA device: the GPU path of the embedding and face stages.

JPEGs are decoded by nvJPEG in one batched call and turned upright, resized and cropped on the device, so only
compressed bytes cross the bus and the CPU does a few microseconds of header reading per photo. What nvJPEG
cannot take (PNG, WebP, GIF, CMYK or arithmetic-coded JPEGs) is decoded on the CPU by `decode_rgb` and copied
over. The geometry is the CPU path's: torchvision's Resize(256) + CenterCrop(224) for the backbones, the
letterbox for the face detector, antialiased bilinear resampling as Pillow's.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional
from torchvision.io import ImageReadMode, decode_jpeg

from likeability.backbones import CROP, centre_crop_offset, resized_shape
from likeability.image_decode import decode_rgb
from likeability.jpeg_header import read_jpeg_header

# Photos resized in one call: bounds the float copies a group of same-sized photos needs on the device.
RESIZE_CHUNK = 256


def decode_on_device(bodies: Sequence[bytes], device: torch.device, max_pixels: int) -> list[Tensor]:
    """Each body as an upright 3 x H x W uint8 RGB tensor on `device`, in input order."""
    headers = [read_jpeg_header(body) for body in bodies]
    on_device = [i for i, header in enumerate(headers) if header is not None and header.device_decodable]
    images: list[Tensor | None] = [None] * len(bodies)
    if on_device:
        # torchvision 0.29 deprecates its decoders in favour of torchcodec, which has no nvJPEG batch decoder yet.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                decoded = decode_jpeg(
                    [torch.frombuffer(bytearray(bodies[i]), dtype=torch.uint8) for i in on_device],
                    mode=ImageReadMode.RGB,
                    device=device,
                )
            except RuntimeError:
                decoded = [None] * len(on_device)  # one photo nvJPEG refuses fails the batch: those go to the CPU
        for index, image in zip(on_device, decoded, strict=True):
            images[index] = None if image is None else orient(image, headers[index].orientation)
    for index, image in enumerate(images):
        if image is None:
            pixels = decode_rgb(bodies[index], max_pixels).pixels
            images[index] = torch.from_numpy(pixels).permute(2, 0, 1).to(device, non_blocking=True)
    return images


def orient(image: Tensor, orientation: int) -> Tensor:
    """A C x H x W image as displayed for its EXIF orientation (what Pillow's `exif_transpose` does)."""
    if orientation in (5, 6, 7, 8):
        image = image.transpose(-1, -2)
    flips = {2: (-1,), 3: (-1, -2), 4: (-2,), 6: (-1,), 7: (-1, -2), 8: (-2,)}.get(orientation)
    return image.flip(flips) if flips else image


def centre_crops(images: Sequence[Tensor], mirror: bool) -> Tensor:
    """torchvision's Resize(256) + CenterCrop(224) of each image as one uint8 batch M x 3 x 224 x 224,
    channels-last. With `mirror`, M = 2N and photo i's flip follows it at 2i + 1 (as `backbones.preprocess`)."""
    copies = 2 if mirror else 1
    batch = torch.empty((len(images) * copies, 3, CROP, CROP), dtype=torch.uint8, device=_device(images))
    batch = batch.contiguous(memory_format=torch.channels_last)
    for (height, width), indices, stacked in _same_size_chunks(images):
        resized_width, resized_height = resized_shape(width, height)
        left, top = centre_crop_offset(resized_width, resized_height)
        crops = _resize(stacked, resized_height, resized_width)[:, :, top : top + CROP, left : left + CROP]
        rows = torch.tensor(indices, device=batch.device) * copies
        batch[rows] = crops
        if mirror:
            batch[rows + 1] = crops.flip(-1)
    return batch


def centre_square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """A photo's centre square (left, top, right, bottom) in whole pixels: always inside the photo."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def centre_squares(images: Sequence[Tensor], side: int) -> Tensor:
    """Each image's centre square resized to side x side, as uint8 N x side x side x 3 (fine-tuning's squares)."""
    squares = torch.empty((len(images), side, side, 3), dtype=torch.uint8, device=_device(images))
    for (height, width), indices, stacked in _same_size_chunks(images):
        left, top, right, bottom = centre_square_box(width, height)
        squares[indices] = _resize(stacked[:, :, top:bottom, left:right], side, side).permute(0, 2, 3, 1)
    return squares


def letterbox(images: Sequence[Tensor], size: int, fill: Sequence[int]) -> tuple[Tensor, np.ndarray]:
    """Each image resized into the top-left of a size x size canvas keeping its aspect, the rest `fill` (RGB);
    returns the uint8 canvases N x 3 x size x size and the (x, y) scale factor of each image, N x 2."""
    canvas = torch.empty((len(images), 3, size, size), dtype=torch.uint8, device=_device(images))
    canvas[:] = torch.tensor(list(fill), dtype=torch.uint8, device=canvas.device).view(1, 3, 1, 1)
    scales = np.empty((len(images), 2), np.float64)
    for (height, width), indices, stacked in _same_size_chunks(images):
        scale = size / max(height, width)
        new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
        canvas[indices, :, :new_height, :new_width] = _resize(stacked, new_height, new_width)
        scales[indices] = (new_width / width, new_height / height)
    return canvas, scales


def _resize(batch: Tensor, height: int, width: int) -> Tensor:
    """uint8 N x C x H x W -> uint8 N x C x height x width, antialiased bilinear (Pillow's filter when shrinking)."""
    if batch.shape[-2:] == (height, width):
        return batch
    resized = functional.interpolate(batch.float(), size=(height, width), mode="bilinear", antialias=True,
                                     align_corners=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def _same_size_chunks(images: Sequence[Tensor]):
    """(size, indices, stacked images) for each run of at most RESIZE_CHUNK images of one size: one resize call
    each, since a few sizes (Instagram's 1:1, 4:5 and 1.91:1 at 1080 px) make most of any collection."""
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, image in enumerate(images):
        by_size[tuple(image.shape[-2:])].append(index)
    for size, indices in by_size.items():
        for start in range(0, len(indices), RESIZE_CHUNK):
            chunk = indices[start : start + RESIZE_CHUNK]
            yield size, chunk, torch.stack([images[i] for i in chunk])


def _device(images: Sequence[Tensor]) -> torch.device:
    if not images:
        raise ValueError("no images")
    return images[0].device
