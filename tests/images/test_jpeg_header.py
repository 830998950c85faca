"""The JPEG marker reader against Pillow-made JPEGs of every size, mode, coding and orientation, and against garbage."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from image_files import encode
from likeability.images.jpeg_header import exif_orientation, read_jpeg_header

MODES = {"L": 1, "RGB": 3, "CMYK": 4}


def jpeg_of(width: int, height: int, mode: str, progressive: bool, orientation: int | None) -> bytes:
    image = Image.new(mode, (width, height), 128 if mode == "L" else (90,) * len(mode))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    return encode(image, "JPEG", progressive=progressive, exif=exif.tobytes())


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 3000),
    height=st.integers(1, 3000),
    mode=st.sampled_from(sorted(MODES)),
    progressive=st.booleans(),
    orientation=st.none() | st.integers(1, 8),
)
@example(width=8000, height=8000, mode="RGB", progressive=False, orientation=6)
@example(width=1080, height=1349, mode="RGB", progressive=True, orientation=None)
def test_size_components_coding_and_orientation(width, height, mode, progressive, orientation):
    header = read_jpeg_header(jpeg_of(width, height, mode, progressive, orientation))
    assert (header.width, header.height, header.components) == (width, height, MODES[mode])
    assert header.coding == ("progressive" if progressive else "baseline")
    assert header.orientation == (orientation or 1)
    assert header.device_decodable == (mode != "CMYK")
    assert header.batch_decodable == (mode != "CMYK" and not progressive)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_never_raises(body):
    read_jpeg_header(body)
    read_jpeg_header(b"\xff\xd8" + body)
    exif_orientation(body)
    exif_orientation(b"II*\x00" + body)


def test_what_is_not_a_jpeg_has_no_header():
    png = encode(Image.new("RGB", (4, 4)), "PNG")
    assert read_jpeg_header(png) is None
    assert read_jpeg_header(b"\xff\xd8\xff\xda\x00\x02") is None  # scan before any frame header


def test_a_big_endian_exif_block_is_read():
    tiff = b"MM\x00*" + (8).to_bytes(4, "big") + (1).to_bytes(2, "big")
    entry = (0x0112).to_bytes(2, "big") + (3).to_bytes(2, "big") + (1).to_bytes(4, "big") + (8).to_bytes(2, "big")
    assert exif_orientation(tiff + entry + b"\x00\x00") == 8
    assert np.isscalar(exif_orientation(tiff))
