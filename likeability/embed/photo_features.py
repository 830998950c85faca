"""Photos' bytes to backbone features, on the backbone's device: the embedding stage's unit of work.

On a CUDA device the photos are decoded, resized and cropped there (`device_images`); on the CPU, JPEGs decode
at reduced scale (`decode_rgb` with Pillow's draft) and are cropped by Pillow (`backbones.preprocess`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from likeability.embed.backbones import Backbone, embed, preprocess
from likeability.images import device as device_images
from likeability.images.decode import decode_rgb

DECODE_FIT = 256  # the backbones resize the shorter side to 256 and crop 224: decoding below 256 loses detail


def photo_features(backbone: Backbone, bodies: Sequence[bytes], mirror: bool, max_pixels: int,
                   decode_on_device: bool = True) -> dict[str, np.ndarray]:
    """{layer: M x width float32} for the photos (and, with `mirror`, each photo's flip right after it).
    `decode_on_device=False` keeps decoding and cropping on the CPU even for a CUDA backbone."""
    if backbone.device.type == "cuda" and decode_on_device:
        batch = device_images.centre_crops(device_images.decode_on_device(bodies, backbone.device, max_pixels), mirror)
    else:
        batch = preprocess([decode_rgb(body, max_pixels, fit=DECODE_FIT).pixels for body in bodies], mirror)
    return embed(backbone, batch)
