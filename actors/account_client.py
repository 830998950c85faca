"""One account's Business Discovery, every page of it, through one token: pacing, retries, and error handling.

Plain asyncio with the HTTP session, pacer, clock and sleep passed in, so tests run it against the simulator
without Ray and without waiting; TokenActor is the Ray wrapper around it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from likeability.actors.pacer import TokenPacer
from likeability.collect import graph_api
from likeability.collect.tokens import Redactor
from likeability.config import CollectConfig

MEDIA_FIELDS = (
    "id", "caption", "like_count", "comments_count", "media_type", "media_url", "permalink", "timestamp",
)


class TokenRetired(Exception):
    """The token is expired or invalid (code 190): no call with it can succeed any more."""


class PermanentError(Exception):
    """The same request would fail again: unknown or private account, missing permission."""

    def __init__(self, reason: str, code: int | None):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TransientError(Exception):
    """Worth retrying: 5xx, timeouts, resets, codes 1 and 2, bodies that are cut off or not JSON."""


class Throttled(Exception):
    """The token is over its limit; the pacer now holds calls back until the server says access returns."""


@dataclass
class AccountResult:
    username: str
    status: str  # "ok" or "failed"
    user: dict | None = None
    posts: list[dict] = field(default_factory=list)
    reason: str | None = None
    error_code: int | None = None


@dataclass
class CallCounts:
    calls: int = 0
    throttled: int = 0
    retries: int = 0


class AccountClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: str,
        base_url: str,
        config: CollectConfig,
        pacer: TokenPacer,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ):
        self._session = session
        self._token = token
        self._url = f"{base_url.rstrip('/')}/{config.api_version}/{config.ig_user_id}"
        self._config = config
        self._pacer = pacer
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._redact = Redactor([token])
        self.counts = CallCounts()

    async def fetch_account(self, username: str) -> AccountResult:
        """The account's counts and its media, page after page until the last or max_posts_per_user.

        Raises TokenRetired; a permanent error becomes a failed result, since other accounts may still work.
        """
        posts: dict[str, dict] = {}
        cursor = None
        limit = self._config.max_posts_per_user
        try:
            while True:
                fields = graph_api.business_discovery_fields(
                    username, MEDIA_FIELDS, after=cursor, limit=self._config.page_size
                )
                discovery = (await self._call({"fields": fields}))["business_discovery"]
                media = discovery.get("media", {})
                for item in media.get("data", []):
                    posts.setdefault(item["id"], _post_row(item, username))
                cursor = media.get("paging", {}).get("cursors", {}).get("after")
                if "next" not in media.get("paging", {}) or not cursor or (limit and len(posts) >= limit):
                    break
        except PermanentError as err:
            return AccountResult(username, "failed", reason=err.reason, error_code=err.code)
        except (KeyError, TypeError, ValueError) as err:
            # business_discovery_fields rejects names that are not Instagram usernames; odd bodies land here too
            return AccountResult(username, "failed", reason=f"unusable answer or username: {err}")
        user = {
            "username": username,
            "ig_id": str(discovery["id"]),
            "followers_count": int(discovery["followers_count"]),
            "media_count": int(discovery["media_count"]),
            "fetched_at": datetime.now(UTC),
        }
        return AccountResult(username, "ok", user=user, posts=list(posts.values())[:limit])

    async def _call(self, params: dict[str, str]) -> dict:
        """One API call, paced; retried on throttling (after the block) and transient failures (with backoff)."""
        failures = 0
        while True:
            while (wait := self._pacer.delay(self._clock())) > 0:
                await self._sleep(wait)
            self._pacer.record_call(self._clock())
            self.counts.calls += 1
            try:
                return await self._request(params)
            except Throttled:
                # Not a failure of this request: the pacer's block decides when to try again, for as long as
                # the server keeps the token blocked.
                continue
            except TransientError as err:
                failures += 1
                if failures > self._config.max_retries:
                    raise PermanentError(f"gave up after {failures} transient failures: {err}", None) from None
                self.counts.retries += 1
                await self._sleep(self._backoff(failures))

    async def _request(self, params: dict[str, str]) -> dict:
        timeout = aiohttp.ClientTimeout(total=self._config.request_timeout_seconds)
        try:
            async with self._session.get(
                self._url, params={**params, "access_token": self._token}, timeout=timeout
            ) as response:
                usage, regain = graph_api.read_usage(response.headers)
                retry_after = graph_api.retry_after_seconds(response.headers.get("Retry-After"))
                # Retry-After counts seconds, the usage header's regain estimate whole minutes: the finer one wins.
                self._pacer.observe(usage, regain if retry_after is None else 0.0, self._clock())
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            # aiohttp's messages can hold the request URL, and with it the token
            raise TransientError(self._redact(f"{type(err).__name__}: {err}")) from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise TransientError(f"HTTP {status} with a body that is not JSON ({len(raw)} bytes)") from None
        if not isinstance(body, dict):
            raise TransientError(f"HTTP {status} with a JSON body that is not an object")
        if "error" not in body:
            if status >= 400:
                raise TransientError(f"HTTP {status} without an error body")
            return body
        return self._raise_for(body["error"], status, retry_after)

    def _raise_for(self, error: dict, status: int, retry_after: float | None) -> dict:
        code = int(error.get("code", 0))
        message = self._redact(str(error.get("message", "")))
        kind = graph_api.classify_error(code)
        if kind == "throttle" or status == 429:
            self.counts.throttled += 1
            now = self._clock()
            if retry_after is not None:
                self._pacer.block(now, retry_after)
            elif self._pacer.blocked_until <= now:
                # No Retry-After and no regain estimate in the usage headers (observe() applies that one):
                # wait a whole window, the longest a sliding window can stay full.
                self._pacer.block(now, self._config.window_seconds)
            raise Throttled(f"code {code}")
        if kind == "token":
            raise TokenRetired(f"access token rejected (code {code}, subcode {error.get('error_subcode')})")
        if kind == "transient" or status >= 500:
            raise TransientError(f"code {code}: {message}")
        raise PermanentError(f"code {code}: {message}", code)

    def _backoff(self, failures: int) -> float:
        """Capped exponential backoff with full jitter, so retrying clients do not stampede together."""
        cap = min(self._config.backoff_max_seconds, self._config.backoff_base_seconds * 2 ** (failures - 1))
        return self._rng.uniform(0, cap)


def _post_row(item: dict, username: str) -> dict:
    return {
        "media_id": str(item["id"]),
        "username": username,
        "like_count": item.get("like_count"),  # absent when the owner hides like counts
        "comments_count": item.get("comments_count"),
        "media_type": item["media_type"],
        "media_url": item.get("media_url"),
        "permalink": item.get("permalink"),
        "timestamp": datetime.strptime(item["timestamp"], graph_api.TIMESTAMP_FORMAT),
        "caption": item.get("caption"),
        "image_path": None,
    }
