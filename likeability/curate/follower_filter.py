"""The filter stage: users whose follower counts are outliers are left out, and posts that cannot be labelled.

The study found the follower standard deviation five times the mean, so it used the median absolute deviation:
keep a user when followers lie within median +/- k x MAD (by default on log10 followers, where the heavy tail
of big accounts becomes roughly symmetric). MAD here is the raw median of absolute deviations, unscaled.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from likeability.config import Config, FilterConfig
from likeability.run import RunFolder
from likeability.runtime import Runtime

PART = "all"  # small tables, recomputed whole: a killed run rewrites the same part


@dataclass(frozen=True)
class Thresholds:
    """The band that was kept, in followers, and how many users fell out on each side."""

    median: float
    mad: float
    low: float
    high: float
    on_log10: bool
    removed_below: int
    removed_above: int
    removed_bounds: int
    removed_zero: int
    kept: int


def follower_verdicts(followers: np.ndarray, config: FilterConfig) -> tuple[list[str | None], Thresholds]:
    """One reason per user (None = kept) and the thresholds, in followers, that decided it."""
    followers = np.asarray(followers, dtype=np.float64)
    reasons: list[str | None] = [None] * len(followers)
    for i, count in enumerate(followers):
        if count <= 0:
            reasons[i] = "zero_followers"  # no ratio likes/followers exists, and log10 is undefined
        elif config.min_followers is not None and count < config.min_followers:
            reasons[i] = "below_min_followers"
        elif config.max_followers is not None and count > config.max_followers:
            reasons[i] = "above_max_followers"
    candidates = np.array([r is None for r in reasons])
    values = followers[candidates]
    if config.log_followers:
        values = np.log10(values)
    if len(values):
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median)))
    else:
        median = mad = math.nan
    low, high = median - config.mad_k * mad, median + config.mad_k * mad
    for i in np.flatnonzero(candidates):
        value = math.log10(followers[i]) if config.log_followers else followers[i]
        if value < low:
            reasons[i] = "followers_below_mad_band"
        elif value > high:
            reasons[i] = "followers_above_mad_band"

    def in_followers(x: float) -> float:
        return 10**x if config.log_followers and math.isfinite(x) else x

    thresholds = Thresholds(
        median=in_followers(median),
        mad=mad,
        low=in_followers(low),
        high=in_followers(high),
        on_log10=config.log_followers,
        removed_below=reasons.count("followers_below_mad_band"),
        removed_above=reasons.count("followers_above_mad_band"),
        removed_bounds=reasons.count("below_min_followers") + reasons.count("above_max_followers"),
        removed_zero=reasons.count("zero_followers"),
        kept=reasons.count(None),
    )
    return reasons, thresholds


def post_reason(like_count: int | None, media_type: str, media_url: str | None, image_path: str | None) -> str | None:
    """Why a post of a kept user cannot be used, or None."""
    if like_count is None:
        return "hidden_likes"
    if media_type == "VIDEO":
        return "video"  # the study labelled photos; a video's media_url is the video itself
    if not media_url and not image_path:
        return "no_image"
    return None


def run_filter(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    users = run.table("users").read(["username", "followers_count"])
    reasons, thresholds = follower_verdicts(users.column("followers_count").to_numpy(), config.filter)
    verdicts = users.append_column("kept", pa.array([r is None for r in reasons]))
    run.table("user_filter").write_part(PART, verdicts.append_column("reason", pa.array(reasons, pa.string())))
    user_reason = dict(zip(users.column("username").to_pylist(), reasons, strict=True))
    followers = dict(zip(users.column("username").to_pylist(), users.column("followers_count").to_pylist(),
                         strict=True))

    posts = run.table("posts").read(
        ["media_id", "username", "like_count", "media_type", "media_url", "image_path", "timestamp"]
    )
    candidates, excluded = [], []
    for post in posts.to_pylist():
        reason = user_reason.get(post["username"], "user_not_collected")
        if reason is None:
            reason = post_reason(post["like_count"], post["media_type"], post["media_url"], post["image_path"])
        if reason:
            excluded.append({"media_id": post["media_id"], "username": post["username"], "reason": reason})
        else:
            candidates.append({**post, "followers_count": followers[post["username"]]})
    run.table("candidates").write_part(PART, candidates)
    run.table("excluded_posts").write_part(PART, excluded)
    counts = pc.value_counts(pa.array([row["reason"] for row in excluded], pa.string())).to_pylist()
    # The summary lands in _stages/filter.json: thresholds and removals per side stay with the run.
    return {
        **asdict(thresholds),
        "candidates": len(candidates),
        "excluded": {entry["values"]: entry["counts"] for entry in counts},
    }

