"""The RetinaFace-MobileNet0.25 backend with its real packaged weights on real photos from installed packages."""

from __future__ import annotations

from pathlib import Path

import insightface
import matplotlib
import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data

from likeability.config import FacesConfig
from likeability.curate.faces.build import build_detector
from likeability.curate.faces.detection import Faces, open_session
from likeability.curate.faces.retinaface import PAD_RGB, RetinaFaceMobileNet, letterbox, packaged_weights, priors


def photo(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# name -> (photo, faces in it); sizes differ: 1280x886, 512x512, 600x400, 451x300, 512x600.
PHOTOS = {
    "t1": (lambda: photo(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"), 6),
    "astronaut": (data.astronaut, 1),
    "coffee": (data.coffee, 0),
    "chelsea": (data.chelsea, 0),
    "grace_hopper": (lambda: photo(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"), 1),
}


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: load() for name, (load, _) in PHOTOS.items()}


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return open_session(packaged_weights(), use_gpu=False)


@pytest.fixture(scope="module")
def found(session: ort.InferenceSession, photos: dict[str, np.ndarray]) -> dict[str, Faces]:
    detector = build_detector(FacesConfig(), session=session)
    return dict(zip(photos, detector.detect(list(photos.values())), strict=True))


def test_the_default_backend_loads_the_packaged_weights_itself() -> None:
    detector = build_detector(FacesConfig(), threads=1)
    assert isinstance(detector, RetinaFaceMobileNet)
    assert detector.session.get_session_options().intra_op_num_threads == 1
    # The batch axis is symbolic, which is what lets a whole batch run as one call.
    assert isinstance(detector.session.get_inputs()[0].shape[0], str)


@pytest.mark.parametrize("name", PHOTOS)
def test_face_counts_at_the_default_config(name: str, found: dict[str, Faces]) -> None:
    assert len(found[name]) == PHOTOS[name][1]


def test_boxes_lie_inside_their_photo_and_scores_are_sorted(
    found: dict[str, Faces], photos: dict[str, np.ndarray]
) -> None:
    for name, faces in found.items():
        height, width = photos[name].shape[:2]
        assert faces.boxes.dtype == np.float32 and faces.scores.dtype == np.float32
        assert faces.boxes.shape == (len(faces), 4)
        assert (
            np.all(faces.boxes >= 0)
            and np.all(faces.boxes[:, 0::2] <= width)
            and np.all(faces.boxes[:, 1::2] <= height)
        )
        assert np.all(faces.boxes[:, 2:] > faces.boxes[:, :2])
        assert np.all(np.diff(faces.scores) <= 0) and np.all(faces.scores >= FacesConfig().score_threshold)


# Generous ranges for x1, y1, x2, y2 around each face: the astronaut's spans about x 178-272, y 59-178 of a
# square photo, Grace Hopper's about x 177-351, y 114-334 of a 512x600 one (so the letterbox pads the width).
FACE_REGIONS = {
    "astronaut": ((150, 205), (30, 90), (245, 300), (150, 210)),
    "grace_hopper": ((150, 205), (85, 145), (320, 380), (300, 365)),
}


@pytest.mark.parametrize("name", FACE_REGIONS)
def test_the_face_is_where_the_face_is(name: str, found: dict[str, Faces]) -> None:
    for value, (low, high) in zip(found[name].boxes[0], FACE_REGIONS[name], strict=True):
        assert low < value < high, (found[name].boxes[0], FACE_REGIONS[name])


def test_t1_faces_are_six_separate_people(found: dict[str, Faces]) -> None:
    centers = (found["t1"].boxes[:, :2] + found["t1"].boxes[:, 2:]) / 2
    distances = np.linalg.norm(centers[:, None] - centers[None], axis=-1) + np.eye(6) * 1e9
    assert distances.min() > 100


@pytest.mark.parametrize("batch_size", [16, 2])
def test_a_batch_of_different_sizes_equals_one_photo_at_a_time(
    batch_size: int, session: ort.InferenceSession, photos: dict[str, np.ndarray]
) -> None:
    detector = build_detector(FacesConfig(batch_size=batch_size), session=session)
    for image, together in zip(photos.values(), detector.detect(list(photos.values())), strict=True):
        [alone] = detector.detect([image])
        np.testing.assert_allclose(together.boxes, alone.boxes, atol=0.5)
        np.testing.assert_allclose(together.scores, alone.scores, atol=1e-3)


def test_min_face_fraction_drops_small_faces(session: ort.InferenceSession, photos: dict[str, np.ndarray]) -> None:
    # The astronaut's face is about 94 px wide in a 512 px photo: 0.18 of it.
    for fraction, count in ((0.15, 1), (0.2, 0)):
        detector = build_detector(FacesConfig(min_face_fraction=fraction), session=session)
        assert len(detector.detect([photos["astronaut"]])[0]) == count


def test_a_smaller_input_still_finds_the_large_faces(
    session: ort.InferenceSession, photos: dict[str, np.ndarray]
) -> None:
    detector = build_detector(FacesConfig(input_size=320), session=session)
    astronaut, coffee = detector.detect([photos["astronaut"], photos["coffee"]])
    assert (len(astronaut), len(coffee)) == (1, 0)


def test_priors_match_the_network_output_for_sizes_not_divisible_by_32(session: ort.InferenceSession) -> None:
    blob = np.zeros((1, 3, 300, 300), np.float32)
    [loc] = session.run(["loc"], {session.get_inputs()[0].name: blob})
    assert loc.shape[1] == len(priors(300)) == (38 * 38 + 19 * 19 + 10 * 10) * 2


def test_wrong_inputs_are_refused_by_index(session: ort.InferenceSession) -> None:
    detector = build_detector(FacesConfig(), session=session)
    with pytest.raises(ValueError, match="image 1 must be an HxWx3 uint8 RGB array, got float32"):
        detector.detect([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match=r"image 0 must be .* got uint8 array of shape \(8, 8\)"):
        detector.detect([np.zeros((8, 8), np.uint8)])


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 8000), height=st.integers(1, 8000), size=st.sampled_from([320, 640]))
@example(width=8000, height=8000, size=640)
@example(width=1080, height=1349, size=320)
@example(width=7919, height=1, size=640)
def test_the_letterbox_of_any_photo_fits_its_slot(width, height, size):
    image = np.full((height, width, 3), 33, np.uint8)
    slot = np.empty((size, size, 3), np.uint8)
    slot[:] = PAD_RGB
    sx, sy = letterbox(image, slot)
    covered_w, covered_h = max(1, round(width * sx)), max(1, round(height * sy))
    assert covered_w <= size and covered_h <= size and max(covered_w, covered_h) == size
    assert (slot[:covered_h, :covered_w] == 33).all()
    assert (slot[covered_h:] == PAD_RGB).all() and (slot[:, covered_w:] == PAD_RGB).all()
