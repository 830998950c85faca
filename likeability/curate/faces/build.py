"""The choice between face detectors: the one the config names, on the device this node has."""

from __future__ import annotations

import onnxruntime as ort

from likeability.config import FacesConfig
from likeability.curate.faces.detection import CUDA_PROVIDER, FaceDetector


def build_detector(
    config: FacesConfig, session: ort.InferenceSession | None = None, threads: int | None = None
) -> FaceDetector:
    """The detector `config.backend` names; `session` replaces the model it would load (tests pass small ones)."""
    # Imported here so that only the chosen backend's dependencies load.
    if config.backend == "retinaface-mnet025":
        if session is None and config.gpus_per_actor > 0 and CUDA_PROVIDER not in ort.get_available_providers():
            import torch

            if torch.cuda.is_available():
                # the same shipped graph on PyTorch's CUDA, for nodes without onnxruntime-gpu
                from likeability.curate.faces.retinaface_torch import RetinaFaceTorch

                return RetinaFaceTorch(config, "cuda")
        from likeability.curate.faces.retinaface import RetinaFaceMobileNet

        return RetinaFaceMobileNet(config, session=session, threads=threads)
    if config.backend == "scrfd":
        from likeability.curate.faces.scrfd import ScrfdDetector

        return ScrfdDetector(config, session=session, threads=threads)
    raise ValueError(f"faces.backend={config.backend!r} is not a known face detector")
