"""What a photo shows, measured from its pixels and its face boxes: colour, light, sharpness, faces, scenery and
print. Simple rules, stated with each attribute; none of them says anything about who is in the photo (no
gender, age or ethnicity is inferred, here or anywhere in the tool).

Every photo is measured at the same size (longer side MEASURE_SIDE), so sharpness and print compare across
photos of any resolution."""

from __future__ import annotations

import numpy as np
from PIL import Image

MEASURE_SIDE = 320
BLOCK = 16  # print is looked for in blocks of this many pixels

# name -> what it measures, in the report's words. Order: the table's columns.
ATTRIBUTES = {
    "colourfulness": "Hasler-Suesstrunk colourfulness (spread and mean of the red-green and yellow-blue opponents)",
    "saturation": "mean HSV saturation",
    "greyscale": "black and white: under 1% of pixels have channels more than 6% apart",
    "brightness": "mean luma (Rec. 601), 0 black to 1 white",
    "contrast": "RMS contrast: standard deviation of luma",
    "sharpness": "variance of the Laplacian of luma, at 320 px",
    "faces": "number of faces the run's detector found",
    "largest_face_share": "the largest face box's share of the photo",
    "head_cut_at_top": "the top of the photo cuts through the largest head (its face box plus half a face above)",
    "greenery_share": "share of green pixels (hue 75-165 deg, saturation >= 0.2, value >= 0.15)",
    "sky_share": "share of the top half that is sky blue (hue 190-250 deg, saturation 0.1-0.8, value >= 0.45)",
    "water_share": "share of the bottom half that is blue to cyan (hue 170-240 deg, saturation >= 0.25, value "
                   "0.15-0.8)",
    "text_likeness": "share of 16 px blocks that look like print: 3 colours cover 90% of the block, and luma "
                     "steps by over 0.4 between neighbours both across and down it",
}
FLAGS = ("greyscale", "head_cut_at_top")
COUNTS = ("faces",)


def measure_photo(pixels: np.ndarray, boxes: np.ndarray) -> dict[str, float | int | bool]:
    """Every attribute of one photo: `pixels` H x W x 3 uint8 RGB (upright), `boxes` its faces (n x 4, x1 y1 x2 y2)
    in the same pixels."""
    height, width = pixels.shape[:2]
    small = at_measuring_size(pixels)
    rgb = small.astype(np.float32) / 255
    luma = rgb @ np.float32([0.299, 0.587, 0.114])
    hue, saturation, value = hsv(rgb)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    top, bottom = slice(0, (rgb.shape[0] + 1) // 2), slice(rgb.shape[0] // 2, None)  # halves, never empty
    return {
        "colourfulness": colourfulness(small),
        "saturation": float(saturation.mean()),
        "greyscale": bool(np.mean(spread > 0.06) < 0.01),
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "sharpness": sharpness(luma),
        **face_attributes(boxes, width, height),
        "greenery_share": float(np.mean((hue >= 75) & (hue <= 165) & (saturation >= 0.2) & (value >= 0.15))),
        "sky_share": float(np.mean(_blue(hue[top], saturation[top], value[top], (190, 250), (0.1, 0.8),
                                         (0.45, 1.0)))),
        "water_share": float(np.mean(_blue(hue[bottom], saturation[bottom], value[bottom], (170, 240), (0.25, 1.0),
                                           (0.15, 0.8)))),
        "text_likeness": text_likeness(small, luma),
    }


def at_measuring_size(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = MEASURE_SIDE / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))


def colourfulness(pixels: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003), on 0-255 channels: about 0 for black and white, above 100 for vivid photos."""
    red, green, blue = (pixels[..., i].astype(np.float64) for i in range(3))
    rg, yb = red - green, 0.5 * (red + green) - blue
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees (0 where there is no colour), saturation and value in 0..1, of float RGB in 0..1."""
    value = rgb.max(axis=2)
    chroma = value - rgb.min(axis=2)
    saturation = np.where(value > 0, chroma / np.maximum(value, 1e-6), 0.0)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(chroma, 1e-6)
    hue = np.select(
        [chroma == 0, value == red, value == green],
        [0.0, ((green - blue) / safe) % 6, (blue - red) / safe + 2],
        (red - green) / safe + 4,
    )
    return hue * 60, saturation, value


def sharpness(luma: np.ndarray) -> float:
    """The variance of the 4-neighbour Laplacian over the interior pixels (0 for a photo without any)."""
    laplacian = (luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]) - 4 * luma[1:-1, 1:-1]
    return float(laplacian.var()) if laplacian.size else 0.0


def face_attributes(boxes: np.ndarray, width: int, height: int) -> dict[str, float | int | bool]:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return {"faces": 0, "largest_face_share": 0.0, "head_cut_at_top": False}
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    x1, y1, x2, y2 = boxes[int(np.argmax(areas))]
    return {
        "faces": len(boxes),
        "largest_face_share": float(areas.max() / (width * height)),
        "head_cut_at_top": bool(y1 - 0.5 * (y2 - y1) < 0),
    }


def text_likeness(pixels: np.ndarray, luma: np.ndarray) -> float:
    """The share of whole BLOCK x BLOCK blocks with few colours and a sharp step: print on a plain ground."""
    rows, cols = pixels.shape[0] // BLOCK, pixels.shape[1] // BLOCK
    if not rows or not cols:
        return 0.0
    blocks = pixels[: rows * BLOCK, : cols * BLOCK] // 64  # 4 levels per channel: 64 colours
    codes = (blocks[..., 0].astype(np.int32) * 16 + blocks[..., 1] * 4 + blocks[..., 2])
    codes = codes.reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3).reshape(rows * cols, BLOCK * BLOCK)
    per_block = np.arange(rows * cols)[:, None] * 64 + codes
    counts = np.sort(np.bincount(per_block.ravel(), minlength=rows * cols * 64).reshape(rows * cols, 64), axis=1)
    few_colours = counts[:, -3:].sum(axis=1) >= 0.9 * BLOCK * BLOCK
    # Letters step sharply across and down within a block; the straight edge of a frame or a wall, only one way.
    across = _block_max(np.abs(np.diff(luma, axis=1, append=luma[:, -1:])), rows, cols) > 0.4
    down = _block_max(np.abs(np.diff(luma, axis=0, append=luma[-1:])), rows, cols) > 0.4
    return float(np.mean(few_colours & across & down))


def _block_max(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The largest value in each whole block, blocks in row order."""
    blocks = values[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)
    return blocks.max(axis=(1, 3)).reshape(-1)


def _blue(hue, saturation, value, hues, saturations, values) -> np.ndarray:
    return ((hue >= hues[0]) & (hue <= hues[1]) & (saturation >= saturations[0]) & (saturation <= saturations[1])
            & (value >= values[0]) & (value <= values[1]))
