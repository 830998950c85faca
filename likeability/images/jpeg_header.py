"""What a JPEG's markers say before any pixel is decoded: its size, colour components, coding and EXIF orientation.

The GPU decoder (nvJPEG) takes baseline and progressive Huffman JPEGs of one or three components and ignores
EXIF orientation; it decodes the baseline ones in one batched call (on the GPU's JPEG engines where it has them)
and the others one at a time. This tells, in a few microseconds and without Pillow, which photos it can take, how
fast, and how to turn them upright afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

# Start-of-frame markers, by the coding they announce.
_SOF_HUFFMAN = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
_SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length
_APP1, _SOS = 0xE1, 0xDA
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class JpegHeader:
    width: int
    height: int
    components: int
    coding: str  # baseline, extended, progressive, or other (lossless, arithmetic, hierarchical)
    orientation: int  # EXIF orientation 1-8; 1 (upright) when absent or unreadable

    @property
    def device_decodable(self) -> bool:
        """nvJPEG decodes it: Huffman-coded, greyscale or YCbCr, and not empty."""
        return self.coding != "other" and self.components in (1, 3) and self.width > 0 and self.height > 0

    @property
    def batch_decodable(self) -> bool:
        """nvJPEG decodes it in its batched call, not one photo at a time: a device-decodable baseline JPEG."""
        return self.device_decodable and self.coding == "baseline"


def read_jpeg_header(body: bytes) -> JpegHeader | None:
    """The header of a JPEG, or None when `body` is not a JPEG whose markers lead to a frame header."""
    if not body.startswith(b"\xff\xd8"):
        return None
    orientation, position = 1, 2
    while position + 4 <= len(body):
        if body[position] != 0xFF:
            return None
        marker = body[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        length = int.from_bytes(body[position + 2 : position + 4], "big")
        segment = body[position + 4 : position + 2 + length]
        if length < 2 or marker == _SOS:
            return None
        if marker == _APP1 and segment.startswith(b"Exif\x00\x00"):
            orientation = exif_orientation(segment[6:])
        elif marker in _SOF_HUFFMAN or marker in _SOF_OTHER:
            if len(segment) < 6:
                return None
            return JpegHeader(
                width=int.from_bytes(segment[3:5], "big"),
                height=int.from_bytes(segment[1:3], "big"),
                components=segment[5],
                coding=_SOF_HUFFMAN.get(marker, "other"),
                orientation=orientation,
            )
        position += 2 + length
    return None


def exif_orientation(tiff: bytes) -> int:
    """The orientation tag of IFD0 in an EXIF block (TIFF structure); 1 when absent or malformed."""
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return 1
    order = "little" if tiff[:2] == b"II" else "big"
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return 1
    for entry in range(int.from_bytes(tiff[ifd : ifd + 2], order)):
        start = ifd + 2 + 12 * entry
        if start + 12 > len(tiff):
            return 1
        if int.from_bytes(tiff[start : start + 2], order) == _ORIENTATION_TAG:
            value = int.from_bytes(tiff[start + 8 : start + 10], order)
            return value if 1 <= value <= 8 else 1
    return 1
