"""Curation throughput: the Ray Data stream (fetch -> decode -> store -> detect) against a plain loop.

N simulator photos are curated twice from local disk and twice over HTTP from the simulator (in its own
process): once by the real curate stream on a local Ray with every core, once by a plain single-process loop
(read or fetch, PIL decode, the same detector on one thread). Per-core throughput is images/s divided by the
cores each used (the loop one, the stream the whole cluster); their ratio is the stream's efficiency. The
stream's figure is its steady state, from its first result to its last, so actor start-up and model loading
(printed separately) are left out; its end-to-end rate is printed too. Download, decode and detection are
also timed alone, one core each.

    .venv/bin/python benchmarks/bench_curate.py [--images 2000] [--input-size 320]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import ray

from likeability.config import Config, DownloadConfig, FacesConfig, SimulatorConfig
from likeability.curate.faces.build import build_detector
from likeability.curate.fetch import ImageFetcher, open_session
from likeability.curate.stage import curate_into
from likeability.curate.url_policy import UrlPolicy
from likeability.images.decode import decode_rgb
from likeability.run import RunFolder
from likeability.simulator.world import World
from measure import PeakMemory, SimulatorProcess, emit, stream_rates

MAX_PIXELS = DownloadConfig().max_pixels


def media_ids(config: SimulatorConfig, count: int) -> list[int]:
    world = World(config, now=time.time())  # the same seed draws the same posts as the simulator's world
    if world.n_posts < count:
        raise SystemExit(f"the world has {world.n_posts} posts; raise accounts")
    return [world.post_at(i).media_id for i in range(count)]


def stage_rate(config: Config, folder: str, rows: list[dict]) -> dict:
    """The curate stage over `rows` (stream and commits into a run folder): end-to-end and steady images/s."""
    pending = pa.Table.from_pylist(rows, schema=pa.schema(
        [("media_id", pa.string()), ("media_url", pa.string()), ("image_path", pa.string())]
    ))
    return stream_rates(group.num_rows for group in curate_into(RunFolder(folder), config, pending))


def plain_loop(sources: list[str], read, detector, fit: int) -> float:
    """One image at a time: read (or fetch) it, decode it, detect; images/s."""
    started = time.perf_counter()
    for source in sources:
        detector.detect([decode_rgb(read(source), MAX_PIXELS, fit=fit).pixels])
    return len(sources) / (time.perf_counter() - started)


def fetch_all(urls: list[str], config: DownloadConfig) -> tuple[float, list[bytes]]:
    """Download alone, as the stream's fetch actor does it (async, bounded); images/s and the bodies."""
    policy = UrlPolicy.of(config)

    async def run() -> list[bytes]:
        async with open_session(config, policy) as session:
            fetcher = ImageFetcher(session, policy, config)
            results = await asyncio.gather(*(fetcher.fetch(url) for url in urls))
        return [r.body for r in results]

    started = time.perf_counter()
    bodies = asyncio.run(run())
    return len(urls) / (time.perf_counter() - started), bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--input-size", type=int, default=320, help="detector input (the demo's is 320)")
    args = parser.parse_args()

    simulator = SimulatorConfig(enabled=True, seed=5, accounts=max(args.images // 10, 20), image_size=320)
    ids = media_ids(simulator, args.images)
    faces = FacesConfig(input_size=args.input_size)
    download = DownloadConfig(allowed_hosts=["127.0.0.1"], private_hosts=["127.0.0.1"])
    config = Config(download=download, faces=faces)

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    cores = int(ray.cluster_resources()["CPU"])
    detector = build_detector(faces, threads=1)
    with PeakMemory() as memory, tempfile.TemporaryDirectory() as scratch, SimulatorProcess(simulator, []) as (url, _):
        urls = [f"{url}/media/{media_id}.jpg" for media_id in ids]
        download_rate, bodies = fetch_all(urls, download)
        paths = []
        for media_id, body in zip(ids, bodies, strict=True):
            path = Path(scratch, f"{media_id}.jpg")
            path.write_bytes(body)
            paths.append(str(path))

        started = time.perf_counter()
        decoded = [decode_rgb(body, MAX_PIXELS, fit=args.input_size).pixels for body in bodies]
        decode_rate = len(bodies) / (time.perf_counter() - started)
        started = time.perf_counter()
        for image in decoded:
            detector.detect([image])
        detect_rate = len(decoded) / (time.perf_counter() - started)
        del decoded

        plain_disk = plain_loop(paths, lambda p: Path(p).read_bytes(), detector, args.input_size)
        plain_http = plain_loop(urls, lambda u: urllib.request.urlopen(u, timeout=30).read(), detector,
                                args.input_size)
        from_disk = [{"media_id": str(i), "media_url": None, "image_path": p} for i, p in zip(ids, paths)]
        from_http = [{"media_id": str(i), "media_url": u, "image_path": None} for i, u in zip(ids, urls)]
        stream_disk = stage_rate(config, f"{scratch}/run-disk", from_disk)
        stream_http = stage_rate(config, f"{scratch}/run-http", from_http)
    ray.shutdown()

    print(f"{args.images} simulator photos (320 px JPEG), detector input {args.input_size}, {cores} cores")
    print(f"alone, one core each: download {download_rate:.0f}/s, decode {decode_rate:.0f}/s, "
          f"detect {detect_rate:.0f}/s")
    print(f"{'source':<6} {'plain loop/s':>12} {'stream/s':>9} {'stream e2e/s':>12} {'start-up s':>10} "
          f"{'plain/core':>10} {'stream/core':>11} {'ratio':>6}")
    rows = {"disk": (plain_disk, stream_disk), "http": (plain_http, stream_http)}
    for source, (plain, stream) in rows.items():
        print(f"{source:<6} {plain:>12.1f} {stream['steady']:>9.1f} {stream['end_to_end']:>12.1f} "
              f"{stream['first_result_s']:>10.1f} {plain:>10.1f} {stream['steady'] / cores:>11.1f} "
              f"{stream['steady'] / cores / plain:>6.2f}")
    print("for contrast, the study: 1.7 images/s (OpenCV) and about 17 images/s (CCV) per machine")
    print(f"peak memory (driver, Ray, actors, simulator): {memory.peak_mib} MiB")
    emit({
        "disk_per_core_ratio": round(stream_disk["steady"] / cores / plain_disk, 3),
        "http_per_core_ratio": round(stream_http["steady"] / cores / plain_http, 3),
        "disk_end_to_end_ratio": round(stream_disk["end_to_end"] / cores / plain_disk, 3),
        "stream_images_per_s": round(stream_http["steady"], 1),
        "plain_images_per_s": round(plain_http, 1),
        "download_per_s": round(download_rate, 1),
        "decode_per_s": round(decode_rate, 1),
        "detect_per_s": round(detect_rate, 1),
        "cores": cores,
        "peak_memory_mib": memory.peak_mib,
    })


if __name__ == "__main__":
    main()
