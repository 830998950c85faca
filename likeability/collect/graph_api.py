"""Instagram Graph API facts shared by the simulator and the client: versions, error codes, usage headers,
the documented error body and the Business Discovery fields expression.

Sources: developers.facebook.com/docs/graph-api/guides/error-handling and /overview/rate-limiting, the
Instagram Platform reference (business-discovery, ig-hashtag-search, recent-media) and the error bodies that
users of the live API have published (cited beside each code that the reference leaves out).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

DEFAULT_API_VERSION = "v25.0"
# Meta keeps each version about two years; older ones are upgraded silently, so the simulator accepts a range.
SUPPORTED_API_VERSIONS = frozenset(f"v{major}.0" for major in range(21, 26))

# Transient: retry later. -1 and -2 are the Instagram error table's "server error / timeout, try again".
UNKNOWN_ERROR = 1
SERVICE_UNAVAILABLE = 2
INSTAGRAM_SERVER_ERROR = -1
INSTAGRAM_TIMEOUT = -2
TRANSIENT_CODES = frozenset({UNKNOWN_ERROR, SERVICE_UNAVAILABLE, INSTAGRAM_SERVER_ERROR, INSTAGRAM_TIMEOUT})

# Throttling: stop calling until the window drains.
APP_RATE_LIMIT = 4
USER_RATE_LIMIT = 17
PAGE_RATE_LIMIT = 32
CUSTOM_RATE_LIMIT = 613
BUSINESS_USE_CASE_RATE_LIMIT = 80002
THROTTLE_CODES = frozenset(
    {APP_RATE_LIMIT, USER_RATE_LIMIT, PAGE_RATE_LIMIT, CUSTOM_RATE_LIMIT, BUSINESS_USE_CASE_RATE_LIMIT}
)

# Token: the token is expired or invalid; swap or refresh it.
ACCESS_TOKEN_ERROR = 190
TOKEN_EXPIRED_SUBCODE = 463
TOKEN_INVALID_SUBCODE = 467

# Permanent: retrying the same request gives the same answer.
PERMISSION_DENIED = 10
PERMISSION_CODES = frozenset({PERMISSION_DENIED, *range(200, 300)})
INVALID_PARAMETER = 100
NONEXISTENT_OBJECT_SUBCODE = 33  # "Unsupported get request. Object with ID ... does not exist"
ACCESS_TOKEN_REQUIRED = 104  # "An access token is required to request this resource."
# Business Discovery of a username that does not exist or is not a professional account; the live API gives
# both the same answer (error bodies published in client code: "Invalid user id", 110 / 2207013).
INVALID_USER_ID = 110
USER_NOT_FOUND_SUBCODE = 2207013
# "Unknown path components" (also a wrong version) and "Syntax error ... at character N" in a fields expression.
UNKNOWN_PATH_OR_SYNTAX = 2500

# Hashtag Search allows 30 unique hashtags per user in a rolling 7 days. The reference documents no error code
# for going over, so the simulator answers with an invalid-parameter error: permanent for this week.
HASHTAG_LIMIT_CODE = INVALID_PARAMETER
UNIQUE_HASHTAGS_PER_WINDOW = 30
HASHTAG_WINDOW_SECONDS = 7 * 24 * 3600
RECENT_MEDIA_SECONDS = 24 * 3600
HASHTAG_MEDIA_MAX_PAGE = 50
MEDIA_MAX_PAGE = 100

# Media timestamps, e.g. 2024-05-01T12:00:00+0000; the same pattern formats (in UTC) and parses them.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

APP_USAGE_HEADER = "X-App-Usage"
BUSINESS_USE_CASE_USAGE_HEADER = "X-Business-Use-Case-Usage"

ErrorClass = Literal["throttle", "token", "transient", "permanent"]

_USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")
_CURSOR = re.compile(r"[A-Za-z0-9_\-]+")
_FIELD = re.compile(r"[a-z_]+")


def classify_error(code: int) -> ErrorClass:
    """What a client should do about an error `code`: wait, change token, retry, or give up."""
    if code in THROTTLE_CODES:
        return "throttle"
    if code == ACCESS_TOKEN_ERROR:
        return "token"
    if code in TRANSIENT_CODES:
        return "transient"
    return "permanent"


def error_body(
    code: int,
    message: str,
    fbtrace_id: str,
    subcode: int | None = None,
    error_type: str = "OAuthException",
) -> dict[str, Any]:
    """The documented error body; like the live API, `error_subcode` is left out when there is none."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = fbtrace_id
    return {"error": error}


def usage_headers(
    call_count: int,
    total_time: int,
    total_cputime: int,
    ig_user_id: str | None = None,
    minutes_to_regain_access: int = 0,
) -> dict[str, str]:
    """`X-App-Usage` and, when the call names an IG user, `X-Business-Use-Case-Usage` (values in percent)."""
    headers = {
        APP_USAGE_HEADER: json.dumps(
            {"call_count": call_count, "total_time": total_time, "total_cputime": total_cputime}
        )
    }
    if ig_user_id is not None:
        entry = {
            "type": "instagram",
            "call_count": call_count,
            "total_cputime": total_cputime,
            "total_time": total_time,
            "estimated_time_to_regain_access": minutes_to_regain_access,
        }
        headers[BUSINESS_USE_CASE_USAGE_HEADER] = json.dumps({ig_user_id: [entry]})
    return headers


def business_discovery_fields(
    username: str, media_fields: Sequence[str], after: str | None = None, limit: int | None = None
) -> str:
    """The `fields` value that reads an account's id, counts and one page of its media."""
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"not an Instagram username: {username!r}")
    if after is not None and not _CURSOR.fullmatch(after):
        raise ValueError(f"not a paging cursor: {after!r}")
    if limit is not None and not 1 <= limit <= MEDIA_MAX_PAGE:
        raise ValueError(f"limit must be 1..{MEDIA_MAX_PAGE}, got {limit}")
    bad = [name for name in media_fields if not _FIELD.fullmatch(name)]
    if bad or not media_fields:
        raise ValueError(f"media fields must be non-empty field names, got {list(media_fields)!r}")
    media = "media"
    if after is not None:
        media += f".after({after})"
    if limit is not None:
        media += f".limit({limit})"
    return (
        f"business_discovery.username({username})"
        f"{{id,username,followers_count,media_count,{media}{{{','.join(media_fields)}}}}}"
    )


def read_usage(headers: Mapping[str, str]) -> tuple[float, float]:
    """From a response's usage headers: (highest usage as a fraction of the limit, seconds until access returns).

    Either header may be missing or malformed (proxies strip them); that reads as no information, (0, 0).
    """
    percents: list[float] = []
    regain_minutes = 0.0
    try:
        app = json.loads(headers.get(APP_USAGE_HEADER) or "{}")
        percents += [float(app.get(key, 0)) for key in ("call_count", "total_time", "total_cputime")]
        business = json.loads(headers.get(BUSINESS_USE_CASE_USAGE_HEADER) or "{}")
        for entries in business.values():
            for entry in entries:
                percents += [float(entry.get(key, 0)) for key in ("call_count", "total_time", "total_cputime")]
                regain_minutes = max(regain_minutes, float(entry.get("estimated_time_to_regain_access", 0)))
    except (ValueError, TypeError, AttributeError):
        return 0.0, 0.0
    return max(percents, default=0.0) / 100, regain_minutes * 60


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header as seconds from now: it may be a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
