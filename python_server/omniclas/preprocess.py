"""Turn decoded images into network input: the same code path at training, labelling and prediction time."""
from __future__ import annotations

from contextlib import nullcontext

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


def bf16_supported() -> bool:
    """True where the CPU has native bf16 (AVX-512 BF16 or AMX); elsewhere bf16 would be emulated and slow."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def inference_context(bf16: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()


@torch.inference_mode()
def run_batches(module: torch.nn.Module, x_unit: torch.Tensor, mean, std, bf16: bool, batch_size: int = 64,
                transform=None, on_batch=None) -> torch.Tensor:
    """Run ``module`` over ``x_unit`` (N x 3 x S x S in 0..1) in batches; optional ``transform`` on each batch
    before normalisation (a test-time transform). Returns float32 outputs."""
    module.eval()
    outputs = []
    n_batches = (len(x_unit) + batch_size - 1) // batch_size
    for b, start in enumerate(range(0, len(x_unit), batch_size)):
        batch = x_unit[start:start + batch_size]
        if transform is not None:
            batch = transform(batch)
        batch = normalise(batch, mean, std).contiguous(memory_format=torch.channels_last)
        with inference_context(bf16):
            outputs.append(module(batch).float())
        if on_batch:
            on_batch(b + 1, n_batches)
    return torch.cat(outputs) if outputs else torch.empty(0)
