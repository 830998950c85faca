"""A real HTTP server on loopback that serves good images and every kind of bad answer a download can meet."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from aiohttp import web

from image_files import jpeg, png_header_only
from likeability.simulator.server import serve_in_thread

OK_JPEG = jpeg(320, 240)
BIG_BYTES = 300_000  # over the tests' max_bytes


class BadImageServer:
    def __init__(self, slow_seconds: float = 2.0, flaky_failures: int = 2, trickle_seconds: float = 0.1):
        self.slow_seconds = slow_seconds
        self.trickle_seconds = trickle_seconds
        self.flaky_failures = flaky_failures
        self.requests: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{name:.*}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests[name] += 1
        jpeg_type = {"Content-Type": "image/jpeg"}
        if name in ("ok.jpg", "copy-of-ok.jpg"):
            return web.Response(body=OK_JPEG, headers=jpeg_type)
        if name == "wrong-extension.png":
            return web.Response(body=OK_JPEG, headers={"Content-Type": "image/png"})
        if name == "html.jpg":
            return web.Response(body=b"<html><body>rate limited</body></html>", headers=jpeg_type)
        if name == "empty.jpg":
            return web.Response(body=b"", headers=jpeg_type)
        if name == "truncated.jpg":
            return web.Response(body=OK_JPEG[: len(OK_JPEG) // 2], headers=jpeg_type)
        if name == "huge.png":
            return web.Response(body=png_header_only(20_000, 20_000), headers={"Content-Type": "image/png"})
        if name == "big.jpg":
            return web.Response(body=OK_JPEG + b"\0" * BIG_BYTES, headers=jpeg_type)
        if name == "loop-a":
            raise web.HTTPFound("/loop-b")
        if name == "loop-b":
            raise web.HTTPFound("/loop-a")
        if name.startswith("chain/"):
            left = int(name.split("/")[1])
            raise web.HTTPFound(f"/chain/{left - 1}" if left else "/ok.jpg")
        if name == "to-private":
            raise web.HTTPFound("http://10.1.2.3/x.jpg")
        if name == "slow.jpg":
            await asyncio.sleep(self.slow_seconds)
            return web.Response(body=OK_JPEG, headers=jpeg_type)
        if name == "trickle.jpg":
            # One small piece every trickle_seconds: under any read timeout, for ever.
            response = web.StreamResponse(headers=jpeg_type)
            await response.prepare(request)
            while True:
                await response.write(OK_JPEG[:100])
                await asyncio.sleep(self.trickle_seconds)
        if name == "busy.jpg":
            if self.requests[name] == 1:
                raise web.HTTPTooManyRequests(headers={"Retry-After": "1"})
            return web.Response(body=OK_JPEG, headers=jpeg_type)
        if name == "busy-until.jpg":
            if self.requests[name] == 1:
                back = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
                raise web.HTTPServiceUnavailable(headers={"Retry-After": back})
            return web.Response(body=OK_JPEG, headers=jpeg_type)
        if name.startswith("to-port/"):
            raise web.HTTPFound(f"http://127.0.0.1:{name.split('/')[1]}/ok.jpg")
        if name == "flaky.jpg":
            if self.requests[name] <= self.flaky_failures:
                raise web.HTTPServiceUnavailable()
            return web.Response(body=OK_JPEG, headers=jpeg_type)
        raise web.HTTPNotFound()


@contextmanager
def bad_image_server(**options) -> Iterator[tuple[BadImageServer, str]]:
    server = BadImageServer(**options)
    with serve_in_thread(server) as url:
        yield server, url
