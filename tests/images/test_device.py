"""The GPU path's decoding and geometry, run on CPU tensors: the same code, checked against Pillow's results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from image_files import encode, gradient, orientation_exif
from likeability.embed.backbones import preprocess
from likeability.finetune.squares import square
from likeability.images.crop_geometry import CROP
from likeability.images.decode import decode_rgb
from likeability.images.device import centre_crops, centre_squares, decode_on_device, letterbox, orient

CPU = torch.device("cpu")
MAX_PIXELS = 80_000_000
SIDES = st.integers(1, 8000)


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.asarray(gradient(width, height), dtype=np.int16)
    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def with_orientation(image: np.ndarray, orientation: int) -> bytes:
    return encode(Image.fromarray(image), "JPEG", quality=95, exif=orientation_exif(orientation))


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 40), height=st.integers(1, 40), orientation=st.integers(1, 8))
def test_orient_turns_the_photo_as_pillow_does(width, height, orientation):
    stored = photo(width, height)
    pil = Image.fromarray(stored)
    pil.info["exif"] = orientation_exif(orientation)
    expected = np.asarray(ImageOps.exif_transpose(pil))
    turned = orient(torch.from_numpy(stored).permute(2, 0, 1), orientation).permute(1, 2, 0).numpy()
    assert np.array_equal(turned, expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_decoded_photos_are_upright_and_equal_pillows(orientation):
    body = with_orientation(photo(61, 37), orientation)
    [decoded] = decode_on_device([body], CPU, MAX_PIXELS)
    assert np.array_equal(decoded.permute(1, 2, 0).numpy(), decode_rgb(body, MAX_PIXELS).pixels)


def test_what_the_gpu_decoder_cannot_take_is_decoded_by_pillow_in_place():
    image = Image.fromarray(photo(30, 20))
    bodies = [encode(image, "PNG"), encode(image.convert("CMYK"), "JPEG"), encode(image, "WEBP"),
              encode(image, "JPEG", progressive=True)]
    decoded = decode_on_device(bodies, CPU, MAX_PIXELS)
    for body, tensor in zip(bodies, decoded, strict=True):
        assert np.array_equal(tensor.permute(1, 2, 0).numpy(), decode_rgb(body, MAX_PIXELS).pixels)


class RecordingPool(ThreadPoolExecutor):
    """A real thread pool that remembers the bodies it was given to decode."""

    def __init__(self):
        super().__init__(2)
        self.bodies: list[bytes] = []

    def submit(self, fn, body, *args):
        self.bodies.append(body)
        return super().submit(fn, body, *args)


def test_with_cpu_threads_only_baseline_jpegs_go_to_the_batched_decoder():
    image = Image.fromarray(photo(30, 20))
    baseline = [with_orientation(photo(30, 20, seed), 6) for seed in range(3)]
    others = [encode(image, "JPEG", progressive=True), encode(image, "PNG"), encode(image.convert("CMYK"), "JPEG"),
              encode(Image.fromarray(photo(24, 40)), "JPEG", progressive=True, exif=orientation_exif(8))]
    bodies = [baseline[0], others[0], others[1], baseline[1], others[2], others[3], baseline[2]]
    with RecordingPool() as pool:
        decoded = decode_on_device(bodies, CPU, MAX_PIXELS, cpu_decoders=pool)
    assert pool.bodies == others
    for body, tensor in zip(bodies, decoded, strict=True):
        assert np.array_equal(tensor.permute(1, 2, 0).numpy(), decode_rgb(body, MAX_PIXELS).pixels)


def test_cpu_threads_decode_at_reduced_scale_down_to_fit():
    pixels = photo(1080, 1349)
    progressive, baseline = (encode(Image.fromarray(pixels), "JPEG", progressive=flag) for flag in (True, False))
    with ThreadPoolExecutor(2) as pool:
        small, full = decode_on_device([progressive, baseline], CPU, MAX_PIXELS, cpu_decoders=pool, fit=256)
    assert small.shape == (3, 1349 // 4 + 1, 1080 // 4)  # libjpeg's 1/4 scale rounds up
    assert full.shape == (3, 1349, 1080)
    assert torch.equal(small, torch.tensor(decode_rgb(progressive, MAX_PIXELS, fit=256).pixels).permute(2, 0, 1))


@pytest.mark.parametrize("size", [(1080, 1080), (1080, 1349), (1080, 566), (640, 800), (1440, 754), (37, 1000)])
def test_crops_are_close_to_pillows_and_mirrors_follow_their_photo(size):
    pixels = photo(*size)
    images = [torch.from_numpy(pixels).permute(2, 0, 1)]
    crops, expected = centre_crops(images, mirror=True), preprocess([pixels], mirror=True)
    assert crops.shape == expected.shape == (2, 3, CROP, CROP)
    assert torch.equal(crops[1], crops[0].flip(-1))
    # one roi_align (a mean of bilinear samples) against Pillow's triangle filter: the same crop, a little softer
    assert (crops.int() - expected.int()).abs().float().mean() < 3


@pytest.mark.parametrize("size", [(1080, 1349), (1349, 1687), (720, 1080), (1, 1), (3, 7919)])
def test_squares_are_close_to_pillows(size):
    pixels = photo(*size)
    squares = centre_squares([torch.from_numpy(pixels).permute(2, 0, 1)], 256)
    assert squares.shape == (1, 256, 256, 3)
    assert np.abs(squares[0].numpy().astype(int) - square(pixels).astype(int)).mean() < 3


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.tuples(SIDES, SIDES).filter(lambda s: s[0] * s[1] <= 500_000), min_size=1, max_size=3))
@example(sizes=[(8000, 1), (1, 8000), (7919, 2), (1, 1)])
def test_geometry_of_any_sizes_in_one_batch(sizes):
    images = [torch.full((3, height, width), 77, dtype=torch.uint8) for width, height in sizes]
    assert centre_crops(images, mirror=True).shape == (2 * len(images), 3, CROP, CROP)
    assert centre_squares(images, 256).shape == (len(images), 256, 256, 3)
    canvas, scales = letterbox(images, 64, (1, 2, 3))
    assert canvas.shape == (len(images), 3, 64, 64)
    for (width, height), image_canvas, (sx, sy) in zip(sizes, canvas, scales, strict=True):
        covered_w, covered_h = max(1, round(width * sx)), max(1, round(height * sy))
        assert covered_w <= 64 and covered_h <= 64
        assert (image_canvas[:, :covered_h, :covered_w] == 77).all()  # a flat photo stays flat
        outside = torch.ones(64, 64, dtype=torch.bool)
        outside[:covered_h, :covered_w] = False
        assert (image_canvas[:, outside] == torch.tensor([1, 2, 3]).view(3, 1)).all()
