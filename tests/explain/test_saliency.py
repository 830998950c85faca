import io

import numpy as np
import torch
from PIL import Image
from torch import nn

from likeability.explain.saliency import SaliencyMaps, grad_cam, linear_score
from likeability.images.decode import decode_rgb
from likeability.run import RunFolder, run_config
from likeability.simulator.images import render_jpeg
from likeability.tune.final_models import load_final_model


def test_the_map_lies_where_the_score_comes_from():
    # channel 0 sees red, channel 1 blue; the score counts only red: the map must light the red half
    network = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        network[0].weight.copy_(torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])[:, :, None, None])
    photo = torch.zeros(1, 3, 32, 32)
    photo[0, 0, :, :16] = 1  # red on the left
    photo[0, 2, :, 16:] = 1  # blue on the right
    (heat,) = grad_cam(network, network[1], lambda x: network(x)[:, 0].mean(dim=(1, 2)), photo)
    assert heat.shape == (32, 32) and heat.max() == 1
    assert heat[:, :14].mean() > 0.9 and heat[:, 18:].mean() < 0.05


def test_a_linear_models_score_is_read_off_exactly(demo_run):
    model = load_final_model(RunFolder(str(demo_run[0])), "linear_svc")
    weights, bias = linear_score(model)
    features = np.random.default_rng(0).normal(size=(5, weights.shape[0])).astype(np.float32)
    assert np.allclose(features @ weights + bias, model.ranking_score(features), rtol=1e-4, atol=1e-4)


def test_both_cnn_models_draw_a_map_over_each_photo(demo_run):
    run = RunFolder(str(demo_run[0]))
    maps = SaliencyMaps.of_run(run, run_config(run))
    finetuned, classic = maps.scorers
    assert finetuned == "fine-tuned mobilenet_v2" and classic.startswith(("linear_svc on", "sgd_svm on"))
    photos = [decode_rgb(render_jpeg(4, 10**9 + i, "outdoor", 320), 10**8).pixels for i in range(3)]
    drawn = maps.overlays(photos)
    assert set(drawn) == set(maps.scorers)
    for jpegs in drawn.values():
        assert [Image.open(io.BytesIO(j)).size for j in jpegs] == [(180, 180)] * 3
