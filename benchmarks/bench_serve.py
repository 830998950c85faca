"""`likeability serve` under load: requests per second and p50/p99 latency over real HTTP at concurrency 1, 8 and
32, against the same judge called in this process, one photo per call as a request carries one.

A small demo run is made first (a minute or two) unless --run names one; distinct simulator photos of people are
judged. The service runs on embedded Ray with a fixed number of replicas (no autoscaling in the middle of a
measurement); the in-process baseline runs before Ray starts, with the whole machine.

    .venv/bin/python benchmarks/bench_serve.py [--run RUN] [--requests 128] [--replicas 2]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

import aiohttp
import numpy as np
import ray
from ray import serve

from likeability.serve.app import serve_settings, start
from likeability.serve.judge import PhotoJudge
from likeability.simulator.images import render_jpeg
from measure import PeakMemory, emit, free_port, tiny_demo_run

CONCURRENCY = (1, 8, 32)


def figures(latencies: list[float], seconds: float) -> dict:
    return {
        "rps": round(len(latencies) / seconds, 2),
        "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
        "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 1),
    }


def in_process(run: str, photos: list[bytes]) -> dict:
    judge = PhotoJudge(run)
    judge.judge(photos[:2])  # first calls pay for lazy initialisation in torch and onnxruntime
    latencies = []
    started = time.perf_counter()
    for photo in photos:
        began = time.perf_counter()
        judge.judge([photo])
        latencies.append(time.perf_counter() - began)
    return figures(latencies, time.perf_counter() - started)


async def over_http(url: str, photos: list[bytes], concurrency: int) -> dict:
    queue = list(reversed(photos))
    latencies = []

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            photo = queue.pop()
            began = time.perf_counter()
            async with session.post(f"{url}predict", data=photo) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"the service answered {answer.status}: {await answer.text()}")
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(2)))  # warm: connections, replicas' first batches
        queue.extend(reversed(photos))
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        return figures(latencies, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a finished run (default: a tiny demo run made first)")
    parser.add_argument("--requests", type=int, default=128, help="photos judged at each concurrency")
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    photos = [render_jpeg(4, 10**9 + i, "outdoor", 320) for i in range(args.requests)]
    with tempfile.TemporaryDirectory() as folder:
        run = args.run or tiny_demo_run(folder)
        baseline = in_process(run, photos)
        settings = serve_settings(run, [f"serve.port={free_port()}", f"serve.min_replicas={args.replicas}",
                                        f"serve.max_replicas={args.replicas}"])
        ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        with PeakMemory() as memory:
            url = start(run, settings)
            levels = {c: asyncio.run(over_http(url, photos, c)) for c in CONCURRENCY}
        serve.shutdown()
        ray.shutdown()

    print(f"{args.requests} photos of 320 x 320 px at each level; {args.replicas} replicas of "
          f"{settings.cpus_per_replica:g} CPU, batches up to {settings.max_batch_size}")
    print(f"  in process, one photo a call: {baseline['rps']:6.1f} photos/s, p50 {baseline['p50_ms']} ms, "
          f"p99 {baseline['p99_ms']} ms")
    for concurrency, level in levels.items():
        print(f"  HTTP, concurrency {concurrency:>2}:        {level['rps']:6.1f} photos/s, p50 {level['p50_ms']} ms, "
              f"p99 {level['p99_ms']} ms")
    print(f"peak memory (driver, Ray, replicas): {memory.peak_mib} MiB")
    best = max(level["rps"] for level in levels.values())
    emit({
        "serve_vs_inprocess_ratio": round(best / baseline["rps"], 3),
        "inprocess_rps": baseline["rps"],
        **{f"c{c}_{name}": value for c, level in levels.items() for name, value in level.items()},
        "peak_memory_mib": memory.peak_mib,
    })


if __name__ == "__main__":
    main()
