import io

from PIL import Image

from likeability import explain_photos
from likeability.cli import main
from likeability.explain.attributes import ATTRIBUTES
from likeability.simulator.images import render_jpeg


def test_a_scored_photo_comes_with_its_attributes_and_where_the_model_looked(demo_run, tmp_path):
    person, meme, notes = tmp_path / "person.jpg", tmp_path / "meme.jpg", tmp_path / "notes.jpg"
    person.write_bytes(render_jpeg(4, 10**9, "outdoor", 320))
    meme.write_bytes(render_jpeg(4, 10**9 + 1, "meme", 320))
    notes.write_text("a shopping list, not a photo")
    scored, faceless, unreadable = explain_photos([str(person), str(meme), str(notes)], str(demo_run[0]))
    assert scored.prediction.p_good is not None and set(scored.attributes) == set(ATTRIBUTES)
    assert scored.attributes["sky_share"] > 0.5 and scored.attributes["faces"] == 1
    assert Image.open(io.BytesIO(scored.heatmap)).size == (180, 180)
    assert faceless.prediction.p_good is None and faceless.attributes["faces"] == 0 and faceless.heatmap is None
    assert unreadable.prediction.not_an_image and unreadable.attributes is None and unreadable.heatmap is None
    (forest,) = explain_photos([str(person)], str(demo_run[0]), model="random_forest")
    assert forest.attributes == scored.attributes and forest.heatmap is None  # a forest has no gradient


def test_predict_explain_prints_the_attributes_and_writes_the_map(demo_run, tmp_path, capsys):
    person = tmp_path / "person.jpg"
    person.write_bytes(render_jpeg(4, 10**9, "outdoor", 320))
    maps = tmp_path / "maps"
    assert main(["predict", str(person), "--run", str(demo_run[0]), "--model", "finetuned", "--explain",
                 str(maps)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{person}: P(good) = ") and "fine-tuned mobilenet_v2" in lines[0]
    assert lines[1].startswith("  colourfulness ") and "greenery_share" in lines[1]
    assert lines[2] == f"  where the model looked: {maps / '001-person.gradcam.jpg'}"
    assert (maps / "001-person.gradcam.jpg").stat().st_size > 1000
