"""Photos' bytes to backbone features, on the backbone's device: the embedding stage's unit of work.

On a CUDA device the photos are decoded, resized and cropped there (`device_images`), the progressive JPEGs by
CPU threads beside it when a pool is given; on the CPU, JPEGs decode at reduced scale (`decode_rgb` with Pillow's
draft) and are cropped by Pillow (`backbones.preprocess`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np

from likeability.embed.backbones import Backbone, embed, preprocess
from likeability.images import device as device_images
from likeability.images.decode import decode_rgb

DECODE_FIT = 256  # the backbones resize the shorter side to 256 and crop 224: decoding below 256 loses detail


def photo_features(backbone: Backbone, bodies: Sequence[bytes], mirror: bool, max_pixels: int,
                   decode_on_device: bool = True, cpu_decoders: Executor | None = None) -> dict[str, np.ndarray]:
    """{layer: M x width float32} for the photos (and, with `mirror`, each photo's flip right after it).
    `decode_on_device=False` keeps decoding and cropping on the CPU even for a CUDA backbone; `cpu_decoders`
    is the thread pool of `device_images.decode_on_device`."""
    if backbone.device.type == "cuda" and decode_on_device:
        images = device_images.decode_on_device(bodies, backbone.device, max_pixels, cpu_decoders, fit=DECODE_FIT)
        batch = device_images.centre_crops(images, mirror)
    else:
        batch = preprocess([decode_rgb(body, max_pixels, fit=DECODE_FIT).pixels for body in bodies], mirror)
    return embed(backbone, batch)
