"""A new photo's score with its explanation: what it shows (its attributes, as the explain stage measures the
test photos) and where the scoring model looked (its Grad-CAM map), for `likeability predict --explain DIR` and
`likeability.explain_photos`. Photos are explained one by one in this process."""

from __future__ import annotations

from dataclasses import dataclass

from likeability.explain.attributes import measure_photo
from likeability.explain.saliency import SaliencyMaps, classic_scorer, finetuned_scorer
from likeability.learn.predict import PhotoScorer, Prediction, files_and_folders, photos_in


@dataclass(frozen=True)
class ExplainedPrediction:
    prediction: Prediction
    attributes: dict[str, float | int | bool] | None  # None when the file is not a photo this tool can read
    # A JPEG of the scoring model's map over the photo's 224 px centre crop; None when the photo was not scored or
    # the model has no gradient (a forest) or no convolutional maps (ViT).
    heatmap: bytes | None


class PhotoExplainer:
    def __init__(self, run_location: str, family: str | None = None):
        self._scorer = PhotoScorer(run_location, family)
        scorer = self._scorer
        self._maps = SaliencyMaps(finetuned_scorer(scorer.finetuned) if scorer.finetuned is not None
                                  else classic_scorer(scorer.classic, scorer.backbone))

    def explain(self, source: str, body: bytes) -> ExplainedPrediction:
        prediction, decoded, faces = self._scorer.look(source, body)
        if decoded is None:
            return ExplainedPrediction(prediction, None, None)
        attributes = measure_photo(decoded.pixels, faces.boxes)
        if prediction.p_good is None or not self._maps.scorers:
            return ExplainedPrediction(prediction, attributes, None)
        ((heatmap,),) = self._maps.overlays([decoded.pixels]).values()
        return ExplainedPrediction(prediction, attributes, heatmap)


def explain_photos(sources: list[str], run: str, model: str | None = None) -> list[ExplainedPrediction]:
    """`predict`'s P(good) for each photo file and each photo in each folder, in order, each with its attributes
    and heatmap. `model` as for `predict`."""
    files, folders = files_and_folders(sources)
    explainer = PhotoExplainer(run, model)
    return [explainer.explain(str(path), path.read_bytes())
            for path in files + [photo for folder in folders for photo in photos_in(folder)]]
