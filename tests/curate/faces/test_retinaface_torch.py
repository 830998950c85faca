"""The GPU path of the face detector, run on the CPU: the shipped ONNX graph as a torch module gives
onnxruntime's boxes and scores, and the batched on-device post-processing finds the same faces."""

from __future__ import annotations

from pathlib import Path

import insightface
import matplotlib
import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from skimage import data

from likeability.config import FacesConfig
from likeability.curate.faces.detection import open_session
from likeability.curate.faces.retinaface import RetinaFaceMobileNet, decode, packaged_weights, priors
from likeability.curate.faces.retinaface_torch import RetinaFaceTorch, decode_boxes, network_from_onnx, run_network


def photo(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


PHOTOS = {
    "t1": lambda: photo(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"),
    "astronaut": data.astronaut,
    "coffee": data.coffee,
    "grace_hopper": lambda: photo(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"),
}


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    return network_from_onnx(packaged_weights())


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return open_session(packaged_weights(), use_gpu=False)


def test_the_torch_network_gives_onnxruntimes_boxes_and_scores(network, session):
    rng = np.random.default_rng(0)
    blob = (rng.uniform(0, 255, (2, 3, 320, 320)) - 120).astype(np.float32)
    loc, conf = session.run(["loc", "conf"], {"input": blob})
    with torch.inference_mode():
        torch_loc, torch_conf, _ = run_network(network, torch.from_numpy(blob))
    anchors = priors(320)
    boxes = decode(loc, anchors)
    torch_boxes = decode_boxes(torch_loc, torch.from_numpy(anchors)).numpy()
    assert np.abs(torch_boxes - boxes).max() < 1.0
    assert np.abs(torch_conf.numpy() - conf).max() < 1e-3


@pytest.mark.parametrize("input_size", [640, 320])
def test_the_same_faces_as_the_cpu_detector_on_real_photos(network, session, input_size):
    photos = [load() for load in PHOTOS.values()]
    config = FacesConfig(input_size=input_size, batch_size=3)
    expected = RetinaFaceMobileNet(config, session=session).detect(photos)
    found = RetinaFaceTorch(config, "cpu", network=network).detect(photos)
    for name, cpu, gpu_path in zip(PHOTOS, expected, found, strict=True):
        assert len(gpu_path) == len(cpu), name
        # the letterbox resamples with roi_align rather than OpenCV's area filter: pixels differ slightly
        assert np.abs(gpu_path.boxes - cpu.boxes).max(initial=0) < 3.0, name
        assert np.abs(gpu_path.scores - cpu.scores).max(initial=0) < 0.02, name


def test_encoded_photos_go_through_the_device_decoder(network):
    body = (Path(insightface.__file__).parent / "data" / "images" / "t1.jpg").read_bytes()
    detector = RetinaFaceTorch(FacesConfig(), "cpu", network=network)
    [faces] = detector.detect_bodies([body], max_pixels=10**8)
    assert len(faces) == 6
