"""The GPU path on one CUDA device: embedding, face detection and fine-tuning steps, each against its CPU way.

Runs the project's own functions (no Ray needed): `photo_features` (the embed stage's unit of work: nvJPEG batch
decode of the baseline JPEGs while CPU threads decode the progressive ones, resize and crop on the device, AlexNet
fc6/fc7 in bf16 channels-last, features back to the host),
`RetinaFaceTorch` (the face detector's GPU path) and `finetune.steps.train_step` (the Ray Train loop's step) on
photos streamed from an images table. Baselines in the same run: Pillow decoding on every core for the embedding,
nvJPEG decoding every JPEG itself (no CPU threads), onnxruntime on every core for the detector, and the squares
decoded on the CPU for fine-tuning. The first section measures how much CPU the host really gives (threads of
Pillow decoding), which bounds every CPU-side figure.

Photos: N JPEGs of 320-640 px in Instagram's shapes (see `photos.py`). AlexNet has random weights (speed does not
depend on their values).

    python benchmarks/bench_gpu.py [--photos 8192] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import torch

from likeability.config import EmbedConfig, FacesConfig, FinetuneConfig
from likeability.curate.faces.retinaface import RetinaFaceMobileNet
from likeability.curate.faces.retinaface_torch import RetinaFaceTorch
from likeability.embed.backbones import build_torchvision_model, embed, load_backbone
from likeability.embed.photo_features import DECODE_FIT, photo_features
from likeability.finetune.batches import SquareBatches
from likeability.finetune.model import param_groups, two_way
from likeability.finetune.squares import decode_squares, photo_bodies
from likeability.finetune.steps import train_mode, train_step
from likeability.images.crop_geometry import RESIZE
from likeability.images.decode import decode_rgb
from likeability.images.device import centre_crops, centre_squares, cpu_decoders, decode_on_device
from likeability.images.jpeg_header import read_jpeg_header
from likeability.images.store import plan_parts
from likeability.run import RunFolder
from photos import make_photos

MAX_PIXELS = 50_000_000
BATCHES = (64, 128, 256, 512, 1024)
PART = 256  # photos per images part, as the curate stage commits them
TRAIN_BATCH = 256


def timed(fn, repeat: int = 1) -> float:
    """Seconds per call of `fn`, the device's queued work included."""
    _synchronize()
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    _synchronize()
    return (time.perf_counter() - started) / repeat


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def in_batches(items: list, size: int):
    return [items[start : start + size] for start in range(0, len(items), size)]


# -------------------------------------------------------------------------------------------------- cpu


def bench_cpu(bodies: list[bytes]) -> dict:
    """How much CPU the host gives: Pillow decoding (which releases the GIL) in 1 to all-cores threads. Every
    CPU-side part below (the Pillow baselines, the progressive JPEGs' threads) scales with this."""
    result = {"cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "cgroup_cpu_max": _cgroup_cpu_max(),
              "decode_photos_per_s": {}}
    sample = bodies[:2048]
    for threads in sorted({1, 4, os.cpu_count()}):
        with ThreadPoolExecutor(threads) as pool:
            seconds = timed(lambda: list(pool.map(_pillow_decode, sample)))
        result["decode_photos_per_s"][threads] = round(len(sample) / seconds, 1)
    return result


def _pillow_decode(body: bytes):
    """What the embed stage's CPU threads do with a photo nvJPEG cannot batch."""
    return decode_rgb(body, MAX_PIXELS, fit=DECODE_FIT)


def _cgroup_cpu_max() -> str | None:
    try:
        return Path("/sys/fs/cgroup/cpu.max").read_text().strip()
    except OSError:
        return None


# ------------------------------------------------------------------------------------------------ embed


def bench_embed(bodies: list[bytes], device: torch.device) -> dict:
    backbone = load_backbone(EmbedConfig(backbone="alexnet", weights="random"), device)
    threads = EmbedConfig().decode_threads
    result = {"photos": len(bodies), "not_batched_fraction": round(len(_split_by_coding(bodies)[1]) / len(bodies), 3),
              "decode_threads": threads, "one_process_photos_per_s": {}}
    with ThreadPoolExecutor(threads) as decoders:
        for size in BATCHES:
            result["one_process_photos_per_s"][size] = round(_embed_rate(backbone, bodies, size, decoders), 1)
        best = max(result["one_process_photos_per_s"], key=result["one_process_photos_per_s"].get)
        result["best_batch"] = best
        result["parts_at_best_batch_s_per_1000"] = _embed_parts(backbone, bodies[:best], decoders)
    result["decode_threads_photos_per_s"] = {0: round(_embed_rate(backbone, bodies, best, None), 1)}
    for count in (2, 8):
        with ThreadPoolExecutor(count) as decoders:
            result["decode_threads_photos_per_s"][count] = round(_embed_rate(backbone, bodies, best, decoders), 1)
    result["decode_by_coding_photos_per_s"] = _decode_by_coding(bodies, device, threads)
    return result


def bench_processes(bodies: list[bytes], device: torch.device, size: int) -> dict:
    """The embedding in processes sharing the device, as embedding actors with a GPU share each (each has its own
    nvJPEG decoder), and the Pillow baseline: decoding and cropping on the CPU in one process per core. Last, and
    apart from `bench_embed`, because a starved host once made the Pillow pool crawl past the run's limit."""
    result = {"batch": size, "photos_per_s": {
        count: round(_in_processes(bodies, size, count, device, decode_on_device=True), 1) for count in (2, 4)
    }}
    cores = os.cpu_count()
    result["pillow_processes"] = cores
    result["pillow_photos_per_s"] = round(_in_processes(bodies, size, cores, device, decode_on_device=False), 1)
    return result


def _embed_rate(backbone, bodies: list[bytes], size: int, decoders: ThreadPoolExecutor | None) -> float:
    """Photos/s of `photo_features` (with mirrors) over `bodies` in batches of `size`, in this process."""
    batches = in_batches(bodies, size)
    photo_features(backbone, batches[0], True, MAX_PIXELS, cpu_decoders=decoders)
    seconds = timed(lambda: [photo_features(backbone, b, True, MAX_PIXELS, cpu_decoders=decoders) for b in batches])
    return len(bodies) / seconds


def _split_by_coding(bodies: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(the JPEGs nvJPEG decodes in its batched call, the others: progressive JPEGs here)."""
    batched = [read_jpeg_header(body).batch_decodable for body in bodies]
    return ([body for body, ok in zip(bodies, batched) if ok], [body for body, ok in zip(bodies, batched) if not ok])


def _decode_by_coding(bodies: list[bytes], device: torch.device, threads: int) -> dict:
    """Decoding alone, photos/s: nvJPEG's batched call on the baseline JPEGs, nvJPEG one by one on the progressive
    ones, and the CPU threads on the progressive ones (what `decode_on_device` splits between them)."""
    baseline, progressive = _split_by_coding(bodies)
    baseline, progressive = baseline[:2048], progressive[:1024]
    result = {}
    for name, group in (("nvjpeg_baseline", baseline), ("nvjpeg_progressive", progressive)):
        if group:
            batches = in_batches(group, 256)
            decode_on_device(batches[0], device, MAX_PIXELS)
            seconds = timed(lambda: [decode_on_device(b, device, MAX_PIXELS) for b in batches])
            result[name] = round(len(group) / seconds, 1)
    for count in sorted({threads, 8} - {0}) if progressive else ():
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(_pillow_decode, progressive[:64]))
            seconds = timed(lambda: list(pool.map(_pillow_decode, progressive)))
        result[f"cpu_{count}_threads_progressive"] = round(len(progressive) / seconds, 1)
    return result


def _embed_parts(backbone, bodies: list[bytes], decoders: ThreadPoolExecutor) -> dict:
    """Seconds per 1,000 photos of each part of `photo_features` at one batch size."""
    device = backbone.device
    def decode():
        return decode_on_device(bodies, device, MAX_PIXELS, decoders, DECODE_FIT)

    images = decode()
    crops = centre_crops(images, True)
    per_k = 1000 / len(bodies)
    return {
        "decode": round(timed(decode, 3) * per_k, 4),
        "resize_crop_mirror": round(timed(lambda: centre_crops(images, True), 3) * per_k, 4),
        "model_and_copy_back": round(timed(lambda: embed(backbone, crops), 3) * per_k, 4),
    }


_WORKER: dict = {}


def _start_worker(device: str, decode_on_device: bool, warm_up: list[bytes], ready) -> None:
    torch.set_num_threads(1)  # one process per core: torch's own threads on top would oversubscribe the cores
    _WORKER["backbone"] = load_backbone(EmbedConfig(backbone="alexnet", weights="random"), device)
    _WORKER["decode_on_device"] = decode_on_device
    _WORKER["decoders"] = cpu_decoders(EmbedConfig().decode_threads)
    _worker_features(warm_up)
    ready.wait()  # every process loaded and warmed up before the clock starts


def _worker_features(batch: list[bytes]) -> int:
    photo_features(_WORKER["backbone"], batch, True, MAX_PIXELS, _WORKER["decode_on_device"], _WORKER["decoders"])
    return len(batch)


def _in_processes(bodies: list[bytes], size: int, count: int, device: torch.device, decode_on_device: bool) -> float:
    """Photos/s of `count` processes embedding batches of `size`; features stay in each worker's host memory."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(count)
    with ProcessPoolExecutor(count, mp_context=context, initializer=_start_worker,
                             initargs=(str(device), decode_on_device, bodies[:size], ready)) as pool:
        list(pool.map(_worker_features, [bodies[:1]] * count))
        started = time.perf_counter()
        done = sum(pool.map(_worker_features, in_batches(bodies, size)))
        return done / (time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------ faces


def bench_faces(bodies: list[bytes], device: torch.device) -> dict:
    images = decode_on_device(bodies, device, MAX_PIXELS)
    result = {"photos": len(bodies), "input_size": 320, "decoded_photos_per_s": {}, "from_jpeg_photos_per_s": {}}
    for size in BATCHES:
        detector = RetinaFaceTorch(FacesConfig(input_size=320, batch_size=size), device)
        detector.detect_tensors(images[:size])
        seconds = timed(lambda: detector.detect_tensors(images))
        result["decoded_photos_per_s"][size] = round(len(images) / seconds, 1)
        seconds = timed(lambda: detector.detect_bodies(bodies, MAX_PIXELS))
        result["from_jpeg_photos_per_s"][size] = round(len(bodies) / seconds, 1)
    cores = os.cpu_count()
    sample = [decode_rgb(body, MAX_PIXELS, fit=320).pixels for body in bodies[:1024]]
    cpu = RetinaFaceMobileNet(FacesConfig(input_size=320, batch_size=16), threads=cores)
    cpu.detect(sample[:16])
    started = time.perf_counter()
    cpu_faces = cpu.detect(sample)
    result["onnxruntime_cpu_threads"] = cores
    result["onnxruntime_cpu_photos_per_s"] = round(len(sample) / (time.perf_counter() - started), 1)
    best = max(result["decoded_photos_per_s"].values())
    result["gpu_vs_onnxruntime_cpu_ratio"] = round(best / result["onnxruntime_cpu_photos_per_s"], 2)
    gpu_faces = RetinaFaceTorch(FacesConfig(input_size=320, batch_size=256), device).detect(sample)
    result["agreement"] = _agreement(cpu_faces, gpu_faces)
    return result


def _agreement(cpu_faces, gpu_faces) -> dict:
    """How far the GPU detector's faces are from onnxruntime's on the same photos (the GPU path letterboxes with
    antialiased bilinear on the device, the CPU path with OpenCV's area filter, so pixels differ slightly)."""
    same_count = sum(len(a) == len(b) for a, b in zip(cpu_faces, gpu_faces, strict=True))
    box_diffs = [np.abs(a.boxes - b.boxes).max() for a, b in zip(cpu_faces, gpu_faces) if len(a) == len(b) and len(a)]
    score_diffs = [np.abs(a.scores - b.scores).max() for a, b in zip(cpu_faces, gpu_faces) if len(a) == len(b) and len(a)]
    return {
        "photos": len(cpu_faces),
        "photos_with_faces_cpu": sum(len(a) > 0 for a in cpu_faces),
        "same_face_count_fraction": round(same_count / len(cpu_faces), 4),
        "median_max_box_diff_px": round(float(np.median(box_diffs)), 3) if box_diffs else None,
        "median_max_score_diff": round(float(np.median(score_diffs)), 5) if score_diffs else None,
    }


# -------------------------------------------------------------------------------------------- fine-tune


def bench_finetune(bodies: list[bytes], folder: str, device: torch.device) -> dict:
    config = FinetuneConfig(backbone="alexnet", weights="random", batch_size=TRAIN_BATCH)
    torch.manual_seed(0)
    model = two_way("alexnet", build_torchvision_model("alexnet")).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(param_groups(model, config), momentum=config.momentum,
                                weight_decay=config.weight_decay)
    train_mode(model)
    generator = torch.Generator().manual_seed(0)
    labels = torch.from_numpy(np.arange(TRAIN_BATCH) % 2)

    def step(squares):
        return train_step(model, optimizer, squares, labels[: len(squares)], generator, device)

    squares = centre_squares(decode_on_device(bodies[:TRAIN_BATCH], device, MAX_PIXELS), RESIZE)
    step(squares)
    result = {"global_batch": TRAIN_BATCH, "model": "alexnet, 2-way head, bf16 autocast, channels-last",
              "step_only_photos_per_s": round(TRAIN_BATCH / timed(lambda: step(squares), 20), 1)}
    result["photos"] = len(bodies)
    if len(bodies) < TRAIN_BATCH:
        result["streamed"] = f"not measured: fewer photos than one batch of {TRAIN_BATCH}"
        return result
    entries = _images_table(bodies, folder)
    result["cpu_squares_photos_per_s"] = round(_train_cpu_squares(entries, step), 1)
    result["device_squares_photos_per_s"] = round(_train_device_squares(entries, step, device, ahead=False), 1)
    result["device_squares_one_ahead_photos_per_s"] = round(_train_device_squares(entries, step, device, ahead=True), 1)
    return result


def _images_table(bodies: list[bytes], folder: str) -> list[dict]:
    """The photos stored as the curate stage stores them, planned part by part as the fine-tuning stage plans them."""
    run = RunFolder(folder)
    digests = [f"{i:064x}" for i in range(len(bodies))]
    for start in range(0, len(bodies), PART):
        rows = [{"sha256": digests[i], "format": "JPEG", "body": bodies[i]}
                for i in range(start, min(start + PART, len(bodies)))]
        run.table("images").write_part(f"p{start}", rows)
    photos = pa.table({"media_id": [str(i) for i in range(len(bodies))], "sha256": digests,
                       "label": [i % 2 for i in range(len(bodies))]})
    return plan_parts(run, photos)


def _as_batch(entry: dict) -> dict[str, list]:
    """One planned part as the one-row batch Ray Data hands the stream's functions (`batch_size=1`)."""
    return {"part": [entry["part"]], "photos": [entry["photos"]]}


def _decode_part(entry: dict) -> list[np.ndarray]:
    return [block["pixels"] for block in decode_squares(_as_batch(entry), MAX_PIXELS, pafs.LocalFileSystem())]


def _train_cpu_squares(entries: list[dict], step) -> float:
    """Squares decoded by `decode_squares` (what the Ray Data stream runs) in one process per core but one."""
    with ProcessPoolExecutor(max(1, os.cpu_count() - 1)) as pool:
        list(pool.map(_decode_part, entries[:2]))

        def train():
            pending = np.empty((0, 256, 256, 3), np.uint8)
            for blocks in pool.map(_decode_part, entries):
                pending = np.concatenate([pending, *blocks])
                while len(pending) >= TRAIN_BATCH:
                    step(torch.from_numpy(pending[:TRAIN_BATCH]))
                    pending = pending[TRAIN_BATCH:]

        seconds = timed(train)
    return sum(len(e["photos"]) for e in entries) // TRAIN_BATCH * TRAIN_BATCH / seconds


def _train_device_squares(entries: list[dict], step, device, ahead: bool) -> float:
    """Bodies streamed part by part as `squares.photo_bodies` streams them to a worker that decodes on its GPU,
    made squares there by `batches.SquareBatches` (the training loop's own): one part after the other, or with
    `ahead` the next part's squares made on a thread while this part trains, as Ray Data's collating thread makes
    them for the loop."""
    fs = pafs.LocalFileSystem()
    squares_of = SquareBatches(device, MAX_PIXELS, FinetuneConfig().decode_threads)

    def train():
        blocks = (block for entry in entries for block in photo_bodies(_as_batch(entry), fs))
        for squares in (_one_ahead(squares_of, blocks) if ahead else map(squares_of, blocks)):
            for start in range(0, len(squares) - TRAIN_BATCH + 1, TRAIN_BATCH):
                step(squares[start : start + TRAIN_BATCH])

    seconds = timed(train)
    return sum(len(e["photos"]) // TRAIN_BATCH * TRAIN_BATCH for e in entries) / seconds


def _one_ahead(fn, items):
    """fn of each item in order, the next one computed on a thread while the caller uses this one."""
    with ThreadPoolExecutor(1) as pool:
        pending = None
        for item in items:
            submitted = pool.submit(fn, item)
            if pending is not None:
                yield pending.result()
            pending = submitted
        if pending is not None:
            yield pending.result()


# ------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=8192)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--only", default="cpu,embed,faces,finetune,processes")
    parser.add_argument("--device", default="cuda", help="cpu only to try the script on a few photos")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_gpu.py needs a CUDA device (or --device cpu to try it)")

    out = Path(args.out) / f"gpu_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    bodies = make_photos(args.photos)
    print(f"{len(bodies)} photos made in {time.perf_counter() - started:.1f} s, "
          f"{sum(map(len, bodies)) / len(bodies) / 1024:.1f} KiB each on average", flush=True)
    results = {
        "commit": os.environ.get("LIKEABILITY_COMMIT") or _git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": __import__("torchvision").__version__,
    }
    sections = {"cpu": lambda: bench_cpu(bodies), "embed": lambda: bench_embed(bodies, device),
                "faces": lambda: bench_faces(bodies, device),
                "processes": lambda: bench_processes(bodies, device, results.get("embed", {}).get("best_batch", 256))}
    with tempfile.TemporaryDirectory() as folder:
        sections["finetune"] = lambda: bench_finetune(bodies, folder, device)
        for name in args.only.split(","):
            section_started = time.perf_counter()
            try:
                results[name] = sections[name]()
            except Exception as error:  # one broken section must not lose the others' figures
                results[name] = {"error": f"{type(error).__name__}: {error}"}
            results[name]["seconds"] = round(time.perf_counter() - section_started, 1)
            print(name, json.dumps(results[name]), flush=True)
            # after every section, so a run stopped by a time limit keeps what it measured
            out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(_headline(results)))


def _headline(results: dict) -> dict:
    embed, faces, tune = results.get("embed", {}), results.get("faces", {}), results.get("finetune", {})
    processes = results.get("processes", {})
    fastest = max([*embed.get("one_process_photos_per_s", {}).values(),
                   *embed.get("decode_threads_photos_per_s", {}).values(),
                   *processes.get("photos_per_s", {}).values()], default=None)
    streamed = max([tune[key] for key in ("cpu_squares_photos_per_s", "device_squares_photos_per_s",
                                          "device_squares_one_ahead_photos_per_s") if key in tune], default=None)
    return {
        "embed_photos_per_s": fastest,
        "embed_gpu_vs_pillow_ratio": round(fastest / processes["pillow_photos_per_s"], 2)
        if fastest and "pillow_photos_per_s" in processes else None,
        "embed_cpu_threads_vs_nvjpeg_alone_ratio": round(
            embed["one_process_photos_per_s"][embed["best_batch"]] / embed["decode_threads_photos_per_s"][0], 3)
        if "best_batch" in embed else None,
        "faces_photos_per_s": max(faces.get("decoded_photos_per_s", {0: 0}).values()),
        "faces_gpu_vs_cpu_ratio": faces.get("gpu_vs_onnxruntime_cpu_ratio"),
        "finetune_photos_per_s": streamed,
        "finetune_stream_vs_step_ratio": round(streamed / tune["step_only_photos_per_s"], 3)
        if streamed and "step_only_photos_per_s" in tune else None,
    }


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    main()
