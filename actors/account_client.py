"""One account's Business Discovery, every page of it, through one token: pacing, retries, and error handling.

Plain asyncio with the HTTP session, pacer, clock and sleep passed in, so tests run it against the simulator
without Ray and without waiting; TokenActor is the Ray wrapper around it.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Awaitable, Callable, Mapping
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
    """The token is expired or invalid (code 190): no call with it can succeed any more, so none is made."""


class PermanentError(Exception):
    """The same request would fail again: unknown or private account, missing permission."""

    def __init__(self, reason: str, code: int | None):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TransientError(Exception):
    """Worth retrying: 5xx, timeouts, resets, codes 1 and 2, bodies that are cut off or not JSON."""


class Throttled(Exception):
    """The token is over its limit; the pacer now holds calls back until access returns, then probes."""


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
        self._answer_heard = asyncio.Event()
        self.counts = CallCounts()
        self.retired = False

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
        """One API call: retried after a throttle (once the pacer lets a call out again) and after transient
        failures (with backoff)."""
        failures = 0
        while True:
            try:
                return await self._attempt(params)
            except Throttled:
                continue
            except TransientError as err:
                failures += 1
                if failures > self._config.max_retries:
                    raise PermanentError(f"gave up after {failures} transient failures: {err}", None) from None
                self.counts.retries += 1
                await self._sleep(self._backoff(failures))

    async def _attempt(self, params: dict[str, str]) -> dict:
        """One request, sent when the pacer allows; what its answer says of the token reaches the pacer before
        this coroutine yields again, so no other call can start on outdated news."""
        await self._wait_for_turn()
        self._pacer.record_call(self._clock())
        self.counts.calls += 1
        try:
            status, headers, raw = await self._get(params)
        except BaseException:  # whatever happened, this call is no longer in flight
            self._answered(failed=True)
            raise
        usage, regain = graph_api.read_usage(headers)
        retry_after = graph_api.retry_after_seconds(headers.get("Retry-After"))
        try:
            body = self._body(status, raw)
        except Throttled:
            self.counts.throttled += 1
            self._answered(refused=True, usage=usage, regain=regain, retry_after=retry_after)
            raise
        except TokenRetired:
            self.retired = True
            self._answered(failed=True)
            raise
        except (TransientError, PermanentError):
            self._answered(failed=True, usage=usage, regain=regain)
            raise
        self._answered(usage=usage, regain=regain)
        return body

    async def _wait_for_turn(self) -> None:
        while True:
            if self.retired:
                raise TokenRetired("access token was rejected by an earlier answer")
            wait = self._pacer.delay(self._clock())
            if wait == 0:
                return
            if math.isinf(wait):
                await self._answer_heard.wait()  # every call slot is taken until an answer comes back
            else:
                await self._sleep(wait)

    def _answered(self, refused: bool = False, failed: bool = False, usage: float = 0.0, regain: float = 0.0,
                  retry_after: float | None = None) -> None:
        self._pacer.record_answer(self._clock(), refused, failed, usage, regain, retry_after)
        # A fresh event per answer: every call waiting for a slot wakes once and asks the pacer again.
        self._answer_heard.set()
        self._answer_heard = asyncio.Event()

    async def _get(self, params: dict[str, str]) -> tuple[int, Mapping[str, str], bytes]:
        timeout = aiohttp.ClientTimeout(total=self._config.request_timeout_seconds)
        try:
            async with self._session.get(
                self._url, params={**params, "access_token": self._token}, timeout=timeout
            ) as response:
                return response.status, response.headers, await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            # aiohttp's messages can hold the request URL, and with it the token
            raise TransientError(self._redact(f"{type(err).__name__}: {err}")) from None

    def _body(self, status: int, raw: bytes) -> dict:
        """The answer's JSON object, or the exception its error calls for."""
        try:
            body = json.loads(raw)
        except ValueError:
            raise TransientError(f"HTTP {status} with a body that is not JSON ({len(raw)} bytes)") from None
        if not isinstance(body, dict):
            raise TransientError(f"HTTP {status} with a JSON body that is not an object")
        if "error" in body:
            self._raise_for(body["error"], status)
        if status == 429:
            raise Throttled("HTTP 429")
        if status >= 400:
            raise TransientError(f"HTTP {status} without an error body")
        return body

    def _raise_for(self, error: dict, status: int) -> None:
        code = int(error.get("code", 0))
        message = self._redact(str(error.get("message", "")))
        kind = graph_api.classify_error(code)
        if kind == "throttle" or status == 429:
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
