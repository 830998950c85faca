import io

import numpy as np
import pytest
from PIL import Image

from likeability.images.store import ImageStore
from likeability.run import RunFolder
from likeability.serve.judge import PhotoJudge, Refusal, Verdict, check_servable
from likeability.simulator.images import render_jpeg, render_photo, scene
from likeability.tune.features import MissingInputError


@pytest.fixture(scope="module")
def judge(demo_run) -> PhotoJudge:
    return PhotoJudge(str(demo_run[0]), neighbours=5)


def person() -> bytes:
    return render_jpeg(4, 10**9, "outdoor", 320)


def huge_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (8000, 6000)).save(out, "PNG")  # 48 megapixels, over download.max_pixels (40)
    return out.getvalue()


def test_a_person_gets_faces_both_models_scores_and_neighbours_from_the_test_split(judge, demo_run):
    (verdict,) = judge.judge([person()])
    assert isinstance(verdict, Verdict) and (verdict.width, verdict.height) == (320, 320)
    assert verdict.faces and all(0 <= x <= 320 for face in verdict.faces for x in face.box)
    assert [score.model for score in verdict.scores] == judge.models
    assert judge.models[0].startswith(("linear_svc on", "sgd_svm on", "random_forest on"))
    assert judge.models[1].startswith("fine-tuned mobilenet_v2")
    assert all(0 <= s.p_good <= 1 and 0 <= s.percentile <= 100 for s in verdict.scores)
    test_ids = {r["media_id"] for r in RunFolder(str(demo_run[0])).table("labels").read().to_pylist()
                if r["split"] == "test"}
    shown = [n.media_id for n in verdict.likeable + verdict.unlikeable]
    assert len(shown) == len(set(shown)) == 10 and set(shown) <= test_ids


@pytest.mark.parametrize("media_id", [10**9 + 81, 10**9 + 167, 10**9 + 171, 10**9 + 79, 10**9])
def test_photos_as_instagram_serves_them_are_judged_upright_at_full_size(judge, media_id):
    # 1080 x 1350 and 1080 x 564 JPEGs stored sideways with an EXIF orientation, a 1080 x 1350 PNG, a 1440 x 754
    body, stored = render_photo(4, media_id, "outdoor", 1080)
    (verdict,) = judge.judge([body])
    assert (verdict.width, verdict.height) == (stored.width, stored.height)
    upright = io.BytesIO()
    scene(4, media_id, "outdoor", stored.width, stored.height).save(upright, "PNG")
    (as_drawn,) = judge.judge([upright.getvalue()])
    assert len(verdict.faces) == len(as_drawn.faces) == 1
    assert verdict.faces[0].box == pytest.approx(as_drawn.faces[0].box, abs=0.03 * stored.width)
    assert verdict.scores[0].p_good == pytest.approx(as_drawn.scores[0].p_good, abs=0.05)


def test_a_batch_answers_each_photo_as_it_would_alone_and_in_order(judge):
    photos = [person(), render_jpeg(4, 10**9 + 1, "meme", 320), render_jpeg(5, 10**9 + 2, "outdoor", 320)]
    together = judge.judge(photos)
    alone = [judge.judge([photo])[0] for photo in photos]
    assert [type(a) for a in together] == [Verdict, Refusal, Verdict]
    for batched, single in zip(together, alone, strict=True):
        if isinstance(single, Verdict):
            assert [s.p_good for s in batched.scores] == pytest.approx([s.p_good for s in single.scores], abs=1e-5)
            assert [n.media_id for n in batched.likeable] == [n.media_id for n in single.likeable]
        else:
            assert batched == single


@pytest.mark.parametrize("body, status, says", [
    (render_jpeg(4, 10**9 + 1, "meme", 320), 422, "no face found"),
    (b"a shopping list, not a photo", 415, "not a photo this service can read"),
    (render_jpeg(4, 10**9, "outdoor", 320)[:400], 422, "not a photo this service can read"),
    (huge_png(), 413, "over download.max_pixels"),
])
def test_what_cannot_be_judged_is_refused_with_its_reason(judge, body, status, says):
    (answer,) = judge.judge([body])
    assert isinstance(answer, Refusal) and answer.status == status and says in answer.error, answer


def test_the_test_photos_the_model_ranks_first_and_last_land_at_the_ends(judge, demo_run):
    gallery = judge.gallery
    best, worst = int(np.argmax(gallery.p_good)), int(np.argmin(gallery.p_good))
    bodies = ImageStore(RunFolder(str(demo_run[0]))).get([gallery.sha256[best], gallery.sha256[worst]])
    top, bottom = judge.judge([bodies[gallery.sha256[best]], bodies[gallery.sha256[worst]]])
    assert top.scores[0].percentile >= 90 and bottom.scores[0].percentile <= 10
    assert top.likeable[0].media_id == gallery.media_id[best] and top.likeable[0].distance < 1e-3
    assert bottom.unlikeable[0].media_id == gallery.media_id[worst]


def test_a_run_without_final_models_is_refused_before_serving(tmp_path):
    with pytest.raises(MissingInputError, match="has no final models yet: run its sweeps stage first"):
        check_servable(RunFolder(str(tmp_path)))
