"""Read microscopy images (PNG, JPEG, TIFF; 8/16-bit/float; 1-4 channels; stacks) as 8-bit RGB arrays.

The rule that maps any image onto the network's three channels:

* **Bit depth.** 8-bit images are kept as they are. 16-bit, 32-bit and float images are rescaled per channel
  from their 0.1st to 99.9th percentile onto 0..255, so a dim 12-bit camera image fills the range.
* **Channels.** 1 channel is repeated into R, G and B (grey). 2 channels become R and G with B black (ImageJ's
  default composite colours). 3 channels are R, G, B. 4 channels: the first three are kept (a 4th channel is
  alpha in PNG/TIFF RGBA, or a channel beyond what the network sees).
* **Stacks.** Each page (Z or T plane) of a TIFF is one image: :func:`read_pages` returns them all,
  :func:`read_image` the first. Training uses the first page of each file.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageReadError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MAX_PIXELS = 100_000_000  # per page; guards against decompression bombs
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_image(source, name: str | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read the first page of an image as an ``HxWx3`` uint8 array."""
    return read_pages(source, name, max_pixels)[0]


def read_pages(source, name: str | None = None, max_pixels: int = MAX_PIXELS) -> list[np.ndarray]:
    """Read every page of an image file, path or bytes, as ``HxWx3`` uint8 arrays.

    Raises:
        ImageReadError: naming the file, if it is missing, empty, corrupt, too large or of an unknown layout.
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else "uploaded image")
    try:
        data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    except OSError as err:
        raise ImageReadError(f"{label}: cannot read file ({err.strerror or err})") from None
    if not data:
        raise ImageReadError(f"{label}: file is empty")
    try:
        if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            planes = _tiff_planes(data, label, max_pixels)
        else:
            planes = [_pil_plane(data, max_pixels)]
    except ImageReadError:
        raise
    except Image.DecompressionBombError:
        raise ImageReadError(f"{label}: image has more than {max_pixels} pixels") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{label}: not a readable PNG, JPEG or TIFF image (unknown format)") from None
    except (OSError, ValueError, SyntaxError, IndexError, KeyError) as err:
        detail = str(err).replace(repr(source), "").strip() if not isinstance(source, (bytes, bytearray)) else str(err)
        detail = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "data", detail)
        if isinstance(err, (IndexError, KeyError, SyntaxError)):
            detail = "corrupt or truncated file"
        raise ImageReadError(f"{label}: not a readable PNG, JPEG or TIFF image ({detail or type(err).__name__})") from None
    return [to_rgb8(p, label) for p in planes]


def _pil_plane(data: bytes, max_pixels: int) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        if img.width * img.height > max_pixels:
            raise Image.DecompressionBombError("too many pixels")
        img.load()
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            img = img.convert("RGB")
        elif img.mode == "LA":
            img = img.convert("L")
        return np.asarray(img)


def _tiff_planes(data: bytes, label: str, max_pixels: int) -> list[np.ndarray]:
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        series = tif.series[0]
        shape, axes = series.shape, series.axes
        if np.prod(shape, dtype=np.int64) > max_pixels * 4:
            raise ImageReadError(f"{label}: image has more than {max_pixels} pixels")
        arr = series.asarray()
    return _split_planes(arr, axes, label)


def _split_planes(arr: np.ndarray, axes: str, label: str) -> list[np.ndarray]:
    """Turn a TIFF series into a list of YX, YXC planes, using tifffile's axes labels."""
    # Put Y, X last and channels (C or S) right after them; every other axis is a page axis.
    axes = axes.upper()
    if "Y" not in axes or "X" not in axes:
        raise ImageReadError(f"{label}: TIFF has no image plane (axes {axes})")
    chan_axes = [i for i, a in enumerate(axes) if a in "CS"]
    page_axes = [i for i, a in enumerate(axes) if a not in "YXCS"]
    order = page_axes + [axes.index("Y"), axes.index("X")] + chan_axes
    arr = np.transpose(arr, order)
    n_pages = int(np.prod(arr.shape[: len(page_axes)], dtype=np.int64)) if page_axes else 1
    h, w = arr.shape[len(page_axes)], arr.shape[len(page_axes) + 1]
    n_chan = int(np.prod(arr.shape[len(page_axes) + 2:], dtype=np.int64)) if chan_axes else 1
    arr = arr.reshape(n_pages, h, w, n_chan)
    return [arr[i] for i in range(n_pages)]


def to_rgb8(plane: np.ndarray, label: str = "image") -> np.ndarray:
    """Apply the documented channel and bit-depth rule to one ``HxW`` or ``HxWxC`` plane."""
    if plane.ndim == 2:
        plane = plane[:, :, None]
    if plane.ndim != 3 or plane.shape[0] < 1 or plane.shape[1] < 1:
        raise ImageReadError(f"{label}: unsupported image shape {plane.shape}")
    channels = plane.shape[2]
    if channels == 1:
        plane = np.repeat(plane, 3, axis=2)
    elif channels == 2:
        plane = np.concatenate([plane, np.zeros_like(plane[:, :, :1])], axis=2)
    elif channels >= 4:
        plane = plane[:, :, :3]
    if plane.dtype == np.uint8:
        return np.ascontiguousarray(plane)
    if plane.dtype == bool:
        return np.ascontiguousarray(plane.astype(np.uint8) * 255)
    return _rescale_to_uint8(plane.astype(np.float32))


def _rescale_to_uint8(plane: np.ndarray) -> np.ndarray:
    out = np.empty(plane.shape, dtype=np.uint8)
    for c in range(plane.shape[2]):
        ch = plane[:, :, c]
        finite = ch[np.isfinite(ch)]
        if finite.size == 0:
            out[:, :, c] = 0
            continue
        lo, hi = np.percentile(finite, (0.1, 99.9))
        if hi <= lo:  # flat channel: keep it black, or white if it is non-zero
            out[:, :, c] = 255 if lo > 0 else 0
            continue
        scaled = (np.nan_to_num(ch, nan=lo) - lo) * (255.0 / (hi - lo))
        out[:, :, c] = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    return out
