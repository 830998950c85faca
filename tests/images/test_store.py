import pyarrow as pa

from likeability.images.store import ImageStore
from likeability.run import RunFolder
from likeability.schemas import IMAGES


def images(*digests: str) -> pa.Table:
    return pa.Table.from_pylist(
        [{"sha256": d, "format": "JPEG", "body": d.encode()} for d in digests], schema=IMAGES
    )


def test_each_digest_is_stored_once_across_groups_and_processes(tmp_path):
    run = RunFolder(str(tmp_path))
    store = ImageStore(run)
    first = store.new_rows(images("a", "b", "a"))
    assert first.column("sha256").to_pylist() == ["a", "b"]
    run.table("images").write_part("g1", first)
    assert store.new_rows(images("b", "c")).column("sha256").to_pylist() == ["c"]
    # A new process (a resumed run) knows only what was committed: "c" was never written.
    assert ImageStore(run).new_rows(images("a", "c")).column("sha256").to_pylist() == ["c"]
    assert ImageStore(run).get(["b", "zz"]) == {"b": b"b"}
    assert ImageStore(run).new_rows(images()).num_rows == 0
