"""Scoring new photos with a finished run's model: face check, embedding, P(good).

A photo without a face is reported as such instead of scored: the models only ever saw photos of people.
Files are scored in this process; folders (any number of photos) go through Ray Data with an actor pool, the
way the pipeline's own stages run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray

from likeability.actor_pools import actor_pool
from likeability.config import Config, InputNotFoundError
from likeability.curate.faces.build import build_detector
from likeability.curate.faces.detection import Faces
from likeability.embed.backbones import Backbone, embed, load_backbone, preprocess
from likeability.embed.photo_features import DECODE_FIT
from likeability.embed.stage import device_for
from likeability.finetune.model import FinetunedModel, load_finetuned
from likeability.images.decode import BadImage, Decoded, decode_rgb
from likeability.run import RunFolder, run_config
from likeability.tune.final_models import FinalModel, load_final_model

FINETUNED = "finetuned"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp"}


@dataclass(frozen=True)
class Prediction:
    source: str
    p_good: float | None  # None when the photo was not scored; `note` says why
    faces: int
    model: str
    note: str | None = None
    not_an_image: bool = False  # the file could not be read as a photo: a mistake in the input, not a verdict

    def line(self) -> str:
        if self.p_good is None:
            return f"{self.source}: {self.note}"
        return f"{self.source}: P(good) = {self.p_good:.3f} ({self.faces} face{'s' * (self.faces != 1)}; {self.model})"


def load_classic_model(
    run: RunFolder, config: Config, family: str | None = None, backbone: str | None = None
) -> tuple[FinalModel, Backbone]:
    """A final classic model (the best by cross-validated AP among those of `family` and `backbone` when given)
    and the backbone that makes its features: the model's own backbone and weights, whatever the config says
    now."""
    model = load_final_model(run, family, backbone)
    embedding = config.embed.model_copy(update={"backbones": [model.backbone], "weights": model.weights})
    return model, load_backbone(embedding, device_for(embedding))


def decode_for_scoring(body: bytes, config: Config) -> Decoded:
    """A new photo decoded once for both the face detector and the backbone (never below either's input size);
    raises BadImage as curation would record it."""
    return decode_rgb(body, config.download.max_pixels, fit=max(config.faces.input_size, DECODE_FIT))


class PhotoScorer:
    """A run's face detector and one of its models, loaded once; `score` takes one photo's bytes.

    `family`: a classic model family (linear_svc, sgd_svm, random_forest), "finetuned" for the fine-tuned
    network, or None for the best classic model by cross-validated AP. The model is `finetuned`, or `classic`
    with its `backbone`.
    """

    def __init__(self, run_location: str, family: str | None = None):
        run = RunFolder(run_location)
        config = run_config(run)
        self._config = config
        self._detector = build_detector(config.faces)
        self.finetuned: FinetunedModel | None = None
        self.classic: FinalModel | None = None
        if family == FINETUNED:
            self.finetuned = load_finetuned(run, device_for(config.embed))
            self.name = f"{self.finetuned.name} (iteration {self.finetuned.iteration})"
            return
        self.classic, self.backbone = load_classic_model(run, config, family)
        mirrored = " with mirrors" if self.classic.mirrored else ""
        self.name = f"{self.classic.name}{mirrored}"

    def score(self, source: str, body: bytes) -> Prediction:
        return self.look(source, body)[0]

    def look(self, source: str, body: bytes) -> tuple[Prediction, Decoded | None, Faces | None]:
        """The prediction, with the decoded photo and its faces (in the decoded pixels) where it decoded."""
        try:
            decoded = decode_for_scoring(body, self._config)
        except BadImage as err:
            return Prediction(source, None, 0, self.name, f"not scored: {err.status} ({err.detail})", True), None, None
        faces = self._detector.detect([decoded.pixels])[0]
        if not len(faces):
            note = "no face: not scored (the model knows photos of people)"
            return Prediction(source, None, 0, self.name, note), decoded, faces
        return Prediction(source, float(self._p_good(decoded.pixels)), len(faces), self.name), decoded, faces

    def _p_good(self, pixels: np.ndarray) -> float:
        if self.finetuned is not None:
            return self.finetuned.p_good([pixels])[0]
        features = embed(self.backbone, preprocess([pixels], mirror=False))[self.classic.layer]
        return self.classic.p_good(features)[0]

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Ray Data entry point: rows of (path, bytes) in, one prediction per row out."""
        rows = [asdict(self.score(path, body)) for path, body in
                zip(batch.column("path").to_pylist(), batch.column("bytes").to_pylist(), strict=True)]
        return pa.Table.from_pylist(rows)


def predict(sources: list[str], run: str, model: str | None = None) -> list[Prediction]:
    """P(good) for each photo file, and for every photo in each folder (through Ray Data), in the given order.

    `model`: a model family (linear_svc, sgd_svm, random_forest), "finetuned", or None for the run's best
    classic model by cross-validated AP.
    """
    files, folders = files_and_folders(sources)
    predictions = []
    if files:
        scorer = PhotoScorer(run, model)
        predictions += [scorer.score(str(path), path.read_bytes()) for path in files]
    for folder in folders:
        predictions += _predict_folder(folder, run, model)
    return predictions


def files_and_folders(sources: list[str]) -> tuple[list[Path], list[Path]]:
    """The photo files and the folders among `sources`; InputNotFoundError names one that is neither."""
    files, folders = [], []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            folders.append(path)
        elif path.is_file():
            files.append(path)
        else:
            raise InputNotFoundError(f"{source}: no such photo or folder")
    return files, folders


def photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _predict_folder(folder: Path, run: str, model: str | None) -> list[Prediction]:
    photos = [str(p) for p in photos_in(folder)]
    if not photos:
        return []
    config = run_config(RunFolder(run))
    # Reading takes no CPU slot: the scoring pool may hold every CPU, and reads waiting for one would hang.
    files = ray.data.read_binary_files(photos, include_paths=True, num_cpus=0)
    scored = files.map_batches(
        PhotoScorer,
        fn_constructor_kwargs={"run_location": run, "family": model},
        compute=actor_pool("embed", config.embed.actors, config.embed.gpus_per_actor, len(photos), config.ray),
        batch_size=16,
        batch_format="pyarrow",
        num_cpus=1,
        num_gpus=config.embed.gpus_per_actor,
    )
    rows = {row["source"]: Prediction(**row) for row in scored.iter_rows()}
    return [rows[p] for p in photos]


def p_good_summary(predictions: list[Prediction]) -> str:
    scored = [p.p_good for p in predictions if p.p_good is not None]
    if not scored:
        return f"{len(predictions)} photos, none scored"
    return f"{len(predictions)} photos, {len(scored)} scored, mean P(good) {np.mean(scored):.3f}"
