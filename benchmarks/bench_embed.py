"""Embedding throughput: the Ray Data embed stage against a plain single-process loop, same photos, same model.

N photos (JPEG, 320-640 px in Instagram's shapes, see photos.py) are stored in a run's `images` table and labelled. The plain loop decodes,
preprocesses (photo and mirror) and embeds them in batches in this process with every core as torch threads;
the stage streams them through its actor pool (one actor per CPU, or per GPU with --device cuda). Speed does not depend on the weights' values, so AlexNet runs with random weights unless
--weights says otherwise (no AlexNet ImageNet file can be had offline). The stage's steady rate runs from its
first embedding batch to its last; its end-to-end rate includes Ray Data's start-up (actors, model loading).

    .venv/bin/python benchmarks/bench_embed.py [--images 1000] [--backbone alexnet] [--device cpu|cuda] [--gpus N]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import ray
import torch

from likeability.config import Config, EmbedConfig
from likeability.embed.backbones import load_backbone
from likeability.embed.photo_features import photo_features
from likeability.embed.stage import embed_stream, plan
from likeability.run import RunFolder
from measure import PeakMemory, emit, stream_rates
from photos import make_photos

MAX_PIXELS = Config().download.max_pixels


def make_run(folder: str, count: int) -> list[bytes]:
    """A run folder with `count` stored, labelled photos; returns their bytes."""
    bodies = make_photos(count)
    run = RunFolder(folder)
    images = [{"sha256": f"{i:064x}", "format": "JPEG", "body": body} for i, body in enumerate(bodies)]
    for start in range(0, count, 256):
        run.table("images").write_part(f"i{start}", images[start : start + 256])
    run.table("labels").write_part("all", [
        {"media_id": str(i), "username": f"u{i % 50}", "sha256": f"{i:064x}", "like_count": 1,
         "followers_count": 10, "ratio": 0.1, "follower_group": 0, "label": i % 2, "split": "train"}
        for i in range(count)
    ])
    return bodies


def plain_loop(bodies: list[bytes], config: EmbedConfig, device: str) -> float:
    backbone = load_backbone(config, device)
    photo_features(backbone, bodies[: config.batch_size], config.mirror, MAX_PIXELS)  # CUDA and cuDNN warm up
    started = time.perf_counter()
    for start in range(0, len(bodies), config.batch_size):
        photo_features(backbone, bodies[start : start + config.batch_size], config.mirror, MAX_PIXELS)
    return len(bodies) / (time.perf_counter() - started)


def stage_rates(folder: str, config: Config) -> dict:
    """The stage's stream over the stored photos, timed as each embedding batch arrives (commits excluded)."""
    run = RunFolder(folder)
    return stream_rates(
        int((~t.column("mirrored").to_numpy(zero_copy_only=False)).sum())
        for t in embed_stream(config, run, plan(run, config.embed.backbone))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--backbone", default="alexnet", choices=["alexnet", "mobilenet_v2"])
    parser.add_argument("--weights", default="random")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--gpus", type=int, default=1, help="with --device cuda: GPUs for the embedding actors")
    parser.add_argument("--actors-per-gpu", type=int, default=1, help="actors sharing each GPU (their work overlaps)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    gpus = args.gpus if args.device == "cuda" else 0
    embed_config = EmbedConfig(backbone=args.backbone, weights=args.weights, batch_size=args.batch_size,
                               gpus_per_actor=1.0 / args.actors_per_gpu if gpus else 0.0,
                               actors=gpus * args.actors_per_gpu or None)
    config = Config(embed=embed_config)
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    cores = int(ray.cluster_resources()["CPU"])
    torch.set_num_threads(cores)
    with PeakMemory() as memory, tempfile.TemporaryDirectory() as folder:
        bodies = make_run(folder, args.images)
        plain = plain_loop(bodies, embed_config, args.device)
        stage = stage_rates(folder, config)
    ray.shutdown()

    where = f"{gpus} GPU(s), {args.actors_per_gpu} actor(s) each" if gpus else f"{cores} cores"
    print(f"{args.images} photos (320-640 px JPEG) + mirrors, {args.backbone} ({args.weights} weights), batch "
          f"{args.batch_size}, {where}")
    print(f"plain loop ({cores} torch threads): {plain:.1f} photos/s")
    print(f"Ray Data stage: steady {stage['steady']:.1f} photos/s, end to end {stage['end_to_end']:.1f} photos/s, "
          f"first result after {stage['first_result_s']:.1f} s")
    print(f"ratio (steady / plain): {stage['steady'] / plain:.2f}")
    print(f"peak memory (driver, Ray, actors): {memory.peak_mib} MiB")
    emit({
        "stage_vs_plain_ratio": round(stage["steady"] / plain, 3),
        "end_to_end_vs_plain_ratio": round(stage["end_to_end"] / plain, 3),
        "stage_photos_per_s": round(stage["steady"], 1),
        "plain_photos_per_s": round(plain, 1),
        "peak_memory_mib": memory.peak_mib,
    })


if __name__ == "__main__":
    main()
