"""TokenActor: a Ray actor that owns one access token, one rate limiter and one bounded HTTP session."""

from __future__ import annotations

import asyncio
import math
import time

import aiohttp
import ray

from likeability.actors.account_client import AccountClient, AccountResult, TokenRetired
from likeability.actors.pacer import TokenPacer
from likeability.collect.token_ledger import TokenLedger
from likeability.config import CollectConfig
from likeability.run import RunFolder


@ray.remote(num_cpus=0, max_restarts=3, max_task_retries=0)
class TokenActor:
    """Collects accounts with one token. Calls beyond `max_in_flight_per_token` wait inside the actor, so a
    driver may queue more work than that without opening more connections.

    Restarts (max_restarts) bring a crashed actor back with the same token; calls that were running are not
    retried by Ray (max_task_retries=0) but handed back to the collector, which queues them again.
    """

    def __init__(self, label: str, token: str, base_url: str, config: CollectConfig, run_location: str):
        self._label = label
        self._token = token
        self._base_url = base_url
        self._config = config
        # The pacer keeps monotonic time; the ledger and the driver want wall-clock time.
        self._wall_offset = time.time() - time.monotonic()
        self._pacer = TokenPacer(
            config.calls_per_window,
            config.window_seconds,
            max_in_flight=config.max_in_flight_per_token,
            slow_down_from=config.slow_down_from_usage,
            pause_at=config.pause_at_usage,
        )
        self._client: AccountClient | None = None
        self._gate: asyncio.Semaphore | None = None
        # What earlier runs, or this actor before a restart, learnt of the token.
        known = TokenLedger(RunFolder(run_location)).get(token)
        self.retired = known.retired
        still_blocked = known.blocked_until - time.time()
        if still_blocked > 0:
            self._pacer.block(time.monotonic(), still_blocked)

    def __repr__(self) -> str:
        # Ray prefixes this actor's log lines with its repr: name the token by position only.
        return f"TokenActor({self._label})"

    def _ensure_client(self) -> AccountClient:
        # The session must be created inside the actor's event loop, so not in __init__.
        if self._client is None:
            connector = aiohttp.TCPConnector(limit=self._config.max_connections_per_token)
            session = aiohttp.ClientSession(connector=connector)
            self._client = AccountClient(session, self._token, self._base_url, self._config, self._pacer, time.monotonic)
            self._gate = asyncio.Semaphore(self._config.max_in_flight_per_token)
        return self._client

    async def fetch_account(self, username: str) -> AccountResult | None:
        """The account, or None when this token is retired (the username goes back to the collector)."""
        client = self._ensure_client()
        async with self._gate:
            if self.retired:
                return None
            try:
                return await client.fetch_account(username)
            except TokenRetired:
                self.retired = True
                return None

    def state(self) -> dict:
        """Counters and condition for the progress line; the token itself never leaves the actor."""
        counts = self._client.counts if self._client else None
        blocked = self._pacer.blocked_until
        condition = "retired" if self.retired else "blocked" if blocked > time.monotonic() else "ok"
        return {
            "label": self._label,
            "state": condition,
            "retired": self.retired,
            "blocked_until": math.ceil(blocked + self._wall_offset) if blocked else 0,  # wall clock, for the ledger
            "calls": counts.calls if counts else 0,
            "throttled": counts.throttled if counts else 0,
            "retries": counts.retries if counts else 0,
        }
