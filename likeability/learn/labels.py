"""The labels stage: each kept photo is good (1) or bad (0) by likes / followers, and lands on one side of a split.

As in the study, a photo is good when its ratio is above the median ratio; here the median comes from the
training photos only, so nothing about the test photos leaks into the labels. The study split by photo, which
lets one user's photos sit on both sides (a model can then recognise the user instead of the photo); the default
here splits by user, 3:1, and `labels.split = "photo"` reproduces the study.

Options: Karpathy's variant sorts users by followers into `follower_groups` groups and splits at each group's
own median (a big account's ratio is not comparable with a small one's); `drop_middle` leaves the photos
closest to their median unlabelled, on both sides of the split, for cleaner labels.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from likeability.config import Config, LabelsConfig
from likeability.run import RunFolder
from likeability.runtime import Runtime

PART = "all"


def kept_photos(run: RunFolder) -> pa.Table:
    """Candidates whose image downloaded and shows a face, with the image's digest."""
    candidates = run.table("candidates").read(["media_id", "username", "like_count", "followers_count"])
    downloads = run.table("downloads").read(["media_id", "sha256"], where=pc.field("status") == "ok")
    with_face = run.table("faces").read(["media_id"], where=pc.equal(pc.field("has_face"), True))
    kept = candidates.join(downloads, "media_id").join(with_face, "media_id", join_type="left semi")
    return kept.sort_by("media_id")


def assign(photos: pa.Table, config: LabelsConfig) -> pa.Table:
    """Ratio, follower group, split and label for each photo that can be labelled (see assign_all)."""
    return labelled_only(assign_all(photos, config))


def labelled_only(every: pa.Table) -> pa.Table:
    """The rows of `assign_all` that got a label, without the left_out column."""
    return every.filter(pc.is_null(every.column("left_out"))).drop_columns(["left_out"])


def assign_all(photos: pa.Table, config: LabelsConfig) -> pa.Table:
    """Ratio, follower group, split and label for each photo, and why a photo is left out (else null): its
    follower group has no training photo to set a median, or it lies in the dropped middle band."""
    users = photos.column("username").to_numpy(zero_copy_only=False)
    likes = photos.column("like_count").to_numpy().astype(np.float64)
    followers = photos.column("followers_count").to_numpy().astype(np.float64)
    ratio = likes / followers
    rng = np.random.default_rng(config.seed)
    if config.split == "user":
        names = np.unique(users)
        test_users = rng.permutation(names)[: round(len(names) * config.test_fraction)]
        is_test = np.isin(users, test_users)
    else:
        is_test = rng.random(len(users)) < config.test_fraction
    group = follower_groups(users, followers, config.follower_groups)
    label = np.zeros(len(ratio), dtype=np.int8)
    left_out = np.full(len(ratio), None, dtype=object)
    for g in np.unique(group):
        members = group == g
        train_ratios = ratio[members & ~is_test]
        if len(train_ratios) == 0:
            left_out[members] = "group_without_training_photos"
            continue
        median = np.median(train_ratios)
        label[members] = ratio[members] > median
        if config.drop_middle:
            low, high = np.quantile(train_ratios, [0.5 - config.drop_middle / 2, 0.5 + config.drop_middle / 2])
            left_out[members & (ratio > low) & (ratio <= high)] = "near_the_median"
    table = photos.append_column("ratio", pa.array(ratio))
    table = table.append_column("follower_group", pa.array(group, pa.int32()))
    table = table.append_column("label", pa.array(label))
    table = table.append_column("split", pa.array(np.where(is_test, "test", "train")))
    return table.append_column("left_out", pa.array(left_out, pa.string()))


def follower_groups(users: np.ndarray, followers: np.ndarray, groups: int) -> np.ndarray:
    """Each photo's group: users sorted by followers and cut into `groups` groups of about equal user count."""
    if groups == 1:
        return np.zeros(len(users), dtype=np.int32)
    names, first = np.unique(users, return_index=True)
    order = np.argsort(followers[first], kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    user_group = (rank * groups // len(names)).astype(np.int32)
    return user_group[np.searchsorted(names, users)]


def run_labels(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    every = assign_all(kept_photos(run), config.labels)
    reasons = every.column("left_out").drop_null().value_counts().to_pylist()
    labelled = labelled_only(every)
    run.table("labels").write_part(PART, labelled)
    counts = {}
    for side in ("train", "test"):
        part = labelled.filter(pc.equal(labelled.column("split"), side))
        counts[side] = part.num_rows
        counts[f"{side}_good"] = int(pc.sum(part.column("label")).as_py() or 0)
        counts[f"{side}_users"] = len(pc.unique(part.column("username")))
    return {"split": config.labels.split, **counts, "left_out": {r["values"]: r["counts"] for r in reasons}}
