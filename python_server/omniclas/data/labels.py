"""Read a label image (0 = background, n > 0 = object n) and find its objects.

A label image has the size of its image and one channel of integers: 8, 16, 32 or 64-bit, PNG or TIFF, as
Cellpose, StarDist, ilastik and Fiji (Analyze Particles > Count Masks, MorphoLibJ) write them. Refused, naming the
file: a float or multi-channel image, negative values, a JPEG (lossy compression changes label values), and no
object at all. One special case is recognised: a label image holding one value whose pixels form several
separate regions is a binary mask, and its 8-connected regions become the objects (numbered in reading order).

Decoding stays within a :class:`~omniclas.data.imageio.Budget` like any image: pixels per image, memory per image
and per request, pages per request.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from ..errors import ImageReadError
from .imageio import TIFF_MAGIC, Budget, ImageTooLarge, check_png_complete, source_bytes, tiff_series, values_and_rows

LABEL_FORMATS = "PNG or TIFF"
_PIL_LABEL_MODES = {"1": np.bool_, "L": np.uint8, "P": np.uint8, "I;16": np.uint16, "I;16B": np.uint16,
                    "I;16L": np.uint16, "I;16N": np.uint16, "I": np.int32}
DENSE_VALUES = 1 << 24  # up to this largest value, objects are counted with one bincount
ABSENT_SHOWN = 10  # absent label values named in messages


@dataclass
class FieldObject:
    """One object of a label image. ``box``: (row slice, column slice) of its bounding box; ``key``: its id in
    :attr:`LabelPlane.ids` (its label value, unless the values were renumbered)."""

    value: int
    key: int
    box: tuple[slice, slice]
    x: float
    y: float
    area: int
    border: bool
    skipped: str | None = None  # why it is not classified (below the minimum area, on the border)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        rows, cols = self.box
        return cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start

    def fields(self) -> dict:
        """The object's columns of a result (docs/objects.md): id, centroid, bounding box, area, border."""
        bx, by, bw, bh = self.bbox
        return {"object": self.value, "x": round(self.x, 2), "y": round(self.y, 2), "bbox_x": bx, "bbox_y": by,
                "bbox_width": bw, "bbox_height": bh, "area": self.area, "border": self.border}


@dataclass
class LabelPlane:
    """The objects found in one label plane; ``ids`` holds each object's ``key`` on its pixels."""

    ids: np.ndarray
    objects: list[FieldObject]
    absent_count: int  # label values between 1 and the largest that no pixel has
    absent_first: list[int]
    binary_mask: bool  # the file held one value; its connected regions were numbered

    def absent_text(self) -> str:
        shown = ", ".join(str(v) for v in self.absent_first)
        more = self.absent_count - len(self.absent_first)
        return f"label value{'s' if self.absent_count > 1 else ''} {shown}{f' and {more} more' if more else ''} absent"


# ------------------------------------------------------------------------------------------------ reading
def read_labels(source, name: str | None = None, budget: Budget | None = None, field: str | None = "labels"
                ) -> list[np.ndarray]:
    """Every page of a label image as a 2-D integer array (a path or bytes), within ``budget``.

    Raises:
        ImageReadError: naming the file: unreadable, a float or multi-channel image, negative values, JPEG.
        ImageTooLarge: over a limit of ``budget`` (HTTP 413).
    """
    budget = budget or Budget()
    label, data = source_bytes(source, name, field, unnamed="uploaded label image")
    try:
        pages = _tiff_labels(data, label, budget, field) if data[:4] in TIFF_MAGIC else \
            _pil_labels(data, label, budget, field)
    except ImageReadError:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{label}: label image has more than {budget.max_pixels} pixels", field=field) from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{label}: not a readable {LABEL_FORMATS} label image", field=field) from None
    except (OSError, ValueError, SyntaxError, IndexError, KeyError, TypeError, MemoryError) as err:
        raise ImageReadError(f"{label}: not a readable {LABEL_FORMATS} label image "
                             f"({type(err).__name__}: corrupt or truncated file)", field=field) from None
    for page in pages:
        _check_values(page, label, field)
    return pages


def _pil_labels(data: bytes, label: str, budget: Budget, field) -> list[np.ndarray]:
    with Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "BMP")) as src:
        if src.format == "JPEG":
            raise ImageReadError(f"{label}: a label image cannot be a JPEG (lossy compression changes the label "
                                 f"values); save it as PNG or TIFF", field=field)
        dtype = _PIL_LABEL_MODES.get(src.mode)
        if dtype is None:
            what = "float" if src.mode == "F" else f"{len(src.getbands())}-channel ({src.mode})"
            raise ImageReadError(f"{label}: a label image has one channel of integers (0 = background, n = object "
                                 f"n); this one is {what}", field=field)
        w, h = src.size
        nbytes = h * w * np.dtype(dtype).itemsize
        budget.admit(label, h, w, nbytes + values_and_rows(h, w, np.dtype(dtype).itemsize), field)
        budget.add_pages(1, label, field)
        budget.add_decoded(nbytes, label, field)
        if src.format == "PNG":
            check_png_complete(data, label, field)
        src.load()
        return [np.asarray(src).astype(dtype, copy=False)]


def _tiff_labels(data: bytes, label: str, budget: Budget, field) -> list[np.ndarray]:
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        series = tiff_series(tif, label, budget, False, field)[0]
        axes = series.axes.upper()
        if "Y" not in axes or "X" not in axes:
            raise ImageReadError(f"{label}: TIFF has no image plane (axes {axes})", field=field)
        dims = dict(zip(axes, (int(n) for n in series.shape)))
        channels = math.prod(n for a, n in dims.items() if a in "CS")
        if channels > 1:
            raise ImageReadError(f"{label}: a label image has one channel of integers; this one has {channels} "
                                 f"channels", field=field)
        if not (np.issubdtype(series.dtype, np.integer) or series.dtype == np.bool_):
            raise ImageReadError(f"{label}: a label image holds integers (0 = background, n = object n); this one "
                                 f"is {series.dtype} (in Fiji: Image > Type > 16-bit, or save the labels as "
                                 f"integers)", field=field)
        h, w = dims["Y"], dims["X"]
        n_pages = math.prod(n for a, n in dims.items() if a not in "YXCS")
        budget.admit(label, h, w, 2 * h * w * series.dtype.itemsize, field)
        budget.add_pages(n_pages, label, field)
        budget.add_decoded(n_pages * h * w * series.dtype.itemsize, label, field)
        arr = series.asarray()
    order = [i for i, a in enumerate(axes) if a not in "YX"] + [axes.index("Y"), axes.index("X")]
    arr = np.transpose(arr, order).reshape(n_pages, h, w)
    return [arr[i] for i in range(n_pages)]


def _check_values(page: np.ndarray, label: str, field) -> None:
    if page.dtype == np.bool_:
        return
    if np.issubdtype(page.dtype, np.signedinteger) and page.size and int(page.min()) < 0:
        raise ImageReadError(f"{label}: a label image has no negative values (0 = background, n = object n); "
                             f"this one goes down to {int(page.min())}", field=field)


# ------------------------------------------------------------------------------------------------ objects
def find_objects(page: np.ndarray, label: str, max_objects: int | None = None, field: str | None = "labels"
                 ) -> LabelPlane:
    """The objects of one label plane: bounding box (scipy.ndimage.find_objects), centroid, area, border.

    Raises:
        ImageReadError: no object at all.
        ImageTooLarge: more than ``max_objects`` objects (HTTP 413).
    """
    ids = page.view(np.uint8) if page.dtype == np.bool_ else page
    largest = int(ids.max()) if ids.size else 0
    if largest == 0:
        raise ImageReadError(f"{label}: no objects (every pixel is 0, the background)", field=field)
    if largest < DENSE_VALUES:
        areas = np.bincount(ids.ravel(), minlength=largest + 1)
        values = keys = np.flatnonzero(areas[1:]) + 1
    else:  # a few huge label values: find_objects gets them numbered 1..n
        values, inverse = np.unique(ids, return_inverse=True)
        ids = inverse.reshape(ids.shape) + (0 if values[0] == 0 else 1)
        values = values[values > 0]
        keys = np.arange(1, len(values) + 1)
        areas = np.bincount(ids.ravel(), minlength=len(values) + 1)
    binary = False
    if len(values) == 1:
        regions, n_regions = ndimage.label(ids > 0, structure=np.ones((3, 3), dtype=bool))
        if n_regions > 1:  # a binary mask: its separate regions are the objects
            ids, binary = regions, True
            values = keys = np.arange(1, n_regions + 1)
            areas = np.bincount(regions.ravel(), minlength=n_regions + 1)
    _check_count(len(values), label, max_objects, field)
    boxes = ndimage.find_objects(ids, max_label=int(keys[-1]))
    centres = ndimage.center_of_mass(ids > 0, ids, keys)
    h, w = ids.shape
    objects = []
    for value, key, (cy, cx) in zip(values, keys, centres):
        box = boxes[int(key) - 1]
        border = box[0].start == 0 or box[1].start == 0 or box[0].stop == h or box[1].stop == w
        objects.append(FieldObject(int(value), int(key), box, float(cx), float(cy), int(areas[key]), bool(border)))
    absent_count, absent_first = _absent(values)
    return LabelPlane(ids, objects, absent_count, absent_first, binary)


def _check_count(n: int, label: str, max_objects: int | None, field) -> None:
    if max_objects is not None and n > max_objects:
        raise ImageTooLarge(f"{label}: {n} objects, more than the limit of {max_objects} objects per request; "
                            f"is it really a label image? (split the field, or raise the limit)", field=field)


def _absent(values: np.ndarray) -> tuple[int, list[int]]:
    """How many values between 1 and the largest are absent, and the first few of them."""
    count = int(values[-1]) - len(values)
    first: list[int] = []
    if count:
        edges = np.concatenate([[0], values])
        for at in np.flatnonzero(np.diff(edges) > 1)[:ABSENT_SHOWN]:
            start, stop = int(edges[at]) + 1, int(edges[at + 1])
            first += range(start, min(stop, start + ABSENT_SHOWN - len(first)))
            if len(first) >= ABSENT_SHOWN:
                break
    return count, first


class ObjectLimit:
    """Objects counted over one request (the server's MAX_OBJECTS; the CLI's --max-objects per image)."""

    def __init__(self, max_objects: int | None):
        self.max_objects = max_objects
        self.count = 0

    def left(self) -> int | None:
        return None if self.max_objects is None else max(0, self.max_objects - self.count)

    def add(self, n: int, label: str, field: str | None = "labels") -> None:
        self.count += n
        if self.max_objects is not None and self.count > self.max_objects:
            raise ImageTooLarge(f"{label}: the label images of this request hold {self.count} objects, more than "
                                f"the limit of {self.max_objects} objects per request; send fewer fields per "
                                f"request", field=field)
