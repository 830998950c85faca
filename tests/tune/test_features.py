import pytest

from likeability.config import ConfigError
from likeability.tune.features import sweep_layers


def test_no_requested_layers_sweeps_every_layer_of_every_backbone():
    assert sweep_layers(["alexnet", "resnet50"], []) == {"alexnet": ["fc6", "fc7"], "resnet50": ["pool"]}


def test_requested_layers_go_to_the_backbones_that_have_them():
    layers = sweep_layers(["alexnet", "vgg16", "resnet50"], ["fc7", "pool"])
    assert layers == {"alexnet": ["fc7"], "vgg16": ["fc7"], "resnet50": ["pool"]}


def test_a_layer_no_backbone_has_is_named_before_any_trial():
    with pytest.raises(ConfigError, match=r"\['fc8'\] are layers of none of embed.backbones"):
        sweep_layers(["alexnet"], ["fc7", "fc8"])


def test_a_backbone_left_without_layers_is_named():
    with pytest.raises(ConfigError, match=r"names no layer of \['resnet50'\]"):
        sweep_layers(["alexnet", "resnet50"], ["fc6"])
