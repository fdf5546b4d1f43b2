"""Read microscopy images (PNG, JPEG, TIFF, BMP; 8/16-bit/float; 1-4 channels; stacks) as 8-bit RGB arrays.

The rule that maps any image onto the network's three channels:

* **Bit depth.** 8-bit images are kept as they are. 16-bit, 32-bit and float images are rescaled per channel
  from their 0.1st to 99.9th percentile onto 0..255, so a dim 12-bit camera image fills the range. The
  percentiles come from every pixel of a channel up to 1024 x 1024 pixels, and from an even grid of about a
  million pixels beyond that. NaN and infinite pixels count as the low end; an image with no finite pixel at
  all is refused.
* **Channels.** 1 channel is repeated into R, G and B (grey). 2 channels become R and G with B black (ImageJ's
  default composite colours). 3 channels are R, G, B. 4 channels: the first three are kept (a 4th channel is
  alpha in PNG/TIFF RGBA, or a channel beyond what the network sees).
* **Stacks.** Each page (Z, T or any other plane) of a TIFF is one image, whether the file stores its pages as
  one series or as several: :func:`read_pages` returns them all, :func:`read_image` the first. A channel axis
  the file records (ImageJ's ``channels=``) makes the channels of one image, as ImageJ shows it. Classifying
  gives one result per page (the CLI, the HTTP API, the DeepClas4Bio commands and Fiji alike); training uses
  the first page of each file.
* **Formats.** PNG, JPEG, TIFF and BMP. Any other format (GIF, WebP, ...) is refused with a message naming it.

Memory: a :class:`Budget` bounds what decoding may take, checked from the file header before any pixel is
decoded: the decoded pixels, Pillow's own buffers (with a pointer per row, which is what a 1 x 40 million image
costs), the working copies of the conversion, and the resize to the model's input. The conversion works a slice
of rows at a time, so its working copies stay small next to the decoded pixels, and :func:`iter_pages` can squash
each page to the model's input size as soon as it is converted (a channel at a time). A TIFF's pages are counted
before any of them is parsed; a PNG whose pixel data ends early is refused, not read with black rows.
"""
from __future__ import annotations

import io
import math
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageReadError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
FORMATS = "PNG, JPEG, TIFF or BMP"
PIL_FORMATS = ("PNG", "JPEG", "BMP")
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
MAX_PIXELS = 100_000_000  # per page; guards against decompression bombs
MAX_TIFF_PAGES = 10_000  # pages a TIFF may store where each must be parsed one by one (no ImageJ/OME header)
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
EXACT_PERCENTILE_VALUES = 1 << 20  # a larger channel takes its percentiles from an even grid of this many pixels
CHUNK_VALUES = 1 << 19  # values converted to float at a time
# bytes per pixel Pillow keeps for an image of each mode (multi-band modes are stored as 4 bytes per pixel)
_PIL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "I": 4, "F": 4}
_PIL_CONVERT = {"P": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "LA": "L"}
_OTHER_FORMATS = ((b"GIF8", "GIF"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
                  (b"%PDF", "PDF"), (b"8BPS", "Photoshop"), (b"\x00\x00\x01\x00", "ICO"))


class ImageTooLarge(ImageReadError):
    """An image would need more pixels or memory than allowed: that image's own error, the others still count."""

    http_status = 413


class RequestTooLarge(ImageTooLarge):
    """All the images of one request together have more pages or decoded bytes than allowed: the request fails."""


@dataclass
class Budget:
    """What decoding may take, checked from the file header before any pixel is decoded.

    ``max_pixels``: pixels per image (page). ``max_pages``: images in all. ``image_bytes``: the memory one image
    takes while it is decoded and converted (its decoded pixels plus the working copies). ``request_bytes``: the
    decoded size of all the images together. ``None`` means no limit. One Budget serves one request; ``held``
    counts the bytes of the converted images handed out.
    """

    max_pixels: int = MAX_PIXELS
    max_pages: int | None = None
    image_bytes: int | None = None
    request_bytes: int | None = None
    pages: int = 0
    decoded: int = 0
    held: int = 0

    def add_pages(self, n: int, label: str, field: str | None = None) -> None:
        self.pages += n
        if self.max_pages is not None and self.pages > self.max_pages:
            raise RequestTooLarge(f"{label}: more than {self.max_pages} images (pages) in one request; split the "
                                f"stack or send fewer files", field=field)

    def admit(self, label: str, h: int, w: int, cost: int, field: str | None = None) -> None:
        """Refuse an image of ``h`` x ``w`` pixels whose conversion needs ``cost`` bytes at its peak."""
        if h * w > self.max_pixels:
            raise ImageTooLarge(f"{label}: {w} x {h} pixels is more than {self.max_pixels} pixels per image",
                                field=field)
        if self.image_bytes is not None and cost > self.image_bytes:
            raise ImageTooLarge(f"{label}: decoding this {w} x {h} image needs {_mb(cost)} of memory, more than "
                                f"the limit of {_mb(self.image_bytes)} per image", field=field)

    def add_decoded(self, nbytes: int, label: str, field: str | None = None) -> None:
        """Count ``nbytes`` more decoded bytes, refusing them when they take the request over its limit."""
        if self.request_bytes is not None and self.decoded + nbytes > self.request_bytes:
            raise RequestTooLarge(f"{label}: the images of this request decode to more than "
                                f"{_mb(self.request_bytes)} in all; send fewer or smaller images per request",
                                field=field)
        self.decoded += nbytes

    def keep(self, nbytes: int) -> None:
        self.held += int(nbytes)


def _mb(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):.4g} MB"


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def images_under(folder: Path) -> list[Path]:
    """The image files in ``folder`` and its sub-folders, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if is_image_file(p))


def read_image(source, name: str | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read the first page of an image as an ``HxWx3`` uint8 array."""
    return next(iter_pages(source, name, Budget(max_pixels=max_pixels), first_only=True))


def read_pages(source, name: str | None = None, max_pixels: int = MAX_PIXELS) -> list[np.ndarray]:
    """Read every page of an image file, path or bytes, as ``HxWx3`` uint8 arrays.

    Raises:
        ImageReadError: naming the file, if it is missing, empty, corrupt, too large or of an unknown layout.
    """
    return list(iter_pages(source, name, Budget(max_pixels=max_pixels)))


def iter_pages(source, name: str | None = None, budget: Budget | None = None, size: tuple[int, int] | None = None,
               first_only: bool = False, field: str | None = None):
    """Yield each page as an ``HxWx3`` uint8 array, decoding one at a time within ``budget``.

    ``size`` ``(h, w)``: squash every page to it right away (bilinear, as the models' preprocessing does), so
    a large image holds only its small copy once converted. ``field`` is set on the errors raised.
    """
    budget = budget or Budget()
    label, data = source_bytes(source, name, field)
    decoder = _tiff_pages if data[:4] in TIFF_MAGIC else _pil_pages
    pages = decoder(data, label, budget, first_only, field, size)
    found = False
    while True:
        try:
            plane = next(pages, None)
            if plane is None:
                if not found:
                    raise ImageReadError(f"{label}: not a readable {FORMATS} image (no image in the file)")
                return
            rgb = to_rgb8(plane, label)
        except ImageReadError as err:
            err.field = err.field or field
            raise
        except Image.DecompressionBombError:
            raise ImageTooLarge(f"{label}: image has more than {budget.max_pixels} pixels", field=field) from None
        except UnidentifiedImageError:
            raise ImageReadError(f"{label}: not a readable {FORMATS} image ({_format_name(data)})",
                                 field=field) from None
        except (OSError, ValueError, SyntaxError, IndexError, KeyError, TypeError, MemoryError) as err:
            raise ImageReadError(f"{label}: not a readable {FORMATS} image ({_detail(err)})", field=field) from None
        del plane
        if size is not None and rgb.shape[:2] != tuple(size):
            rgb = resize_rgb(rgb, size)
        budget.keep(rgb.nbytes)
        found = True
        yield rgb
        if first_only:
            return


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Squash to ``size`` ``(h, w)``, bilinear, a channel at a time: Pillow holds one 8-bit copy, not an RGBX one
    (the same pixels as resizing the RGB image: Pillow resizes each channel alike)."""
    out = np.empty((size[0], size[1], 3), dtype=np.uint8)
    for c in range(3):
        out[:, :, c] = np.asarray(Image.fromarray(np.ascontiguousarray(rgb[:, :, c])).resize(
            (size[1], size[0]), Image.BILINEAR))
    return out


def source_bytes(source, name: str | None = None, field: str | None = None, unnamed: str = "uploaded image"
                 ) -> tuple[str, bytes]:
    """``(name to show, the file's bytes)`` of a path or bytes; a missing, unreadable or empty file is refused."""
    label = name or (str(source) if isinstance(source, (str, Path)) else unnamed)
    try:
        data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    except OSError as err:
        raise ImageReadError(f"{label}: cannot read file ({err.strerror or err})", field=field) from None
    if not data:
        raise ImageReadError(f"{label}: file is empty", field=field)
    return label, data


def _detail(err: Exception) -> str:
    if isinstance(err, (IndexError, KeyError, SyntaxError, TypeError)):
        return "corrupt or truncated file"
    if isinstance(err, MemoryError):
        return "not enough memory to decode it"
    detail = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "data", str(err)).strip()
    return detail or type(err).__name__


def _format_name(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP is not supported"
    for magic, fmt in _OTHER_FORMATS:
        if data.startswith(magic):
            return f"{fmt} is not supported"
    return "unknown format"


def _cost(h: int, w: int, decoded: int, integer8: bool, size: tuple[int, int] | None = None) -> int:
    """Peak bytes to decode and convert one image: the decoded pixels, the RGB result, for a rescaled image its
    float working copies (a slice of rows at a time, or the percentile sample, whichever is larger), and the
    resize to ``size``."""
    values = h * w
    working = 0 if integer8 else max(32 * min(CHUNK_VALUES, values), 12 * min(EXACT_PERCENTILE_VALUES, values))
    return decoded + 3 * values + max(working, _resize_cost(h, w, size))


def _resize_cost(h: int, w: int, size: tuple[int, int] | None) -> int:
    """What Pillow allocates to squash one channel of ``h`` x ``w`` to ``size``: the channel's copy with a pointer
    per row, the horizontal pass's output, and the filter weights (doubles, a window of 2 x in/out per output)."""
    if size is None or (h, w) == tuple(size):
        return 0
    out_h, out_w = size
    weights = 8 * (out_w * (2 * -(-w // out_w) + 3) + out_h * (2 * -(-h // out_h) + 3))
    return values_and_rows(h, w) + out_w * h + 8 * h + weights


def values_and_rows(h: int, w: int, band_bytes: int = 1) -> int:
    """Bytes of a Pillow image: its pixels (``band_bytes`` each) and a pointer per row."""
    return band_bytes * h * w + 8 * h


def _pil_pages(data: bytes, label: str, budget: Budget, first_only: bool, field, size=None):
    with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as src:
        w, h = src.size
        target = _PIL_CONVERT.get(src.mode, src.mode)
        band_bytes = 2 if src.mode.startswith("I;16") else 4 if src.mode in ("I", "F") else 1
        decoded = Image.getmodebands(target) * band_bytes * h * w  # the array made from the image
        # ... and beside it Pillow's buffer, and a converted copy where the mode needs one
        pillow = values_and_rows(h, w, _PIL_BYTES.get(src.mode, 4))
        if target != src.mode:
            pillow += values_and_rows(h, w, 4)
        budget.admit(label, h, w, _cost(h, w, decoded + pillow, band_bytes == 1, size), field)
        budget.add_pages(1, label, field)
        budget.add_decoded(decoded, label, field)
        if src.format == "PNG":
            check_png_complete(data, label, field)
        src.load()
        if src.mode == "P" and "transparency" in src.info:
            target = "RGBA"
        img = src.convert(target) if target != src.mode else src
        arr = np.asarray(img)
        del img
    yield arr  # the Pillow buffers are released before the array is converted


# the seven passes of an interlaced PNG: first column and row, column and row steps
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def check_png_complete(data: bytes, label: str, field) -> None:
    """Refuse a PNG whose compressed pixel data ends before its last row: Pillow reads such a file without an
    error, the missing rows black. The data is inflated a megabyte at a time and only counted."""
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    bits = depth * _PNG_CHANNELS.get(color, 1)

    def rows_bytes(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    expected = sum(rows_bytes((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy)
                   for x0, y0, dx, dy in _ADAM7) if interlace else rows_bytes(width, height)
    inflate, got, pos = zlib.decompressobj(), 0, 8
    try:
        while pos + 8 <= len(data) and got < expected:
            length, kind = struct.unpack(">I4s", data[pos:pos + 8])
            if kind == b"IEND":
                break
            if kind == b"IDAT":
                chunk = data[pos + 8:pos + 8 + length]
                while chunk and got < expected:
                    got += len(inflate.decompress(chunk, 1 << 20))
                    chunk = inflate.unconsumed_tail
            pos += 12 + length
    except zlib.error:
        return  # corrupt data: Pillow names it
    if got < expected:
        # Pillow's own words for a cut file, which Fiji's Label Images gives too: one message for one file.
        raise ImageReadError(f"{label}: not a readable {FORMATS} image (image file is truncated)", field=field)


def tiff_series(tif, label: str, budget: Budget, first_only: bool, field) -> list:
    """The series of an open TIFF, its pages counted from the chain of page offsets before any page is parsed
    (tifffile parses each page of a file without an ImageJ or OME header to find its series)."""
    import tifffile

    pages = len(tif.pages)  # only the offsets: milliseconds for 10,000 pages
    if pages > 1 and not (tif.is_imagej or tif.is_ome):
        if first_only and not tif.is_shaped:  # the first series of such a file starts with its first page
            first = tif.pages.first
            return [tifffile.TiffPageSeries([first], first.shape, first.dtype, first.axes)]
        if budget.max_pages is not None and budget.pages + pages > budget.max_pages:
            budget.add_pages(pages, label, field)  # each such page is at least one image: refused now
        if pages > MAX_TIFF_PAGES:
            raise ImageTooLarge(f"{label}: TIFF of {pages} pages, more than {MAX_TIFF_PAGES}; split the stack",
                                field=field)
    return tif.series[:1] if first_only else tif.series


def _tiff_pages(data: bytes, label: str, budget: Budget, first_only: bool, field, size=None):
    """Every series of the file (a writer may store each page as its own series), page by page where each TIFF
    page is one image, else (channels spread over pages, as in ImageJ hyperstacks) one series at a time. The
    pages and bytes of the whole file are counted before the first page is decoded."""
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        plan = []
        for series in tiff_series(tif, label, budget, first_only, field):
            axes = series.axes.upper()
            if "Y" not in axes or "X" not in axes:
                raise ImageReadError(f"{label}: TIFF has no image plane (axes {axes})")
            dims = list(zip(axes, (int(n) for n in series.shape)))
            h, w = dims[axes.index("Y")][1], dims[axes.index("X")][1]
            channels = math.prod(n for a, n in dims if a in "CS")
            n_images = math.prod(n for a, n in dims if a not in "YXCS")
            image_bytes = h * w * channels * series.dtype.itemsize
            # each TIFF page one image, all of them listed (ImageJ's contiguous stacks list only the first);
            # otherwise the series is decoded in one piece
            whole_pages = (set(axes) & set("CS") <= set(series.keyframe.axes.upper())
                           and len(series.pages) * math.prod(series.keyframe.shape) == math.prod(series.shape))
            budget.admit(label, h, w, _cost(h, w, image_bytes, series.dtype == np.uint8, size), field)
            plan.append((series, axes, whole_pages, 1 if first_only else n_images,
                         image_bytes * (1 if first_only and whole_pages else n_images)))
        budget.add_pages(sum(p[3] for p in plan), label, field)
        budget.add_decoded(sum(p[4] for p in plan), label, field)
        for series, axes, whole_pages, _, _ in plan:
            arrays = (page.asarray() for page in series.pages if page is not None) if whole_pages else \
                [series.asarray()]
            page_axes = series.keyframe.axes if whole_pages else axes
            for arr in arrays:
                for plane in _split_planes(arr, page_axes, label):
                    yield plane
                    if first_only:
                        return


def _split_planes(arr: np.ndarray, axes: str, label: str):
    """Turn a TIFF array into YX or YXC planes, using tifffile's axes labels."""
    # Put Y, X last and channels (C or S) right after them; every other axis is a page axis.
    axes = axes.upper()
    if "Y" not in axes or "X" not in axes:
        raise ImageReadError(f"{label}: TIFF has no image plane (axes {axes})")
    chan_axes = [i for i, a in enumerate(axes) if a in "CS"]
    page_axes = [i for i, a in enumerate(axes) if a not in "YXCS"]
    order = page_axes + [axes.index("Y"), axes.index("X")] + chan_axes
    arr = np.transpose(arr, order)
    n_pages = math.prod(arr.shape[: len(page_axes)])
    h, w = arr.shape[len(page_axes)], arr.shape[len(page_axes) + 1]
    n_chan = math.prod(arr.shape[len(page_axes) + 2:])
    arr = arr.reshape(n_pages, h, w, n_chan)
    for i in range(n_pages):
        yield arr[i]


def to_rgb8(plane: np.ndarray, label: str = "image") -> np.ndarray:
    """Apply the documented channel and bit-depth rule to one ``HxW`` or ``HxWxC`` plane."""
    if plane.ndim == 2:
        plane = plane[:, :, None]
    if plane.ndim != 3 or plane.shape[0] < 1 or plane.shape[1] < 1 or plane.shape[2] < 1:
        raise ImageReadError(f"{label}: unsupported image shape {plane.shape}")
    h, w, channels = plane.shape
    if plane.dtype == np.uint8 and channels == 3:
        return np.ascontiguousarray(plane)
    sources = [0, 0, 0] if channels == 1 else [0, 1, None] if channels == 2 else [0, 1, 2]
    out = np.zeros((h, w, 3), dtype=np.uint8)
    if plane.dtype == np.uint8 or plane.dtype == bool:
        for c, src in enumerate(sources):
            if src is not None:
                out[:, :, c] = plane[:, :, src] * (255 if plane.dtype == bool else 1)
        return out
    if not np.issubdtype(plane.dtype, np.number) or np.issubdtype(plane.dtype, np.complexfloating):
        raise ImageReadError(f"{label}: unsupported pixel type {plane.dtype}")
    ranges = [_percentiles(plane[:, :, c]) for c in range(min(channels, 3))]
    if all(r is None for r in ranges):
        raise ImageReadError(f"{label}: the image has no finite pixel value (all NaN or infinite)")
    for c, src in enumerate(sources):
        if src is None:
            continue
        if c > 0 and src == sources[c - 1]:
            out[:, :, c] = out[:, :, c - 1]
        else:
            _rescale_into(plane[:, :, src], ranges[src], out[:, :, c])
    return out


def _percentiles(ch: np.ndarray):
    """The 0.1st and 99.9th percentile of a channel's finite values (as float32, like the scaling), or None."""
    step = max(1, math.ceil(math.sqrt(ch.size / EXACT_PERCENTILE_VALUES)))
    sample = ch[::step, ::step].astype(np.float32)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, (0.1, 99.9), overwrite_input=True)
    return lo, hi


def _rescale_into(ch: np.ndarray, bounds, out: np.ndarray) -> None:
    """Map ``lo..hi`` onto 0..255, a slice of rows at a time. A flat channel is black, or white if non-zero."""
    if bounds is None:
        out[:] = 0
        return
    lo, hi = bounds
    if hi <= lo:
        out[:] = 255 if lo > 0 else 0
        return
    scale = 255.0 / (hi - lo)
    rows = max(1, CHUNK_VALUES // max(1, ch.shape[1]))
    for r in range(0, ch.shape[0], rows):
        part = (np.nan_to_num(ch[r:r + rows].astype(np.float32), nan=lo) - lo) * scale
        out[r:r + rows] = np.clip(part + 0.5, 0, 255).astype(np.uint8)
