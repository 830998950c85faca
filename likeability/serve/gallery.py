"""The run's test photos as a yardstick for a new photo: where its score falls among theirs, and which of them
look most like it (nearest in the classic model's feature space)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from likeability.run import RunFolder
from likeability.tune.features import image_digests, load_labelled_features
from likeability.tune.final_models import FinalModel


@dataclass(frozen=True)
class Neighbour:
    """A test photo near the new one: how far (cosine distance), how the model scores it, what it really was."""

    media_id: str
    sha256: str
    distance: float
    p_good: float
    label: int  # 1 = good: above its group's median likes per follower


def percentile(sorted_scores: np.ndarray, score: float) -> float:
    """The share of `sorted_scores` below `score`, ties counted half, in percent."""
    below = np.searchsorted(sorted_scores, score, side="left")
    at_or_below = np.searchsorted(sorted_scores, score, side="right")
    return float(100.0 * (below + at_or_below) / (2 * len(sorted_scores)))


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1, so one product gives cosine similarities; all-zero rows stay zero."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


class Gallery:
    """The test photos (originals) as the classic `model` sees them, and as the fine-tuned network scored them
    when the run has one (its `finetune_scores` table)."""

    def __init__(self, run: RunFolder, model: FinalModel):
        test = load_labelled_features(run, model.backbone, [model.layer]).test_originals()
        self.media_id = test.media_id
        self.sha256 = np.array(image_digests(run, test.media_id))
        self.label = test.label
        self.p_good = model.p_good(test.layers[model.layer])
        self._unit_features = unit_rows(test.layers[model.layer])
        ranking = model.ranking_score(test.layers[model.layer])
        # Likeable: the half the model ranks higher (by the score it ranks with, as the report's contact sheets).
        self._likeable = ranking >= np.median(ranking)
        self.sorted_ranking = np.sort(ranking)
        finetuned = run.table("finetune_scores").read(["p_good"]).column("p_good").to_numpy()
        self.sorted_finetuned = np.sort(finetuned)

    def __len__(self) -> int:
        return len(self.media_id)

    def nearest(self, features: np.ndarray, count: int) -> tuple[list[Neighbour], list[Neighbour]]:
        """The `count` test photos nearest to `features` (one photo's row) among the likeable half, and among the
        other half, nearest first."""
        distance = 1.0 - self._unit_features @ unit_rows(features[None, :])[0]
        return self._closest(distance, self._likeable, count), self._closest(distance, ~self._likeable, count)

    def _closest(self, distance: np.ndarray, among: np.ndarray, count: int) -> list[Neighbour]:
        rows = np.flatnonzero(among)
        rows = rows[np.argsort(distance[rows], kind="stable")[:count]]
        return [Neighbour(str(self.media_id[i]), str(self.sha256[i]), float(distance[i]), float(self.p_good[i]),
                          int(self.label[i])) for i in rows]
