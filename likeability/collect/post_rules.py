"""Which collected posts are kept: one rule for the Graph API collector and every importer alike."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_HASHTAG = re.compile(r"#(\w+)")


def hashtags_in(caption: str | None) -> set[str]:
    return {tag.lower() for tag in _HASHTAG.findall(caption or "")}


def drop_reason(
    timestamp: datetime, caption: str | None, now: datetime, min_age_days: float, hashtags: list[str]
) -> str | None:
    """Why a post is not kept, or None to keep it.

    A post younger than `min_age_days` has not collected most of its likes yet (the study waited a month).
    `hashtags` empty keeps every caption; otherwise the caption must carry one of them (case-insensitive).
    """
    if now - timestamp < timedelta(days=min_age_days):
        return "too_young"
    if hashtags and not hashtags_in(caption) & {tag.lower().lstrip("#") for tag in hashtags}:
        return "no_hashtag"
    return None
