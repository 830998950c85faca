"""From bytes to an RGB uint8 array, refusing what is not a sound image of a sane size.

Two steps, so the cheap one can run where the bytes arrive: `sniff` reads only the magic bytes and the header
(format and size, no pixel decoding); `decode_rgb` decodes, at reduced scale for JPEGs when the model needs
fewer pixels (Pillow's `draft` makes libjpeg decode at 1/2, 1/4 or 1/8 size, far cheaper than decoding in full
and resizing), applies the EXIF orientation and brings every mode to 8-bit RGB.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

# Formats a post image can arrive in, by their leading bytes.
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}


class BadImage(ValueError):
    """The bytes are not a usable image; `status` is the download status to record."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int


def sniff_format(body: bytes) -> str | None:
    for magic, name in _MAGIC:
        if body.startswith(magic):
            return name
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "WEBP"
    return None


def sniff(body: bytes, max_pixels: int) -> ImageHeader:
    """Format and size from the header alone; raises BadImage (not_an_image, too_many_pixels, corrupt)."""
    expected = sniff_format(body)
    if expected is None:
        start = body[:16].lstrip().lower()
        what = "an HTML page" if start.startswith((b"<!doctype", b"<html")) else f"{len(body)} bytes"
        raise BadImage("not_an_image", f"no JPEG/PNG/GIF/WebP signature: {what}")
    try:
        with Image.open(io.BytesIO(body)) as image:
            width, height = image.size
            actual = image.format
    except Image.DecompressionBombError as err:
        raise BadImage("too_many_pixels", str(err)) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise BadImage("corrupt", f"{expected} header unreadable: {err}") from None
    if width * height > max_pixels:
        raise BadImage("too_many_pixels", f"{width} x {height} is over download.max_pixels={max_pixels}")
    # Pillow raises only above twice its limit and warns between; the limit holds whatever max_pixels says.
    # Checked here rather than by turning the warning into an error: warning filters are process-wide state,
    # and photos decode on several threads at once (images.device).
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise BadImage("too_many_pixels", f"{width} x {height} is over Pillow's decompression-bomb limit of "
                       f"{Image.MAX_IMAGE_PIXELS} pixels")
    return ImageHeader(actual or expected, width, height)


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray  # HxWx3 uint8 RGB, upright
    scale: float  # full-size pixels per decoded pixel (> 1 when `draft` decoded a JPEG smaller)

    @property
    def full_size(self) -> tuple[int, int]:
        """(width, height) of the upright image at full resolution."""
        height, width = self.pixels.shape[:2]
        return round(width * self.scale), round(height * self.scale)


def decode_rgb(body: bytes, max_pixels: int, fit: int | None = None) -> Decoded:
    """The upright RGB image. With `fit`, a JPEG may decode smaller, but never below `fit` on either side."""
    header = sniff(body, max_pixels)
    try:
        with Image.open(io.BytesIO(body)) as image:
            if fit and header.format == "JPEG":
                image.draft("RGB", (fit, fit))
            image.load()  # a truncated file fails here, not later in the model
            scale = header.width / image.size[0]
            return Decoded(_to_rgb(ImageOps.exif_transpose(image)), scale)
    except (OSError, ValueError, SyntaxError) as err:
        raise BadImage("corrupt", f"{header.format} does not decode: {err}") from None


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: Pillow's convert would clip everything above 255 to white.
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        grey = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels go on white, as a browser shows them; their stored colour is arbitrary.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(canvas, rgba)
    return np.asarray(image.convert("RGB"))
