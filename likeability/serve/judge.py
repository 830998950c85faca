"""A new photo judged by a finished run, as `likeability serve` answers: the faces the run's detector finds (with
curation's thresholds), P(good) from the best classic model and from the fine-tuned network, where each score
falls among the run's test photos, and the test photos that look most like it.

Photos come in batches (Serve's @serve.batch hands a replica several requests at once): one detector call and
one backbone call per batch. A photo that cannot be judged gets a Refusal with the HTTP status that says why."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from likeability.curate.faces.build import build_detector
from likeability.curate.faces.detection import Faces, in_full_photo
from likeability.embed.backbones import embed, preprocess
from likeability.embed.stage import device_for
from likeability.finetune.model import load_finetuned
from likeability.images.decode import BadImage, Decoded
from likeability.learn.predict import decode_for_scoring, load_classic_model
from likeability.run import RunFolder, run_config
from likeability.serve.gallery import Gallery, Neighbour, percentile
from likeability.tune.features import MissingInputError

# What each decoding failure means to an HTTP client.
BAD_IMAGE_STATUS = {"too_many_pixels": 413, "not_an_image": 415}


@dataclass(frozen=True)
class Refusal:
    """A photo not judged: the HTTP status (4xx) and a message for the person who sent it."""

    status: int
    error: str


@dataclass(frozen=True)
class Face:
    box: list[float]  # x1, y1, x2, y2 in the photo's own (upright) pixels
    score: float


@dataclass(frozen=True)
class ModelScore:
    model: str
    p_good: float
    percentile: float  # share of the run's test photos this model scores lower, in percent


@dataclass(frozen=True)
class Verdict:
    width: int
    height: int
    faces: list[Face]
    scores: list[ModelScore]  # the best classic model first, then the fine-tuned network when the run has one
    likeable: list[Neighbour]  # nearest test photos among the half the classic model ranks higher
    unlikeable: list[Neighbour]  # ... and among the other half

    def as_json(self) -> dict:
        return asdict(self)


def check_servable(run: RunFolder) -> None:
    """Refuses, before any replica starts, a run without a model to judge with."""
    if not run.table("final_models").read(["family"]).num_rows:
        raise MissingInputError(f"{run.location} has no final models yet: run its sweeps stage first "
                                f"(likeability sweeps --run {run.location})")


class PhotoJudge:
    """Everything a run needs to judge new photos, loaded once: its detector, best classic model with the
    backbone behind its features, fine-tuned network (when the finetune stage ran) and test photos."""

    def __init__(self, run_location: str, neighbours: int = 5):
        run = RunFolder(run_location)
        self.config = run_config(run)
        self._neighbours = neighbours
        self._detector = build_detector(self.config.faces)
        self._model, self._backbone = load_classic_model(run, self.config)
        self._finetuned = load_finetuned(run, device_for(self.config.embed)) if run.done_summary("finetune") else None
        self.gallery = Gallery(run, self._model)
        self.models = [self._model.name] + ([self._finetuned.name] if self._finetuned is not None else [])

    def judge(self, bodies: list[bytes]) -> list[Verdict | Refusal]:
        """One answer per photo, in order."""
        decoded = [self._decode(body) for body in bodies]
        images = [d for d in decoded if isinstance(d, Decoded)]
        found = iter(self._detector.detect([d.pixels for d in images]) if images else [])
        faces = [self._faces(d, next(found)) if isinstance(d, Decoded) else d for d in decoded]
        judged = [i for i, f in enumerate(faces) if isinstance(f, list)]
        scores = self._scores([decoded[i].pixels for i in judged]) if judged else ([], [])
        answers: list[Verdict | Refusal] = list(faces)
        for i, model_scores, features in zip(judged, *scores, strict=True):
            width, height = decoded[i].full_size
            likeable, unlikeable = self.gallery.nearest(features, self._neighbours)
            answers[i] = Verdict(width, height, faces[i], model_scores, likeable, unlikeable)
        return answers

    def _decode(self, body: bytes) -> Decoded | Refusal:
        try:
            return decode_for_scoring(body, self.config)
        except BadImage as err:
            return Refusal(BAD_IMAGE_STATUS.get(err.status, 422), f"not a photo this service can read: {err.detail}")

    def _faces(self, decoded: Decoded, faces: Faces) -> list[Face] | Refusal:
        width, height = decoded.full_size
        full = in_full_photo(faces, decoded.scale, width, height)
        if not len(full):
            threshold = self.config.faces.score_threshold
            return Refusal(422, f"no face found (detector score threshold {threshold}): the models learnt from "
                                "photos of people only, so this photo is not scored")
        return [Face(box.tolist(), float(score)) for box, score in zip(full.boxes, full.scores, strict=True)]

    def _scores(self, pixels: list[np.ndarray]) -> tuple[list[list[ModelScore]], np.ndarray]:
        """Each photo's model scores, and its features in the classic model's layer (for its neighbours)."""
        features = embed(self._backbone, preprocess(pixels, mirror=False))[self._model.layer]
        p_good = self._model.p_good(features)
        ranking = self._model.ranking_score(features)
        scores = [[ModelScore(self.models[0], float(p), percentile(self.gallery.sorted_ranking, r))]
                  for p, r in zip(p_good, ranking, strict=True)]
        if self._finetuned is not None:
            for row, p in zip(scores, self._finetuned.p_good(pixels), strict=True):
                row.append(ModelScore(self.models[1], float(p), percentile(self.gallery.sorted_finetuned, p)))
        return scores, features
