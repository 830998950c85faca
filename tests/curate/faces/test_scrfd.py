"""The SCRFD backend on a tiny ONNX model in SCRFD's output layout, through insightface's real SCRFD class.

The model's weights are chosen so its answer is known: only stride 32 can fire, a cell's score is
sigmoid(10 x its mean red value) and every box reaches one stride beyond its anchor on each side. A pure red
square filling exactly one stride-32 cell of the network input is then one face with a box we can compute,
and a blue square is none (which it would be if the backend forgot that SCRFD wants BGR).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from likeability.config import FacesConfig
from likeability.curate.faces import scrfd
from likeability.curate.faces.build import build_detector
from likeability.curate.faces.detection import open_session
from likeability.curate.faces.scrfd import ScrfdDetector

STRIDES = (8, 16, 32)
ANCHORS = 2
# (output name suffix, values per anchor) in SCRFD's output order: scores, boxes, keypoints.
HEADS = (("score", 1), ("bbox", 4), ("kps", 10))


def head_weights(head: str, stride: int) -> tuple[np.ndarray, np.ndarray]:
    per_anchor = dict(HEADS)[head]
    weight = np.zeros((ANCHORS * per_anchor, 3, 1, 1), np.float32)
    bias = np.zeros(ANCHORS * per_anchor, np.float32)
    if head == "score" and stride == 32:
        weight[:, 0] = 10.0  # input channel 0 is red: SCRFD swaps its BGR input back to RGB
    elif head == "score":
        bias[:] = -20.0
    elif head == "bbox":
        bias[:] = 1.0
    return weight, bias


def write_tiny_scrfd(path: Path) -> Path:
    nodes, inits, outputs = [], [], []
    for stride in STRIDES:
        nodes.append(
            helper.make_node(
                "AveragePool", ["input.1"], [f"pool{stride}"], kernel_shape=[stride, stride], strides=[stride, stride]
            )
        )
    for head, per_anchor in HEADS:
        for stride in STRIDES:
            name = f"{head}_{stride}"
            weight, bias = head_weights(head, stride)
            inits += [numpy_helper.from_array(weight, f"{name}_w"), numpy_helper.from_array(bias, f"{name}_b")]
            inits.append(numpy_helper.from_array(np.array([-1, per_anchor], np.int64), f"{name}_shape"))
            nodes.append(helper.make_node("Conv", [f"pool{stride}", f"{name}_w", f"{name}_b"], [f"{name}_conv"]))
            last = f"{name}_conv"
            if head == "score":
                nodes.append(helper.make_node("Sigmoid", [last], [f"{name}_sig"]))
                last = f"{name}_sig"
            nodes.append(helper.make_node("Transpose", [last], [f"{name}_nhwc"], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Reshape", [f"{name}_nhwc", f"{name}_shape"], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"n{stride}", per_anchor]))
    graph = helper.make_graph(
        nodes,
        "tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_scrfd(tmp_path_factory.mktemp("scrfd") / "det_tiny.onnx")


def squares_photo() -> np.ndarray:
    """1280x640: a red 64x64 square that becomes network cell (10, 5) at stride 32, and a blue one."""
    photo = np.zeros((640, 1280, 3), np.uint8)
    photo[320:384, 640:704] = (255, 0, 0)
    photo[128:192, 128:192] = (0, 0, 255)
    return photo


# Cell (10, 5)'s anchor is its top-left corner (320, 160) in the network input, the box reaches 32 pixels
# each way, and the photo was halved into the input.
EXPECTED_BOX = [576.0, 256.0, 704.0, 384.0]


def test_a_model_file_path_finds_the_red_square_in_photo_coordinates(model_path: Path) -> None:
    detector = build_detector(FacesConfig(backend="scrfd", scrfd_model=str(model_path)))
    assert isinstance(detector, ScrfdDetector)
    [faces] = detector.detect([squares_photo()])
    assert faces.boxes.dtype == np.float32 and faces.scores.dtype == np.float32
    assert faces.boxes.shape == (1, 4) and faces.scores.shape == (1,)
    np.testing.assert_allclose(faces.boxes[0], EXPECTED_BOX, atol=1.0)
    assert faces.scores[0] > 0.99


def test_a_session_is_used_as_given_and_each_photo_keeps_its_own_frame(model_path: Path) -> None:
    detector = build_detector(FacesConfig(backend="scrfd"), session=open_session(str(model_path), False, threads=1))
    upright = np.ascontiguousarray(squares_photo().transpose(1, 0, 2))
    blank = np.zeros((100, 300, 3), np.uint8)
    wide, tall, empty = detector.detect([squares_photo(), upright, blank])
    np.testing.assert_allclose(wide.boxes, [EXPECTED_BOX], atol=1.0)
    np.testing.assert_allclose(tall.boxes, [[256.0, 576.0, 384.0, 704.0]], atol=1.0)
    assert len(empty) == 0 and empty.boxes.shape == (0, 4)


def test_thresholds_come_from_the_config(model_path: Path) -> None:
    photo = squares_photo()
    strict = build_detector(FacesConfig(backend="scrfd", scrfd_model=str(model_path), score_threshold=0.99999))
    assert len(strict.detect([photo])[0]) == 0
    # The face's shorter side is 128 px, 0.2 of the photo's shorter side.
    small_kept = build_detector(FacesConfig(backend="scrfd", scrfd_model=str(model_path), min_face_fraction=0.19))
    small_dropped = build_detector(FacesConfig(backend="scrfd", scrfd_model=str(model_path), min_face_fraction=0.21))
    assert len(small_kept.detect([photo])[0]) == 1
    assert len(small_dropped.detect([photo])[0]) == 0


def test_a_pack_name_resolves_to_its_detector_in_the_insightface_root(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    pack = tmp_path / ".insightface" / "models" / "tiny_pack"
    pack.mkdir(parents=True)
    (pack / "w600k_r50.onnx").write_bytes(b"a recognition model, not a detector")
    (pack / "det_tiny.onnx").write_bytes(model_path.read_bytes())
    assert scrfd.resolve_model("tiny_pack") == pack / "det_tiny.onnx"
    [faces] = build_detector(FacesConfig(backend="scrfd", scrfd_model="tiny_pack")).detect([squares_photo()])
    np.testing.assert_allclose(faces.boxes, [EXPECTED_BOX], atol=1.0)


def test_a_missing_pack_says_which_file_to_put_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(scrfd, "PROBE_TIMEOUT_SECONDS", 3.0)
    with pytest.raises(FileNotFoundError) as error:
        build_detector(FacesConfig(backend="scrfd", scrfd_model="no_such_pack"))
    message = str(error.value)
    assert "faces.scrfd_model='no_such_pack'" in message
    assert f"{tmp_path}/.insightface/models/no_such_pack/" in message
    assert "no_such_pack.zip" in message


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx'?: no such file"):
        build_detector(FacesConfig(backend="scrfd", scrfd_model=str(tmp_path / "missing.onnx")))
