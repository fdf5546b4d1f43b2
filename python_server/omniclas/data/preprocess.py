"""Turn decoded images into network input: the same code path at training, labelling and prediction time."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def resize_batch(images: list[np.ndarray], size: int) -> torch.Tensor:
    """Squash each ``HxWx3`` uint8 image to ``size x size`` (the whole cell stays in view) -> uint8 NCHW."""
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        if img.shape[0] == size and img.shape[1] == size:
            out[i] = img
        else:
            out[i] = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def to_unit(x_uint8: torch.Tensor) -> torch.Tensor:
    return x_uint8.float().div_(255.0)


def normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    mean = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std
