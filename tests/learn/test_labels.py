from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from likeability.config import Config, LabelsConfig
from likeability.learn.labels import assign, assign_all, follower_groups, run_labels
from likeability.run import RunFolder
from likeability.runtime import Runtime

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def photos(users: int = 40, per_user: int = 5, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        followers = int(rng.integers(100, 100_000))
        for p in range(per_user):
            rows.append({"media_id": f"{u}-{p}", "username": f"user{u}", "sha256": f"s{u}-{p}",
                         "like_count": int(rng.integers(0, followers)), "followers_count": followers})
    return pa.Table.from_pylist(rows)


def test_user_split_keeps_every_user_on_one_side_at_about_three_to_one():
    labelled = assign(photos(), LabelsConfig(seed=3)).to_pylist()
    sides: dict[str, set[str]] = {}
    for row in labelled:
        sides.setdefault(row["username"], set()).add(row["split"])
    assert all(len(s) == 1 for s in sides.values())
    assert sum(r["split"] == "test" for r in labelled) == 10 * 5  # 25% of 40 users


def test_photo_split_reproduces_the_study_and_lets_users_straddle():
    labelled = assign(photos(), LabelsConfig(split="photo", seed=3)).to_pylist()
    straddling = {r["username"] for r in labelled if r["split"] == "test"} & {
        r["username"] for r in labelled if r["split"] == "train"}
    assert straddling
    assert 0.15 < sum(r["split"] == "test" for r in labelled) / len(labelled) < 0.35


def test_median_comes_from_training_photos_only():
    table = photos()
    labelled = assign(table, LabelsConfig(seed=3))
    train = [r for r in labelled.to_pylist() if r["split"] == "train"]
    median = np.median([r["ratio"] for r in train])
    for row in labelled.to_pylist():
        assert row["label"] == int(row["ratio"] > median)
    # Test photos' ratios do not move it: multiply them all by 1000 and the training labels stay the same.
    test_users = {r["username"] for r in labelled.to_pylist() if r["split"] == "test"}
    boosted = pa.Table.from_pylist([
        {**r, "like_count": r["like_count"] * 1000 if r["username"] in test_users else r["like_count"]}
        for r in table.to_pylist()
    ])
    again = {r["media_id"]: r["label"] for r in assign(boosted, LabelsConfig(seed=3)).to_pylist()}
    assert all(again[r["media_id"]] == r["label"] for r in train)


def test_karpathy_groups_split_at_each_groups_own_median():
    labelled = assign(photos(users=60), LabelsConfig(follower_groups=3, seed=2)).to_pylist()
    for group in range(3):
        train = [r for r in labelled if r["follower_group"] == group and r["split"] == "train"]
        assert 0.4 <= sum(r["label"] for r in train) / len(train) <= 0.6
    by_user = {}
    for r in labelled:
        by_user[r["username"]] = (r["followers_count"], r["follower_group"])
    ordered = [g for _, g in sorted(by_user.values())]
    assert ordered == sorted(ordered)  # groups follow follower counts


def test_follower_groups_cut_users_evenly():
    users = np.array(["a", "a", "b", "c", "d"])
    followers = np.array([10, 10, 5, 100, 50])
    assert follower_groups(users, followers, 2).tolist() == [0, 0, 0, 1, 1]


def test_drop_middle_leaves_the_photos_nearest_the_median_unlabelled():
    full = assign(photos(users=80), LabelsConfig(seed=3))
    banded = assign(photos(users=80), LabelsConfig(seed=3, drop_middle=0.4))
    assert 0.3 < 1 - banded.num_rows / full.num_rows < 0.5
    train = np.array([r["ratio"] for r in full.to_pylist() if r["split"] == "train"])
    low, high = np.quantile(train, [0.3, 0.7])
    assert not any(low < r["ratio"] <= high for r in banded.to_pylist())


def test_stage_labels_only_downloaded_photos_with_a_face(tmp_path):
    run = RunFolder(str(tmp_path))
    run.table("candidates").write_part("all", [
        dict(media_id=m, username="u" + m, like_count=int(m), followers_count=10, timestamp=NOW, media_url="x",
             image_path=None) for m in "1234"
    ])
    run.table("downloads").write_part("d", [
        dict(media_id=m, status=s, sha256="h" + m if s == "ok" else None) for m, s in
        [("1", "ok"), ("2", "ok"), ("3", "ok"), ("4", "timeout")]
    ])
    run.table("faces").write_part("d", [
        dict(media_id=m, face_count=f, boxes=[], scores=[], largest_face_ratio=0.0, has_face=f > 0)
        for m, f in [("1", 1), ("2", 0), ("3", 2)]
    ])
    summary = run_labels(Config(labels=LabelsConfig(test_fraction=0.5, seed=0)), run, Runtime("x", lambda: []))
    labelled = run.table("labels").read().to_pylist()
    assert sorted(r["media_id"] for r in labelled) == ["1", "3"]
    assert {r["sha256"] for r in labelled} == {"h1", "h3"}
    assert summary["train"] + summary["test"] == 2


def test_every_photo_left_out_says_why():
    table = photos(users=80)
    every = assign_all(table, LabelsConfig(seed=3, drop_middle=0.4, follower_groups=40, test_fraction=0.5))
    reasons = set(every.column("left_out").drop_null().to_pylist())
    assert reasons == {"group_without_training_photos", "near_the_median"}
    labelled = assign(table, LabelsConfig(seed=3, drop_middle=0.4, follower_groups=40, test_fraction=0.5))
    assert labelled.num_rows == every.num_rows - every.column("left_out").drop_null().length()
    assert "left_out" not in labelled.column_names
