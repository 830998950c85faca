from datetime import UTC, datetime

import pyarrow as pa
import pytest

from likeability.run import RunFolder, SchemaError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def user(name: str, followers: int = 10) -> dict:
    return dict(username=name, ig_id=f"id-{name}", followers_count=followers, media_count=3, fetched_at=NOW)


def test_parts_commit_and_read_back(tmp_path):
    users = RunFolder(str(tmp_path / "run")).table("users")
    users.write_part("w0", [user("a"), user("b")])
    users.write_part("w1", [user("c")])
    assert users.parts() == {"w0", "w1"}
    assert users.num_rows() == 3
    table = users.read()
    assert table.schema == users.schema
    assert sorted(table.column("username").to_pylist()) == ["a", "b", "c"]


def test_a_new_folder_object_sees_what_was_committed(tmp_path):
    RunFolder(str(tmp_path)).table("users").write_part("w0", [user("a")])
    assert RunFolder(str(tmp_path)).table("users").parts() == {"w0"}


def test_rewriting_a_part_replaces_it_instead_of_duplicating(tmp_path):
    users = RunFolder(str(tmp_path)).table("users")
    users.write_part("w0", [user("a", 1)])
    users.write_part("w0", [user("a", 2)])
    assert users.read().column("followers_count").to_pylist() == [2]


def test_empty_table_reads_with_its_schema(tmp_path):
    posts = RunFolder(str(tmp_path)).table("posts")
    assert posts.read().num_rows == 0
    assert posts.read().schema == posts.schema
    assert posts.read(columns=["media_id"]).column_names == ["media_id"]
    assert posts.num_rows() == 0


def test_failed_write_leaves_neither_part_nor_temporary_file(tmp_path):
    run = RunFolder(str(tmp_path))
    users = run.table("users")
    users.write_part("w0", [user("a")])

    class Interrupted(BaseException):
        pass

    def crash(_tmp):
        raise Interrupted

    with pytest.raises(Interrupted):
        run._write_atomically(f"{users.folder}/part-w1.parquet", crash)
    assert sorted(p.name for p in (tmp_path / "users").iterdir()) == ["part-w0.parquet"]


def test_leftover_temporary_files_of_a_killed_writer_are_ignored(tmp_path):
    users = RunFolder(str(tmp_path)).table("users")
    users.write_part("w0", [user("a")])
    (tmp_path / "users" / ".tmp-deadbeef-part-w1.parquet").write_bytes(b"PAR1 half written")
    assert users.parts() == {"w0"}
    assert users.read().num_rows == 1


def test_rows_are_checked_against_the_declared_schema(tmp_path):
    users = RunFolder(str(tmp_path)).table("users")
    with pytest.raises(SchemaError, match="table users: column username has nulls but is declared not null"):
        users.write_part("w0", [user(None)])
    with pytest.raises(SchemaError, match="table users"):
        users.write_part("w0", [{**user("a"), "followers_count": "many"}])
    assert users.parts() == set()


def test_arrow_tables_are_cast_to_the_schema_or_rejected(tmp_path):
    posts = RunFolder(str(tmp_path)).table("posts")
    good = pa.table(
        {
            "media_id": ["1"],
            "username": ["a"],
            "like_count": pa.array([None], pa.int32()),
            "comments_count": [0],
            "media_type": ["IMAGE"],
            "media_url": ["http://x/1.jpg"],
            "permalink": [None],
            "timestamp": [NOW],
            "caption": ["#me"],
            "image_path": [None],
        }
    )
    posts.write_part("p0", good)
    assert posts.read().column("like_count").type == pa.int64()
    with pytest.raises(SchemaError, match=r"missing columns \['caption'\], unexpected columns \['extra'\]"):
        posts.write_part("p1", good.drop_columns(["caption"]).append_column("extra", pa.array([1])))
    with pytest.raises(SchemaError, match="column timestamp"):
        posts.write_part("p1", good.set_column(7, "timestamp", pa.array(["yesterday"])))


def test_part_keys_and_table_names_are_validated(tmp_path):
    run = RunFolder(str(tmp_path))
    with pytest.raises(ValueError, match="part key '../evil'"):
        run.table("users").write_part("../evil", [user("a")])
    with pytest.raises(KeyError, match="no schema declared for table 'photos'"):
        run.table("photos")


def test_stage_markers_and_text_files(tmp_path):
    run = RunFolder(str(tmp_path))
    assert run.done_summary("collect") is None
    assert run.read_text("config.yaml") is None
    run.mark_done("collect", {"users": 3, "when": NOW})
    assert run.done_summary("collect") == {"users": 3, "when": str(NOW)}
    run.write_text("config.yaml", "a: 1\n")
    run.write_text("config.yaml", "a: 2\n")
    assert run.read_text("config.yaml") == "a: 2\n"


def test_a_stage_start_time_is_kept_for_every_resume(tmp_path):
    first = RunFolder(str(tmp_path)).started_at("collect")
    assert first.tzinfo is not None
    assert RunFolder(str(tmp_path)).started_at("collect") == first
    assert RunFolder(str(tmp_path)).started_at("download") >= first


def test_uri_locations_work_like_paths(tmp_path):
    run = RunFolder(f"file://{tmp_path}/uri-run")
    run.table("users").write_part("w0", [user("a")])
    assert RunFolder(str(tmp_path / "uri-run")).table("users").num_rows() == 1
