"""The manifest importer: CSV and Parquet manifests, bad rows reported by line, resumable in chunks."""

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import die_at_first_commit
from likeability.collect.importers.manifest import ManifestError, import_manifest
from likeability.run import RunFolder

FIXTURES = Path(__file__).parent / "fixtures" / "manifest"
MANIFEST = FIXTURES / "manifest.csv"
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)


def run_import(manifest: Path, run_dir: Path, rows_per_part: int = 4) -> tuple[RunFolder, dict]:
    run = RunFolder(str(run_dir))
    summary = import_manifest(manifest, run, min_age_days=30, hashtags=["me"], now=NOW, rows_per_part=rows_per_part)
    return run, summary


def rows(run: RunFolder, table: str) -> list[dict]:
    return run.table(table).read().to_pylist()


def test_csv_rows_become_users_posts_drops_and_errors_by_line(tmp_path):
    run, summary = run_import(MANIFEST, tmp_path / "run")

    fetched_at = datetime.fromtimestamp(MANIFEST.stat().st_mtime, tz=timezone.utc)
    users = sorted(rows(run, "users"), key=lambda u: u["username"])
    assert {u["fetched_at"] for u in users} == {fetched_at}
    # followers from each user's newest readable row; media_count counts readable rows, duplicates included
    assert [(u["username"], u["ig_id"], u["followers_count"], u["media_count"]) for u in users] == [
        ("ann", "manifest:ann", 1600, 3),
        ("bob", "manifest:bob", 910, 4),
        ("cy", "manifest:cy", 700, 1),
    ]

    posts = {p["media_id"]: p for p in rows(run, "posts")}
    assert len(posts) == 4
    ann = [p for p in posts.values() if p["username"] == "ann"]
    assert sorted(p["image_path"] for p in ann) == [str(FIXTURES / "images" / f"{n}.jpg") for n in ("a1", "a2")]
    first = next(p for p in ann if p["image_path"].endswith("a1.jpg"))
    assert (first["like_count"], first["comments_count"], first["caption"]) == (120, 4, "Sunny, warm #me")
    assert first["timestamp"] == datetime(2025, 1, 5, 10, tzinfo=timezone.utc)
    hidden = next(p for p in ann if p["image_path"].endswith("a2.jpg"))
    assert (hidden["like_count"], hidden["comments_count"]) == (None, None)
    assert hidden["timestamp"] == datetime.fromtimestamp(1736600000, tz=timezone.utc)
    assert posts["b-1"]["media_url"] == "https://cdn.example.org/p/b1.jpg" and posts["b-1"]["image_path"] is None
    assert posts["b-1"]["timestamp"] == datetime(2025, 2, 1, 8, 30, tzinfo=timezone.utc)  # no zone: UTC
    assert posts["b-4"]["caption"] == "line one\n#me line two"
    assert {p["media_type"] for p in posts.values()} == {"IMAGE"}

    assert sorted((d["media_id"], d["reason"]) for d in rows(run, "dropped_posts")) == [
        ("b-2", "too_young"), ("b-3", "no_hashtag")
    ]
    assert rows(run, "import_errors") == [
        {"path": f"{MANIFEST}:7", "reason": "likes 'many' is not a number"},
        {"path": f"{MANIFEST}:8", "reason": "followers '-3' is negative"},
        {"path": f"{MANIFEST}:9", "reason": "timestamp 'last tuesday' is neither ISO 8601 nor unix seconds"},
        {"path": f"{MANIFEST}:10", "reason": f"image file not found: {FIXTURES / 'images' / 'missing.jpg'}"},
        {"path": f"{MANIFEST}:14", "reason": "likes '3.5' is not a whole number"},  # lines 12-13 are one row
    ]
    assert summary == {
        "source": "manifest", "rows": 12, "parts": 3, "parts_resumed": 0, "users": 3, "posts": 4,
        "dropped_posts": 2, "import_errors": 5, "duplicates_skipped": 1,  # line 11 repeats line 2
    }


def test_parquet_with_typed_columns(tmp_path):
    shutil.copytree(FIXTURES / "images", tmp_path / "photos" / "images")
    manifest = tmp_path / "photos" / "manifest.parquet"
    pq.write_table(
        pa.table({
            "Image": ["images/a1.jpg", "images/b1.jpg", "https://cdn.example.org/x.jpg", "images/a2.jpg"],
            "likes": pa.array([10, None, 7, 3], pa.int64()),
            "followers": pa.array([100, 200, -1, 100], pa.int64()),
            "user": ["Dee", "eve", "eve", "dee"],
            "timestamp": pa.array([datetime(2025, 1, 1, 12), datetime(2025, 1, 2), datetime(2025, 1, 3),
                                   datetime(2025, 5, 30)], pa.timestamp("s")),
            "caption": ["#me", "#me too", "#me", "#me"],
        }),
        manifest,
    )
    run, summary = run_import(manifest, tmp_path / "run")

    posts = sorted(rows(run, "posts"), key=lambda p: p["timestamp"])
    assert [(p["username"], p["like_count"], p["image_path"]) for p in posts] == [
        ("dee", 10, str(tmp_path / "photos" / "images" / "a1.jpg")),
        ("eve", None, str(tmp_path / "photos" / "images" / "b1.jpg")),
    ]
    assert posts[0]["timestamp"] == datetime(2025, 1, 1, 12, tzinfo=timezone.utc)
    assert rows(run, "import_errors") == [{"path": f"{manifest}:3", "reason": "followers '-1' is negative"}]
    assert rows(run, "dropped_posts")[0]["reason"] == "too_young"
    assert (summary["users"], summary["posts"], summary["dropped_posts"]) == (2, 2, 1)


def test_missing_columns_name_the_file_and_the_columns(tmp_path):
    manifest = tmp_path / "photos.csv"
    manifest.write_text("image,likes,username,when\na.jpg,1,ann,2025-01-01\n")
    with pytest.raises(ManifestError) as err:
        run_import(manifest, tmp_path / "run")
    assert str(err.value).startswith(f"{manifest}: missing required columns followers, user, timestamp (found: ")
    with pytest.raises(ManifestError, match=r"must be \.csv or \.parquet"):
        run_import(manifest.rename(tmp_path / "photos.xlsx"), tmp_path / "run")


def test_importing_again_skips_committed_chunks(tmp_path):
    run, first = run_import(MANIFEST, tmp_path / "run")
    _, second = run_import(MANIFEST, tmp_path / "run")
    assert second == {**first, "parts_resumed": 3, "duplicates_skipped": 0}
    assert run.table("posts").num_rows() == 4 and run.table("users").num_rows() == 3


def test_an_import_killed_mid_chunk_resumes_to_the_same_tables(tmp_path, monkeypatch):
    clean_run, clean = run_import(MANIFEST, tmp_path / "clean")
    die_at_first_commit(monkeypatch, lambda key: key.startswith("manifest-000001-"))
    with pytest.raises(OSError, match="killed"):
        run_import(MANIFEST, tmp_path / "run")
    run, resumed = run_import(MANIFEST, tmp_path / "run")

    assert resumed == {**clean, "parts_resumed": 1}
    for table in ("users", "posts", "dropped_posts", "import_errors"):
        assert sorted(map(str, rows(run, table))) == sorted(map(str, rows(clean_run, table)))
