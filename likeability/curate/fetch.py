"""Fetching one image URL: policy-checked hop by hop, bounded in time and size, retried only when it may help.

The session is passed in (its connector bounds connections per worker and per host, its resolver enforces the
address policy), and so are the clock-free `sleep` and the random source, so tests drive retries quickly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from likeability.collect.graph_api import retry_after_seconds
from likeability.config import DownloadConfig
from likeability.curate.url_policy import BlockedAddress, PolicyResolver, UrlPolicy

REDIRECTS = (301, 302, 303, 307, 308)
RATE_GRACE_SECONDS = 5.0  # a body's rate is judged only after this long: slow starts and small files pass


@dataclass(frozen=True)
class Fetched:
    status: str  # ok, blocked_url, http_error, timeout, connection_error, too_large, redirect_loop, ...
    detail: str | None = None
    http_status: int | None = None
    body: bytes | None = None
    retry_after: float | None = None  # seconds, when a 429 or 503 said when to come back

    @property
    def worth_retrying(self) -> bool:
        """The server or the network may do better next time; a 4xx or a bad body will not change."""
        if self.status == "http_error":
            return self.http_status is not None and (self.http_status == 429 or self.http_status >= 500)
        return self.status in ("timeout", "connection_error")


def open_session(config: DownloadConfig, policy: UrlPolicy) -> aiohttp.ClientSession:
    """A session whose connection pool is bounded per worker and per host, resolving through the policy."""
    connector = aiohttp.TCPConnector(
        limit=config.concurrency_per_worker,
        limit_per_host=config.concurrency_per_host,
        resolver=PolicyResolver(policy),
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=True)


class ImageFetcher:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        policy: UrlPolicy,
        config: DownloadConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ):
        self._session = session
        self._policy = policy
        self._config = config
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout_seconds, sock_read=config.read_timeout_seconds
        )

    async def fetch(self, url: str) -> Fetched:
        """The body of `url`, or why there is none; 5xx, 429, timeouts and resets are retried with backoff."""
        attempt = 0
        while True:
            result = await self._attempt(url)
            if not result.worth_retrying or attempt >= self._config.max_retries:
                return result
            attempt += 1
            await self._sleep(self._wait_before(attempt, result.retry_after))

    async def _attempt(self, url: str) -> Fetched:
        """One attempt within download.deadline_seconds, so no server holds a download slot forever."""
        deadline = self._config.deadline_seconds
        try:
            async with asyncio.timeout(deadline):
                return await self._fetch_once(url)
        except TimeoutError:
            return Fetched("timeout", f"not done within download.deadline_seconds={deadline}")

    def _wait_before(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when it gave one (at most a deadline), else capped backoff with full jitter."""
        if retry_after is not None:
            return min(retry_after, self._config.deadline_seconds)
        cap = min(self._config.backoff_max_seconds, self._config.backoff_base_seconds * 2 ** (attempt - 1))
        return self._rng.uniform(0, cap)

    async def _fetch_once(self, url: str) -> Fetched:
        seen: set[str] = set()
        while True:
            refusal = self._policy.refusal(url)
            if refusal:
                return Fetched("blocked_url", refusal)
            if url in seen:
                return Fetched("redirect_loop", f"redirected back to {url}")
            if len(seen) > self._config.max_redirects:
                return Fetched("too_many_redirects", f"more than download.max_redirects={self._config.max_redirects}")
            seen.add(url)
            try:
                async with self._session.get(url, allow_redirects=False, timeout=self._timeout) as response:
                    if response.status in REDIRECTS:
                        location = response.headers.get("Location")
                        if not location:
                            return Fetched("http_error", "redirect without Location", response.status)
                        url = urljoin(url, location)
                        continue
                    return await self._read(response)
            except asyncio.TimeoutError as err:  # aiohttp's connect and read timeouts are TimeoutErrors too
                return Fetched("timeout", type(err).__name__)
            except aiohttp.ClientConnectorError as err:
                if isinstance(err.os_error, BlockedAddress):
                    return Fetched("blocked_url", str(err.os_error))
                return Fetched("connection_error", str(err))
            except aiohttp.ClientError as err:
                return Fetched("connection_error", f"{type(err).__name__}: {err}")

    async def _read(self, response: aiohttp.ClientResponse) -> Fetched:
        status = response.status
        if status != 200:
            retry_after = retry_after_seconds(response.headers.get("Retry-After")) if status in (429, 503) else None
            return Fetched("http_error", response.reason, status, retry_after=retry_after)
        limit = self._config.max_bytes
        if response.content_length is not None and response.content_length > limit:
            return Fetched("too_large", f"Content-Length {response.content_length} > download.max_bytes={limit}", status)
        body = bytearray()
        clock = asyncio.get_running_loop().time
        started = clock()
        async for chunk in response.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > limit:
                return Fetched("too_large", f"body over download.max_bytes={limit}", status)
            elapsed = clock() - started
            if elapsed > RATE_GRACE_SECONDS and len(body) / elapsed < self._config.min_bytes_per_second:
                rate = self._config.min_bytes_per_second
                return Fetched("timeout", f"a trickle: slower than download.min_bytes_per_second={rate}", status)
        if not body:
            return Fetched("not_an_image", "empty body", status)
        return Fetched("ok", None, status, bytes(body))
