"""The collector on a real local Ray cluster against the real simulator over HTTP."""

from __future__ import annotations

import threading
import time

import psutil
import pytest

from helpers import check_exactly_once
from likeability.actors.collector import CollectionError, collect_accounts, progress_detail
from likeability.config import CollectConfig, SimulatorConfig
from likeability.run import RunFolder
from likeability.simulator.server import SimulatorServer, serve_in_thread

TOKENS = [f"IGQVJcollector-token-{i:04d}" for i in range(3)]
EXPIRED = "IGQVJexpired-token-9999"


def simulation(**overrides) -> SimulatorServer:
    config = SimulatorConfig(**{"accounts": 40, "seed": 11, "unavailable_fraction": 0.1, **overrides})
    return SimulatorServer(config, tokens=TOKENS, expired_tokens=[EXPIRED])


def test_collects_every_account_once_and_records_why_posts_and_accounts_were_left_out(ray_cluster, tmp_path):
    server = simulation()
    config = CollectConfig(usernames_per_part=7, page_size=10)
    run = RunFolder(str(tmp_path))
    with serve_in_thread(server) as url:
        summary = collect_accounts(run, server.world.usernames, TOKENS, url, config, echo=lambda _: None)
    check_exactly_once(run, server, config)
    reasons = set(run.table("dropped_posts").read().column("reason").to_pylist())
    assert reasons == {"too_young", "no_hashtag"}
    assert set(run.table("failed_users").read().column("error_code").to_pylist()) == {110}
    assert summary["throttled"] == 0 and summary["accounts_collected"] == 40


def test_resume_after_a_unit_died_half_written(ray_cluster, tmp_path):
    server = simulation()
    config = CollectConfig(usernames_per_part=7, page_size=10)
    run = RunFolder(str(tmp_path))
    with serve_in_thread(server) as url:
        collect_accounts(run, server.world.usernames, TOKENS, url, config, echo=lambda _: None)
        # As if killed between a unit's posts part and its users part, the commit point:
        lost = sorted(run.table("users").parts())[2]
        run.table("users").delete_part(lost)
        summary = collect_accounts(run, server.world.usernames, TOKENS, url, config, echo=lambda _: None)
    assert 0 < summary["accounts_collected"] <= 7
    check_exactly_once(run, server, config)


def test_an_expired_token_retires_and_its_work_goes_to_the_others(ray_cluster, tmp_path):
    server = simulation()
    config = CollectConfig(usernames_per_part=10)
    run = RunFolder(str(tmp_path))
    with serve_in_thread(server) as url:
        summary = collect_accounts(run, server.world.usernames, [EXPIRED, *TOKENS], url, config, echo=lambda _: None)
    assert summary["retired_tokens"] == ["token#0"]
    check_exactly_once(run, server, config)


def test_only_expired_tokens_stop_with_a_clear_error_and_keep_nothing_half_done(ray_cluster, tmp_path):
    server = simulation()
    run = RunFolder(str(tmp_path))
    with serve_in_thread(server) as url, pytest.raises(CollectionError, match="every token is retired") as err:
        collect_accounts(run, server.world.usernames, [EXPIRED], url, CollectConfig(), echo=lambda _: None)
    assert "IGQVJ" not in str(err.value)
    assert run.table("posts").parts() == set()


def test_an_actor_killed_mid_run_is_restarted_and_nothing_is_lost(ray_cluster, tmp_path):
    # Slow answers keep the run going long enough to kill an actor while it has calls in flight.
    server = simulation(faults={"slow_rate": 0.5, "slow_seconds": 0.2})
    config = CollectConfig(usernames_per_part=5)
    run = RunFolder(str(tmp_path))
    killed = []

    def kill_one_actor():
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            for proc in psutil.process_iter(["cmdline"]):
                if any("TokenActor" in part for part in proc.info["cmdline"] or []) and run.table("users").parts():
                    proc.kill()
                    killed.append(proc.pid)
                    return
            time.sleep(0.05)

    with serve_in_thread(server) as url:
        killer = threading.Thread(target=kill_one_actor)
        killer.start()
        collect_accounts(run, server.world.usernames, TOKENS, url, config, echo=lambda _: None)
        killer.join()
    assert killed, "no TokenActor process was found to kill"
    check_exactly_once(run, server, config)


HARSH_TOKENS = [f"IGQVJharsh-token-{i:04d}" for i in range(4)]
# Every token's real limit is far below the 40 per 2 s the client is told, and each says "throttled" its own way;
# the last one dies mid-run. Bodies are cut off now and then, and 5xx answers come in bursts.
HARSH_WORLD = {
    "accounts": 40,
    "seed": 5,
    "unavailable_fraction": 0.1,
    "window_seconds": 2.0,
    "latency_seconds": 0.02,
    "token_behaviours": [
        {"calls_per_window": 6, "throttle_code": 4, "throttle_http_status": 429, "retry_after": "seconds"},
        {"calls_per_window": 8, "throttle_code": 17, "retry_after": "none"},
        {"calls_per_window": 8, "throttle_code": 80002, "retry_after": "none"},
        {"calls_per_window": 10, "throttle_code": 4, "retry_after": "date", "dies_after_calls": 12},
    ],
    "faults": {"truncate_rate": 0.05, "burst_every_calls": 25, "burst_calls": 3},
}
HARSH_CLIENT = {
    "calls_per_window": 40, "window_seconds": 2.0, "max_in_flight_per_token": 4, "usernames_per_part": 10,
    "page_size": 10, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5,
}


def test_no_call_goes_to_a_throttled_or_dead_token_and_a_restart_remembers_them(ray_cluster, tmp_path):
    server = SimulatorServer(SimulatorConfig(**HARSH_WORLD), tokens=HARSH_TOKENS)
    config = CollectConfig(**HARSH_CLIENT)
    run = RunFolder(str(tmp_path))
    with serve_in_thread(server) as url:
        summary = collect_accounts(run, server.world.usernames, HARSH_TOKENS, url, config, echo=lambda _: None)
        stats = server.stats_json()
        check_exactly_once(run, server, config)
        assert summary["throttled"] > 0 and stats["faults"]["burst"] > 0  # the world did throttle and fail
        assert summary["retired_tokens"] == ["token#3"]
        for counter in ("calls_while_throttled", "calls_beside_probe", "calls_after_death"):
            assert sum(stats[counter].values()) == 0, (counter, stats[counter])
        ledger = run.read_text("collect/tokens.json")
        assert all(token not in ledger for token in HARSH_TOKENS)
        # The same tokens again, on one more account: the dead token is not called, the blocked ones wait.
        calls_before = dict(stats["api_calls"])
        again = collect_accounts(run, [*server.world.usernames, "someone_new"], HARSH_TOKENS, url, config,
                                 echo=lambda _: None)
        stats = server.stats_json()
    assert again["retired_tokens"] == ["token#3"] and again["accounts_collected"] == 1
    assert stats["api_calls"]["token#3"] == calls_before["token#3"]
    assert sum(stats["calls_while_throttled"].values()) == sum(stats["calls_after_death"].values()) == 0


def test_progress_detail_names_calls_and_token_states_by_label():
    states = [
        {"label": "token#0", "state": "ok", "calls": 30},
        {"label": "token#1", "state": "blocked", "calls": 20},
    ]
    assert progress_detail(states) == "50 calls, token#0:ok token#1:blocked"
