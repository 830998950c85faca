import pyarrow as pa

from likeability.stream_groups import group_key, groups


def test_groups_hold_at_least_the_asked_rows_and_lose_none():
    tables = [pa.table({"x": list(range(i * 10, i * 10 + n))}) for i, n in enumerate([3, 4, 2, 6, 1])]
    grouped = list(groups(iter(tables), rows=5))
    assert [g.num_rows for g in grouped] == [7, 8, 1]
    assert sum((g.column("x").to_pylist() for g in grouped), []) == sum((t.column("x").to_pylist() for t in tables), [])
    assert list(groups(iter([]), rows=5)) == []


def test_group_key_names_the_posts_not_their_order():
    assert group_key("d-", ["b", "a"]) == group_key("d-", ["a", "b"]) != group_key("d-", ["a", "c"])
    assert group_key("d-", ["a"]).startswith("d-") and len(group_key("d-", ["a"])) == 22
