import uuid
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
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


@pytest.fixture(params=["local", "s3"])
def any_run(request, tmp_path) -> RunFolder:
    """A run folder on local disk, and the same on a real S3 server (SeaweedFS), where nothing can be renamed."""
    if request.param == "local":
        return RunFolder(str(tmp_path / "run"))
    store = request.getfixturevalue("object_store")
    return RunFolder(store.uri(f"runs/{uuid.uuid4().hex}"))


def files_in(run: RunFolder, folder: str) -> list[str]:
    selector = pafs.FileSelector(run.path(folder), allow_not_found=True)
    return sorted(info.base_name for info in run.fs.get_file_info(selector))


def test_parts_markers_and_files_on_either_store(any_run):
    any_run.table("users").write_part("w0", [user("a"), user("b")])
    any_run.mark_done("collect", {"users": 2})
    any_run.write_text("report/index.html", "<html></html>")
    again = RunFolder(any_run.location)
    assert again.table("users").num_rows() == 2 and again.table("users").parts() == {"w0"}
    assert again.done_summary("collect") == {"users": 2}
    assert again.read_text("report/index.html") == "<html></html>"


def test_a_failed_write_commits_nothing_and_leaves_no_temporary_on_either_store(any_run):
    class Interrupted(BaseException):
        pass

    def crash(tmp):
        any_run.fs.open_output_stream(tmp).close()  # the temporary exists, as after a partial upload
        raise Interrupted

    with pytest.raises(Interrupted):
        any_run._write_atomically(any_run.path("users", "part-w1.parquet"), crash)
    assert files_in(any_run, "users") == []


def test_a_killed_writers_temporary_is_never_read_as_a_part_on_either_store(any_run):
    users = any_run.table("users")
    users.write_part("w0", [user("a")])
    with any_run.fs.open_output_stream(any_run.path("users", ".tmp-deadbeef-part-w1.parquet")) as half:
        half.write(b"PAR1 half written")
    assert users.parts() == {"w0"} and users.read().num_rows == 1


def test_image_parts_above_64_mib_go_up_in_several_pieces_and_come_back_whole(any_run):
    rng = np.random.default_rng(0)
    bodies = [rng.bytes(8 * 1024 * 1024) for _ in range(9)]  # 72 MiB: a multipart upload on S3
    images = any_run.table("images")
    images.write_part("g0", [{"sha256": f"{i:064x}", "format": "jpeg", "body": b} for i, b in enumerate(bodies)])
    assert images.read().column("body").to_pylist() == bodies
    any_run.write_bytes("models/big.bin", b"".join(bodies))
    assert any_run.read_bytes("models/big.bin") == b"".join(bodies)
