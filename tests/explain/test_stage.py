import numpy as np

from likeability.explain.attributes import ATTRIBUTES
from likeability.run import RunFolder
from likeability.tune.features import load_labelled_features
from likeability.tune.final_models import load_final_model

# What the simulator plants (likeability.simulator.world): outdoor photos (green ground, sky) and desaturated
# close-ups (a large face) get more likes per follower than indoor ones.
OUTDOOR = ("greenery_share", "sky_share")
CLOSEUP = ("largest_face_share", "greyscale")


def test_every_test_photo_is_measured_scored_and_placed_on_the_map(demo_run):
    run = RunFolder(str(demo_run[0]))
    model = load_final_model(run)
    test = load_labelled_features(run, model.backbone, [model.layer]).test_originals()
    photos = run.table("photo_attributes").read()
    assert sorted(photos.column("media_id").to_pylist()) == sorted(test.media_id.tolist())
    assert np.isfinite(photos.column("map_x").to_numpy()).all() and photos.column("map_x").to_numpy().std() > 0
    assert min(photos.column("faces").to_pylist()) >= 1  # curation kept only photos with a face
    assert run.done_summary("explain")["model"] == f"{model.family} on {model.backbone} {model.layer}"


def test_what_the_simulator_planted_ranks_at_the_top_for_the_model_and_shows_in_the_likes(demo_run):
    effects = {e["attribute"]: e for e in RunFolder(str(demo_run[0])).table("attribute_effects").read().to_pylist()}
    assert set(effects) == set(ATTRIBUTES)
    by_score = sorted(effects, key=lambda name: -abs(np.nan_to_num(effects[name]["with_score"])))
    assert by_score[0] == "sky_share" and "greenery_share" in by_score[:3], by_score
    for name in OUTDOOR:
        assert effects[name]["with_score_low"] > 0 and effects[name]["with_label"] > 0, effects[name]
    # with the likes, beyond doubt (intervals over users): the sky, and at least one mark of a close-up
    assert effects["sky_share"]["with_label_low"] > 0, effects["sky_share"]
    assert max(effects[name]["with_label_low"] for name in CLOSEUP) > 0, [effects[n] for n in CLOSEUP]
