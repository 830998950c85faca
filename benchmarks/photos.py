"""Benchmark photos: JPEGs in Instagram's shapes (1:1, 4:5 portrait, 1.91:1 landscape), 320-640 px on the longer
side, cut from scikit-image's bundled sample photos (one of them with a face), qualities 70-95, a fifth of them
progressive. Made in one process per core; the same index always gives the same bytes."""

from __future__ import annotations

import io
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image

SHAPES = ((1, 1), (4, 5), (1.91, 1))


def make_photos(count: int, seed: int = 0, longer: tuple[int, int] = (320, 640)) -> list[bytes]:
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        return list(pool.map(photo, range(seed, seed + count), [longer] * count, chunksize=64))


def photo(index: int, longer: tuple[int, int] = (320, 640)) -> bytes:
    import skimage.data

    rng = np.random.default_rng(index)
    source = Image.fromarray([skimage.data.astronaut, skimage.data.coffee, skimage.data.chelsea,
                              skimage.data.rocket][index % 4]())
    aspect_w, aspect_h = SHAPES[rng.integers(len(SHAPES))]
    side = int(rng.integers(longer[0], longer[1] + 1))
    if aspect_w >= aspect_h:
        width, height = side, round(side * aspect_h / aspect_w)
    else:
        width, height = round(side * aspect_w / aspect_h), side
    scale = min(source.width / width, source.height / height) * rng.uniform(0.7, 1.0)
    cut_w, cut_h = int(width * scale), int(height * scale)
    left = int(rng.integers(0, source.width - cut_w + 1))
    top = int(rng.integers(0, source.height - cut_h + 1))
    image = source.crop((left, top, left + cut_w, top + cut_h)).resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=int(rng.integers(70, 96)), progressive=bool(rng.random() < 0.2))
    return out.getvalue()
