"""What every importer shares: the keep/drop rule, the per-unit batch of rows, and committing it resumably."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from likeability.collect.post_rules import drop_reason
from likeability.run import RunFolder

# Written last for a unit of work, so a users part (even an empty one) is the unit's commit record.
_MARKER = "users"
_DATA_TABLES = ("dropped_posts", "import_errors", "posts")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


@dataclass(frozen=True)
class Rules:
    """The study's keep rule, fixed for one import."""

    now: datetime
    min_age_days: float
    hashtags: list[str]

    def reason(self, timestamp: datetime, caption: str | None) -> str | None:
        return drop_reason(timestamp, caption, self.now, self.min_age_days, self.hashtags)


@dataclass
class Batch:
    """The rows of one unit of work (a profile folder, a chunk of a manifest), committed together."""

    key: str
    users: list[dict] = field(default_factory=list)
    posts: list[dict] = field(default_factory=list)
    dropped_posts: list[dict] = field(default_factory=list)
    import_errors: list[dict] = field(default_factory=list)

    def error(self, path: str, reason: str) -> None:
        self.import_errors.append({"path": path, "reason": reason})

    def drop(self, post: dict, reason: str) -> None:
        self.dropped_posts.append({"media_id": post["media_id"], "username": post["username"], "reason": reason})


def utc_from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


class Committer:
    """Commits batches so that a killed import resumes where it stopped and never duplicates a post or user.

    A media id or username is decided by the first unit that commits it; later units skip it (counted in
    `duplicates`). Units are processed in a fixed order, so a resumed import decides exactly as an uninterrupted one.
    """

    def __init__(self, run: RunFolder, prefix: str):
        self.run = run
        self.prefix = prefix
        self.done = {key for key in run.table(_MARKER).parts() if self._owns(key)}
        # Parts of a unit killed before its commit record must not count as already seen when it is redone.
        run.discard_uncommitted(_DATA_TABLES, commit_table=_MARKER, prefix=f"{prefix}-")
        self.media_ids = {*self._column("posts", "media_id"), *self._column("dropped_posts", "media_id")}
        self.usernames = set(self._column("users", "username"))
        self.duplicates = 0

    def key(self, name: str) -> str:
        """The part key of the unit `name`: readable where the name is safe, a hash keeps distinct names apart."""
        readable = _UNSAFE.sub("_", name).strip("_.")[-80:]
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        return f"{self.prefix}-{readable}-{digest}" if readable else f"{self.prefix}-{digest}"

    def commit(self, batch: Batch) -> None:
        batch.posts = self._first_seen(batch.posts)
        batch.dropped_posts = self._first_seen(batch.dropped_posts)
        users = [u for u in batch.users if u["username"] not in self.usernames]
        rows = {name: getattr(batch, name) for name in _DATA_TABLES}
        self.run.commit_unit(batch.key, {**rows, _MARKER: users}, commit_table=_MARKER)
        self.usernames.update(u["username"] for u in users)
        self.done.add(batch.key)

    def totals(self) -> dict:
        """Row counts of every table an importer writes, read from the run; duplicates are this invocation's."""
        counts = {name: self.run.table(name).num_rows() for name in (_MARKER, *_DATA_TABLES)}
        return {**counts, "duplicates_skipped": self.duplicates}

    def _first_seen(self, rows: list[dict]) -> list[dict]:
        kept = []
        for row in rows:
            if row["media_id"] in self.media_ids:
                self.duplicates += 1
                continue
            self.media_ids.add(row["media_id"])
            kept.append(row)
        return kept

    def _owns(self, key: str) -> bool:
        return key.startswith(f"{self.prefix}-")

    def _column(self, table: str, column: str) -> list[str]:
        return self.run.table(table).read(columns=[column]).column(column).to_pylist()
