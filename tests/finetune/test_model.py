"""Every backbone becomes a 2-way network: the new layer replaces the class layer, frozen features stay out of
the optimiser and out of train mode, and the Caffe learning rates go to the right parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from likeability.config import FinetuneConfig
from likeability.embed.backbones import HEADS
from likeability.finetune.model import build_model, head, param_groups
from likeability.finetune.steps import train_mode

BACKBONES = list(HEADS)


@pytest.fixture(scope="module", params=BACKBONES)
def frozen(request) -> tuple[FinetuneConfig, nn.Module]:
    torch.manual_seed(0)
    config = FinetuneConfig(backbone=request.param, weights="random", freeze_features=True)
    return config, build_model(config)


def test_the_new_layer_answers_two_classes(frozen):
    config, model = frozen
    assert head(model, config.backbone).out_features == 2
    with torch.inference_mode():
        assert model.eval()(torch.zeros(2, 3, 224, 224)).shape == (2, 2)


def test_frozen_features_leave_the_optimiser_the_new_layer_at_ten_times_the_rate(frozen):
    config, model = frozen
    groups = param_groups(model, config)
    new_layer = {id(p) for p in head(model, config.backbone).parameters()}
    assert {id(p) for p in groups[-1]["params"]} == new_layer
    assert groups[-1]["lr"] == pytest.approx(config.base_lr * config.new_layer_lr_mult)
    trained = {id(p) for group in groups for p in group["params"]}
    assert trained == {id(p) for p in model.parameters() if p.requires_grad}
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert not any(p.requires_grad for conv in convolutions for p in conv.parameters())


def test_train_mode_keeps_frozen_batch_norms_on_imagenet_statistics(frozen):
    config, model = frozen
    train_mode(model)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(not norm.training for norm in norms)
    assert head(model, config.backbone).training


def test_unfrozen_backbones_train_everything_with_the_new_layer_apart():
    config = FinetuneConfig(backbone="resnet50", weights="random")
    model = build_model(config)
    base, new = param_groups(model, config)
    assert len(base["params"]) + len(new["params"]) == len(list(model.parameters()))
    assert base["lr"] == config.base_lr
    train_mode(model)
    assert all(module.training for module in model.modules())
