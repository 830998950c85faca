"""Fine-tuning throughput: training images/s per worker with 1 worker and with N workers, and the scaling ratio.

N photos (JPEG, 320-640 px in Instagram's shapes, see photos.py) are stored and labelled in a fresh run folder per measurement; the finetune
stage trains for --iterations global steps (same global batch for both, so N workers take batch / N each). The
rate is the loop's own: photos stepped per worker per second from the loop's first batch, Ray Data decoding
included, Ray Train's start-up excluded. Speed does not depend on the weights' values, so AlexNet runs with random
weights unless --weights says otherwise. scaling_ratio = total rate with N workers / total rate with 1 (N is ideal).

    .venv/bin/python benchmarks/bench_finetune.py                      # CPU: 1 vs 2 workers, a couple of minutes
    .venv/bin/python benchmarks/bench_finetune.py --gpus 4 --batch-size 256 --iterations 200 --images 4000
"""

from __future__ import annotations

import argparse
import tempfile

import ray

from likeability.config import Config, FinetuneConfig
from likeability.finetune.stage import run_finetune
from likeability.run import RunFolder
from likeability.runtime import Runtime
from measure import PeakMemory, emit
from photos import make_photos

TEST_PHOTOS = 32


def make_run(folder: str, count: int) -> RunFolder:
    run = RunFolder(folder)
    images = [{"sha256": f"{i:064x}", "format": "JPEG", "body": body} for i, body in enumerate(make_photos(count))]
    for start in range(0, count, 256):
        run.table("images").write_part(f"i{start}", images[start : start + 256])
    run.table("labels").write_part("all", [
        {"media_id": str(i), "username": f"u{i % 50}", "sha256": f"{i:064x}", "like_count": 1,
         "followers_count": 10, "ratio": 0.1, "follower_group": 0, "label": i % 2,
         "split": "test" if i < TEST_PHOTOS else "train"}
        for i in range(count)
    ])
    return run


def rate(args: argparse.Namespace, workers: int) -> float:
    finetune = FinetuneConfig(backbone=args.backbone, weights=args.weights, iterations=args.iterations,
                              batch_size=args.batch_size, eval_every=args.iterations, log_every=args.iterations,
                              workers=workers, gpus_per_worker=1.0 if args.gpus else 0.0)
    with tempfile.TemporaryDirectory() as folder:
        summary = run_finetune(Config(finetune=finetune), make_run(folder, args.images), Runtime("x", lambda: []))
    return summary["images_per_s_per_worker"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--backbone", default="alexnet", choices=["alexnet", "mobilenet_v2"])
    parser.add_argument("--weights", default="random")
    parser.add_argument("--gpus", type=int, default=0, help="GPU workers to compare with one GPU worker")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--worker-logs", action="store_true",
                        help="print the workers' output (NCCL's too, with NCCL_DEBUG=INFO) to see where a run stalls")
    args = parser.parse_args()

    ray.init(address="local", include_dashboard=False, log_to_driver=args.worker_logs)
    many = args.gpus or 2
    with PeakMemory() as memory:
        one = rate(args, 1)
        several = rate(args, many) if many > 1 else one
    ray.shutdown()

    scaling = several * many / one
    where = f"{many} GPU workers" if args.gpus else f"{many} CPU workers"
    print(f"{args.images} photos (320-640 px JPEG), {args.backbone} ({args.weights} weights), global batch "
          f"{args.batch_size}, {args.iterations} iterations; 1 worker vs {where}")
    print(f"1 worker: {one:.1f} images/s; {many} workers: {several:.1f} images/s per worker")
    print(f"scaling ratio (total {many}-worker rate / 1-worker rate, ideal {many}): {scaling:.2f}")
    print(f"peak memory (driver, Ray, workers): {memory.peak_mib} MiB")
    emit({
        "scaling_ratio": round(scaling, 3),
        "images_per_s_per_worker_1": round(one, 1),
        f"images_per_s_per_worker_{many}": round(several, 1),
        "peak_memory_mib": memory.peak_mib,
    })


if __name__ == "__main__":
    main()
