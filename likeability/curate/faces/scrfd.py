"""SCRFD through insightface's own SCRFD class, for machines that have an insightface model pack.

The weights are not redistributable in a wheel: on a connected machine a pack downloads into
~/.insightface/models/<name>/ on first use; offline, the detector file must be put there by hand.
"""

from __future__ import annotations

import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from insightface.model_zoo.scrfd import SCRFD
from insightface.utils.storage import ensure_available, model_zoo_download_url

from likeability.config import FacesConfig, InputNotFoundError
from likeability.curate.faces.detection import Faces, check_images, finish, open_session

# insightface's default root; it reads no environment variable for it.
INSIGHTFACE_ROOT = "~/.insightface"
DETECTOR_PATTERNS = ("det_*.onnx", "scrfd_*.onnx")
# The detector file of the packs insightface publishes, for the message that says what to put where.
PACK_DETECTORS = {
    "buffalo_l": "det_10g.onnx",
    "buffalo_m": "det_2.5g.onnx",
    "buffalo_s": "det_500m.onnx",
    "buffalo_sc": "det_500m.onnx",
    "antelopev2": "scrfd_10g_bnkps.onnx",
}
# insightface downloads without a timeout, so a quick probe first keeps an unreachable host from hanging a run.
PROBE_TIMEOUT_SECONDS = 10.0


def pack_detector(folder: Path) -> Path | None:
    found = sorted(path for pattern in DETECTOR_PATTERNS for path in folder.glob(pattern))
    return found[0] if found else None


def resolve_model(name: str) -> Path:
    """The SCRFD .onnx file that `faces.scrfd_model` names: a path to a .onnx file, or an insightface pack
    name whose detector is looked up in the pack folder and downloaded there when missing."""
    if name.endswith(".onnx"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise InputNotFoundError(f"faces.scrfd_model={name!r}: no such file")
        return path
    root = Path(INSIGHTFACE_ROOT).expanduser()
    folder = root / "models" / name
    found = pack_detector(folder)
    if found:
        return found
    url = model_zoo_download_url(f"{name}.zip")
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_SECONDS).close()
        ensure_available("models", name, root=str(root))
    except (OSError, RuntimeError, zipfile.BadZipFile) as error:
        # URLError, HTTPError and timeouts are OSErrors; insightface raises RuntimeError on a bad status.
        reason = f"{type(error).__name__}: {error}"
    else:
        found = pack_detector(folder)
        if found:
            return found
        reason = f"the downloaded pack has no file matching {' or '.join(DETECTOR_PATTERNS)}"
    wanted = PACK_DETECTORS.get(name, "the pack's SCRFD detector, named det_*.onnx")
    raise InputNotFoundError(
        f"faces.scrfd_model={name!r}: {folder} holds no SCRFD detector and fetching {url} did not give one ({reason}). "
        f"Put {wanted} into {folder}/, or set faces.scrfd_model to the path of an SCRFD .onnx file"
    )


class ScrfdDetector:
    """insightface's SCRFD behind the FaceDetector interface. SCRFD detects one photo per network run."""

    def __init__(
        self, config: FacesConfig, session: ort.InferenceSession | None = None, threads: int | None = None
    ) -> None:
        self.config = config
        model_file = None
        if session is None:
            model_file = str(resolve_model(config.scrfd_model))
            session = open_session(model_file, config.gpus_per_actor > 0, threads)
        # Without this, insightface loads the model a second time as a fixed-shape session for each input
        # size; the dynamic session already serves the one size we use.
        self.model = SCRFD(model_file=model_file, session=session, static_shape_sessions=False)
        self.model.det_thresh = config.score_threshold
        self.model.nms_thresh = config.nms_threshold

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        check_images(images)
        size = self.config.input_size
        faces = []
        for image in images:
            # SCRFD takes OpenCV's BGR order and swaps it back to RGB for the network.
            found, _ = self.model.detect(np.ascontiguousarray(image[..., ::-1]), input_size=(size, size), max_num=0)
            height, width = image.shape[:2]
            faces.append(finish(found[:, :4], found[:, 4], width, height, self.config.min_face_fraction))
        return faces
