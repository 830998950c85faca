"""cluster.yaml against Ray's own cluster-config schema, and its node types against configs/cluster.toml and the
pins in pyproject.toml: one cluster, described three times, must agree."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.version import Version
from ray.autoscaler._private.util import prepare_config, validate_config

from likeability.config import load

REPO = Path(__file__).resolve().parents[1]
CLUSTER = yaml.safe_load((REPO / "cluster.yaml").read_text())
CONFIG = load(REPO / "configs" / "cluster.toml")
# Package name (without extras) -> pinned version.
PINS = dict(re.match(r"([\w\-]+)(?:\[[\w,]+\])?==(.+)", pin).groups() for pin in tomllib.loads(
    (REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def node_type(needs_gpu: bool) -> dict:
    types = [t for name, t in CLUSTER["available_node_types"].items() if name != CLUSTER["head_node_type"]]
    return next(t for t in types if bool(t["resources"].get("GPU")) == needs_gpu)


def test_cluster_yaml_passes_rays_schema():
    validate_config(prepare_config(copy.deepcopy(CLUSTER)))


def test_the_schema_check_catches_a_mistake():
    broken = copy.deepcopy(CLUSTER)
    broken["available_node_types"]["ray.worker.gpu"]["resources"] = {"GPU": "one"}
    with pytest.raises(Exception, match="is not of type 'integer'"):
        validate_config(prepare_config(broken))


def test_gpu_work_in_cluster_toml_fits_the_gpu_worker_type():
    gpus = node_type(needs_gpu=True)["resources"]["GPU"]
    for name, value in [("faces.gpus_per_actor", CONFIG.faces.gpus_per_actor),
                        ("embed.gpus_per_actor", CONFIG.embed.gpus_per_actor),
                        ("finetune.gpus_per_worker", CONFIG.finetune.gpus_per_worker)]:
        assert 0 < value <= gpus, f"{name} = {value} on a worker type with {gpus} GPUs"
    assert CONFIG.finetune.workers <= node_type(needs_gpu=True)["max_workers"]


def test_cpu_work_fits_the_cpu_worker_type():
    assert CONFIG.sweeps.forest_cpus_per_trial <= node_type(needs_gpu=False)["resources"]["CPU"]


def test_every_node_runs_the_pinned_ray_and_gpu_nodes_the_gpu_build_of_onnxruntime():
    ray_version = PINS["ray"]
    images = [CLUSTER["docker"]["image"], node_type(needs_gpu=True)["docker"]["worker_image"]]
    assert all(image.startswith(f"rayproject/ray:{ray_version}-") for image in images), images
    setup = "\n".join(CLUSTER["setup_commands"])
    gpu_build = Version(re.search(r"onnxruntime-gpu==([\d.]+)", setup).group(1))
    cpu_build = Version(PINS["onnxruntime"])
    # The GPU build is released after the CPU one: the newest of the same major, no newer than the pin.
    assert gpu_build.major == cpu_build.major and gpu_build <= cpu_build
