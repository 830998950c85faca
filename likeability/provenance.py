"""What made a stage's results: the config it read, the code and the libraries. Recorded in the stage's marker
when it finishes, so a later invocation that would change what a finished stage read is refused (instead of
silently mixing two configs in one run), and predict and the report use what each stage ran with."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from likeability.config import Config, ConfigError

LIBRARIES = ("likeability", "ray", "torch", "torchvision", "scikit-learn", "onnxruntime", "pyarrow")


def read_config(config: Config, reads: tuple[str, ...]) -> dict[str, Any]:
    """The values a stage reads: whole sections ("faces") or single keys ("download.max_pixels")."""
    dumped = config.model_dump(mode="json")
    record: dict[str, Any] = {}
    for name in reads:
        section, _, key = name.partition(".")
        if key:
            record.setdefault(section, {})[key] = dumped[section][key]
        else:
            record[section] = dumped[section]
    return record


def record(config: Config, reads: tuple[str, ...]) -> dict[str, Any]:
    """A finished stage's provenance: its config values, the library versions, and the git commit where known."""
    return {"config": read_config(config, reads), "versions": versions(), "git_commit": git_commit()}


def changed_keys(recorded: dict[str, Any], config: Config) -> list[str]:
    """The keys whose value in `config` differs from what the stage recorded, leaving out the keys that only say
    how fast or where it ran (marked `operational` in the config's fields)."""
    now = config.model_dump(mode="json")
    return [
        f"{section}.{key}"
        for section, values in recorded.items()
        for key, value in values.items()
        if not _operational(config, section, key) and now.get(section, {}).get(key) != value
    ]


def refuse_changes(finished: dict[str, dict], config: Config) -> None:
    """Stop an invocation whose config changes what a finished stage read; `finished` maps each finished stage to
    its summary. Names the keys, the values the stage used, and the two ways on."""
    now = config.model_dump(mode="json")
    for stage, summary in finished.items():
        recorded = summary.get("provenance", {}).get("config", {})
        changed = changed_keys(recorded, config)
        if changed:
            values = ", ".join(f"{key}={_value(recorded, key)!r} (now {_value(now, key)!r})" for key in changed)
            raise ConfigError(
                f"stage {stage} already ran in this run with {values}; to use the new values, start a new run "
                f"folder (--run NEW) or rerun it and every stage after it (--rerun {stage})"
            )


def versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (importing torch to ask it would take seconds)."""
    return {name: _version(name) for name in LIBRARIES}


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout this code runs from; None when it is not one (an installed wheel, or the copy
    `ray job submit --working-dir` ships, which leaves .git out)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def seeds(recorded: dict[str, Any]) -> dict[str, int]:
    """The seeds among a stage's recorded config values."""
    return {f"{s}.{k}": v for s, values in recorded.items() for k, v in values.items() if k.endswith("seed")}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _operational(config: Config, section: str, key: str) -> bool:
    model = getattr(config, section, None)
    field = type(model).model_fields.get(key) if isinstance(model, BaseModel) else None
    return bool(field and isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("operational"))


def _value(values: dict[str, Any], key: str) -> Any:
    section, _, name = key.partition(".")
    return values.get(section, {}).get(name)
