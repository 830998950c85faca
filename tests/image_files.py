"""Real image bytes of every awkward kind, made with Pillow, for the decode, fetch and curate tests."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def orientation_exif(orientation: int) -> bytes:
    """An EXIF block whose orientation tag (1-8) says how to turn the stored pixels for display."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=2))


def jpeg(width: int = 64, height: int = 48, **options) -> bytes:
    return encode(gradient(width, height), "JPEG", quality=90, **options)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` RGB pixels and holds almost none: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
