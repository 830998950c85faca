"""The instaloader importer against folders in instaloader 4.16's own format (written by its save_structure_to_file).

Fixtures: `alice` is an anonymous download (compressed JSON, profile metadata), `bob` a logged-in one with
--no-compress-json and --comments, `carol` an older download whose posts carry the full owner profile.
"""

import json
import lzma
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpers import die_at_first_commit
from likeability.collect.importers.instaloader import InstaloaderFolderError, import_instaloader
from likeability.run import RunFolder

FIXTURES = Path(__file__).parent / "fixtures" / "instaloader"
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
ALICE_IMAGE_POST = "2025-01-10_12-00-00_UTC"


def run_import(folder: Path, run_dir: Path) -> tuple[RunFolder, dict]:
    run = RunFolder(str(run_dir))
    return run, import_instaloader(folder, run, min_age_days=30, hashtags=["me"], now=NOW)


def rows(run: RunFolder, table: str) -> list[dict]:
    return run.table(table).read().to_pylist()


def by_id(run: RunFolder) -> dict[str, dict]:
    return {p["media_id"]: p for p in rows(run, "posts")}


def copy_fixtures(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES, tmp_path / "downloads"))


def mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)


def test_profiles_import_users_posts_and_dropped_posts(tmp_path):
    run, summary = run_import(FIXTURES, tmp_path / "run")

    users = {u["username"]: u for u in rows(run, "users")}
    assert {name: (u["ig_id"], u["followers_count"], u["media_count"]) for name, u in users.items()} == {
        "alice": ("1001", 1200, 6),  # instaloader drops the post count from profile metadata: posts in the folder
        "bob": ("1002", 800, 42),  # saved as media_count by a logged-in download
        "carol": ("1003", 450, 1),  # no profile file: followers from the post's owner node
    }
    assert users["alice"]["fetched_at"] == mtime(FIXTURES / "alice" / "alice_1001.json.xz")
    assert users["carol"]["fetched_at"] == mtime(FIXTURES / "carol" / "2020-06-01_06-00-00_UTC.json.xz")

    posts = by_id(run)
    assert sorted(posts) == sorted(
        ["3500000000000000001", "3500000000000000002", "3500000000000000004",
         "3600000000000000001", "3600000000000000002", "2400000000000000001"]
    )
    image = posts["3500000000000000001"]
    assert image == {
        "media_id": "3500000000000000001",
        "username": "alice",
        "like_count": 50,
        "comments_count": 3,
        "media_type": "IMAGE",
        "media_url": None,
        "permalink": "https://www.instagram.com/p/CaliceImg1/",
        "timestamp": datetime(2025, 1, 10, 12, 0, tzinfo=timezone.utc),
        "caption": "Sunny day #me #beach",
        "image_path": str(FIXTURES / "alice" / f"{ALICE_IMAGE_POST}.jpg"),
    }
    assert posts["3500000000000000002"]["media_type"] == "CAROUSEL_ALBUM"
    assert posts["3500000000000000002"]["image_path"].endswith("alice/2025-01-11_09-30-00_UTC_1.jpg")
    # bob's sidecar opens with a video slide, whose _1.jpg is only its thumbnail
    assert posts["3600000000000000002"]["image_path"].endswith("bob/2025-02-02_11-11-11_UTC_2.jpg")
    assert posts["3600000000000000002"]["caption"] == "#me then and now"  # iPhone-API node: plain `caption`
    assert posts["3600000000000000002"]["comments_count"] == 4
    assert posts["3500000000000000004"]["like_count"] is None  # like_and_view_counts_disabled, saved as 0
    assert posts["2400000000000000001"]["comments_count"] == 7
    assert all(Path(p["image_path"]).is_file() for p in posts.values())

    assert sorted((d["media_id"], d["username"], d["reason"]) for d in rows(run, "dropped_posts")) == [
        ("3500000000000000003", "alice", "video"),  # dropped although its .jpg thumbnail is there
        ("3500000000000000005", "alice", "too_young"),
        ("3500000000000000006", "alice", "no_hashtag"),
    ]
    assert rows(run, "import_errors") == []
    assert summary == {
        "source": "instaloader", "folders": 3, "folders_resumed": 0, "users": 3, "posts": 6,
        "dropped_posts": 3, "import_errors": 0, "duplicates_skipped": 0,
    }


def test_a_single_profile_folder_imports_as_itself(tmp_path):
    run, summary = run_import(FIXTURES / "alice", tmp_path / "run")
    assert [u["username"] for u in rows(run, "users")] == ["alice"]
    assert (summary["folders"], summary["posts"], summary["dropped_posts"]) == (1, 3, 3)


def test_broken_files_become_import_errors_and_the_rest_imports(tmp_path):
    downloads = copy_fixtures(tmp_path)
    alice = downloads / "alice"
    (alice / "2025-01-15_10-00-00_UTC.json.xz").write_bytes(b"\xfd7zXZ\x00 definitely not xz")
    whole = (alice / "2025-01-13_07-00-00_UTC.json.xz").read_bytes()
    (alice / "2025-01-16_10-00-00_UTC.json.xz").write_bytes(whole[: len(whole) // 2])
    keyless = {"node": {"id": "3500000000000000099", "__typename": "GraphImage"},
               "instaloader": {"version": "4.16", "node_type": "Post"}}
    with lzma.open(alice / "2025-01-17_10-00-00_UTC.json.xz", "wt", check=lzma.CHECK_NONE) as stream:
        json.dump(keyless, stream, separators=(",", ":"))
    (downloads / "bob" / "notes.json").write_text('{"todo": "not instaloader"}')
    (alice / f"{ALICE_IMAGE_POST}.jpg").unlink()

    run, summary = run_import(downloads, tmp_path / "run")

    errors = {Path(e["path"]).name: e["reason"] for e in rows(run, "import_errors")}
    assert set(errors) == {
        "2025-01-15_10-00-00_UTC.json.xz", "2025-01-16_10-00-00_UTC.json.xz", "2025-01-17_10-00-00_UTC.json.xz",
        "notes.json", f"{ALICE_IMAGE_POST}.json.xz",
    }
    assert errors["2025-01-15_10-00-00_UTC.json.xz"].startswith("unreadable metadata: LZMAError")
    assert errors["2025-01-16_10-00-00_UTC.json.xz"].startswith("unreadable metadata: EOFError")
    assert errors["2025-01-17_10-00-00_UTC.json.xz"] == "post metadata lacks shortcode, is_video, taken_at_timestamp"
    assert errors["notes.json"].startswith("not instaloader metadata")
    assert errors[f"{ALICE_IMAGE_POST}.json.xz"] == f"image file not found: {alice / ALICE_IMAGE_POST}.jpg"
    assert (summary["users"], summary["posts"], summary["dropped_posts"]) == (3, 5, 3)
    assert "3500000000000000001" not in by_id(run)


def test_posts_of_a_user_without_a_follower_count_are_reported_not_imported(tmp_path):
    hashtag = tmp_path / "downloads" / "#me"  # a hashtag target: posts of many owners, no profile metadata
    hashtag.mkdir(parents=True)
    with lzma.open(FIXTURES / "carol" / "2020-06-01_06-00-00_UTC.json.xz", "rt") as stream:
        structure = json.load(stream)
    structure["node"]["owner"] = {"id": "1003", "username": "carol"}
    with lzma.open(hashtag / "2020-06-01_06-00-00_UTC.json.xz", "wt", check=lzma.CHECK_NONE) as stream:
        json.dump(structure, stream, separators=(",", ":"))

    run, summary = run_import(tmp_path / "downloads", tmp_path / "run")
    assert rows(run, "import_errors") == [{
        "path": str(hashtag),
        "reason": "no follower count for carol: neither a profile metadata file nor a post's owner node has one; "
                  "1 post(s) not imported",
    }]
    assert (summary["users"], summary["posts"]) == (0, 0)
    assert len(run.table("users").parts()) == 1  # the folder is still committed, so a resume skips it


def test_a_post_saved_both_compressed_and_not_imports_once(tmp_path):
    downloads = copy_fixtures(tmp_path)
    with lzma.open(downloads / "alice" / f"{ALICE_IMAGE_POST}.json.xz", "rt") as stream:
        structure = json.load(stream)
    (downloads / "alice" / f"{ALICE_IMAGE_POST}.json").write_text(json.dumps(structure, indent=4, sort_keys=True))

    run, summary = run_import(downloads, tmp_path / "run")
    assert (summary["posts"], summary["duplicates_skipped"]) == (6, 1)
    assert len(by_id(run)) == 6


def test_importing_again_skips_committed_profiles(tmp_path):
    run, first = run_import(FIXTURES, tmp_path / "run")
    _, second = run_import(FIXTURES, tmp_path / "run")
    assert second == {**first, "folders_resumed": 3}
    assert len(by_id(run)) == 6 and run.table("posts").num_rows() == 6


def test_an_import_killed_mid_profile_resumes_to_the_same_tables(tmp_path, monkeypatch):
    _, clean = run_import(FIXTURES, tmp_path / "clean")
    die_at_first_commit(monkeypatch, lambda key: "bob" in key)
    with pytest.raises(OSError, match="killed"):
        run_import(FIXTURES, tmp_path / "run")
    run = RunFolder(str(tmp_path / "run"))
    # bob's posts landed, his users part (the commit record) did not: the resume must redo him, not dedupe him away
    assert {p["username"] for p in rows(run, "posts")} == {"alice", "bob"}
    assert [u["username"] for u in rows(run, "users")] == ["alice"]

    run, resumed = run_import(FIXTURES, tmp_path / "run")
    assert resumed == {**clean, "folders_resumed": 1}
    clean_run = RunFolder(str(tmp_path / "clean"))
    for table in ("users", "posts", "dropped_posts", "import_errors"):
        assert sorted(map(str, rows(run, table))) == sorted(map(str, rows(clean_run, table)))


def test_a_folder_without_instaloader_metadata_is_an_error(tmp_path):
    with pytest.raises(InstaloaderFolderError, match="not found"):
        run_import(tmp_path / "nowhere", tmp_path / "run")
    (tmp_path / "empty" / "alice").mkdir(parents=True)
    (tmp_path / "empty" / "alice" / "photo.jpg").write_bytes(b"")
    with pytest.raises(InstaloaderFolderError, match=r"no instaloader metadata \(\*\.json\.xz or \*\.json\)"):
        run_import(tmp_path / "empty", tmp_path / "run")
