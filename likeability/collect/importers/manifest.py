"""Import a manifest: one row per photo, as CSV or Parquet, for photos collected by any other means.

Required columns: `image` (a local path, relative to the manifest's folder, or an http(s) URL), `likes`,
`followers`, `user`, `timestamp` (ISO 8601, or unix seconds). Optional: `media_id`, `caption`, `comments`.

Choices:
- a user's `followers_count` is the one on that user's newest post (by `timestamp`): counts drift, and the newest
  row is closest to the current count the Graph API would report. `media_count` is the user's number of readable
  rows, a lower bound. `ig_id` is `manifest:<user>`: a manifest has no Instagram id, and the prefix says so.
  `fetched_at` is the manifest file's modification time. Usernames are lowercased, as Instagram's are.
- an empty `likes` is a hidden like count (null); an empty `followers`, `user`, `image` or `timestamp` is a bad row.
- a timestamp without a zone is UTC; one after `now` is a bad row (likely milliseconds given as seconds).
- without `media_id`, the id is a hash of user and image as written, so rows naming the same photo twice import once.
- a bad row, or a kept row whose local image is missing, is one import_errors row with path `<manifest>:<n>`,
  n being the CSV line (the header is line 1; a row whose quoted field spans lines, its last line) or the 1-based
  Parquet row.
- parts are consecutive chunks of `rows_per_part` rows, keyed by chunk number: editing the manifest of a run that
  has started makes the resume inconsistent, so change the run folder instead.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from likeability.collect.importers.common import Batch, Committer, Rules, utc_from_unix
from likeability.run import RunFolder

REQUIRED_COLUMNS = ("image", "likes", "followers", "user", "timestamp")
OPTIONAL_COLUMNS = ("media_id", "caption", "comments")


class ManifestError(ValueError):
    """The manifest as a whole cannot be read; the message names the file and what is wrong."""


class _BadRow(ValueError):
    """One row cannot be imported; it becomes one import_errors row."""


@dataclass(frozen=True)
class _Row:
    label: str  # `<manifest>:<line or row>`, for import_errors
    post: dict
    followers: int


def import_manifest(
    path: Path, run: RunFolder, min_age_days: float, hashtags: list[str], now: datetime, rows_per_part: int = 1000
) -> dict:
    """Import every row of the manifest at `path`, one part per chunk of `rows_per_part` rows."""
    manifest = Path(path).expanduser().resolve()
    records = _read_records(manifest)
    parsed: list[_Row | tuple[str, str]] = []
    for label, raw in records:
        try:
            parsed.append(_parse(label, raw, manifest.parent, now))
        except _BadRow as err:
            parsed.append((label, str(err)))
    users = _users([r for r in parsed if isinstance(r, _Row)], utc_from_unix(manifest.stat().st_mtime))

    rules = Rules(now, min_age_days, hashtags)
    committer = Committer(run, "manifest")
    starts = range(0, len(parsed), rows_per_part)
    resumed = 0
    for start in starts:
        key = committer.key(f"{start // rows_per_part:06d}")
        if key in committer.done:
            resumed += 1
            continue
        chunk = parsed[start : start + rows_per_part]
        batch = Batch(key)
        for item in chunk:
            if isinstance(item, tuple):
                batch.error(*item)
            else:
                _keep_or_drop(item, rules, batch)
        # Every chunk names its users; the committer keeps each user's row from the first chunk that has it.
        batch.users = [users[name] for name in dict.fromkeys(r.post["username"] for r in chunk if isinstance(r, _Row))]
        committer.commit(batch)
    return {"source": "manifest", "rows": len(records), "parts": len(starts), "parts_resumed": resumed,
            **committer.totals()}


def _keep_or_drop(row: _Row, rules: Rules, batch: Batch) -> None:
    post = row.post
    reason = rules.reason(post["timestamp"], post["caption"])
    if reason:
        batch.drop(post, reason)
    elif post["image_path"] is not None and not Path(post["image_path"]).is_file():
        batch.error(row.label, f"image file not found: {post['image_path']}")
    else:
        batch.posts.append(post)


def _users(rows: list[_Row], fetched_at: datetime) -> dict[str, dict]:
    newest: dict[str, _Row] = {}
    counts: dict[str, int] = {}
    for row in rows:
        name = row.post["username"]
        counts[name] = counts.get(name, 0) + 1
        if name not in newest or row.post["timestamp"] > newest[name].post["timestamp"]:
            newest[name] = row
    return {
        name: {
            "username": name,
            "ig_id": f"manifest:{name}",
            "followers_count": row.followers,
            "media_count": counts[name],
            "fetched_at": fetched_at,
        }
        for name, row in newest.items()
    }


def _read_records(manifest: Path) -> list[tuple[str, dict]]:
    if not manifest.is_file():
        raise ManifestError(f"{manifest}: manifest not found")
    suffix = manifest.suffix.lower()
    if suffix == ".csv":
        return _read_csv(manifest)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(manifest)
    raise ManifestError(f"{manifest}: a manifest must be .csv or .parquet")


def _read_csv(manifest: Path) -> list[tuple[str, dict]]:
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as stream:  # utf-8-sig: spreadsheets write a BOM
            reader = csv.DictReader(stream)
            reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
            _check_columns(manifest, reader.fieldnames)
            return [(f"{manifest}:{reader.line_num}", raw) for raw in reader]
    except (csv.Error, UnicodeDecodeError) as err:
        raise ManifestError(f"{manifest}: not a readable UTF-8 CSV: {err}") from None


def _read_parquet(manifest: Path) -> list[tuple[str, dict]]:
    try:
        table = pq.read_table(manifest)
    except (pa.ArrowException, OSError) as err:
        raise ManifestError(f"{manifest}: not a readable Parquet file: {err}") from None
    table = table.rename_columns([name.strip().lower() for name in table.column_names])
    _check_columns(manifest, table.column_names)
    return [(f"{manifest}:{number}", raw) for number, raw in enumerate(table.to_pylist(), start=1)]


def _check_columns(manifest: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ManifestError(
            f"{manifest}: missing required columns {', '.join(missing)} (found: {', '.join(columns) or 'none'}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)})"
        )


def _parse(label: str, raw: dict, base: Path, now: datetime) -> _Row:
    user = _text(raw.get("user"))
    image = _text(raw.get("image"))
    if user is None or image is None:
        raise _BadRow(f"{'user' if user is None else 'image'} is empty")
    user = user.lower()
    is_url = image.lower().startswith(("http://", "https://"))
    timestamp = _timestamp(raw.get("timestamp"))
    if timestamp > now:
        raise _BadRow(f"timestamp {timestamp.isoformat()} is after now (milliseconds given as seconds?)")
    followers = _count(raw.get("followers"), "followers")
    if followers is None:
        raise _BadRow("followers is empty")
    post = {
        "media_id": _text(raw.get("media_id")) or hashlib.sha1(f"{user}\n{image}".encode()).hexdigest()[:20],
        "username": user,
        "like_count": _count(raw.get("likes"), "likes"),
        "comments_count": _count(raw.get("comments"), "comments"),
        "media_type": "IMAGE",
        "media_url": image if is_url else None,
        "permalink": None,
        "timestamp": timestamp,
        "caption": str(raw["caption"]) if _text(raw.get("caption")) else None,
        "image_path": None if is_url else str((base / Path(image).expanduser()).resolve()),
    }
    return _Row(label=label, post=post, followers=followers)


def _text(value: object) -> str | None:
    """`value` as stripped text; None for a missing value (empty cell, null, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value).strip() or None


def _count(value: object, column: str) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        try:
            as_float = float(text)
        except ValueError:
            raise _BadRow(f"{column} {text!r} is not a number") from None
        if not as_float.is_integer():
            raise _BadRow(f"{column} {text!r} is not a whole number") from None
        number = int(as_float)
    if number < 0:
        raise _BadRow(f"{column} {text!r} is negative")
    return number


def _timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        text = _text(value)
        if text is None:
            raise _BadRow("timestamp is empty")
        try:
            return utc_from_unix(float(text))
        except ValueError:
            pass
        except (OverflowError, OSError):
            raise _BadRow(f"timestamp {text!r} is out of range for unix seconds") from None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise _BadRow(f"timestamp {text!r} is neither ISO 8601 nor unix seconds") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
