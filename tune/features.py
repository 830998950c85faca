"""Labelled CNN features: the embeddings table joined to the labels, read once from the run, as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from likeability.config import ConfigError
from likeability.run import RunFolder
from likeability.schemas import BACKBONE_LAYERS, embeddings_table


class MissingInputError(RuntimeError):
    """A table the sweeps read is missing or incomplete; the message names it and the stage that writes it."""


@dataclass(frozen=True)
class LabelledFeatures:
    """One row per embedded image: each labelled photo's original and, when embedded, its mirror copy.

    A mirror row carries its original's media_id, username, label and split, so anything grouped by photo or by
    user keeps the pair together. Rows are sorted by (media_id, mirrored), so a run always yields the same order.
    """

    media_id: np.ndarray  # str
    username: np.ndarray  # str
    mirrored: np.ndarray  # bool
    label: np.ndarray  # int8, 1 = good
    split: np.ndarray  # str: train or test
    layers: dict[str, np.ndarray]  # layer name -> float32 [rows, width]

    def __len__(self) -> int:
        return len(self.media_id)

    def subset(self, rows: np.ndarray) -> LabelledFeatures:
        """The given rows (a boolean mask or indices), every array copied in that order."""
        return LabelledFeatures(
            media_id=self.media_id[rows],
            username=self.username[rows],
            mirrored=self.mirrored[rows],
            label=self.label[rows],
            split=self.split[rows],
            layers={name: matrix[rows] for name, matrix in self.layers.items()},
        )

    def training(self) -> LabelledFeatures:
        return self.subset(self.split == "train")

    def test_originals(self) -> LabelledFeatures:
        """The test split without mirror copies: a model is judged on photos as they were posted."""
        return self.subset((self.split == "test") & ~self.mirrored)


def sweep_layers(backbones: list[str], requested: list[str]) -> dict[str, list[str]]:
    """Each backbone's layers to sweep: those named in `requested` (sweeps.layers) that it has, or all when empty.

    Checked for every backbone before the first trial, so a bad name cannot stop a sweep halfway through.
    """
    unknown = [name for name in requested if not any(name in BACKBONE_LAYERS[b] for b in backbones)]
    if unknown:
        have = {b: list(BACKBONE_LAYERS[b]) for b in backbones}
        raise ConfigError(f"sweeps.layers: {unknown} are layers of none of embed.backbones; they have {have}")
    layers = {b: [name for name in BACKBONE_LAYERS[b] if not requested or name in requested] for b in backbones}
    bare = [b for b, names in layers.items() if not names]
    if bare:
        raise ConfigError(f"sweeps.layers = {requested} names no layer of {bare}; add one of "
                          f"{ {b: list(BACKBONE_LAYERS[b]) for b in bare} } or drop them from embed.backbones")
    return layers


def image_digests(run: RunFolder, media_ids: np.ndarray) -> list[str]:
    """The sha256 (the key into `images`) of each of these labelled photos, in their order."""
    labels = run.table("labels").read(["media_id", "sha256"], where=pc.field("media_id").isin(media_ids))
    digest = dict(zip(labels.column("media_id").to_pylist(), labels.column("sha256").to_pylist(), strict=True))
    return [digest[m] for m in media_ids]


def load_labelled_features(run: RunFolder, backbone: str, layers: list[str]) -> LabelledFeatures:
    """Every labelled photo's features (both splits), each table read once; errors name what is missing."""
    labels = run.table("labels").read(["media_id", "username", "label", "split"])
    if labels.num_rows == 0:
        raise MissingInputError(f"the labels table in {run.location} is empty; run the labels stage first")
    name = embeddings_table(backbone)
    embeddings = run.table(name).read(["media_id", "mirrored", *layers])
    if embeddings.num_rows == 0:
        raise MissingInputError(f"the {name} table in {run.location} is empty; run the embed stage first")

    # Embedded photos that carry no label (left out by labels.drop_middle, say) are not learned from.
    label_row = pc.index_in(embeddings.column("media_id"), value_set=labels.column("media_id"))
    embeddings = embeddings.append_column("label_row", label_row).filter(label_row.is_valid())
    _check_one_original_each(embeddings, labels, name, run.location)
    embeddings = embeddings.take(pc.sort_indices(embeddings, [("media_id", "ascending"), ("mirrored", "ascending")]))

    rows = embeddings.column("label_row").to_numpy()
    return LabelledFeatures(
        media_id=_strings(labels.column("media_id"))[rows],
        username=_strings(labels.column("username"))[rows],
        mirrored=embeddings.column("mirrored").to_numpy(),
        label=labels.column("label").to_numpy()[rows],
        split=_strings(labels.column("split"))[rows],
        layers={layer: _matrix(embeddings.column(layer)) for layer in layers},
    )


def _check_one_original_each(embeddings: pa.Table, labels: pa.Table, name: str, location: str) -> None:
    originals = embeddings.filter(pc.invert(embeddings.column("mirrored"))).column("media_id")
    covered = pc.is_in(labels.column("media_id"), value_set=originals)
    missing = labels.filter(pc.invert(covered)).column("media_id")
    if len(missing):
        raise MissingInputError(
            f"{name} in {location} has no features for {len(missing)} of {labels.num_rows} labelled photos "
            f"(e.g. media_id {missing[0].as_py()}); run the embed stage first"
        )
    if len(originals) > labels.num_rows:
        raise MissingInputError(
            f"{name} in {location} holds {len(originals)} original rows for {labels.num_rows} labelled photos: "
            f"a photo was embedded twice; run the embed stage again"
        )


def _strings(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False).astype(str)


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    """A fixed-size float32 list column as one [rows, width] array, without a Python loop over rows."""
    values = column.combine_chunks()
    return values.flatten().to_numpy(zero_copy_only=False).reshape(len(values), values.type.list_size)
