"""Images inside the run, stored by content in the `images` table: the same bytes are stored once, whichever
posts carry them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

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
