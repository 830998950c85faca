import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from image_files import encode, gradient, jpeg, orientation_exif, png_header_only
from likeability.images.decode import BadImage, decode_rgb, sniff

MAX_PIXELS = 40_000_000


@pytest.mark.parametrize(
    "body, fmt",
    [
        (jpeg(), "JPEG"),
        (encode(gradient(), "PNG"), "PNG"),
        (encode(gradient(), "GIF"), "GIF"),
        (encode(gradient(), "WEBP"), "WEBP"),
    ],
)
def test_sniff_reads_format_and_size_from_the_header(body, fmt):
    header = sniff(body, MAX_PIXELS)
    assert (header.format, header.width, header.height) == (fmt, 64, 48)


@pytest.mark.parametrize(
    "body, status",
    [
        (b"", "not_an_image"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "not_an_image"),
        (b"\xff\xd8\xff" + b"\0" * 20, "corrupt"),  # a JPEG signature and nothing behind it
        (png_header_only(20_000, 20_000), "too_many_pixels"),
    ],
)
def test_sniff_refuses_what_is_not_a_sane_image(body, status):
    with pytest.raises(BadImage) as caught:
        sniff(body, MAX_PIXELS)
    assert caught.value.status == status


@pytest.mark.parametrize("side", [10_000, 20_000])  # Pillow warns above 89.5 MP and raises above twice that
def test_pillow_bomb_guard_stays_on_even_when_the_configured_limit_is_higher(side):
    with pytest.raises(BadImage) as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # Pillow's own notice, below the error
        sniff(png_header_only(side, side), max_pixels=10**12)
    assert caught.value.status == "too_many_pixels"


def test_truncated_jpeg_fails_at_decode_as_corrupt():
    body = jpeg(200, 150)
    sniff(body[: len(body) // 2], MAX_PIXELS)  # the header is intact
    with pytest.raises(BadImage) as caught:
        decode_rgb(body[: len(body) // 2], MAX_PIXELS)
    assert caught.value.status == "corrupt"


def test_every_mode_becomes_8_bit_rgb():
    base = gradient()
    rgba = base.convert("RGBA")
    rgba.putalpha(0)  # fully transparent: shows as white
    grey16 = Image.fromarray((np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16))
    frames = [Image.new("RGB", (64, 48), (255, 0, 0)), Image.new("RGB", (64, 48), (0, 0, 255))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    cases = {
        "cmyk": encode(base.convert("CMYK"), "JPEG"),
        "palette": encode(base.convert("P"), "PNG"),
        "rgba": encode(rgba, "PNG"),
        "grey16": encode(grey16, "PNG"),
        "webp": encode(base, "WEBP", lossless=True),
        "gif": gif,
    }
    decoded = {name: decode_rgb(body, MAX_PIXELS).pixels for name, body in cases.items()}
    for name, pixels in decoded.items():
        assert pixels.dtype == np.uint8 and pixels.shape == (48, 64, 3), name
    assert (decoded["rgba"] == 255).all()
    assert decoded["grey16"].max() > 200 and decoded["grey16"].min() < 10  # scaled, not clipped to white
    assert tuple(decoded["gif"][0, 0]) == (255, 0, 0)  # the first frame
    assert np.abs(decoded["webp"].astype(int) - np.asarray(base)).max() == 0


def test_exif_orientation_is_applied():
    decoded = decode_rgb(jpeg(64, 48, exif=orientation_exif(6)), MAX_PIXELS)  # 6: turn 90 degrees clockwise
    assert decoded.pixels.shape == (64, 48, 3)
    assert decoded.full_size == (48, 64)


def test_jpeg_decodes_at_reduced_scale_when_the_model_needs_fewer_pixels():
    body = jpeg(1600, 1200)
    decoded = decode_rgb(body, MAX_PIXELS, fit=320)
    assert decoded.pixels.shape == (600, 800, 3)  # 1/2 scale: at 1/4 the short side (300) would be under 320
    assert decoded.scale == 2.0 and decoded.full_size == (1600, 1200)
    assert decode_rgb(body, MAX_PIXELS, fit=256).pixels.shape == (300, 400, 3)
    assert decode_rgb(body, MAX_PIXELS).pixels.shape == (1200, 1600, 3)


@settings(max_examples=50, deadline=None)
@given(
    width=st.integers(1, 8000),
    height=st.integers(1, 8000),
    orientation=st.integers(1, 8),
    fit=st.sampled_from([None, 256, 640]),
    progressive=st.booleans(),
)
@example(width=8000, height=8000, orientation=6, fit=256, progressive=False)
@example(width=1080, height=1349, orientation=1, fit=256, progressive=True)
@example(width=1, height=1, orientation=8, fit=640, progressive=False)
def test_any_jpeg_decodes_upright_at_the_promised_size(width, height, orientation, fit, progressive):
    if width * height > 4_000_000 and (width, height) != (8000, 8000):
        width, height = width, max(1, 4_000_000 // width)
    body = encode(Image.new("RGB", (width, height), (10, 200, 30)), "JPEG", exif=orientation_exif(orientation),
                  progressive=progressive)
    decoded = decode_rgb(body, 80_000_000, fit=fit)
    upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    rows, columns = decoded.pixels.shape[:2]
    assert decoded.pixels.shape[2] == 3 and decoded.pixels.dtype == np.uint8
    assert min(columns, rows) >= min(fit or 10**9, *upright)  # draft never decodes below what the model needs
    assert all(abs(full - true) <= max(1, true // 100) for full, true in zip(decoded.full_size, upright, strict=True))
