"""Scaling out: curate + embed of the same photos on one worker node against two, each node one CPU.

Each cluster is the local autoscaling cluster the tests use (tests/autoscaling_cluster.py: cluster.yaml's CPU
worker type, scaled down to one CPU, head without CPUs), held at a fixed size (min = max workers) so the two
runs differ only in their node count. The driver runs here and joins it; the photos are simulator portraits on
local disk, so the run measures detection and embedding, not a network. Every core of this machine is shared by
the head's processes, the driver and the nodes, so a 2-core machine understates what two real machines give;
actor start-up is a fixed cost in both runs, so fewer photos understate the speed-up too (1,024: 1.50).
Peak memory is the sum of resident memory over every process of the cluster and the driver.

    .venv/bin/python benchmarks/bench_cluster.py [--images 2048]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' local cluster, shared

from autoscaling_cluster import local_autoscaling_cluster, worker_node_types  # noqa: E402
from likeability.config import Config, EmbedConfig, FacesConfig  # noqa: E402
from likeability.curate.stage import curate_into  # noqa: E402
from likeability.embed.stage import embed_backbone  # noqa: E402
from likeability.run import RunFolder  # noqa: E402
from likeability.simulator.images import render_jpeg  # noqa: E402
from measure import PeakMemory, emit  # noqa: E402

CONFIG = Config(faces=FacesConfig(input_size=320), embed=EmbedConfig(backbones=["mobilenet_v2"], batch_size=16))


def write_photos(folder: Path, count: int) -> pa.Table:
    """`count` simulator portraits on disk, as the curate stage's pending rows."""
    rows = []
    for i in range(count):
        path = folder / f"{i}.jpg"
        path.write_bytes(render_jpeg(11, i, "outdoor" if i % 2 else "indoor", 320))
        rows.append({"media_id": str(i), "media_url": None, "image_path": str(path)})
    return pa.Table.from_pylist(rows, schema=pa.schema(
        [("media_id", pa.string()), ("media_url", pa.string()), ("image_path", pa.string())]
    ))


def label_everything(run: RunFolder) -> None:
    """Every photo with a face labelled, so embed takes them all (the labels themselves do not matter here)."""
    faces = run.table("downloads").read(["media_id", "sha256", "status"])
    kept = [r for r in faces.to_pylist() if r["status"] == "ok"]
    run.table("labels").write_part("all", [
        {"media_id": r["media_id"], "username": f"u{i % 20}", "sha256": r["sha256"], "like_count": 1,
         "followers_count": 10, "ratio": 0.1, "follower_group": 0, "label": i % 2, "split": "train"}
        for i, r in enumerate(kept)
    ])


def curate_and_embed(folder: str, pending: pa.Table) -> dict:
    run = RunFolder(folder)
    started = time.perf_counter()
    curated = sum(group.num_rows for group in curate_into(run, CONFIG, pending))
    curate_s = time.perf_counter() - started
    label_everything(run)
    started = time.perf_counter()
    embedded = embed_backbone(CONFIG, run)
    embed_s = time.perf_counter() - started
    return {"curated": curated, "embedded": embedded, "curate_s": curate_s, "embed_s": embed_s,
            "total_s": curate_s + embed_s}


def on_cluster(nodes: int, scratch: Path, pending: pa.Table) -> dict:
    workers = {"ray.worker.cpu": worker_node_types(cpus_per_node=1, max_workers=nodes,
                                                   min_workers=nodes)["ray.worker.cpu"]}
    # The head is this process's child, and the nodes and their workers its descendants: PeakMemory sees them all.
    with PeakMemory() as memory, local_autoscaling_cluster(workers, {}) as cluster:
        ray.init(address=cluster.gcs, log_to_driver=False)
        deadline = time.monotonic() + 300
        while ray.cluster_resources().get("CPU", 0) < nodes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{nodes} worker nodes did not join in 300 s")
            time.sleep(0.5)
        result = curate_and_embed(str(scratch / f"run-{nodes}"), pending)
        ray.shutdown()
    return {**result, "peak_memory_mib": memory.peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2048)
    args = parser.parse_args()
    os.environ["RAY_AUTH_MODE"] = "disabled"  # as the local cluster runs: token auth off on loopback
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        (scratch / "photos").mkdir()
        pending = write_photos(scratch / "photos", args.images)
        one, two = (on_cluster(nodes, scratch, pending) for nodes in (1, 2))

    print(f"{args.images} photos, curate (detect) + embed (mobilenet_v2), worker nodes of 1 CPU each")
    print(f"{'nodes':>5} {'curate s':>9} {'embed s':>8} {'total s':>8} {'photos/s':>9} {'peak MiB':>9}")
    for nodes, result in ((1, one), (2, two)):
        print(f"{nodes:>5} {result['curate_s']:>9.1f} {result['embed_s']:>8.1f} {result['total_s']:>8.1f} "
              f"{args.images / result['total_s']:>9.1f} {result['peak_memory_mib']:>9.0f}")
    emit({
        "two_node_speedup_ratio": round(one["total_s"] / two["total_s"], 3),
        "curate_speedup_ratio": round(one["curate_s"] / two["curate_s"], 3),
        "embed_speedup_ratio": round(one["embed_s"] / two["embed_s"], 3),
        "photos_embedded": two["embedded"],
        "peak_memory_mib_one_node": one["peak_memory_mib"],
        "peak_memory_mib_two_nodes": two["peak_memory_mib"],
    })


if __name__ == "__main__":
    main()
