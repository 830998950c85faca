"""Writes the simulator's world as an instaloader download folder (the layout and `.json.xz` metadata the
fixtures in tests/collect/importers/fixtures/instaloader follow), with the simulator's photos as the downloaded images: by
default at Instagram's real sizes (1080 x 1350, 1080 x 1349, 640 x 335, 1440 x 1800 ...), in its formats."""

from __future__ import annotations

import json
import lzma
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path

from likeability.config import SimulatorConfig
from likeability.images.decode import EXTENSIONS
from likeability.simulator.images import STANDARD_WIDTH, render_photo
from likeability.simulator.world import World


def write_instaloader_folder(folder: Path, config: SimulatorConfig, now: float,
                             base_width: int = STANDARD_WIDTH) -> int:
    """One profile folder per business account with visible likes; returns how many photos were written."""
    world = World(config, now)
    posts = []
    for index in range(config.accounts):
        account = world.account_at(index)
        if not account.business or account.hides_likes:
            continue
        profile = folder / account.username
        profile.mkdir(parents=True)
        (profile / "id").write_text(str(account.ig_id))
        _write_xz(profile / f"{account.username}_{account.ig_id}.json.xz", {
            "node": {"id": str(account.ig_id), "username": account.username, "full_name": account.username,
                     "edge_followed_by": {"count": account.followers_count}, "is_private": False},
            "instaloader": {"version": "4.16", "node_type": "Profile"},
        })
        posts += [(profile, account, post) for post in world.account_media(index, 0, account.media_count)
                  if post.media_type == "IMAGE"]
    # Drawing the photos at real sizes is nearly all the work (a tenth of a second each): on every core.
    with ProcessPoolExecutor(mp_context=multiprocessing.get_context("spawn")) as pool:
        rendered = pool.map(render_photo, repeat(config.seed), [post.media_id for _, _, post in posts],
                            [post.kind for _, _, post in posts], repeat(base_width), chunksize=8)
        for (profile, account, post), (body, stored) in zip(posts, rendered, strict=True):
            stem = datetime.fromtimestamp(post.timestamp, UTC).strftime("%Y-%m-%d_%H-%M-%S_UTC")
            # instaloader names the file by the answer's Content-Type
            (profile / f"{stem}.{EXTENSIONS[stored.format]}").write_bytes(body)
            (profile / f"{stem}.txt").write_text(post.caption)
            _write_xz(profile / f"{stem}.json.xz", {
                "node": {
                    "id": str(post.media_id), "shortcode": str(post.media_id), "__typename": "GraphImage",
                    "is_video": False, "taken_at_timestamp": post.timestamp,
                    "owner": {"id": str(account.ig_id), "username": account.username},
                    "edge_media_to_caption": {"edges": [{"node": {"text": post.caption}}]},
                    "edge_media_preview_like": {"count": post.like_count},
                    "edge_media_to_parent_comment": {"count": post.comments_count, "edges": []},
                },
                "instaloader": {"version": "4.16", "node_type": "Post"},
            })
    return len(posts)


def _write_xz(path: Path, data: dict) -> None:
    path.write_bytes(lzma.compress(json.dumps(data).encode()))
