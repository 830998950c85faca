"""Photos from their bytes to model input on a CUDA device: the GPU path of the embedding and face stages.

JPEGs are decoded by nvJPEG in one batched call and turned upright, resized and cropped on the device, so only
compressed bytes cross the bus and the CPU does a few microseconds of header reading per photo. What nvJPEG
cannot take (PNG, WebP, GIF, CMYK or arithmetic-coded JPEGs), and with a pool of CPU threads what it would decode
one at a time (progressive JPEGs), is decoded on the CPU by `decode_rgb` and copied over. The geometry is the CPU
path's (torchvision's Resize(256) + CenterCrop(224) for the backbones, the letterbox for the face detector, the
centre square for fine-tuning), done for a whole batch of photos of any sizes in one resampling call.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional
from torchvision.io import ImageReadMode, decode_jpeg
from torchvision.ops import roi_align

from likeability.images.crop_geometry import CROP, centre_square_box, crop_box
from likeability.images.decode import decode_rgb
from likeability.images.jpeg_header import read_jpeg_header

# Photos resampled in one call: bounds the padded float copy they are sampled from (256 photos of 640 px: 630 MB).
RESIZE_CHUNK = 256


def decode_on_device(bodies: Sequence[bytes], device: torch.device, max_pixels: int,
                     cpu_decoders: Executor | None = None, fit: int | None = None) -> list[Tensor]:
    """Each body as an upright 3 x H x W uint8 RGB tensor on `device`, in input order.

    nvJPEG decodes baseline JPEGs in one batched call, on the GPU's JPEG engines where it has them, but each
    progressive one alone: Huffman decoding on the calling thread, then a wait for the GPU, all under the lock of
    torchvision's one decoder. With `cpu_decoders` (a thread pool), the photos the batched call cannot take decode
    on the CPU threads instead (Pillow) while it runs. Without it, nvJPEG takes every JPEG it can and the CPU
    decodes the rest here.

    With `fit`, what the CPU decodes may come back smaller (never below `fit` on either side) while nvJPEG's
    photos come back whole: only for geometry that depends on proportions alone (the centre crop, the square);
    the face letterbox, whose boxes are in the photo's pixels, passes none."""
    headers = [read_jpeg_header(body) for body in bodies]
    to_nvjpeg = [i for i, header in enumerate(headers) if header is not None
                 and (header.batch_decodable if cpu_decoders else header.device_decodable)]

    def on_cpu_threads(indices: list[int]) -> dict[int, Future]:
        return {i: cpu_decoders.submit(decode_rgb, bodies[i], max_pixels, fit) for i in indices} if cpu_decoders else {}

    pending = on_cpu_threads(sorted(set(range(len(bodies))) - set(to_nvjpeg)))
    images: list[Tensor | None] = [None] * len(bodies)
    for index, image in zip(to_nvjpeg, _nvjpeg([bodies[i] for i in to_nvjpeg], device), strict=True):
        images[index] = None if image is None else orient(image, headers[index].orientation)
    pending |= on_cpu_threads([i for i in to_nvjpeg if images[i] is None])  # a batch nvJPEG refused
    for index, image in enumerate(images):
        if image is None:
            decoded = pending[index].result() if index in pending else decode_rgb(bodies[index], max_pixels, fit)
            images[index] = torch.tensor(decoded.pixels, device=device).permute(2, 0, 1)
    return images


def cpu_decoders(threads: int) -> ThreadPoolExecutor | None:
    """The pool `decode_on_device` decodes on beside nvJPEG; None for 0 threads. Its threads start at the first
    photo it is given, so a pool made where nothing is decoded on a GPU costs nothing."""
    return ThreadPoolExecutor(threads, "decode") if threads else None


def _nvjpeg(bodies: Sequence[bytes], device: torch.device) -> list[Tensor | None]:
    """nvJPEG's decoding of the JPEGs, as stored (EXIF orientation ignored); all None when it refuses one."""
    if not bodies:
        return []
    # torchvision 0.29 deprecates its decoders in favour of torchcodec, which has no nvJPEG batch decoder yet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return decode_jpeg([torch.frombuffer(bytearray(body), dtype=torch.uint8) for body in bodies],
                               mode=ImageReadMode.RGB, device=device)
        except RuntimeError:
            return [None] * len(bodies)  # one photo nvJPEG refuses fails the batch: those go to the CPU


def orient(image: Tensor, orientation: int) -> Tensor:
    """A C x H x W image as displayed for its EXIF orientation (what Pillow's `exif_transpose` does)."""
    if orientation in (5, 6, 7, 8):
        image = image.transpose(-1, -2)
    flips = {2: (-1,), 3: (-1, -2), 4: (-2,), 6: (-1,), 7: (-1, -2), 8: (-2,)}.get(orientation)
    return image.flip(flips) if flips else image


def centre_crops(images: Sequence[Tensor], mirror: bool) -> Tensor:
    """torchvision's Resize(256) + CenterCrop(224) of each image as one uint8 batch M x 3 x 224 x 224,
    channels-last. With `mirror`, M = 2N and photo i's flip follows it at 2i + 1 (as `backbones.preprocess`)."""
    boxes = [crop_box(image.shape[-1], image.shape[-2]) for image in images]
    crops = resample(images, boxes, CROP, CROP)
    if mirror:
        crops = torch.stack([crops, crops.flip(-1)], dim=1).flatten(0, 1)
    return crops.contiguous(memory_format=torch.channels_last)


def centre_squares(images: Sequence[Tensor], side: int) -> Tensor:
    """Each image's centre square resized to side x side, as uint8 N x side x side x 3 (fine-tuning's squares)."""
    boxes = [centre_square_box(image.shape[-1], image.shape[-2]) for image in images]
    return resample(images, boxes, side, side).permute(0, 2, 3, 1)


def letterbox(images: Sequence[Tensor], size: int, fill: Sequence[int]) -> tuple[Tensor, np.ndarray]:
    """Each image resized into the top-left of a size x size canvas keeping its aspect, the rest `fill` (RGB);
    returns the uint8 canvases N x 3 x size x size and the (x, y) scale factor of each image, N x 2."""
    scales, boxes, extents = np.empty((len(images), 2), np.float64), [], []
    for index, image in enumerate(images):
        height, width = image.shape[-2:]
        scale = size / max(height, width)
        new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
        scales[index] = new_width / width, new_height / height
        # the source region that lands on the whole canvas: the image, and past its edge what the fill covers
        boxes.append((0.0, 0.0, size / scales[index, 0], size / scales[index, 1]))
        extents.append((new_height, new_width))
    canvas = resample(images, boxes, size, size)
    device = canvas.device
    extent = torch.tensor(extents, device=device)
    steps = torch.arange(size, device=device)
    inside = (steps.view(1, size, 1) < extent[:, 0].view(-1, 1, 1)) & (steps.view(1, 1, size) < extent[:, 1].view(-1, 1, 1))
    colour = torch.tensor(list(fill), dtype=torch.uint8, device=device).view(1, 3, 1, 1)
    return torch.where(inside.unsqueeze(1), canvas, colour), scales


def resample(images: Sequence[Tensor], boxes: Sequence[Sequence[float]], height: int, width: int) -> Tensor:
    """The region `boxes[i]` (x1, y1, x2, y2 in source pixels) of each image resampled to height x width, as
    uint8 N x 3 x height x width. One `roi_align` per chunk whatever the photos' sizes: each output pixel is
    the mean of a grid of bilinear samples as dense as the source pixels under it, which is what antialiased
    resizing (Pillow's, torchvision's) computes up to the filter's shape."""
    device = _device(images)
    out = torch.empty((len(images), 3, height, width), dtype=torch.uint8, device=device)
    for start in range(0, len(images), RESIZE_CHUNK):
        chunk = images[start : start + RESIZE_CHUNK]
        rois = torch.tensor([[index, *box] for index, box in enumerate(boxes[start : start + RESIZE_CHUNK])],
                            dtype=torch.float32, device=device)
        canvas = _canvas(chunk)
        sampled = roi_align(canvas, rois.to(canvas.dtype), (height, width), spatial_scale=1.0, sampling_ratio=-1,
                            aligned=True)
        out[start : start + len(chunk)] = sampled.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _canvas(images: Sequence[Tensor]) -> Tensor:
    """The images in one float tensor, each at the top left, its edge pixels repeated to the right and below
    (so samples near an edge see the edge, as Pillow's resampling does, not the next photo's padding).
    Half precision on CUDA: it holds 0-255 exactly and halves the memory traffic."""
    dtype = torch.float16 if images[0].device.type == "cuda" else torch.float32
    height = max(image.shape[-2] for image in images)
    width = max(image.shape[-1] for image in images)
    canvas = torch.empty((len(images), 3, height, width), dtype=dtype, device=images[0].device)
    for index, image in enumerate(images):
        pad = (0, width - image.shape[-1], 0, height - image.shape[-2])
        canvas[index] = functional.pad(image.unsqueeze(0).to(dtype), pad, mode="replicate")[0]
    return canvas


def _device(images: Sequence[Tensor]) -> torch.device:
    if not images:
        raise ValueError("no images")
    return images[0].device
