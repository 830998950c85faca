"""Import a folder instaloader wrote: profile and post metadata (`.json.xz`, or `.json`) beside the images.

instaloader (4.x) names a profile's metadata `{username}_{userid}.json.xz` and a post's `{date_utc}_UTC.json.xz`,
its image `{date_utc}_UTC.jpg` and a sidecar's slides `{date_utc}_UTC_1.jpg`, `_2.jpg`, ... Every metadata file
is `{"node": ..., "instaloader": {"version": ..., "node_type": "Post" | "Profile" | ...}}`; this module goes by
`node_type`, not by file name, so a custom `--filename-pattern` still imports: a post's image is its metadata
file's name with the image extension instead of `.json.xz`.

Choices:
- videos (GraphVideo, and sidecars whose slides are all videos) are dropped with reason `video`, even though
  instaloader saves a `.jpg` thumbnail: their likes are earned by the video, not by that frame.
- a sidecar's image is its first photo slide (`_1.jpg`, or `_2.jpg` when slide 1 is a video).
- followers come from the profile metadata; without it (or without a count in it) from a post's `owner` node
  (older instaloader saved the full profile there), the most recently written one.
- `media_count`: the profile's post count where saved; instaloader drops it from profile metadata, so usually the
  number of posts of that user in the folder, a lower bound.
- `fetched_at`: instaloader records no fetch time, so the modification time of the metadata file the follower
  count came from (instaloader sets it only on images, to the post date, never on metadata).
- `media_url` stays null: instaloader's `display_url` is a signed CDN link that expires within days.
- likes are null when `like_and_view_counts_disabled` is set (instaloader then saves a count of 0) or absent.
- stories, hashtag metadata and resume files (other `node_type`s) and `*_comments.json` are not posts: skipped.
"""

from __future__ import annotations

import json
import lzma
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from likeability.collect.importers.common import Batch, Committer, Rules, utc_from_unix
from likeability.run import RunFolder

_MEDIA_TYPES = {"GraphImage": "IMAGE", "GraphVideo": "VIDEO", "GraphSidecar": "CAROUSEL_ALBUM"}
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")  # instaloader takes the extension from Content-Type
_REQUIRED_POST_KEYS = ("id", "shortcode", "__typename", "is_video")
_FOLLOWERS = (("edge_followed_by", "count"), ("follower_count",), ("iphone_struct", "follower_count"))
_MEDIA_COUNT = (
    ("edge_owner_to_timeline_media", "count"),
    ("media_count",),
    ("all_media_count",),
    ("iphone_struct", "media_count"),
)
_LIKES = (("edge_media_preview_like", "count"), ("edge_liked_by", "count"))
_COMMENTS = (("edge_media_to_comment", "count"), ("edge_media_to_parent_comment", "count"), ("comments",))


class InstaloaderFolderError(ValueError):
    """The folder is missing or holds no instaloader metadata at all; the message names the folder."""


class _Malformed(ValueError):
    """One metadata file cannot be used; it becomes one import_errors row."""


@dataclass(frozen=True)
class _Account:
    username: str
    ig_id: str | None
    followers: int | None
    media_count: int | None
    fetched_at: datetime


@dataclass
class _Post:
    row: dict
    metadata: Path
    image_stem: str | None  # None for a video: there is no photo to import
    owner: dict


def import_instaloader(folder: Path, run: RunFolder, min_age_days: float, hashtags: list[str], now: datetime) -> dict:
    """Import every profile folder under `folder` (or `folder` itself), one part per profile folder."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise InstaloaderFolderError(f"{root}: instaloader folder not found")
    units = _profile_folders(root)
    if not units:
        raise InstaloaderFolderError(
            f"{root}: no instaloader metadata (*.json.xz or *.json) here or in its subfolders; "
            "was instaloader run with --no-metadata-json?"
        )
    rules = Rules(now, min_age_days, hashtags)
    committer = Committer(run, "ig")
    resumed = 0
    for unit in units:
        key = committer.key(unit.relative_to(root.parent).as_posix())
        if key in committer.done:
            resumed += 1
            continue
        committer.commit(_import_profile_folder(unit, key, rules))
    return {"source": "instaloader", "folders": len(units), "folders_resumed": resumed, **committer.totals()}


def _profile_folders(root: Path) -> list[Path]:
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    return [d for d in candidates if any(_is_metadata(p) for p in d.iterdir())]


def _is_metadata(path: Path) -> bool:
    name = path.name
    is_json = name.endswith(".json") and not name.endswith("_comments.json")  # comments are a plain list
    return path.is_file() and (name.endswith(".json.xz") or is_json)


def _import_profile_folder(folder: Path, key: str, rules: Rules) -> Batch:
    batch = Batch(key)
    files = {p.name for p in folder.iterdir() if p.is_file()}
    profiles: list[_Account] = []
    posts: list[_Post] = []
    for path in sorted(p for p in folder.iterdir() if _is_metadata(p)):
        try:
            node_type, node = _read_structure(path)
            if node_type == "Profile":
                profiles.append(_account(node, path))
            elif node_type == "Post":
                posts.append(_read_post(node, path))
        except _Malformed as err:
            batch.error(str(path), str(err))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            batch.error(str(path), f"unexpected {path.name} metadata: {type(err).__name__}: {err}")

    by_id = {a.ig_id: a for a in profiles if a.ig_id is not None}
    by_user: dict[str, list[_Post]] = {}
    for post in posts:
        owner_id = post.owner.get("id")
        known = by_id.get(str(owner_id)) if owner_id is not None else None
        username = str(post.owner.get("username") or (known.username if known else folder.name)).lower()
        post.row["username"] = username
        by_user.setdefault(username, []).append(post)

    for username in sorted({a.username for a in profiles} | set(by_user)):
        user_posts = by_user.get(username, [])
        account = _best_account([a for a in profiles if a.username == username], user_posts)
        if account is None:
            batch.error(
                str(folder),
                f"no follower count for {username}: neither a profile metadata file nor a post's owner node has "
                f"one; {len(user_posts)} post(s) not imported",
            )
            continue
        batch.users.append(
            {
                "username": username,
                "ig_id": account.ig_id,
                "followers_count": account.followers,
                "media_count": account.media_count if account.media_count is not None else len(user_posts),
                "fetched_at": account.fetched_at,
            }
        )
        for post in user_posts:
            _keep_or_drop(post, folder, files, rules, batch)
    return batch


def _keep_or_drop(post: _Post, folder: Path, files: set[str], rules: Rules, batch: Batch) -> None:
    row = post.row
    reason = "video" if post.image_stem is None else rules.reason(row["timestamp"], row["caption"])
    if reason:
        batch.drop(row, reason)
        return
    image = next((f"{post.image_stem}{ext}" for ext in _IMAGE_EXTENSIONS if f"{post.image_stem}{ext}" in files), None)
    if image is None:
        batch.error(str(post.metadata), f"image file not found: {folder / post.image_stem}.jpg")
        return
    row["image_path"] = str(folder / image)
    batch.posts.append(row)


def _best_account(profiles: list[_Account], posts: list[_Post]) -> _Account | None:
    """The profile metadata when it has a follower count, else the freshest post owner that has one."""
    owners = [_account(p.owner, p.metadata) for p in posts if p.owner.get("username") or p.owner.get("id")]
    usable = [a for a in profiles if a.followers is not None and a.ig_id is not None]
    usable = usable or [a for a in owners if a.followers is not None and a.ig_id is not None]
    return max(usable, key=lambda a: a.fetched_at, default=None)


def _read_structure(path: Path) -> tuple[str, dict]:
    opener = lzma.open if path.name.endswith(".xz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as err:
        raise _Malformed(f"unreadable metadata: {type(err).__name__}: {err}") from None
    header = data.get("instaloader") if isinstance(data, dict) else None
    if not isinstance(header, dict) or "node_type" not in header or not isinstance(data.get("node"), dict):
        raise _Malformed('not instaloader metadata: expected {"node": {...}, "instaloader": {"node_type": ...}}')
    return header["node_type"], data["node"]


def _account(node: dict, path: Path) -> _Account:
    ig_id = node.get("id", node.get("pk"))
    return _Account(
        username=str(node.get("username", "")).lower(),
        ig_id=None if ig_id is None else str(ig_id),
        followers=_count(node, _FOLLOWERS),
        media_count=_count(node, _MEDIA_COUNT),
        fetched_at=utc_from_unix(path.stat().st_mtime),
    )


def _read_post(node: dict, path: Path) -> _Post:
    missing = [k for k in _REQUIRED_POST_KEYS if k not in node]
    if "date" not in node and "taken_at_timestamp" not in node:
        missing.append("taken_at_timestamp")
    if missing:
        raise _Malformed(f"post metadata lacks {', '.join(missing)}")
    media_type = _MEDIA_TYPES.get(node["__typename"])
    if media_type is None:
        raise _Malformed(f"unknown post __typename {node['__typename']!r}")
    # instaloader's Post.date_utc reads "date" (iPhone API nodes) before "taken_at_timestamp" (GraphQL nodes).
    taken_at = node["date"] if "date" in node else node["taken_at_timestamp"]
    row = {
        "media_id": str(node["id"]),
        "username": None,
        "like_count": _likes(node),
        "comments_count": _count(node, _COMMENTS),
        "media_type": media_type,
        "media_url": None,
        "permalink": f"https://www.instagram.com/p/{node['shortcode']}/",
        "timestamp": utc_from_unix(float(taken_at)),
        "caption": _caption(node),
        "image_path": None,
    }
    stem = path.name.removesuffix(".xz").removesuffix(".json")
    owner = node.get("owner") if isinstance(node.get("owner"), dict) else {}
    return _Post(row=row, metadata=path, image_stem=_image_stem(node, stem), owner=owner)


def _image_stem(node: dict, stem: str) -> str | None:
    if node["__typename"] == "GraphImage":
        return stem
    if node["__typename"] == "GraphVideo" or node["is_video"]:
        return None
    slides = (node.get("edge_sidecar_to_children") or {}).get("edges")
    if not slides:
        return f"{stem}_1"
    # instaloader numbers slides from 1 in Instagram's order, a video slide's file being its thumbnail.
    first_photo = next((i for i, edge in enumerate(slides, start=1) if not edge["node"].get("is_video")), None)
    return None if first_photo is None else f"{stem}_{first_photo}"


def _likes(node: dict) -> int | None:
    iphone = node.get("iphone_struct") if isinstance(node.get("iphone_struct"), dict) else {}
    if node.get("like_and_view_counts_disabled") or iphone.get("like_and_view_counts_disabled"):
        return None
    return _count(node, _LIKES)


def _caption(node: dict) -> str | None:
    """As instaloader's Post.caption: the first caption edge, else the iPhone API's plain `caption`."""
    edges = (node.get("edge_media_to_caption") or {}).get("edges")
    if edges:
        return edges[0]["node"]["text"]
    caption = node.get("caption")
    return caption if isinstance(caption, str) else None


def _count(node: dict, paths: tuple[tuple[str, ...], ...]) -> int | None:
    """The first non-negative integer found along `paths`, or None."""
    for path in paths:
        value = node
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
