import colorsys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from likeability.explain.attributes import ATTRIBUTES, hsv, measure_photo
from likeability.images.decode import decode_rgb
from likeability.simulator.images import render_jpeg

NO_FACES = np.zeros((0, 4))


def filled(colour: tuple[int, int, int], size: tuple[int, int] = (200, 300)) -> np.ndarray:
    return np.full((*size, 3), colour, np.uint8)


def test_every_attribute_is_measured_and_described():
    assert set(measure_photo(filled((10, 200, 30)), NO_FACES)) == set(ATTRIBUTES)


def test_black_and_white_has_no_colour():
    grey = np.repeat(np.random.default_rng(0).integers(0, 256, (120, 160, 1), dtype=np.uint8), 3, axis=2)
    measured = measure_photo(grey, NO_FACES)
    assert measured["greyscale"] and measured["colourfulness"] == pytest.approx(0)
    assert measured["saturation"] == pytest.approx(0)
    assert not measure_photo(filled((200, 40, 40)), NO_FACES)["greyscale"]


def test_green_sky_and_water_are_found_where_the_rules_look():
    assert measure_photo(filled((40, 160, 50)), NO_FACES)["greenery_share"] == 1
    sky_over_water = np.concatenate([filled((110, 160, 240), (100, 300)), filled((20, 90, 150), (100, 300))])
    measured = measure_photo(sky_over_water, NO_FACES)
    assert measured["sky_share"] == 1 and measured["water_share"] == 1 and measured["greenery_share"] == 0
    upside_down = measure_photo(sky_over_water[::-1], NO_FACES)
    assert upside_down["sky_share"] == 0  # dark blue at the top is not sky


def test_a_blurred_photo_is_less_sharp_and_light_is_mean_luma():
    photo = decode_rgb(render_jpeg(1, 7, "outdoor", 320), 10**8).pixels
    blurred = np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(3)))
    assert measure_photo(blurred, NO_FACES)["sharpness"] < 0.5 * measure_photo(photo, NO_FACES)["sharpness"]
    assert measure_photo(filled((255, 255, 255)), NO_FACES)["brightness"] == pytest.approx(1)
    assert measure_photo(filled((255, 255, 255)), NO_FACES)["contrast"] == pytest.approx(0)


def test_faces_their_share_and_a_head_cut_by_the_top_edge():
    photo = filled((128, 128, 128), (200, 100))  # 100 wide, 200 high
    cut = measure_photo(photo, np.array([[10, 10, 50, 60], [60, 100, 70, 110]]))
    assert cut["faces"] == 2 and cut["largest_face_share"] == pytest.approx(40 * 50 / (100 * 200))
    assert cut["head_cut_at_top"]  # half a face (25 px) above y = 10 is outside the photo
    whole = measure_photo(photo, np.array([[10, 40, 50, 90]]))
    assert not whole["head_cut_at_top"]
    none = measure_photo(photo, NO_FACES)
    assert (none["faces"], none["largest_face_share"], none["head_cut_at_top"]) == (0, 0.0, False)


def test_a_meme_looks_like_print_and_a_landscape_does_not():
    meme = decode_rgb(render_jpeg(2, 9, "meme", 320), 10**8).pixels
    outdoor = decode_rgb(render_jpeg(2, 9, "outdoor", 320), 10**8).pixels
    assert measure_photo(meme, NO_FACES)["text_likeness"] > 0.1
    assert measure_photo(outdoor, NO_FACES)["text_likeness"] < 0.5 * measure_photo(meme, NO_FACES)["text_likeness"]


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)), min_size=1, max_size=20))
def test_hue_saturation_and_value_agree_with_colorsys(colours):
    rgb = np.array(colours, np.float32)[None, :, :] / 255
    hue, saturation, value = hsv(rgb)
    for i, (r, g, b) in enumerate(colours):
        h, s, v = colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)
        assert saturation[0, i] == pytest.approx(s, abs=1e-5) and value[0, i] == pytest.approx(v, abs=1e-5)
        if s > 0:
            assert min(abs(hue[0, i] - 360 * h), 360 - abs(hue[0, i] - 360 * h)) < 1e-2


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 900), st.integers(1, 900), st.integers(0, 2**32 - 1))
def test_any_size_gives_shares_within_0_and_1(height, width, seed):
    rng = np.random.default_rng(seed)
    photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    measured = measure_photo(photo, np.array([[0, 0, width / 2, height / 2]]))
    for name in ("greenery_share", "sky_share", "water_share", "text_likeness", "largest_face_share", "saturation",
                 "brightness"):
        assert 0 <= measured[name] <= 1, (name, measured[name])
    assert all(np.isfinite(float(value)) for value in measured.values())
