"""What every face detector promises, and the post-processing they share.

A detector takes uint8 RGB photos of any sizes and returns, per photo, the faces above the score threshold
after non-maximum suppression, in the photo's own pixel coordinates, without faces too small to count.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


@dataclass(frozen=True)
class Faces:
    """The faces found in one photo: boxes (n x 4 float32, x1 y1 x2 y2, photo pixels) and scores, best first."""

    boxes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.scores)


class FaceDetector(Protocol):
    def detect(self, images: list[np.ndarray]) -> list[Faces]: ...


def check_images(images: list[np.ndarray]) -> None:
    """Refuse anything but HxWx3 uint8 photos, naming the offending one, before a model sees garbage."""
    for index, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            described = (
                f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            )
            raise ValueError(f"image {index} must be an HxWx3 uint8 RGB array, got {described}")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"image {index} is empty: shape {image.shape}")


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression at IoU `threshold`, best score first."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0)
        height = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0)
        inter = width * height
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)
        order = rest[iou <= threshold]
    return np.asarray(keep, dtype=np.int64)


def finish(boxes: np.ndarray, scores: np.ndarray, width: int, height: int, min_face_fraction: float) -> Faces:
    """Clip boxes to the photo, drop faces whose shorter side is under `min_face_fraction` of the photo's
    shorter side (specks in a crowd do not make a photo "of a person"), and order by score."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    scores = np.asarray(scores, np.float32).reshape(-1)
    np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    large = sides >= min_face_fraction * min(width, height)
    boxes, scores = boxes[large], scores[large]
    order = np.argsort(-scores, kind="stable")
    return Faces(boxes[order], scores[order])


def in_full_photo(faces: Faces, scale: float, width: int, height: int) -> Faces:
    """Faces found on a photo decoded at 1/`scale` (JPEG draft), in the width x height photo's pixels: scaled,
    then clipped, since the full size is the decoded size times the scale rounded to whole pixels."""
    boxes = faces.boxes * np.float32(scale)
    np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
    return Faces(boxes, faces.scores)


def summarize(faces: Faces, width: int, height: int) -> dict:
    """The row the faces stage stores for one photo."""
    areas = (faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])
    return {
        "face_count": len(faces),
        "best_score": float(faces.scores[0]) if len(faces) else None,
        "boxes": faces.boxes.astype(float).tolist(),
        "scores": faces.scores.astype(float).tolist(),
        "largest_face_ratio": float(areas.max()) / (width * height) if len(faces) else 0.0,
    }


def onnx_providers(use_gpu: bool) -> list[str]:
    """CUDA first when asked for and present in this onnxruntime build, the CPU always as the fallback."""
    if use_gpu and CUDA_PROVIDER in ort.get_available_providers():
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if use_gpu:
        log.warning("faces: a GPU was asked for, but onnxruntime has no %s; detecting on the CPU", CUDA_PROVIDER)
    return [CPU_PROVIDER]


def default_threads() -> int:
    """Threads one detector may use: OMP_NUM_THREADS when set (Ray sets it to a worker's CPU share, and
    going past that oversubscribes the node), else the cores this process may run on."""
    value = os.environ.get("OMP_NUM_THREADS")
    if value is None:
        # macOS has no affinity masks.
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"OMP_NUM_THREADS={value!r} is not a positive whole number")
    return int(value)


def open_session(model: bytes | str, use_gpu: bool, threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime session on `model` (ONNX bytes or a file path) with a bounded thread count."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    # One graph runs at a time per detector, so parallel branches would only compete with intra-op threads.
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, sess_options=options, providers=onnx_providers(use_gpu))
