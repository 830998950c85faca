"""Images inside the run, stored by content in the `images` table: the same bytes are stored once, whichever
posts carry them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from likeability.config import ConfigError
from likeability.run import RunFolder


class ImageStore:
    def __init__(self, run: RunFolder):
        self._table = run.table("images")
        self._known = set(self._table.read(["sha256"]).column("sha256").to_pylist())

    def new_rows(self, images: pa.Table) -> pa.Table:
        """The rows of `images` (sha256, format, body) not stored yet, each digest once; they count as stored
        from now on, so the caller must commit them (a crashed process starts over from what is on disk)."""
        fresh, seen = [], set()
        for index, digest in enumerate(images.column("sha256").to_pylist()):
            if digest not in self._known and digest not in seen:
                fresh.append(index)
                seen.add(digest)
        self._known |= seen
        return images.take(pa.array(fresh, pa.int64()))

    def get(self, digests: list[str]) -> dict[str, bytes]:
        """The stored bytes of each digest that is stored."""
        found = self._table.read(where=pc.field("sha256").isin(digests))
        return dict(zip(found.column("sha256").to_pylist(), found.column("body").to_pylist(), strict=True))


def plan_parts(run: RunFolder, photos: pa.Table) -> list[dict]:
    """One entry per `images` part holding some of `photos` (rows with media_id and sha256): the part's path and
    those photos' rows, each photo once. Only the parts' sha256 columns are read, so the table may be far
    larger than memory; the bodies are read later, part by part, where the photos are processed."""
    entries, placed = [], set()
    for path in run.table("images").part_paths():
        stored = pq.read_table(path, filesystem=run.fs, columns=["sha256"]).column("sha256")
        here = [row for row in photos.filter(pc.is_in(photos.column("sha256"), stored)).to_pylist()
                if row["media_id"] not in placed]
        if here:
            entries.append({"part": path, "photos": here})
            placed.update(row["media_id"] for row in here)
    if len(placed) < photos.num_rows:
        raise ConfigError(
            f"{photos.num_rows - len(placed)} labelled photos have no stored image in {run.location}; run curate again"
        )
    return entries


def read_bodies(part: str, filesystem: pafs.FileSystem, digests: list[str]) -> dict[str, bytes]:
    """The bodies of `digests` stored in one `images` part (a path from `plan_parts`)."""
    stored = pq.read_table(part, filesystem=filesystem, columns=["sha256", "body"],
                           filters=pc.field("sha256").isin(digests))
    return dict(zip(stored.column("sha256").to_pylist(), stored.column("body").to_pylist(), strict=True))
