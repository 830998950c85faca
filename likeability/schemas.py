"""The pyarrow schema of every table a stage writes into the run folder: the contract between stages."""

from __future__ import annotations

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

USERS = pa.schema(
    [
        pa.field("username", pa.string(), nullable=False),
        pa.field("ig_id", pa.string(), nullable=False),
        pa.field("followers_count", pa.int64(), nullable=False),
        pa.field("media_count", pa.int64(), nullable=False),
        pa.field("fetched_at", UTC_MICROS, nullable=False),
    ]
)

POSTS = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("username", pa.string(), nullable=False),
        pa.field("like_count", pa.int64()),  # null when the owner hides like counts
        pa.field("comments_count", pa.int64()),
        pa.field("media_type", pa.string(), nullable=False),
        pa.field("media_url", pa.string()),
        pa.field("permalink", pa.string()),
        pa.field("timestamp", UTC_MICROS, nullable=False),
        pa.field("caption", pa.string()),
        pa.field("image_path", pa.string()),  # a local file, set by importers; the API gives media_url instead
    ]
)

# Posts collected but not kept, and why (too young to have settled likes, no wanted hashtag, ...).
DROPPED_POSTS = pa.schema(
    [
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("username", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

# Accounts that could not be collected (unknown, private, not a business account, permission denied).
FAILED_USERS = pa.schema(
    [
        pa.field("username", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("error_code", pa.int64()),
    ]
)

# Input files an importer could not read, one row per file, so the rest of an import still lands.
IMPORT_ERRORS = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "users": USERS,
    "posts": POSTS,
    "dropped_posts": DROPPED_POSTS,
    "failed_users": FAILED_USERS,
    "import_errors": IMPORT_ERRORS,
}
