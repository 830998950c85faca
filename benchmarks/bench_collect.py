"""Collection throughput against the simulator: achieved calls/s versus the ceiling (tokens x calls per window).

For 1, 2, 4 and 8 tokens the real collector (TokenActors on a local Ray) collects enough accounts to keep every
token busy for several windows. The first window is a burst (a sliding window starts empty), so the rate is
measured per token over whole windows after its first, from the arrival times the simulator records, and
summed. A naive client runs in the
same process for contrast: one token, one blocking request after another, no limiter, sleeping out each
throttle error.

Then a throttling world: four tokens whose real limits are half of what the client is told, each saying
"throttled" its own way (HTTP 429 with Retry-After in seconds or as a date, code 17 with X-App-Usage only,
code 80002 with a regain estimate in minutes), one of them dying mid-run, answers 20 ms late, some bodies cut
off and 5xx answers in bursts. The simulator counts the calls made on a token after it had been told of a
block or of its death, and calls made beside the probe after a block (goal for all three: 0).

    .venv/bin/python benchmarks/bench_collect.py [--tokens 1,2,4,8] [--calls 50] [--window 2] [--windows 6]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import ray

from likeability.actors.account_client import MEDIA_FIELDS
from likeability.actors.collector import collect_accounts
from likeability.collect import graph_api
from likeability.collect.tokens import mint_tokens
from likeability.config import CollectConfig, FaultConfig, SimulatorConfig, TokenBehaviour
from likeability.run import RunFolder
from measure import PeakMemory, SimulatorProcess, emit

PAGE_SIZE = 10  # small pages, so accounts take several calls and pagination is part of the load


def steady_rate(call_times: list[float], calls_per_window: int) -> float:
    """One token's calls/s over whole windows after its first.

    The first window is a burst (a sliding window starts empty). After it, each window's worth of calls starts
    when the window allows it, so the time from call number `w` to call number `w + k * w` (w = calls per
    window) is k steady windows. The last, partly filled window is left out.
    """
    windows = len(call_times) // calls_per_window - 2
    if windows < 1:
        raise SystemExit("a token made fewer than three windows of calls; collect more accounts")
    first, last = calls_per_window, calls_per_window * (1 + windows)
    return (last - first) / (call_times[last] - call_times[first])


def simulator_config(accounts: int, calls: int, window: float) -> SimulatorConfig:
    return SimulatorConfig(
        enabled=True, seed=11, accounts=accounts, calls_per_window=calls, window_seconds=window, page_size=PAGE_SIZE
    )


def collect_from(
    world: SimulatorConfig, tokens: int, calls: int, window: float
) -> tuple[dict, float, SimulatorProcess]:
    """The real collector with `tokens` fresh tokens against `world`, served in its own process: the collector's
    summary, its seconds, and the simulator (whose stats are read after it stopped)."""
    minted = mint_tokens(tokens)
    simulator = SimulatorProcess(world, minted)
    collect = CollectConfig(calls_per_window=calls, window_seconds=window, page_size=PAGE_SIZE)
    with tempfile.TemporaryDirectory() as folder, simulator as (url, usernames):
        started = time.monotonic()
        summary = collect_accounts(RunFolder(folder), usernames, minted, url, collect, echo=lambda _: None)
        seconds = time.monotonic() - started
    return summary, seconds, simulator


def collector_run(tokens: int, calls: int, window: float, windows: int) -> dict:
    # An account costs about 2.2 calls at this page size: enough accounts for `windows` + 2 full windows.
    accounts = math.ceil(tokens * calls * (windows + 2) / 2)
    summary, seconds, simulator = collect_from(simulator_config(accounts, calls, window), tokens, calls, window)
    rate = sum(steady_rate(times, calls) for times in simulator.call_times.values())
    ceiling = tokens * calls / window
    return {
        "tokens": tokens,
        "accounts": summary["accounts_collected"],
        "calls": sum(simulator.stats["api_calls"].values()),
        "seconds": round(seconds, 1),
        "calls_per_s": round(rate, 1),
        "ceiling_per_s": round(ceiling, 1),
        "ceiling_ratio": round(rate / ceiling, 3),
        "throttled": sum(simulator.stats["throttled"].values()),
    }


def throttling_world(accounts: int, calls: int, window: float) -> SimulatorConfig:
    hidden = max(1, calls // 2)
    styles = [
        {"throttle_code": 4, "throttle_http_status": 429, "retry_after": "seconds"},
        {"throttle_code": 4, "throttle_http_status": 429, "retry_after": "date"},
        {"throttle_code": 17, "retry_after": "none"},
        {"throttle_code": 80002, "retry_after": "none", "dies_after_calls": 3 * hidden},
    ]
    return simulator_config(accounts, calls, window).model_copy(update={
        "latency_seconds": 0.02,
        "token_behaviours": [TokenBehaviour(calls_per_window=hidden, **style) for style in styles],
        "faults": FaultConfig(truncate_rate=0.02, burst_every_calls=50, burst_calls=3),
    })


def throttling_run(calls: int, window: float, windows: int) -> dict:
    accounts = math.ceil(4 * calls / 2 * (windows + 2) / 2)
    summary, seconds, simulator = collect_from(throttling_world(accounts, calls, window), 4, calls, window)
    stats = simulator.stats
    made = sum(stats["api_calls"].values())
    return {
        "accounts": summary["accounts_collected"],
        "calls": made,
        "seconds": round(seconds, 1),
        "refused": sum(stats["throttled"].values()),
        "retired_tokens": summary["retired_tokens"],
        **{name: sum(stats[name].values()) for name in ("calls_while_throttled", "calls_beside_probe",
                                                         "calls_after_death")},
    }


def naive_run(calls: int, window: float, seconds: float) -> dict:
    """One token, one blocking request at a time, no limiter: the study's first collector."""
    token = mint_tokens(1)
    answered = throttled = 0
    with SimulatorProcess(simulator_config(5000, calls, window), token) as (url, usernames):
        started = time.monotonic()
        for username in usernames:
            if time.monotonic() - started >= seconds:
                break
            query = urllib.parse.urlencode({
                "fields": graph_api.business_discovery_fields(username, MEDIA_FIELDS, limit=PAGE_SIZE),
                "access_token": token[0],
            })
            try:
                with urllib.request.urlopen(f"{url}/v25.0/17841400000000001?{query}", timeout=30) as response:
                    response.read()
                answered += 1
            except urllib.error.HTTPError as err:
                body = json.loads(err.read())
                if graph_api.classify_error(body["error"]["code"]) != "throttle":
                    answered += 1  # private or unknown account: still an answered call
                    continue
                throttled += 1
                time.sleep(float(err.headers.get("Retry-After", window)))
        elapsed = time.monotonic() - started
    return {"calls_per_s": round(answered / elapsed, 1), "throttled": throttled, "seconds": round(elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", default="1,2,4,8", help="token counts to run, comma-separated")
    parser.add_argument("--calls", type=int, default=50, help="calls per window per token")
    parser.add_argument("--window", type=float, default=2.0, help="window length in seconds")
    parser.add_argument("--windows", type=int, default=6, help="whole windows to measure after the first")
    args = parser.parse_args()
    token_counts = [int(n) for n in args.tokens.split(",")]

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    with PeakMemory() as memory:
        naive = naive_run(args.calls, args.window, seconds=args.window * (args.windows + 1))
        rows = [collector_run(n, args.calls, args.window, args.windows) for n in token_counts]
        throttling = throttling_run(args.calls, args.window, args.windows)
    ray.shutdown()

    print(f"naive baseline (1 token, sequential, no limiter): {naive['calls_per_s']} calls/s, "
          f"{naive['throttled']} throttle errors in {naive['seconds']} s")
    print(f"{'tokens':>6} {'accounts':>8} {'calls':>6} {'seconds':>7} {'calls/s':>8} {'ceiling':>8} "
          f"{'ratio':>6} {'throttled':>9}")
    for row in rows:
        print(f"{row['tokens']:>6} {row['accounts']:>8} {row['calls']:>6} {row['seconds']:>7} "
              f"{row['calls_per_s']:>8} {row['ceiling_per_s']:>8} {row['ceiling_ratio']:>6} {row['throttled']:>9}")
    print(f"throttling world: {throttling['accounts']} accounts, {throttling['calls']} calls in "
          f"{throttling['seconds']} s, {throttling['refused']} refused (in flight when a block began), retired "
          f"{throttling['retired_tokens']}; calls while throttled {throttling['calls_while_throttled']}, beside "
          f"the probe {throttling['calls_beside_probe']}, after death {throttling['calls_after_death']}")
    print(f"peak memory (driver, raylet, workers): {memory.peak_mib} MiB")

    first, last = rows[0], rows[-1]
    headline = {f"tokens_{row['tokens']}_ceiling_ratio": row["ceiling_ratio"] for row in rows}
    headline["scaling_ratio"] = round(
        (last["calls_per_s"] / last["tokens"]) / (first["calls_per_s"] / first["tokens"]), 3
    )
    headline["vs_naive_ratio"] = round(last["calls_per_s"] / naive["calls_per_s"], 2)
    headline["throttled"] = sum(row["throttled"] for row in rows)
    headline["naive_throttled"] = naive["throttled"]
    headline["refused_share_throttling_world"] = round(throttling["refused"] / throttling["calls"], 3)
    for name in ("calls_while_throttled", "calls_beside_probe", "calls_after_death"):
        headline[name] = throttling[name]
    headline["peak_memory_mib"] = memory.peak_mib
    emit(headline)


if __name__ == "__main__":
    main()
