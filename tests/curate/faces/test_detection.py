"""The detectors' shared pieces: NMS, clipping and size filtering, the stored summary, sessions."""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likeability.curate.faces.detection import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    Faces,
    default_threads,
    finish,
    in_full_photo,
    nms,
    onnx_providers,
    open_session,
    summarize,
)
from likeability.curate.faces.retinaface import packaged_weights

# B overlaps A with IoU 81/119 = 0.68; C overlaps neither.
A, B, C = [0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]


def test_nms_keeps_the_best_of_overlapping_boxes_in_score_order() -> None:
    boxes = np.array([A, B, C], np.float32)
    assert nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.4).tolist() == [0, 2]
    assert nms(boxes, np.array([0.8, 0.9, 0.7], np.float32), 0.4).tolist() == [1, 2]
    assert nms(boxes, np.array([0.7, 0.8, 0.9], np.float32), 0.7).tolist() == [2, 1, 0]


def test_nms_of_nothing_and_of_degenerate_boxes() -> None:
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.4).tolist() == []
    points = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], np.float32)
    assert nms(points, np.array([0.9, 0.8], np.float32), 0.4).tolist() == [0, 1]


def test_finish_clips_drops_small_faces_and_orders_by_score() -> None:
    # A 200x100 photo at min_face_fraction 0.1: a face needs a shorter side of 10 px.
    boxes = [[10, 10, 22, 40], [50, 10, 59, 50], [-5, 50, 20, 120], [100, 20, 110, 30]]
    faces = finish(np.array(boxes), np.array([0.81, 0.99, 0.9, 0.85]), 200, 100, 0.1)
    assert faces.boxes.dtype == np.float32 and faces.scores.dtype == np.float32
    np.testing.assert_array_equal(faces.boxes, [[0, 50, 20, 100], [100, 20, 110, 30], [10, 10, 22, 40]])
    np.testing.assert_allclose(faces.scores, [0.9, 0.85, 0.81])
    assert len(finish(np.array(boxes), np.array([0.81, 0.99, 0.9, 0.85]), 200, 100, 0.0)) == 4
    assert len(finish(np.zeros((0, 4)), np.zeros(0), 200, 100, 0.1)) == 0


def test_summarize_by_hand() -> None:
    faces = Faces(np.array([[10, 20, 50, 60], [0, 0, 20, 10]], np.float32), np.array([0.9, 0.85], np.float32))
    summary = summarize(faces, width=100, height=200)
    assert summary == {
        "face_count": 2,
        "best_score": pytest.approx(0.9),
        "boxes": [[10.0, 20.0, 50.0, 60.0], [0.0, 0.0, 20.0, 10.0]],
        "scores": [pytest.approx(0.9), pytest.approx(0.85)],
        "largest_face_ratio": pytest.approx(1600 / 20000),
    }
    assert all(type(value) is float for value in summary["boxes"][0] + summary["scores"])
    assert summarize(Faces.empty(), 100, 200) == {
        "face_count": 0,
        "best_score": None,
        "boxes": [],
        "scores": [],
        "largest_face_ratio": 0.0,
    }


def test_onnx_providers_put_cuda_first_only_when_asked_and_present() -> None:
    assert onnx_providers(False) == [CPU_PROVIDER]
    has_cuda = CUDA_PROVIDER in ort.get_available_providers()
    assert onnx_providers(True) == ([CUDA_PROVIDER, CPU_PROVIDER] if has_cuda else [CPU_PROVIDER])


def test_threads_follow_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    assert open_session(packaged_weights(), False).get_session_options().intra_op_num_threads == 1
    assert open_session(packaged_weights(), False, threads=2).get_session_options().intra_op_num_threads == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="OMP_NUM_THREADS='two' is not a positive whole number"):
        default_threads()


@settings(max_examples=100, deadline=None)
@given(
    width=st.integers(1, 8000),
    height=st.integers(1, 8000),
    boxes=st.lists(st.tuples(*[st.floats(-1e4, 1e4, allow_nan=False)] * 4), max_size=8),
)
def test_faces_brought_back_to_the_photo_lie_inside_it(width, height, boxes):
    raw = np.asarray(boxes, np.float32).reshape(-1, 4)
    faces = finish(raw, np.linspace(0.9, 0.99, len(raw)), width, height, min_face_fraction=0.0)
    assert faces.boxes.shape == (len(faces), 4)
    assert (faces.boxes[:, 0::2] >= 0).all() and (faces.boxes[:, 0::2] <= width).all()
    assert (faces.boxes[:, 1::2] >= 0).all() and (faces.boxes[:, 1::2] <= height).all()
    assert (np.diff(faces.scores) <= 0).all()


@settings(max_examples=100, deadline=None)
@given(width=st.integers(1, 8000), height=st.integers(1, 8000), shrink=st.sampled_from([1, 2, 4, 8]),
       corners=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)), max_size=5))
def test_faces_on_a_draft_decoded_photo_come_back_inside_the_full_photo(width, height, shrink, corners):
    # what Pillow's draft gives: each side divided and rounded up, and the scale taken from the width
    decoded_w, decoded_h = -(-width // shrink), -(-height // shrink)
    scale = width / decoded_w
    boxes = np.asarray([(min(a, c) * decoded_w, min(b, d) * decoded_h, max(a, c) * decoded_w, max(b, d) * decoded_h)
                        for a, b, c, d in corners], np.float32).reshape(-1, 4)
    full_w, full_h = round(decoded_w * scale), round(decoded_h * scale)
    faces = in_full_photo(Faces(boxes, np.ones(len(boxes), np.float32)), scale, full_w, full_h)
    assert (faces.boxes[:, 0::2] <= full_w).all() and (faces.boxes[:, 1::2] <= full_h).all()
    assert (faces.boxes >= 0).all()
