"""Grouped, stratified cross-validation folds of the training split, mirror copies always on their original's side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.model_selection import StratifiedGroupKFold

from likeability.config import ConfigError
from likeability.tune.features import LabelledFeatures


@dataclass(frozen=True)
class Folds:
    """Which validation fold each row of one LabelledFeatures belongs to.

    Trials train with or without mirror copies but are always scored on originals only, so a sweep's scores
    with and without mirroring measure the same photos.
    """

    fold_of: np.ndarray  # int per row
    mirrored: np.ndarray  # bool per row
    count: int

    def training_rows(self, fold: int, with_mirrors: bool) -> np.ndarray:
        return np.flatnonzero((self.fold_of != fold) & (with_mirrors | ~self.mirrored))

    def validation_rows(self, fold: int) -> np.ndarray:
        return np.flatnonzero((self.fold_of == fold) & ~self.mirrored)

    def partition(self, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The folds as (train, validation) positions within `rows`, every row on exactly one validation side
        (mirror copies with their originals), as CalibratedClassifierCV's out-of-fold predictions need."""
        fold_of = self.fold_of[rows]
        return [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(self.count)]


def grouped_folds(
    data: LabelledFeatures, count: int, group_by: Literal["user", "photo"], seed: int
) -> Folds:
    """`count` folds stratified by label over the originals, grouped by user (labels.split = "user") or by photo;
    each mirror copy then joins its original's fold, so it can never train a model that validates on it."""
    originals = np.flatnonzero(~data.mirrored)
    groups = (data.username if group_by == "user" else data.media_id)[originals]
    if len(np.unique(groups)) < count:
        raise ConfigError(
            f"sweeps.folds = {count}, but the training split has only {len(np.unique(groups))} "
            f"{'users' if group_by == 'user' else 'photos'} to group into folds"
        )
    splitter = StratifiedGroupKFold(n_splits=count, shuffle=True, random_state=seed)
    fold_of = np.full(len(data), -1)
    for fold, (_, validation) in enumerate(splitter.split(originals, data.label[originals], groups)):
        fold_of[originals[validation]] = fold
    mirrors = np.flatnonzero(data.mirrored)
    position = pc.index_in(pa.array(data.media_id[mirrors]), value_set=pa.array(data.media_id[originals]))
    if position.null_count:
        raise ValueError("a mirror copy has no original among the training rows")
    fold_of[mirrors] = fold_of[originals[position.to_numpy()]]
    return Folds(fold_of=fold_of, mirrored=data.mirrored, count=count)
