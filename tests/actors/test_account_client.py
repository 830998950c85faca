"""AccountClient against the real simulator and against scripted HTTP answers, with time faked (no sleeping)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web

from likeability.actors.account_client import AccountClient, TokenRetired
from likeability.actors.pacer import TokenPacer
from likeability.config import CollectConfig, SimulatorConfig
from likeability.simulator.server import SimulatorServer, serve_in_thread

TOKEN = "IGQVJtest-token-0001"
DISCOVERY = {"id": "17841400000000009", "username": "ann", "followers_count": 10, "media_count": 0, "media": {"data": []}}


class FakeTime:
    """One clock for server and client; sleeping just moves it forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run_client(base_url: str, fake: FakeTime, work: Callable, **config) -> object:
    collect = CollectConfig(**{"backoff_base_seconds": 1.0, "max_retries": 3, **config})

    async def main():
        async with aiohttp.ClientSession() as session:
            pacer = TokenPacer(collect.calls_per_window, collect.window_seconds)
            client = AccountClient(session, TOKEN, base_url, collect, pacer, fake, fake.sleep)
            return await work(client), client

    return asyncio.run(main())


@pytest.fixture
def simulator():
    def start(fake: FakeTime, **overrides) -> tuple[SimulatorServer, object]:
        config = SimulatorConfig(**{"accounts": 30, "seed": 3, "unavailable_fraction": 0.2, **overrides})
        server = SimulatorServer(config, clock=fake, tokens=[TOKEN], expired_tokens=["IGQVJexpired-0002"])
        return server, serve_in_thread(server)

    return start


def test_walks_every_page_and_keeps_each_post_once(simulator):
    fake = FakeTime()
    server, serving = simulator(fake, posts_per_account_min=23, posts_per_account_max=23)
    with serving as url:
        account = next(a for a in map(server.world.account_at, range(30)) if a.business)
        result, client = run_client(url, fake, lambda c: c.fetch_account(account.username), page_size=5)
    assert result.status == "ok"
    assert result.user["followers_count"] == account.followers_count
    assert len(result.posts) == 23 == len({p["media_id"] for p in result.posts})
    assert client.counts.calls == 5  # ceil(23 / 5) pages, the last without `next`


def test_max_posts_per_user_stops_paging_early(simulator):
    fake = FakeTime()
    server, serving = simulator(fake, posts_per_account_min=23, posts_per_account_max=23)
    with serving as url:
        account = next(a for a in map(server.world.account_at, range(30)) if a.business)
        result, client = run_client(
            url, fake, lambda c: c.fetch_account(account.username), page_size=5, max_posts_per_user=7
        )
    assert len(result.posts) == 7 and client.counts.calls == 2


def test_hidden_likes_are_null(simulator):
    fake = FakeTime()
    server, serving = simulator(fake, hidden_likes_fraction=1.0)
    with serving as url:
        account = next(a for a in map(server.world.account_at, range(30)) if a.business)
        result, _ = run_client(url, fake, lambda c: c.fetch_account(account.username))
    assert result.posts and all(p["like_count"] is None for p in result.posts)


def test_unknown_and_unavailable_accounts_fail_permanently_without_retries(simulator):
    fake = FakeTime()
    server, serving = simulator(fake)
    with serving as url:
        private = next(a for a in map(server.world.account_at, range(30)) if not a.business)

        async def both(client):
            return [await client.fetch_account("no.such.user"), await client.fetch_account(private.username)]

        results, client = run_client(url, fake, both)
    assert [(r.status, r.error_code) for r in results] == [("failed", 110), ("failed", 110)]
    assert client.counts.calls == 2 and client.counts.retries == 0


@pytest.mark.parametrize("client_limit", [3, 100])
def test_the_real_limit_is_kept_whether_the_client_knows_it_or_reads_it_from_usage_headers(simulator, client_limit):
    fake = FakeTime()
    # The server allows 3 calls per 10 s; a client that believes 100 learns of the limit from X-App-Usage at 100%.
    server, serving = simulator(fake, calls_per_window=3, window_seconds=10.0, posts_per_account_min=40,
                                posts_per_account_max=40)
    with serving as url:
        account = next(a for a in map(server.world.account_at, range(30)) if a.business)
        result, client = run_client(url, fake, lambda c: c.fetch_account(account.username), page_size=10,
                                    calls_per_window=client_limit, window_seconds=10.0)
    assert result.status == "ok" and len(result.posts) == 40
    assert client.counts.calls == 4 and client.counts.throttled == 0
    assert sum(fake.slept) >= 10.0  # the 4th call waited for the 1st to leave the window


def test_expired_and_invalid_tokens_retire(simulator):
    fake = FakeTime()
    _, serving = simulator(fake)
    with serving as url:
        for token in ("IGQVJexpired-0002", "IGQVJnever-issued-0003"):
            async def main():
                async with aiohttp.ClientSession() as session:
                    collect = CollectConfig()
                    client = AccountClient(session, token, url, collect, TokenPacer(200, 3600), fake, fake.sleep)
                    await client.fetch_account("anyone")

            with pytest.raises(TokenRetired) as err:
                asyncio.run(main())
            assert "IGQVJ" not in str(err.value)


class Scripted:
    """A real HTTP server that gives prepared answers in order and notes when each request came."""

    def __init__(self, fake: FakeTime, answers: list[tuple[int, dict, bytes]]):
        self.fake = fake
        self.answers = list(answers)
        self.times: list[float] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.times.append(self.fake.now)
        status, headers, body = self.answers.pop(0)
        if body == b"<truncated>":
            response = web.StreamResponse(status=200, headers={"Content-Length": "500"})
            await response.prepare(request)
            await response.write(b'{"business_discovery": {')
            request.transport.close()
            return response
        return web.Response(status=status, headers=headers, body=body)

    def run(self, work: Callable, **config) -> tuple[object, AccountClient]:
        collect = CollectConfig(**{"backoff_base_seconds": 1.0, "max_retries": 3, **config})

        async def main():
            app = web.Application()
            app.router.add_get("/{tail:.*}", self.handle)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            try:
                async with aiohttp.ClientSession() as session:
                    pacer = TokenPacer(collect.calls_per_window, collect.window_seconds)
                    client = AccountClient(session, TOKEN, f"http://127.0.0.1:{port}", collect, pacer, self.fake,
                                           self.fake.sleep)
                    return await work(client), client
            finally:
                await runner.cleanup()

        return asyncio.run(main())


def error(code: int, status: int = 400, headers: dict | None = None, subcode: int | None = None):
    body = {"error": {"message": "nope", "type": "OAuthException", "code": code, "fbtrace_id": "x"}}
    if subcode:
        body["error"]["error_subcode"] = subcode
    return status, headers or {}, json.dumps(body).encode()


OK = (200, {}, json.dumps({"business_discovery": DISCOVERY}).encode())


@pytest.mark.parametrize(
    "answer, blocked_for",
    [
        (error(4, headers={"Retry-After": "7"}), 7),
        (error(17, headers={"Retry-After": "7"}), 7),
        (error(32, headers={"Retry-After": "7"}), 7),
        (error(613, headers={"Retry-After": "7"}), 7),
        (error(80002, headers={"Retry-After": "7"}), 7),
        (error(17, status=429, headers={"Retry-After": "7"}), 7),
        (error(4, status=403), 3672),  # no Retry-After: a whole window, with the pacer's 2% margin
        ((429, {}, b'{"error": {"message": "slow down", "code": 0}}'), 3672),
        (error(80002, headers={"X-Business-Use-Case-Usage": json.dumps(
            {"1": [{"type": "instagram", "call_count": 100, "total_cputime": 5, "total_time": 5,
                    "estimated_time_to_regain_access": 2}]})}), 120),
        (error(17, headers={"Retry-After": "5", "X-Business-Use-Case-Usage": json.dumps(
            {"1": [{"type": "instagram", "call_count": 50, "total_cputime": 5, "total_time": 5,
                    "estimated_time_to_regain_access": 1}]})}), 5),  # seconds beat rounded-up minutes
    ],
)
def test_every_throttle_form_stops_calls_until_access_returns(answer, blocked_for):
    fake = FakeTime()
    server = Scripted(fake, [answer, OK])
    result, client = server.run(lambda c: c.fetch_account("ann"))
    assert result.status == "ok"
    assert server.times[1] - server.times[0] == pytest.approx(blocked_for)
    assert client.counts.throttled == 1 and client.counts.retries == 0


@pytest.mark.parametrize(
    "answer",
    [
        (503, {}, b"Service Unavailable"),
        error(1, status=500),
        error(2, status=503),
        (200, {"Content-Type": "text/html"}, b"<html>captive portal</html>"),
        (200, {}, b"<truncated>"),
        (200, {}, b'["not", "an", "object"]'),
    ],
)
def test_transient_failures_retry_with_backoff(answer):
    fake = FakeTime()
    server = Scripted(fake, [answer, answer, OK])
    result, client = server.run(lambda c: c.fetch_account("ann"))
    assert result.status == "ok" and client.counts.retries == 2
    assert 0 <= server.times[1] - server.times[0] <= 1.0 and 0 <= server.times[2] - server.times[1] <= 2.0


def test_transient_failures_give_up_after_max_retries():
    fake = FakeTime()
    server = Scripted(fake, [(502, {}, b"bad gateway")] * 3)
    result, client = server.run(lambda c: c.fetch_account("ann"), max_retries=2)
    assert result.status == "failed" and result.reason.startswith("gave up after 3 transient failures")


def test_permission_errors_are_recorded_not_retried():
    fake = FakeTime()
    server = Scripted(fake, [error(10, status=403)])
    result, client = server.run(lambda c: c.fetch_account("ann"))
    assert (result.status, result.error_code, client.counts.calls) == ("failed", 10, 1)


def test_token_error_raises_retired():
    fake = FakeTime()
    server = Scripted(fake, [error(190, subcode=463)])
    with pytest.raises(TokenRetired, match="subcode 463"):
        server.run(lambda c: c.fetch_account("ann"))


def test_usage_near_the_limit_spreads_calls_out():
    fake = FakeTime()
    busy = {"X-App-Usage": json.dumps({"call_count": 95, "total_time": 10, "total_cputime": 10})}
    page = {**DISCOVERY, "media": {"data": [], "paging": {"cursors": {"after": "c1"}, "next": "http://x"}}}
    server = Scripted(fake, [(200, busy, json.dumps({"business_discovery": page}).encode()), OK])
    server.run(lambda c: c.fetch_account("ann"), calls_per_window=100, window_seconds=100.0)
    assert server.times[1] - server.times[0] == pytest.approx(100 * 1.02 / 100)
