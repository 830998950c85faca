"""Committing a Ray Data stream's output in groups: big enough for Parquet, small enough to lose little."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import pyarrow as pa


def groups(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """The stream's tables joined into groups of at least `rows` rows (the last one may be smaller)."""
    buffer: list[pa.Table] = []
    for table in tables:
        buffer.append(table)
        if sum(t.num_rows for t in buffer) >= rows:
            yield pa.concat_tables(buffer)
            buffer = []
    if buffer:
        yield pa.concat_tables(buffer)


def group_key(prefix: str, media_ids: Iterable[str]) -> str:
    """A part key named by the posts it holds, so the same group committed again replaces its part."""
    return prefix + hashlib.sha256("\n".join(sorted(media_ids)).encode()).hexdigest()[:20]
