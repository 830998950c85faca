import asyncio

import pytest

from bad_image_server import OK_JPEG, bad_image_server
from likeability.config import DownloadConfig
from likeability.curate.fetch import Fetched, ImageFetcher, open_session
from likeability.curate.url_policy import UrlPolicy

CONFIG = DownloadConfig(
    allowed_hosts=["127.0.0.1", "localhost"],
    private_hosts=["127.0.0.1", "localhost"],
    read_timeout_seconds=0.3,
    max_bytes=200_000,
    max_redirects=3,
    max_retries=2,
)


def fetch_all(urls: list[str], config: DownloadConfig = CONFIG) -> tuple[list[Fetched], list[float]]:
    slept: list[float] = []

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    async def run() -> list[Fetched]:
        policy = UrlPolicy.of(config)
        async with open_session(config, policy) as session:
            fetcher = ImageFetcher(session, policy, config, sleep=no_wait)
            return await asyncio.gather(*(fetcher.fetch(url) for url in urls))

    return asyncio.run(run()), slept


@pytest.mark.parametrize(
    "path, status, http_status, requests",
    [
        ("ok.jpg", "ok", 200, 1),
        ("wrong-extension.png", "ok", 200, 1),  # the bytes decide, not the name or the content type
        ("missing.jpg", "http_error", 404, 1),  # a 4xx is final: no retry
        ("flaky.jpg", "ok", 200, 3),  # two 503s, then the image
        ("slow.jpg", "timeout", None, 3),
        ("big.jpg", "too_large", 200, 1),
        ("empty.jpg", "not_an_image", 200, 1),
        ("loop-a", "redirect_loop", None, 1),
        ("chain/2", "ok", 200, 1),
        ("chain/9", "too_many_redirects", None, 1),
    ],
)
def test_each_answer_gets_its_status_and_only_worthwhile_retries(path, status, http_status, requests):
    with bad_image_server(slow_seconds=1.0) as (server, url):
        (result,), _ = fetch_all([f"{url}/{path}"])
    assert (result.status, result.http_status) == (status, http_status), result.detail
    assert server.requests[path] == requests
    if status == "ok":
        assert result.body == OK_JPEG


def test_retries_back_off_exponentially_with_jitter_under_the_cap():
    with bad_image_server(flaky_failures=10) as (server, url):
        (result,), slept = fetch_all([f"{url}/flaky.jpg"])
    assert result.status == "http_error" and result.http_status == 503
    assert len(slept) == 2
    assert 0 <= slept[0] <= 0.5 and 0 <= slept[1] <= 1.0


@pytest.mark.parametrize(
    "target, reason",
    [
        ("file:///etc/passwd", "scheme 'file' is not http or https"),
        ("ftp://127.0.0.1/x.jpg", "scheme 'ftp'"),
        ("http://example.com/x.jpg", "host example.com:80 is not in download.allowed_hosts"),
        ("http://user:pw@127.0.0.1/x.jpg", "URL carries credentials"),
    ],
)
def test_urls_outside_the_policy_are_never_requested(target, reason):
    (result,), _ = fetch_all([target])
    assert result.status == "blocked_url" and reason in result.detail


def test_private_addresses_are_refused_by_literal_by_name_and_by_redirect():
    strict = CONFIG.model_copy(update={"private_hosts": [], "allowed_hosts": ["127.0.0.1", "localhost", "10.1.2.3"]})
    with bad_image_server() as (server, url):
        port = url.rsplit(":", 1)[1]
        results, _ = fetch_all([f"{url}/ok.jpg", f"http://localhost:{port}/ok.jpg"], strict)
        assert [r.status for r in results] == ["blocked_url", "blocked_url"]
        assert "address 127.0.0.1 is private" in results[0].detail
        assert "localhost resolves only to private" in results[1].detail
        assert server.requests["ok.jpg"] == 0
        (redirected,), _ = fetch_all([f"{url}/to-private"], CONFIG.model_copy(update={"allowed_hosts": [
            "127.0.0.1"]}))
    assert redirected.status == "blocked_url"
    assert "host 10.1.2.3:80 is not in download.allowed_hosts" in redirected.detail


def test_a_trickle_is_cut_at_the_deadline_and_frees_its_slot():
    config = CONFIG.model_copy(update={"deadline_seconds": 1.0, "max_retries": 0})
    with bad_image_server(trickle_seconds=0.05) as (server, url):
        (trickle, ok), _ = fetch_all([f"{url}/trickle.jpg", f"{url}/ok.jpg"], config)
    assert (trickle.status, ok.status) == ("timeout", "ok")
    assert "download.deadline_seconds=1.0" in trickle.detail


def test_a_body_slower_than_the_minimum_rate_is_cut_before_the_deadline():
    config = CONFIG.model_copy(update={"read_timeout_seconds": 2.0, "min_bytes_per_second": 1000, "max_retries": 0})
    with bad_image_server(trickle_seconds=0.5) as (server, url):  # 100 bytes per half second: 200 B/s
        (trickle,), _ = fetch_all([f"{url}/trickle.jpg"], config)
    assert trickle.status == "timeout" and "download.min_bytes_per_second=1000" in trickle.detail


def test_retry_after_on_a_busy_image_server_is_honoured_in_seconds_or_as_a_date():
    with bad_image_server() as (server, url):
        (in_seconds, as_date), slept = fetch_all([f"{url}/busy.jpg", f"{url}/busy-until.jpg"])
    assert in_seconds.status == as_date.status == "ok"
    assert server.requests["busy.jpg"] == server.requests["busy-until.jpg"] == 2
    assert sorted(slept)[0] == 1.0 and 1.0 < sorted(slept)[1] <= 3.0  # a date has whole seconds


def test_a_url_with_a_bad_port_is_refused_never_tried():
    (result,), slept = fetch_all(["http://127.0.0.1:99999/x.jpg"])
    assert (result.status, slept) == ("blocked_url", [])


def test_a_private_exception_holds_for_its_own_port_only_also_across_a_redirect():
    with bad_image_server() as (server, url), bad_image_server() as (other, other_url):
        port, other_port = url.rsplit(":", 1)[1], other_url.rsplit(":", 1)[1]
        config = CONFIG.model_copy(update={"allowed_hosts": ["127.0.0.1"], "private_hosts": [f"127.0.0.1:{port}"]})
        (own, elsewhere, redirected), _ = fetch_all(
            [f"{url}/ok.jpg", f"{other_url}/ok.jpg", f"{url}/to-port/{other_port}"], config
        )
        assert (own.status, elsewhere.status, redirected.status) == ("ok", "blocked_url", "blocked_url")
        assert f"download.private_hosts does not name 127.0.0.1:{other_port}" in elsewhere.detail
        assert f"download.private_hosts does not name 127.0.0.1:{other_port}" in redirected.detail
        assert other.requests["ok.jpg"] == 0
