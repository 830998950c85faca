"""The embed stage: CNN features of every labelled photo and of its mirror image, as a Ray Data stream.

The images live in the `images` table, a few hundred per Parquet part. Work is planned per part: one block
names a part and the labelled photos whose image is in it, so an actor reads each part once, decodes only the
photos asked for (at reduced scale when the JPEG is larger than the model needs), and yields features a batch at
a time. The driver commits a group of photos at a time into `embeddings_<backbone>`; a photo is done when its
rows (original and mirror, always in the same part) are committed, and a re-run embeds only the rest. Several
backbones (`embed.backbones`) are embedded one after another, each into its own table.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import torch

from likeability.actor_pools import actor_pool
from likeability.config import Config, EmbedConfig
from likeability.embed.backbones import load_backbone
from likeability.embed.photo_features import photo_features
from likeability.embed.weights import resolve_weights
from likeability.images.device import cpu_decoders
from likeability.images.store import plan_parts, read_bodies
from likeability.progress import Progress, tally
from likeability.run import RunFolder
from likeability.runtime import Runtime
from likeability.schemas import BACKBONE_LAYERS, embeddings_schema, embeddings_table
from likeability.stream_groups import group_key, groups

COMMIT_EVERY = 512  # photos per committed part


def device_for(config: EmbedConfig) -> str:
    return "cuda" if config.gpus_per_actor and torch.cuda.is_available() else "cpu"


class EmbedImages:
    """Ray Data callable class: for each planned part, reads it, decodes the photos asked for, embeds them."""

    def __init__(self, config: EmbedConfig, max_pixels: int, run_location: str):
        self._config = config
        self._max_pixels = max_pixels
        self._run = RunFolder(run_location)
        self._device = device_for(config)
        self._backbone = load_backbone(config, self._device)
        self._schema = embeddings_schema(config.backbone)
        self._decoders = cpu_decoders(config.decode_threads)

    def __call__(self, batch: pa.Table) -> Iterator[pa.Table]:
        for entry in batch.to_pylist():
            photos = entry["photos"]
            bodies = read_bodies(entry["part"], self._run.fs, [p["sha256"] for p in photos])
            for start in range(0, len(photos), self._config.batch_size):
                chunk = photos[start : start + self._config.batch_size]
                yield self._embed([p["media_id"] for p in chunk], [bodies[p["sha256"]] for p in chunk])

    def _embed(self, media_ids: list[str], bodies: list[bytes]) -> pa.Table:
        features = photo_features(self._backbone, bodies, self._config.mirror, self._max_pixels,
                                  cpu_decoders=self._decoders)
        copies = 2 if self._config.mirror else 1
        # preprocess puts each photo's mirror right after it
        columns = {
            "media_id": np.repeat(media_ids, copies),
            "mirrored": np.tile([False, True][:copies], len(media_ids)),
        }
        for layer, width in BACKBONE_LAYERS[self._config.backbone].items():
            values = pa.array(np.ascontiguousarray(features[layer], dtype=np.float32).ravel())
            columns[layer] = pa.FixedSizeListArray.from_arrays(values, width)
        return pa.table(columns, schema=self._schema)


def plan(run: RunFolder, backbone: str) -> list[dict]:
    """One entry per `images` part holding labelled photos still to embed (see `plan_parts`)."""
    done = run.table(embeddings_table(backbone)).read(["media_id"]).column("media_id")
    labels = run.table("labels").read(["media_id", "sha256"])
    todo = labels.filter(pc.invert(pc.is_in(labels.column("media_id"), done)))
    return plan_parts(run, todo) if todo.num_rows else []


def embed_stream(config: Config, run: RunFolder, entries: list[dict]) -> Iterator[pa.Table]:
    dataset = ray.data.from_items(entries, override_num_blocks=len(entries))
    embedded = dataset.map_batches(
        EmbedImages,
        fn_constructor_kwargs={
            "config": config.embed,
            "max_pixels": config.download.max_pixels,
            "run_location": run.location,
        },
        compute=actor_pool("embed", config.embed.actors, config.embed.gpus_per_actor, len(entries), config.ray),
        batch_size=1,  # one planned part per call; the actor yields a table per embedding batch
        batch_format="pyarrow",
        num_cpus=1,
        num_gpus=config.embed.gpus_per_actor,
    )
    yield from embedded.iter_batches(batch_size=None, batch_format="pyarrow")


def embed_into(run: RunFolder, config: Config, entries: list[dict]) -> Iterator[pa.Table]:
    """Streams the planned photos through the embedding actors, committing group by group; yields each group."""
    table = run.table(embeddings_table(config.embed.backbone))
    label = f"embed {config.embed.backbone}"
    progress = Progress(label, sum(len(entry["photos"]) for entry in entries), "photos")
    photos = tally(embed_stream(config, run, entries), progress, _originals)
    for group in groups(photos, COMMIT_EVERY):
        table.write_part(group_key("e-", group.column("media_id").to_pylist()), group)
        yield group


def _originals(rows: pa.Table) -> int:
    return pc.sum(pc.invert(rows.column("mirrored"))).as_py() or 0


def run_embed(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    for backbone in config.embed.backbones:  # in the driver first: missing weights fail here, not in actors
        resolve_weights(config.embed.only(backbone))
    photos, rows = {}, {}
    for backbone in config.embed.backbones:
        photos[backbone] = embed_backbone(config.model_copy(update={"embed": config.embed.only(backbone)}), run)
        rows[backbone] = run.table(embeddings_table(backbone)).num_rows()
    return {"backbones": config.embed.backbones, "weights": config.embed.weights, "photos": photos, "rows": rows}


def embed_backbone(config: Config, run: RunFolder) -> int:
    """Embeds what `config.embed.backbone` has not embedded yet; returns how many photos that was."""
    entries = plan(run, config.embed.backbone)
    return sum(_originals(group) for group in embed_into(run, config, entries)) if entries else 0
