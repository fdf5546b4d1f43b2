"""Test-time transforms: each maps an N x 3 x H x W batch in 0..1 to a transformed copy."""
from __future__ import annotations

import torch
import torchvision.transforms.v2.functional as F

GAMMA = 0.7  # < 1 brightens dim structures, the usual correction for fluorescence images
BLUR_SIGMA = 1.0


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror left-right: the first column becomes the last."""
    return x.flip(-1)


def vflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror top-bottom: the first row becomes the last."""
    return x.flip(-2)


def hvflip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-2, -1)


def blur(x: torch.Tensor) -> torch.Tensor:
    return F.gaussian_blur(x, kernel_size=[5, 5], sigma=[BLUR_SIGMA, BLUR_SIGMA])


def gamma(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 1).pow(GAMMA)


TRANSFORM_FUNCTIONS = {"hflip": hflip, "vflip": vflip, "hvflip": hvflip, "blur": blur, "gamma": gamma}


def tta_views(transforms) -> list[tuple[str, object]]:
    """The original plus one view per transform: ``t + 1`` (name, function) pairs; identity is ``None``."""
    return [("original", None)] + [(name, TRANSFORM_FUNCTIONS[name]) for name in transforms]
