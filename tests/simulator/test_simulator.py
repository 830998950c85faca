"""The Graph API simulator over real HTTP: a real server on a free port, aiohttp clients, a fake clock."""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import numpy as np
import pytest
from PIL import Image, ImageOps

from likeability.collect import graph_api
from likeability.config import SimulatorConfig
from likeability.simulator.images import photo_file, render_jpeg, render_photo, scene
from likeability.simulator.server import SimulatorServer, serve_in_thread
from likeability.simulator.world import KINDS, World

TOKEN = "EAAGtest-token-one-0123456789"
OTHER_TOKEN = "EAAGtest-token-two-9876543210"
EXPIRED_TOKEN = "EAAGexpired-token-5555555555"
IG_USER = "17841400000000001"
WALL_NOW = 1_750_000_000.0
SMALL_WORLD = dict(accounts=30, posts_per_account_min=4, posts_per_account_max=12, image_size=96)
MEDIA_FIELDS = [
    "id",
    "caption",
    "comments_count",
    "like_count",
    "media_type",
    "media_url",
    "permalink",
    "timestamp",
]


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Simulation:
    url: str
    server: SimulatorServer
    clock: FakeClock

    @property
    def world(self) -> World:
        return self.server.world

    def api(self, path: str, token: str | None = TOKEN, **params: Any) -> Reply:
        if token is not None:
            params["access_token"] = token
        return get(f"{self.url}/{graph_api.DEFAULT_API_VERSION}/{path}", **params)

    def discover(
        self,
        username: str,
        media_fields: list[str] = MEDIA_FIELDS,
        after: str | None = None,
        limit: int | None = None,
        token: str = TOKEN,
    ) -> Reply:
        fields = graph_api.business_discovery_fields(username, media_fields, after=after, limit=limit)
        return self.api(IG_USER, token=token, fields=fields)

    def business_account(self, hides_likes: bool = False):
        accounts = (self.world.account_at(i) for i in range(self.world.n_accounts))
        return next(a for a in accounts if a.business and a.hides_likes == hides_likes)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> dict[str, Any]:
        return self.json()["error"]


async def _fetch(url: str, params: dict[str, Any] | None = None, method: str = "GET", body: Any = None) -> Reply:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, params=params, json=body) as response,
    ):
        return Reply(response.status, dict(response.headers), await response.read())


def get(url: str, **params: Any) -> Reply:
    return asyncio.run(_fetch(url, params or None))


@pytest.fixture
def simulate() -> Iterator[Callable[..., Simulation]]:
    """Starts simulators with SMALL_WORLD plus overrides; each stops when the test ends."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Simulation:
            clock = FakeClock()
            server = SimulatorServer(
                SimulatorConfig(**{**SMALL_WORLD, **overrides}),
                clock=clock,
                wall_clock=lambda: WALL_NOW,
                tokens=[TOKEN, OTHER_TOKEN],
                expired_tokens=[EXPIRED_TOKEN],
            )
            return Simulation(stack.enter_context(serve_in_thread(server)), server, clock)

        yield start


def test_business_discovery_answers_in_the_documented_shape(simulate):
    sim = simulate()
    account = sim.business_account()
    reply = sim.discover(account.username, limit=2)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = reply.json()
    assert body["id"] == IG_USER
    found = body["business_discovery"]
    assert {k: found[k] for k in ("id", "followers_count", "media_count")} == {
        "id": str(account.ig_id),
        "followers_count": account.followers_count,
        "media_count": account.media_count,
    }
    first = sim.world.account_media(account.index, 0, 1)[0]
    assert found["media"]["data"][0] == {
        "id": str(first.media_id),
        "caption": first.caption,
        "comments_count": first.comments_count,
        "like_count": first.like_count,
        "media_type": first.media_type,
        "media_url": f"{sim.url}/media/{first.media_id}.jpg",
        "permalink": first.permalink,
        "timestamp": datetime.fromtimestamp(first.timestamp, UTC).strftime(graph_api.TIMESTAMP_FORMAT),
    }
    assert len(found["media"]["data"]) == 2 and "next" in found["media"]["paging"]


def test_paging_returns_every_post_once_and_stops_without_next(simulate):
    sim = simulate()
    account = sim.business_account()
    expected = [str(p.media_id) for p in sim.world.account_media(account.index, 0, account.media_count)]
    seen, pages = [], 0
    reply = sim.discover(account.username, media_fields=["id"], limit=3)
    while True:
        pages += 1
        media = reply.json()["business_discovery"]["media"]
        assert len(media["data"]) <= 3
        seen += [item["id"] for item in media["data"]]
        if "next" not in media["paging"]:
            break
        reply = get(media["paging"]["next"])  # the next URL works as given
        assert reply.status == 200
    assert seen == expected
    assert pages == math.ceil(account.media_count / 3)


def test_cursor_from_the_builder_continues_where_the_last_page_ended(simulate):
    sim = simulate()
    account = sim.business_account()
    first = sim.discover(account.username, media_fields=["id"], limit=2).json()["business_discovery"]["media"]
    after = first["paging"]["cursors"]["after"]
    second = sim.discover(account.username, media_fields=["id"], after=after, limit=2).json()
    ids = [str(p.media_id) for p in sim.world.account_media(account.index, 2, 2)]
    assert [item["id"] for item in second["business_discovery"]["media"]["data"]] == ids


def test_hidden_like_counts_are_left_out(simulate):
    sim = simulate(hidden_likes_fraction=1.0)
    account = sim.business_account(hides_likes=True)
    data = sim.discover(account.username).json()["business_discovery"]["media"]["data"]
    assert data and all("like_count" not in item and "comments_count" in item for item in data)


def test_unknown_and_unavailable_accounts_get_the_invalid_user_error(simulate):
    sim = simulate(unavailable_fraction=0.5)
    unavailable = next(
        sim.world.account_at(i) for i in range(sim.world.n_accounts) if not sim.world.account_at(i).business
    )
    for username in ("no.such.user", unavailable.username):
        reply = sim.discover(username)
        assert reply.status == 400
        error = reply.error()
        assert (error["code"], error["error_subcode"], error["type"]) == (110, 2207013, "OAuthException")
        assert set(error) == {"message", "type", "code", "error_subcode", "fbtrace_id"}


def test_hashtag_search_and_recent_media_from_the_last_24_hours(simulate):
    sim = simulate(accounts=1500)
    hashtag = sim.api("ig_hashtag_search", user_id=IG_USER, q="me").json()["data"][0]["id"]
    assert sim.api("ig_hashtag_search", user_id=IG_USER, q="#ME").json()["data"][0]["id"] == hashtag

    expected = {str(sim.world.post_media_id[i]) for i in sim.world.hashtag_posts("me", WALL_NOW - 86400, WALL_NOW)}
    assert len(expected) > graph_api.HASHTAG_MEDIA_MAX_PAGE  # so paging is exercised
    seen, timestamps = [], []
    reply = sim.api(f"{hashtag}/recent_media", user_id=IG_USER, fields="id,timestamp,caption", limit=100)
    while True:
        body = reply.json()
        assert len(body["data"]) <= graph_api.HASHTAG_MEDIA_MAX_PAGE
        for item in body["data"]:
            assert set(item) == {"id", "timestamp", "caption"} and "#me" in item["caption"]
            seen.append(item["id"])
            timestamps.append(datetime.strptime(item["timestamp"], graph_api.TIMESTAMP_FORMAT).timestamp())
        if "next" not in body["paging"]:
            break
        reply = get(body["paging"]["next"])
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))
    assert all(WALL_NOW - 86400 < t <= WALL_NOW for t in timestamps)
    assert timestamps != sorted(timestamps) and timestamps != sorted(timestamps, reverse=True)

    no_owner = sim.api(f"{hashtag}/recent_media", user_id=IG_USER, fields="id,username")
    assert (no_owner.status, no_owner.error()["code"]) == (400, 100)
    top = sim.api(f"{hashtag}/top_media", user_id=IG_USER).json()["data"]
    likes = [sim.world.post(int(item["id"])).like_count for item in top]
    assert len(top) == sim.server.config.page_size and likes == sorted(likes, reverse=True)


def test_thirty_unique_hashtags_per_user_per_rolling_week(simulate):
    sim = simulate()
    tags = [f"tag{i}" for i in range(graph_api.UNIQUE_HASHTAGS_PER_WINDOW)]
    for tag in tags:
        assert sim.api("ig_hashtag_search", user_id=IG_USER, q=tag).status == 200
        sim.clock.now += 60
    assert sim.api("ig_hashtag_search", user_id=IG_USER, q="tag0").status == 200  # repeats are free
    over = sim.api("ig_hashtag_search", user_id=IG_USER, q="one_more")
    assert (over.status, over.error()["code"]) == (400, graph_api.HASHTAG_LIMIT_CODE)
    assert sim.api("ig_hashtag_search", user_id="17841400000000002", q="one_more").status == 200  # per user
    sim.clock.now = 1000.0 + graph_api.HASHTAG_WINDOW_SECONDS + 1  # tag0 (queried first) has aged out
    assert sim.api("ig_hashtag_search", user_id=IG_USER, q="one_more").status == 200
    assert sim.api("ig_hashtag_search", user_id=IG_USER, q="another").status == 400


def test_usage_headers_are_well_formed_and_climb(simulate):
    sim = simulate(calls_per_window=10)
    account = sim.business_account()
    for calls in (1, 2, 3):
        reply = sim.discover(account.username)
        app = json.loads(reply.headers["X-App-Usage"])
        assert app == {"call_count": 10 * calls, "total_time": math.floor(7.5 * calls), "total_cputime": 5 * calls}
        business = json.loads(reply.headers["X-Business-Use-Case-Usage"])
        assert business == {
            IG_USER: [
                {
                    "type": "instagram",
                    "call_count": 10 * calls,
                    "total_cputime": 5 * calls,
                    "total_time": math.floor(7.5 * calls),
                    "estimated_time_to_regain_access": 0,
                }
            ]
        }


@pytest.mark.parametrize(
    "behaviour, status, retry_after, regain_minutes",
    [
        ({"throttle_code": 17}, 400, "500", 0),
        ({"throttle_code": 80002, "throttle_http_status": 429, "retry_after": "none"}, 429, None, 9),
        ({"throttle_code": 4, "retry_after": "date"}, 400, format_datetime(
            datetime.fromtimestamp(WALL_NOW + 500, UTC), usegmt=True), 0),
    ],
)
def test_each_token_throttles_in_its_own_style(simulate, behaviour, status, retry_after, regain_minutes):
    sim = simulate(calls_per_window=3, window_seconds=600, token_behaviours=[behaviour, {}])
    account = sim.business_account()
    assert [sim.discover(account.username).status for _ in range(3)] == [200, 200, 200]
    sim.clock.now += 100
    reply = sim.discover(account.username)
    assert reply.status == status
    assert reply.error()["code"] == behaviour["throttle_code"]
    assert graph_api.classify_error(reply.error()["code"]) == "throttle"
    assert reply.headers.get("Retry-After") == retry_after
    assert graph_api.retry_after_seconds(retry_after, datetime.fromtimestamp(WALL_NOW, UTC)) in (None, 500)
    assert json.loads(reply.headers["X-App-Usage"])["call_count"] == 133
    usage = json.loads(reply.headers["X-Business-Use-Case-Usage"])[IG_USER][0]
    assert usage["estimated_time_to_regain_access"] == regain_minutes
    assert sim.discover(account.username, token=OTHER_TOKEN).status == 200  # limits are per token
    assert sim.server.stats_json()["throttled"] == {"token#0": 1, "token#1": 0}


def test_a_token_can_have_a_real_limit_below_the_configured_one(simulate):
    sim = simulate(calls_per_window=5, window_seconds=600, token_behaviours=[{"calls_per_window": 2}, {}])
    account = sim.business_account()
    assert [sim.discover(account.username).status for _ in range(3)] == [200, 200, 400]
    assert [sim.discover(account.username, token=OTHER_TOKEN).status for _ in range(3)] == [200, 200, 200]


def test_a_token_that_dies_mid_run_answers_code_190_and_counts_calls_made_after_it_was_told(simulate):
    sim = simulate(token_behaviours=[{"dies_after_calls": 2}, {}], in_flight_grace_seconds=0.5)
    account = sim.business_account()
    assert [sim.discover(account.username).status for _ in range(2)] == [200, 200]
    died = sim.discover(account.username)
    assert (died.status, died.error()["code"], died.error()["error_subcode"]) == (400, 190, 463)
    sim.discover(account.username)  # within the grace: it may have been in flight
    sim.clock.now += 1
    sim.discover(account.username)
    assert sim.server.stats_json()["calls_after_death"] == {"token#0": 1, "token#1": 0}


def test_calls_after_a_refusal_was_answered_count_as_made_while_throttled(simulate):
    sim = simulate(calls_per_window=1, window_seconds=60, in_flight_grace_seconds=0.5)
    account = sim.business_account()
    assert [sim.discover(account.username).status for _ in range(3)] == [200, 400, 400]  # the 3rd: in flight
    sim.clock.now += 10
    assert sim.discover(account.username).status == 400
    assert sim.server.stats_json()["calls_while_throttled"] == {"token#0": 1, "token#1": 0}


def test_bursts_of_5xx_answers_come_at_the_end_of_every_period(simulate):
    sim = simulate(faults={"burst_every_calls": 4, "burst_calls": 2})
    account = sim.business_account()
    assert [sim.discover(account.username).status for _ in range(8)] == [200, 200, 500, 500] * 2
    assert sim.server.stats_json()["faults"]["burst"] == 4


def test_window_recovers_once_old_calls_age_out(simulate):
    sim = simulate(calls_per_window=2, window_seconds=60)
    account = sim.business_account()
    assert [sim.discover(account.username).status for _ in range(3)] == [200, 200, 400]
    sim.clock.now += 60
    assert sim.discover(account.username).status == 200


def test_calls_while_throttled_extend_the_block(simulate):
    sim = simulate(calls_per_window=2, window_seconds=60)
    account = sim.business_account()
    start = sim.clock.now
    assert [sim.discover(account.username).status for _ in range(2)] == [200, 200]
    sim.clock.now = start + 30
    assert sim.discover(account.username).headers["Retry-After"] == "30"
    sim.clock.now = start + 59
    assert sim.discover(account.username).headers["Retry-After"] == "31"
    sim.clock.now = start + 61  # the first two calls aged out, but the throttled ones still fill the window
    assert sim.discover(account.username).status == 400
    sim.clock.now = start + 122
    assert sim.discover(account.username).status == 200


def test_bad_expired_and_missing_tokens(simulate):
    sim = simulate()
    account = sim.business_account()
    invalid = sim.discover(account.username, token="EAAGnot-a-real-token")
    expired = sim.discover(account.username, token=EXPIRED_TOKEN)
    missing = sim.api(IG_USER, token=None, fields="id")
    assert (invalid.status, invalid.error()["code"], invalid.error()["error_subcode"]) == (400, 190, 467)
    assert (expired.status, expired.error()["code"], expired.error()["error_subcode"]) == (400, 190, 463)
    assert (missing.status, missing.error()["code"]) == (400, 104)
    assert "invalid_token" in invalid.headers["WWW-Authenticate"]
    assert graph_api.classify_error(expired.error()["code"]) == "token"
    stats = sim.server.stats_json()
    assert stats["rejected_token_calls"] == 3 and stats["api_calls"] == {"token#0": 0, "token#1": 0}


@pytest.mark.parametrize(
    "path, params, code",
    [
        (f"/{graph_api.DEFAULT_API_VERSION}/{IG_USER}", {"fields": "business_discovery.username(x){id"}, 2500),
        (f"/{graph_api.DEFAULT_API_VERSION}/{IG_USER}", {"fields": "id,,id"}, 2500),
        (f"/{graph_api.DEFAULT_API_VERSION}/{IG_USER}", {"fields": "followers"}, 100),
        ("/v99.0/" + IG_USER, {"fields": "id"}, 2500),
        (f"/{IG_USER}", {"fields": "id"}, 2500),
        (f"/{graph_api.DEFAULT_API_VERSION}/{IG_USER}/feed", {}, 2500),
        (f"/{graph_api.DEFAULT_API_VERSION}/not_a_node", {}, 100),
        (f"/{graph_api.DEFAULT_API_VERSION}/ig_hashtag_search", {"q": "me"}, 100),
    ],
)
def test_malformed_requests_get_graph_errors(simulate, path, params, code):
    sim = simulate()
    reply = get(sim.url + path, access_token=TOKEN, **params)
    assert reply.status == 400
    assert reply.error()["code"] == code
    assert graph_api.classify_error(code) == "permanent"


def test_syntax_error_names_the_position(simulate):
    sim = simulate()
    error = sim.api(IG_USER, fields="id,media{id").error()
    assert error["message"] == 'Syntax error "Expected "}", got end of string." at character 11: id,media{id'


def test_images_decode_upright_at_their_instagram_size_and_are_not_rate_limited(simulate):
    sim = simulate(calls_per_window=1, image_size=96)
    post = sim.world.post_at(0)
    replies = [get(f"{sim.url}/media/{post.media_id}.jpg") for _ in range(3)]
    assert [r.status for r in replies] == [200, 200, 200]
    body, stored = render_photo(sim.server.config.seed, post.media_id, post.kind, 96)
    assert replies[0].body == body and replies[0].headers["Content-Type"] == stored.content_type
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(body)))
    assert (image.format or stored.format, image.size) == (stored.format, (stored.width, stored.height))
    assert get(f"{sim.url}/media/123.jpg").status == 404
    stats = sim.server.stats_json()
    assert stats["image_requests"] == 4 and stats["api_calls"]["token#0"] == 0


def test_photos_come_in_instagrams_shapes_widths_and_formats():
    files = [photo_file(5, 10**9 + i, 1080) for i in range(3000)]
    widths = Counter(f.width for f in files)
    assert widths.keys() == {640, 1080, 1440}
    assert 0.6 < widths[1080] / len(files) < 0.8
    assert {(1080, 1080), (1080, 1350), (1080, 1349), (1080, 565), (640, 800), (1440, 1800)} <= {
        (f.width, f.height) for f in files}
    formats = Counter(f.format for f in files)
    assert formats["PNG"] > 30 and formats["WEBP"] > 30 and formats["JPEG"] > 2700
    jpegs = [f for f in files if f.format == "JPEG"]
    assert 0.1 < sum(f.progressive for f in jpegs) / len(jpegs) < 0.3
    assert {f.orientation for f in jpegs} == set(range(1, 9))
    assert len({f.quality for f in jpegs}) > 20
    # scaled down for speed, the shapes stay
    small = photo_file(5, 10**9, 320)
    large = photo_file(5, 10**9, 1080)
    assert abs(small.width / small.height - large.width / large.height) < 0.02


@pytest.mark.parametrize("orientation_wanted", [True, False])
def test_sideways_photos_turn_upright_with_their_exif(orientation_wanted):
    media_id = next(10**9 + i for i in range(10_000)
                    if (photo_file(5, 10**9 + i, 160).orientation != 1) == orientation_wanted
                    and photo_file(5, 10**9 + i, 160).format == "JPEG")
    body, stored = render_photo(5, media_id, "closeup", 160)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(body))).convert("RGB"), dtype=float)
    expected = np.asarray(scene(5, media_id, "closeup", stored.width, stored.height), dtype=float)
    assert upright.shape == expected.shape
    assert np.abs(upright - expected).mean() < 6  # JPEG's loss, not a turned picture


def test_same_seed_same_world_and_bytes():
    config = SimulatorConfig(seed=7, **SMALL_WORLD)
    first, second = World(config, now=WALL_NOW), World(config, now=WALL_NOW)
    other = World(config.model_copy(update={"seed": 8}), now=WALL_NOW)
    for name in ("post_media_id", "post_like_count", "post_kind", "post_tags", "account_followers"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert first.usernames == second.usernames and first.post_at(3) == second.post_at(3)
    assert not np.array_equal(first.post_like_count[:50], other.post_like_count[:50])
    post = first.post_at(0)
    assert render_jpeg(7, post.media_id, post.kind, 64) == render_jpeg(7, post.media_id, post.kind, 64)
    assert render_jpeg(7, post.media_id, post.kind, 64) != render_jpeg(8, post.media_id, post.kind, 64)


def test_world_lookups_and_shape():
    config = SimulatorConfig(accounts=500, hidden_likes_fraction=0.1, unavailable_fraction=0.1)
    world = World(config, now=WALL_NOW)
    counts = np.diff(world.account_post_start)
    assert counts.min() >= config.posts_per_account_min and counts.max() <= config.posts_per_account_max
    assert world.n_posts == counts.sum() and len(set(world.post_media_id.tolist())) == world.n_posts
    assert world.account(world.usernames[42]).index == 42 and world.account("nobody") is None
    post = world.post_at(123)
    assert world.post(post.media_id) == post and world.post(post.media_id + 1) is None
    ages = WALL_NOW - world.post_timestamp
    assert ages.min() >= 0 and ages.max() <= 120 * 86400 and 0.15 < (ages < 30 * 86400).mean() < 0.35
    assert 0.05 < world.account_hides_likes.mean() < 0.15 and 0.05 < (~world.account_business).mean() < 0.15
    assert set(np.unique(world.post_media_type)) == {0, 1, 2} and (world.post_media_type == 0).mean() > 0.7
    assert np.percentile(world.account_followers, 99) > 10 * np.median(world.account_followers)  # heavy tail


def test_planted_signal_is_learnable_but_noisy():
    world = World(SimulatorConfig(accounts=2000), now=WALL_NOW)
    settled = world.post_timestamp < WALL_NOW - 30 * 86400
    ratio = (world.post_like_count / world.account_followers[world.post_owner])[settled]
    kind = world.post_kind[settled]
    medians = {KINDS[k]: np.median(ratio[kind == k]) for k in range(len(KINDS))}
    assert min(medians["outdoor"], medians["closeup"]) > 1.3 * medians["indoor"]
    assert medians["indoor"] > 1.3 * medians["meme"]
    high = ratio > np.median(ratio)
    guess = np.isin(kind, [KINDS.index("outdoor"), KINDS.index("closeup")])
    assert 0.68 < (guess == high).mean() < 0.82  # the best any model can do knowing only the kind


def test_rendered_faces_are_found_by_a_real_detector():
    from retinaface import detect_faces

    found = {}
    for kind in KINDS:
        images = [
            np.asarray(Image.open(io.BytesIO(render_jpeg(3, 17_900_000_000_000_000 + i, kind, 320))))
            for i in range(8)
        ]
        found[kind] = sum(len(detect_faces(image)) > 0 for image in images)
    assert found["meme"] == 0
    assert all(found[kind] >= 7 for kind in ("outdoor", "closeup", "indoor"))


def test_faults_switch_on_and_off_through_the_admin_endpoint(simulate):
    sim = simulate()
    account = sim.business_account()
    faults_url = f"{sim.url}/_simulator/faults"

    def set_faults(**changes: Any) -> Reply:
        return asyncio.run(_fetch(faults_url, method="POST", body=changes))

    assert set_faults(server_error_rate=1.0).status == 200
    broken = sim.discover(account.username)
    assert broken.status == 500 and graph_api.classify_error(broken.error()["code"]) == "transient"
    assert get(f"{sim.url}/media/{sim.world.post_at(0).media_id}.jpg").status == 503

    set_faults(server_error_rate=0.0, wrong_content_type_rate=1.0)
    html = sim.discover(account.username)
    assert html.status == 200 and html.headers["Content-Type"].startswith("text/html")

    set_faults(wrong_content_type_rate=0.0, truncate_rate=1.0)
    with pytest.raises(aiohttp.ClientPayloadError):
        sim.discover(account.username)

    assert set_faults(truncate_rate=0.0, slow_rate=1.0, slow_seconds=0.05).json()["slow_rate"] == 1.0
    assert sim.discover(account.username).status == 200
    assert set_faults(server_error_rate=2).status == 400
    set_faults(slow_rate=0.0)
    assert sim.discover(account.username).status == 200
    assert get(faults_url).json()["slow_rate"] == 0.0
    assert sim.server.stats_json()["faults"] == {
        "burst": 0,
        "slow": 1,
        "server_error": 2,
        "truncate": 1,
        "wrong_content_type": 1,
    }


def test_tokens_never_appear_in_stats_or_errors(simulate):
    sim = simulate(calls_per_window=1)
    account = sim.business_account()
    replies = [
        sim.discover(account.username, token=token)
        for token in (TOKEN, TOKEN, OTHER_TOKEN, EXPIRED_TOKEN, "EAAGnot-a-real-token")
    ]
    assert [r.status for r in replies] == [200, 400, 200, 400, 400]
    stats = get(f"{sim.url}/_simulator/stats")
    assert stats.json()["api_calls"] == {"token#0": 2, "token#1": 1}
    # Successful pages may carry the token in paging.next, as the live API's do; errors and stats never.
    texts = [r.body.decode() + json.dumps(r.headers) for r in replies if r.status != 200] + [stats.body.decode()]
    for token in (TOKEN, OTHER_TOKEN, EXPIRED_TOKEN, "EAAGnot-a-real-token"):
        assert not any(token[:5] in text for text in texts)


def test_tokens_come_from_the_configured_sources(tmp_path, monkeypatch):
    token_file = tmp_path / "tokens.txt"
    token_file.write_text(f"# one per line\n{TOKEN}\n")
    monkeypatch.setenv("SIMULATOR_EXPIRED_TOKENS", EXPIRED_TOKEN)
    config = SimulatorConfig(
        **SMALL_WORLD, tokens={"file": str(token_file)}, expired_tokens={"env": "SIMULATOR_EXPIRED_TOKENS"}
    )
    server = SimulatorServer(config, wall_clock=lambda: WALL_NOW)
    with serve_in_thread(server) as url:
        sim = Simulation(url, server, FakeClock())
        assert sim.api(IG_USER, fields="id").json() == {"id": IG_USER}
        assert sim.api(IG_USER, token=EXPIRED_TOKEN, fields="id").error()["error_subcode"] == 463
        assert sim.api(IG_USER, token=OTHER_TOKEN, fields="id").error()["error_subcode"] == 467


def test_faults_switch_in_process_without_touching_the_config(simulate):
    sim = simulate()
    sim.server.faults = sim.server.faults.model_copy(update={"server_error_rate": 1.0})
    assert sim.api(IG_USER, fields="id").status == 500
    assert sim.server.config.faults.server_error_rate == 0.0
    sim.server.faults.server_error_rate = 0.0
    assert sim.api(IG_USER, fields="id").status == 200
