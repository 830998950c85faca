"""The collect stage: users and posts from the Graph API, an instaloader folder, or a manifest."""

from __future__ import annotations

from pathlib import Path

from likeability.actors.collector import collect_accounts
from likeability.collect.importers.instaloader import import_instaloader
from likeability.collect.importers.manifest import import_manifest
from likeability.config import CollectConfig, Config, ConfigError
from likeability.run import RunFolder
from likeability.runtime import Runtime


def run_collect(config: Config, run: RunFolder, runtime: Runtime) -> dict:
    collect = config.collect
    now = run.started_at("collect")
    if collect.source == "instaloader":
        folder = _required_path(collect.instaloader_dir, "collect.instaloader_dir")
        return import_instaloader(folder, run, collect.min_age_days, collect.hashtags, now)
    if collect.source == "manifest":
        manifest = _required_path(collect.manifest, "collect.manifest")
        return import_manifest(manifest, run, collect.min_age_days, collect.hashtags, now)
    usernames = read_usernames(collect) or list(runtime.default_usernames)
    if not usernames:
        raise ConfigError("collect: no accounts to collect: set collect.usernames or collect.usernames_file")
    return collect_accounts(run, usernames, runtime.tokens(), runtime.api_base_url, collect, now=now)


def read_usernames(collect: CollectConfig) -> list[str]:
    """Configured accounts, lower-cased (Instagram usernames are) and without repeats, in the given order."""
    names = list(collect.usernames)
    if collect.usernames_file:
        path = Path(collect.usernames_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"collect.usernames_file: {path} not found")
        names += [line.strip().lstrip("@") for line in path.read_text().splitlines()]
    return list(dict.fromkeys(name.lower() for name in names if name and not name.startswith("#")))


def _required_path(value: str | None, key: str) -> Path:
    if not value:
        raise ConfigError(f"{key} must be set for this collect.source")
    path = Path(value).expanduser()
    if not path.exists():
        raise ConfigError(f"{key}: {path} not found")
    return path
