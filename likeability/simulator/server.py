"""The Graph API simulator: a real aiohttp server that answers Business Discovery and Hashtag Search over a
synthetic World, with the live API's shapes, paging, usage headers, throttling and errors.

Choices where the documentation is silent (see graph_api.py for the codes):
- Any numeric `{ig-user-id}` is accepted as the caller's own professional account.
- Each token throttles in its own style (`simulator.token_behaviours`): a real limit clients are not told,
  code 4 or 17 (X-App-Usage at 100%) or 80002 (X-Business-Use-Case-Usage with
  `estimated_time_to_regain_access` in whole minutes, rounded up so it is above 0 exactly while blocked), and
  `Retry-After` in seconds (rounded up), as an HTTP date, or absent. A token may die (code 190) mid-run.
  Calls a client made after it had been told of a block or a death are counted (token_watch.py).
- Every call with a valid token counts against its window, also calls made while throttled, so hammering a
  blocked token keeps it blocked. Calls with missing, invalid or expired tokens count nowhere.
- Every post's `media_url` (a video's too, as its still frame) points at `/media/{id}.jpg` on this server;
  images are not rate limited. `paging.next` carries the caller's `access_token`, as the live API's does.
Access logging is off: request lines hold tokens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import random
import re
import threading
import time
import traceback
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal, get_args

import numpy as np
from aiohttp import web
from pydantic import ValidationError

from likeability.collect import graph_api
from likeability.collect.ratelimit import SlidingWindow
from likeability.collect.tokens import Redactor, read_tokens
from likeability.config import FaultConfig, SimulatorConfig, TokenBehaviour
from likeability.simulator.images import render_photo
from likeability.simulator.token_watch import TokenWatch
from likeability.simulator.world import Account, Post, World

log = logging.getLogger(__name__)

Clock = Callable[[], float]
FaultKind = Literal["server_error", "truncate", "wrong_content_type"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

JSON_TYPE = "application/json; charset=UTF-8"
HASHTAG_ID_BASE = 17_843_000_000_000_000
TOTAL_TIME_SHARE = 0.75  # of call_count: the simulator's calls are cheap, so time usage trails call usage
TOTAL_CPUTIME_SHARE = 0.5
TRACE_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
ERROR_PAGE = "<html><head><title>Error</title></head><body>Sorry, something went wrong.</body></html>"

USER_FIELDS = frozenset({"id", "business_discovery"})
DISCOVERY_FIELDS = frozenset({"id", "username", "followers_count", "media_count", "media"})
HASHTAG_MEDIA_FIELDS = frozenset(
    {"id", "caption", "comments_count", "like_count", "media_type", "media_url", "permalink", "timestamp"}
)
MEDIA_FIELDS = HASHTAG_MEDIA_FIELDS | {"username", "thumbnail_url"}
THROTTLE_MESSAGES = {
    graph_api.APP_RATE_LIMIT: "(#4) Application request limit reached",
    graph_api.USER_RATE_LIMIT: "(#17) User request limit reached",
    graph_api.BUSINESS_USE_CASE_RATE_LIMIT: "(#80002) There have been too many calls to this Instagram account. "
    "Wait a bit and try again.",
}


class GraphError(Exception):
    """An error answer in the Graph API's shape."""

    def __init__(
        self, status: int, code: int, message: str, subcode: int | None = None, error_type: str = "OAuthException"
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.subcode = subcode
        self.error_type = error_type


@dataclass(frozen=True)
class Field:
    """One node of a fields expression: `name.modifier(arg)...{children}`."""

    name: str
    modifiers: dict[str, str]
    children: list[Field] | None = None


@dataclass
class SimulatorStats:
    """Counters for tests and benchmarks; tokens appear only as their labels."""

    api_calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    rejected_token_calls: int = 0
    image_requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    # Arrival times (the server's clock) of each token's latest API calls, for throughput measurements.
    call_times: defaultdict[str, deque[float]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=100_000))
    )

    def as_json(self, labels: list[str]) -> dict[str, Any]:
        return {
            "api_calls": {label: self.api_calls[label] for label in labels},
            "throttled": {label: self.throttled[label] for label in labels},
            "rejected_token_calls": self.rejected_token_calls,
            "image_requests": self.image_requests,
            "faults": {name: self.faults[name] for name in ("slow", "burst", *FAULT_KINDS)},
        }


@dataclass(frozen=True)
class Answer:
    """A response before fault injection: status, body bytes, content type and headers."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    notifies: TokenWatch | None = None  # the token told by this refusal or death notice, if delivered intact


class SimulatorServer:
    """Serves `world` on `config.host:config.port`; `clock` times rate windows, `wall_clock` dates posts."""

    def __init__(
        self,
        config: SimulatorConfig,
        world: World | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        tokens: list[str] | None = None,
        expired_tokens: list[str] | None = None,
    ):
        self.config = config
        self.world = world if world is not None else World(config, now=wall_clock())
        self._clock = clock
        self._wall_clock = wall_clock
        tokens = read_tokens(config.tokens) if tokens is None else list(tokens)
        expired = read_tokens(config.expired_tokens) if expired_tokens is None else list(expired_tokens)
        self._token_index = {token: i for i, token in enumerate(tokens)}
        self._expired = set(expired)
        self._labels = [Redactor.label(i) for i in range(len(tokens))]
        self._redact = Redactor(tokens + expired)
        self.watches = [self._watch(i) for i in range(len(tokens))]
        self._api_calls = 0
        self._hashtags_by_user: dict[str, dict[str, float]] = {}
        self._hashtag_names: dict[int, str] = {}
        # A copy, so switching faults at run time leaves the caller's config as it was.
        self.faults: FaultConfig = config.faults.model_copy()
        self._fault_rng = random.Random(config.seed)
        self._trace_rng = random.Random(config.seed + 1)
        self.stats = SimulatorStats()
        self._runner: web.AppRunner | None = None

    def stats_json(self) -> dict[str, Any]:
        stats = self.stats.as_json(self._labels)
        for label, watch in zip(self._labels, self.watches, strict=True):
            for name, count in watch.counts().items():
                stats.setdefault(name, {})[label] = count
        return stats

    def _watch(self, index: int) -> TokenWatch:
        config = self.config
        behaviour = config.token_behaviours[index % len(config.token_behaviours)]
        window = SlidingWindow(behaviour.calls_per_window or config.calls_per_window, config.window_seconds)
        return TokenWatch(behaviour, window, config.latency_seconds, config.in_flight_grace_seconds)

    async def start(self) -> str:
        """Bind and serve; returns the base URL (with the real port when config.port is 0)."""
        app = web.Application(middlewares=[self._contain_errors])
        app.router.add_get("/_simulator/stats", self._get_stats)
        app.router.add_get("/_simulator/faults", self._get_faults)
        app.router.add_post("/_simulator/faults", self._set_faults)
        app.router.add_get("/media/{name}", self._media)
        app.router.add_get("/{path:.*}", self._graph)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.config.host, self.config.port).start()
        host, port = self._runner.addresses[0][:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _contain_errors(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """A bug becomes a code-1 answer and a redacted log line, never a traceback holding a token."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            log.error("simulator error: %s", self._redact(traceback.format_exc()))
            body = graph_api.error_body(
                graph_api.UNKNOWN_ERROR, "An unknown error has occurred.", self._trace_id()
            )
            return web.json_response(body, status=500)

    async def _get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats_json())

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.model_dump())

    async def _set_faults(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            self.faults = FaultConfig.model_validate({**self.faults.model_dump(), **changes})
        except (ValueError, TypeError, ValidationError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response(self.faults.model_dump())

    async def _media(self, request: web.Request) -> web.StreamResponse:
        self.stats.image_requests += 1
        match = re.fullmatch(r"(\d+)\.jpg", request.match_info["name"])
        post = self.world.post(int(match.group(1))) if match else None
        if post is None:
            return web.Response(status=404, text="Not Found")
        fault = await self._draw_fault()
        if fault == "server_error":
            answer = Answer(503, b"Service Unavailable", "text/plain", {})
        else:
            body, stored = await asyncio.get_running_loop().run_in_executor(
                None, render_photo, self.config.seed, post.media_id, post.kind, self.config.image_size
            )
            answer = Answer(200, body, stored.content_type, {"Cache-Control": "max-age=1209600"})
        return await self._deliver(request, answer, fault)

    async def _graph(self, request: web.Request) -> web.StreamResponse:
        self._api_calls += 1
        every = self.faults.burst_every_calls
        # The last burst_calls calls of every period of burst_every_calls: 5xx in a row, as an outage gives.
        if every and (self._api_calls - 1) % every >= every - self.faults.burst_calls:
            self.stats.faults["burst"] += 1
            fault: FaultKind | None = "server_error"
        else:
            fault = await self._draw_fault()
        answer = self._answer_graph(request, fault == "server_error")
        if self.config.latency_seconds:
            await asyncio.sleep(self.config.latency_seconds)
        if answer.notifies is not None and fault not in ("truncate", "wrong_content_type"):
            answer.notifies.tell(self._clock(), request.transport)
        return await self._deliver(request, answer, fault)

    async def _draw_fault(self) -> FaultKind | None:
        """Sleeps when the call is drawn slow; returns the fault that replaces or spoils its answer, if any."""
        faults, rng = self.faults, self._fault_rng
        slow = rng.random() < faults.slow_rate
        drawn = [
            rng.random() < rate
            for rate in (faults.server_error_rate, faults.truncate_rate, faults.wrong_content_type_rate)
        ]
        if slow:
            self.stats.faults["slow"] += 1
            await asyncio.sleep(faults.slow_seconds)
        for kind, hit in zip(FAULT_KINDS, drawn, strict=True):
            if hit:
                self.stats.faults[kind] += 1
                return kind
        return None

    async def _deliver(self, request: web.Request, answer: Answer, fault: FaultKind | None) -> web.StreamResponse:
        if fault == "wrong_content_type":
            # What a proxy or captive portal answers: an HTML page with status 200.
            return web.Response(text=ERROR_PAGE, content_type="text/html", headers=answer.headers)
        response = web.StreamResponse(
            status=answer.status, headers={**answer.headers, "Content-Type": answer.content_type}
        )
        response.content_length = len(answer.body)
        await response.prepare(request)
        if fault == "truncate":
            # The connection drops midway: the declared length is never reached.
            await response.write(answer.body[: len(answer.body) // 2])
            request.transport.close()
            return response
        await response.write(answer.body)
        await response.write_eof()
        return response

    def _answer_graph(self, request: web.Request, server_error: bool) -> Answer:
        version, *node = request.path.strip("/").split("/")
        headers: dict[str, str] = {}
        # The IG user a call acts for keys the business use case usage header.
        ig_user_id = request.query.get("user_id") or (node[0] if len(node) == 1 else None)
        ig_user_id = ig_user_id if ig_user_id and ig_user_id.isdigit() else None
        usage = 0.0
        try:
            if version not in graph_api.SUPPORTED_API_VERSIONS:
                raise GraphError(400, graph_api.UNKNOWN_PATH_OR_SYNTAX, f"Unknown path components: {request.path}")
            headers["facebook-api-version"] = version
            index = self._authenticate(request.query.get("access_token"))
            label, watch = self._labels[index], self.watches[index]
            now = self._clock()
            verdict = watch.arrive(now, request.transport)
            if verdict.outcome == "dead":
                self.stats.rejected_token_calls += 1
                answer = self._error_answer(_expired_token(self._wall_clock()), headers, 0.0, ig_user_id, 0)
                return replace(answer, notifies=watch)
            self.stats.api_calls[label] += 1
            self.stats.call_times[label].append(now)
            usage = verdict.usage
            if verdict.outcome == "refused":
                self.stats.throttled[label] += 1
                return replace(self._refusal(watch.behaviour, verdict.wait, headers, usage, ig_user_id), notifies=watch)
            if server_error:
                raise GraphError(
                    500,
                    graph_api.SERVICE_UNAVAILABLE,
                    "An unexpected error has occurred. Please retry your request later.",
                )
            body = self._route(request, node)
        except GraphError as err:
            return self._error_answer(err, headers, usage, ig_user_id, 0)
        headers.update(_usage_headers(usage, ig_user_id, 0))
        return Answer(200, json.dumps(body).encode(), JSON_TYPE, headers)

    def _authenticate(self, token: str | None) -> int:
        """The token's index; missing, expired and unknown tokens get their Graph API errors."""
        if not token:
            self.stats.rejected_token_calls += 1
            raise GraphError(
                400, graph_api.ACCESS_TOKEN_REQUIRED, "An access token is required to request this resource."
            )
        if token in self._expired:
            self.stats.rejected_token_calls += 1
            raise _expired_token(self._wall_clock())
        index = self._token_index.get(token)
        if index is None:
            self.stats.rejected_token_calls += 1
            raise GraphError(
                400,
                graph_api.ACCESS_TOKEN_ERROR,
                "Invalid OAuth access token - Cannot parse access token",
                graph_api.TOKEN_INVALID_SUBCODE,
            )
        return index

    def _refusal(
        self, behaviour: TokenBehaviour, wait: float, headers: dict[str, str], usage: float, ig_user_id: str | None
    ) -> Answer:
        """A throttle answer in the token's style: its code and status, Retry-After in seconds, as an HTTP date
        or not at all, and (code 80002 only) the regain estimate in whole minutes, rounded up."""
        if behaviour.retry_after == "seconds":
            headers["Retry-After"] = str(math.ceil(wait))
        elif behaviour.retry_after == "date":
            when = datetime.fromtimestamp(math.ceil(self._wall_clock() + wait), UTC)
            headers["Retry-After"] = format_datetime(when, usegmt=True)
        code = behaviour.throttle_code
        error = GraphError(behaviour.throttle_http_status, code, THROTTLE_MESSAGES[code])
        minutes = math.ceil(wait / 60) if code == graph_api.BUSINESS_USE_CASE_RATE_LIMIT else 0
        return self._error_answer(error, headers, usage, ig_user_id, minutes)

    def _error_answer(
        self,
        err: GraphError,
        headers: dict[str, str],
        usage: float,
        ig_user_id: str | None,
        minutes_to_regain: int,
    ) -> Answer:
        body = graph_api.error_body(err.code, err.message, self._trace_id(), err.subcode, err.error_type)
        headers = {**headers, **_usage_headers(usage, ig_user_id, minutes_to_regain)}
        if err.code == graph_api.ACCESS_TOKEN_ERROR:
            headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{err.message}"'
        return Answer(err.status, json.dumps(body).encode(), JSON_TYPE, headers)

    def _trace_id(self) -> str:
        return "".join(self._trace_rng.choices(TRACE_ID_ALPHABET, k=23))

    def _route(self, request: web.Request, node: list[str]) -> dict[str, Any]:
        if node == ["ig_hashtag_search"]:
            return self._hashtag_search(request)
        if len(node) == 2 and node[1] in ("recent_media", "top_media"):
            return self._hashtag_media(request, node[0], node[1])
        if len(node) == 1 and node[0]:
            return self._ig_user(request, node[0])
        raise GraphError(400, graph_api.UNKNOWN_PATH_OR_SYNTAX, f"Unknown path components: /{'/'.join(node)}")

    def _ig_user(self, request: web.Request, ig_user_id: str) -> dict[str, Any]:
        if not ig_user_id.isdigit():
            raise _missing_object(ig_user_id)
        fields = _parse_fields(request.query.get("fields", "id"))
        body: dict[str, Any] = {}
        for item in fields:
            _require_known(item, USER_FIELDS, "ShadowIGUser")
            if item.name == "business_discovery":
                body["business_discovery"] = self._business_discovery(request, fields, item)
        body["id"] = ig_user_id
        return body

    def _business_discovery(self, request: web.Request, fields: list[Field], item: Field) -> dict[str, Any]:
        username = item.modifiers.get("username")
        if not username:
            raise GraphError(400, graph_api.INVALID_PARAMETER, "(#100) Missing username for business_discovery")
        account = self.world.account(username)
        if account is None or not account.business:
            raise GraphError(400, graph_api.INVALID_USER_ID, "Invalid user id", graph_api.USER_NOT_FOUND_SUBCODE)
        found: dict[str, Any] = {}
        for child in item.children or [Field("id", {})]:
            _require_known(child, DISCOVERY_FIELDS, "ShadowIGUser")
            if child.name == "media":
                found["media"] = self._discovery_media(request, fields, item, child, account)
            elif child.name != "id":
                found[child.name] = getattr(account, child.name)
        found["id"] = str(account.ig_id)
        return found

    def _discovery_media(
        self,
        request: web.Request,
        fields: list[Field],
        discovery: Field,
        media: Field,
        account: Account,
    ) -> dict[str, Any]:
        offset = _decode_cursor(media.modifiers["after"], 1)[0] if "after" in media.modifiers else 0
        limit = _page_size(media.modifiers.get("limit"), self.config.page_size, graph_api.MEDIA_MAX_PAGE)
        wanted = _media_field_names(media.children, MEDIA_FIELDS)
        posts = self.world.account_media(account.index, offset, limit)
        page: dict[str, Any] = {"data": [self._media_json(request, post, wanted) for post in posts]}
        end = offset + len(posts)
        page["paging"] = {"cursors": {"before": _encode_cursor(offset), "after": _encode_cursor(end)}}
        if end < account.media_count:
            modifiers = {**media.modifiers, "after": _encode_cursor(end)}
            next_media = replace(media, modifiers=modifiers)
            next_discovery = replace(
                discovery, children=[next_media if c is media else c for c in discovery.children]
            )
            next_fields = [next_discovery if f is discovery else f for f in fields]
            page["paging"]["next"] = str(request.url.update_query(fields=_render_fields(next_fields)))
        return page

    def _hashtag_search(self, request: web.Request) -> dict[str, Any]:
        user_id = _required_param(request, "user_id")
        tag = _required_param(request, "q").lstrip("#").lower()
        now = self._clock()
        queried = self._hashtags_by_user.setdefault(user_id, {})
        for old in [t for t, first in queried.items() if first <= now - graph_api.HASHTAG_WINDOW_SECONDS]:
            del queried[old]
        if tag not in queried:
            if len(queried) >= graph_api.UNIQUE_HASHTAGS_PER_WINDOW:
                raise GraphError(
                    400,
                    graph_api.HASHTAG_LIMIT_CODE,
                    f"(#100) This user has queried {graph_api.UNIQUE_HASHTAGS_PER_WINDOW} unique "
                    "hashtags in the last 7 days; no more can be queried until one ages out",
                )
            queried[tag] = now
        hashtag_id = HASHTAG_ID_BASE + zlib.crc32(tag.encode())
        self._hashtag_names[hashtag_id] = tag
        return {"data": [{"id": str(hashtag_id)}]}

    def _hashtag_media(self, request: web.Request, hashtag_id: str, edge: str) -> dict[str, Any]:
        tag = self._hashtag_names.get(int(hashtag_id)) if hashtag_id.isdigit() else None
        if tag is None:
            raise _missing_object(hashtag_id)
        _required_param(request, "user_id")
        wanted = _media_field_names(_parse_fields(request.query.get("fields", "id")), HASHTAG_MEDIA_FIELDS)
        limit = _page_size(request.query.get("limit"), self.config.page_size, graph_api.HASHTAG_MEDIA_MAX_PAGE)
        after = request.query.get("after")
        # The cursor pins the moment of the first page, so later pages come from the same set of posts.
        offset, snapshot = _decode_cursor(after, 2) if after else (0, int(self._wall_clock()))
        if edge == "recent_media":
            posts = self.world.hashtag_posts(tag, snapshot - graph_api.RECENT_MEDIA_SECONDS, snapshot)
            # Not in time order, as documented: a fixed scramble of the media ids.
            scramble = self.world.post_media_id[posts].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            posts = posts[np.argsort(scramble, kind="stable")]
        else:
            posts = self.world.hashtag_posts(tag, 0, snapshot)
            posts = posts[np.argsort(-self.world.post_like_count[posts], kind="stable")]
        page = posts[offset : offset + limit]
        body: dict[str, Any] = {
            "data": [self._media_json(request, self.world.post_at(int(i)), wanted) for i in page]
        }
        end = offset + len(page)
        body["paging"] = {
            "cursors": {"before": _encode_cursor(offset, snapshot), "after": _encode_cursor(end, snapshot)}
        }
        if end < len(posts):
            body["paging"]["next"] = str(request.url.update_query(after=_encode_cursor(end, snapshot)))
        return body

    def _media_json(self, request: web.Request, post: Post, wanted: list[str]) -> dict[str, Any]:
        image_url = f"{request.scheme}://{request.host}/media/{post.media_id}.jpg"
        values = {
            "caption": post.caption,
            "comments_count": post.comments_count,
            "media_type": post.media_type,
            "media_url": image_url,
            "permalink": post.permalink,
            "timestamp": datetime.fromtimestamp(post.timestamp, UTC).strftime(graph_api.TIMESTAMP_FORMAT),
            "username": post.username,
        }
        if not post.likes_hidden:
            values["like_count"] = post.like_count
        if post.media_type == "VIDEO":
            values["thumbnail_url"] = image_url
        media = {name: values[name] for name in wanted if name in values}
        media["id"] = str(post.media_id)
        return media


@contextmanager
def serve_in_thread(server: SimulatorServer) -> Iterator[str]:
    """Runs `server` on its own event loop in a background thread; yields the base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="graph-api-simulator", daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(server.start(), loop).result()
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result()
        asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _usage_headers(usage: float, ig_user_id: str | None, minutes_to_regain: int) -> dict[str, str]:
    call_count = math.floor(100 * usage)
    return graph_api.usage_headers(
        call_count,
        math.floor(call_count * TOTAL_TIME_SHARE),
        math.floor(call_count * TOTAL_CPUTIME_SHARE),
        ig_user_id,
        minutes_to_regain,
    )


def _human_time(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")


def _expired_token(now: float) -> GraphError:
    return GraphError(
        400,
        graph_api.ACCESS_TOKEN_ERROR,
        f"Error validating access token: Session has expired on {_human_time(now - 86400)}. "
        f"The current time is {_human_time(now)}.",
        graph_api.TOKEN_EXPIRED_SUBCODE,
    )


def _missing_object(object_id: str) -> GraphError:
    return GraphError(
        400,
        graph_api.INVALID_PARAMETER,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.",
        graph_api.NONEXISTENT_OBJECT_SUBCODE,
        "GraphMethodException",
    )


def _required_param(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise GraphError(400, graph_api.INVALID_PARAMETER, f"(#100) The parameter {name} is required")
    return value


def _require_known(item: Field, known: frozenset[str], node_type: str) -> None:
    if item.name not in known:
        raise GraphError(
            400,
            graph_api.INVALID_PARAMETER,
            f"(#100) Tried accessing nonexisting field ({item.name}) on node type ({node_type})",
        )


def _media_field_names(fields: list[Field] | None, known: frozenset[str]) -> list[str]:
    for item in fields or []:
        _require_known(item, known, "ShadowIGMedia")
    return [item.name for item in fields or []]


def _page_size(requested: str | None, default: int, most: int) -> int:
    if requested is None:
        return min(default, most)
    if not requested.isdigit() or int(requested) < 1:
        raise GraphError(400, graph_api.INVALID_PARAMETER, "(#100) Param limit must be a positive integer")
    return min(int(requested), most)


def _encode_cursor(*numbers: int) -> str:
    text = ",".join(str(n) for n in numbers)
    return base64.urlsafe_b64encode(f"c:{text}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, length: int) -> tuple[int, ...]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        numbers = tuple(int(n) for n in text.removeprefix("c:").split(","))
        if not text.startswith("c:") or len(numbers) != length or min(numbers) < 0:
            raise ValueError(cursor)
    except ValueError:
        raise GraphError(400, graph_api.INVALID_PARAMETER, "(#100) Invalid cursor") from None
    return numbers


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ARGUMENT = re.compile(r"[^(){},]*")


def _parse_fields(text: str) -> list[Field]:
    """Parses Graph field expansion (`a,b.limit(5){c,d}`); a syntax error is a 2500 error, as on the live API."""
    position = 0

    def fail(expected: str) -> GraphError:
        found = f' instead of "{text[position]}"' if position < len(text) else ", got end of string"
        return GraphError(
            400,
            graph_api.UNKNOWN_PATH_OR_SYNTAX,
            f'Syntax error "Expected {expected}{found}." at character {position}: {text}',
        )

    def expect(char: str) -> None:
        nonlocal position
        if text[position : position + 1] != char:
            raise fail(f'"{char}"')
        position += 1

    def name() -> str:
        nonlocal position
        match = _NAME.match(text, position)
        if not match:
            raise fail("name")
        position = match.end()
        return match.group()

    def one_field() -> Field:
        nonlocal position
        field_name, modifiers, children = name(), {}, None
        while text[position : position + 1] == ".":
            position += 1
            key = name()
            expect("(")
            argument = _ARGUMENT.match(text, position)
            position = argument.end()
            modifiers[key] = argument.group()
            expect(")")
        if text[position : position + 1] == "{":
            position += 1
            children = field_list()
            expect("}")
        return Field(field_name, modifiers, children)

    def field_list() -> list[Field]:
        nonlocal position
        fields = [one_field()]
        while text[position : position + 1] == ",":
            position += 1
            fields.append(one_field())
        return fields

    fields = field_list()
    if position != len(text):
        raise fail("end of string")
    return fields


def _render_fields(fields: list[Field]) -> str:
    return ",".join(
        item.name
        + "".join(f".{key}({value})" for key, value in item.modifiers.items())
        + ("" if item.children is None else "{" + _render_fields(item.children) + "}")
        for item in fields
    )
