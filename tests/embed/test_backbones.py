
import numpy as np
import pytest
import torch
import torchvision.transforms as T
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data
from torchvision.models import MobileNet_V2_Weights

from likeability.config import EmbedConfig
from likeability.embed.backbones import (
    HEADS,
    MEAN,
    STD,
    Backbone,
    build_torchvision_model,
    embed,
    load_backbone,
    normalize,
    preprocess,
)
from likeability.embed.weights import IMAGENET, WeightsError
from likeability.images.crop_geometry import CROP, RESIZE, crop_box
from likeability.schemas import BACKBONE_LAYERS

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        return load_backbone(EmbedConfig(backbone="mobilenet_v2"))


def photo(seed: int, height: int = 320, width: int = 320) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------- layers


def test_alexnet_fc6_fc7_are_the_rectified_fully_connected_layers_from_one_pass():
    torch.manual_seed(0)
    backbone = Backbone("alexnet", build_torchvision_model("alexnet")).eval()
    trunk_calls = []
    backbone.model.features.register_forward_hook(lambda *_: trunk_calls.append(1))
    x = normalize(preprocess([photo(1), photo(2)], mirror=False))

    with torch.inference_mode():
        out = backbone(x)
        pooled = torch.flatten(backbone.model.avgpool(backbone.model.features(x)), 1)
        fc1, fc2 = backbone.model.classifier[1], backbone.model.classifier[4]
        expected6 = torch.relu(pooled @ fc1.weight.T + fc1.bias)
        expected7 = torch.relu(expected6 @ fc2.weight.T + fc2.bias)

    assert set(out) == {"fc6", "fc7"} and trunk_calls == [1, 1]  # once by the backbone, once by this test
    assert out["fc6"].shape == out["fc7"].shape == (2, 4096)
    for layer, expected in (("fc6", expected6), ("fc7", expected7)):
        assert out[layer].min() >= 0 and (out[layer] == 0).any()
        torch.testing.assert_close(out[layer], expected, rtol=1e-4, atol=1e-5)


def test_mobilenet_pool_is_the_classifier_input(mobilenet):
    x = normalize(preprocess([photo(3), photo(4), photo(5)], mirror=False))
    with torch.inference_mode():
        pool = mobilenet(x)["pool"]
        logits = mobilenet.model(x)
        head = mobilenet.model.classifier[1]
        by_hand = pool @ head.weight.T + head.bias
    assert pool.shape == (3, 1280)
    torch.testing.assert_close(by_hand, logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "vit_b_16"])
def test_the_better_bases_give_their_layers_and_load_their_own_weights_file(name, tmp_path):
    """Random weights (no ImageNet file ships offline for these): the layers' shapes, the last layer fed by the
    pooled one, and a weights file that loads back to the same features."""
    torch.manual_seed(0)
    model = build_torchvision_model(name)
    path = tmp_path / f"{name}.pth"
    torch.save(model.state_dict(), path)
    backbone = load_backbone(EmbedConfig(backbones=[name], weights=str(path)))
    x = normalize(preprocess([photo(11), photo(12, 480, 360)], mirror=False))
    with torch.inference_mode():
        out = backbone(x)
        logits = backbone.model(x)
    assert {layer: tuple(v.shape) for layer, v in out.items()} == {
        layer: (2, width) for layer, width in BACKBONE_LAYERS[name].items()
    }
    last = backbone.model.get_submodule(HEADS[name])
    feeding = out["fc7"] if name == "vgg16" else out[next(iter(BACKBONE_LAYERS[name]))]
    with torch.inference_mode():
        by_hand = feeding @ last.weight.T + last.bias
    torch.testing.assert_close(by_hand, logits, rtol=1e-4, atol=1e-4)
    fresh = Backbone(name, build_torchvision_model(name, torch.load(path, weights_only=True))).eval()
    with torch.inference_mode():
        for layer, values in fresh(x).items():
            torch.testing.assert_close(values, out[layer])


def test_embed_returns_float32_numpy_per_layer(mobilenet):
    out = embed(mobilenet, preprocess([photo(6)], mirror=True))
    assert list(out) == ["pool"]
    assert out["pool"].dtype == np.float32 and out["pool"].shape == (2, 1280)


def test_a_fine_tuned_two_way_head_loads(tmp_path):
    model = build_torchvision_model("mobilenet_v2")
    model.classifier[1] = torch.nn.Linear(1280, 2)
    path = tmp_path / "finetuned.pth"
    torch.save(model.state_dict(), path)
    backbone = load_backbone(EmbedConfig(backbone="mobilenet_v2", weights=str(path)))
    assert backbone.model.classifier[1].out_features == 2


def test_weights_of_another_architecture_are_named(tmp_path):
    path = tmp_path / "mobilenet.pth"
    torch.save(build_torchvision_model("mobilenet_v2").state_dict(), path)
    with pytest.raises(WeightsError) as err:
        load_backbone(EmbedConfig(backbone="alexnet", weights=str(path)))
    message = str(err.value)
    assert message.startswith(f"embed.weights = '{path}': not alexnet weights: 14 keys missing (classifier.4.bias")
    assert "unexpected keys (features.0.0.weight" in message
    assert "classifier.1.weight: (1000, 1280) not (4096, 9216)" in message and "\n" not in message


# ------------------------------------------------------------------------------------------------ input


def test_preprocess_shapes_dtype_layout_and_mirror_order():
    images = [photo(7, 300, 451), photo(8, 500, 240)]
    plain = preprocess(images, mirror=False)
    mirrored = preprocess(images, mirror=True)
    assert plain.shape == (2, 3, CROP, CROP) and mirrored.shape == (4, 3, CROP, CROP)
    assert mirrored.dtype == torch.uint8 and mirrored.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(mirrored[0::2], plain, rtol=0, atol=0)
    torch.testing.assert_close(mirrored[1::2], plain.flip(-1), rtol=0, atol=0)


def test_preprocess_matches_torchvisions_imagenet_recipe():
    for weights in IMAGENET.values():  # every backbone's file expects the crop they all get
        recipe = weights.transforms()
        assert (recipe.resize_size, recipe.crop_size) == ([RESIZE], [CROP])
        assert tuple(recipe.mean) == MEAN and tuple(recipe.std) == STD
        assert recipe.interpolation == T.InterpolationMode.BILINEAR
    for image in (data.coffee(), data.chelsea(), photo(9, 257, 1000), photo(10, 640, 480)):
        expected = np.asarray(T.CenterCrop(CROP)(T.Resize(RESIZE)(Image.fromarray(image))))
        ours = preprocess([image], mirror=False)[0].permute(1, 2, 0).numpy()
        assert np.abs(ours.astype(int) - expected).max() <= 1  # fixed-point rounding only


def test_normalize_on_a_constant_image():
    batch = preprocess([np.full((300, 400, 3), 200, np.uint8)], mirror=False)
    x = normalize(batch)
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    for channel in range(3):
        expected = (200 / 255 - MEAN[channel]) / STD[channel]
        torch.testing.assert_close(x[0, channel], torch.full((CROP, CROP), expected), rtol=1e-6, atol=1e-6)


def test_preprocess_names_the_bad_image():
    with pytest.raises(ValueError, match=r"image 1: expected H x W x 3 uint8 RGB, got \(20, 20\) uint8"):
        preprocess([photo(11), np.zeros((20, 20), np.uint8)], mirror=False)


# ---------------------------------------------------------------------------------------------- ImageNet weights


def test_mobilenet_imagenet_weights_recognise_a_real_photo(mobilenet):
    with torch.inference_mode():
        logits = mobilenet.model(normalize(preprocess([data.coffee()], mirror=False)))
    categories = MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    top5 = [categories[i] for i in logits[0].topk(5).indices]
    assert {"espresso", "cup", "coffee mug"} & set(top5), top5


def test_same_object_embeds_closer_than_unrelated_photos(mobilenet):
    coffee = data.coffee()
    images = [coffee, coffee[40:, 60:], data.chelsea(), data.rocket(), data.astronaut()]
    pool = embed(mobilenet, preprocess(images, mirror=False))["pool"]
    unit = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    similar = unit @ unit.T
    assert similar[0, 1] > 0.8
    assert similar[0, 1] > similar[0, 2:].max() + 0.2


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 8000), height=st.integers(1, 8000))
@example(width=1080, height=1349)
@example(width=8000, height=8000)
@example(width=1, height=7919)
def test_the_crop_of_any_photo_lies_inside_it_and_preprocess_gives_224(width, height):
    left, top, right, bottom = crop_box(width, height)
    assert 0 <= left < right <= width + 1e-6 and 0 <= top < bottom <= height + 1e-6
    if width * height <= 4_000_000:
        batch = preprocess([np.full((height, width, 3), 9, np.uint8)], mirror=True)
        assert batch.shape == (2, 3, CROP, CROP) and int(batch.min()) == int(batch.max()) == 9
