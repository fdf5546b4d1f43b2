"""Objects of a field, from its label image: one crop per object, classified like any image (docs/objects.md).

* **The crop** is the object's bounding box widened on each side by ``padding`` times the box's side (its width
  left and right, its height above and below), clipped at the field's edge. ``mask_outside``: ``none`` keeps the
  context, ``dim`` shows the pixels outside the object at a quarter of their brightness, ``blank`` makes them black.
* **Pixels.** The field is converted to 8-bit RGB once, by the rule of every image (:func:`imageio.to_rgb8`: bit
  depth, channels), so a dim cell stays dim beside a bright one; each crop is then squashed to the model's input
  size like any image. ``omniclas crops`` writes exactly these crops, so a model trained on them sees the same
  pixels when it classifies the field.
* **Reported, never dropped:** objects touching the field's edge are classified and flagged ``border`` (or skipped
  with ``exclude_border``); objects under ``min_area`` pixels get a row saying why they were not classified;
  label values missing between 1 and the largest are counted; a label image without objects is an error row.
* **Stacks:** a label image with one page per page of the image pairs them page by page (``slice``).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ConfigError, ImageReadError
from .imageio import IMAGE_SUFFIXES, Budget, iter_pages
from .labels import FieldObject, LabelPlane, ObjectLimit, find_objects, read_labels

MASK_OUTSIDE = ("none", "dim", "blank")
DIM = 0.25  # brightness kept outside the object with mask_outside=dim
DEFAULT_PADDING = 0.0  # the bounding box, as crops are usually cut: benchmarks/results/objects.md
MAX_PADDING = 4.0
# file names of label images beside their image: "<stem><suffix>.png|tif" (Cellpose writes _cp_masks)
LABEL_SUFFIXES = ("_cp_masks", "_masks", "_mask", "_labels", "_label")
LABEL_FILE_SUFFIXES = (".png", ".tif", ".tiff")
OBJECT_COLUMNS = ("object", "x", "y", "bbox_x", "bbox_y", "bbox_width", "bbox_height", "area")


@dataclass(frozen=True)
class ObjectOptions:
    padding: float = DEFAULT_PADDING
    mask_outside: str = "none"
    min_area: int = 0
    exclude_border: bool = False

    def __post_init__(self):
        if not (isinstance(self.padding, (int, float)) and 0 <= self.padding <= MAX_PADDING):
            raise ConfigError(f"padding must be a number from 0 to {MAX_PADDING:g} (a fraction of the object's "
                              f"box), got {self.padding!r}", field="padding")
        if self.mask_outside not in MASK_OUTSIDE:
            raise ConfigError(f"mask_outside must be one of {', '.join(MASK_OUTSIDE)}, got {self.mask_outside!r}",
                              field="mask_outside")
        if not (isinstance(self.min_area, int) and self.min_area >= 0):
            raise ConfigError(f"min_area must be a whole number of pixels, 0 or more, got {self.min_area!r}",
                              field="min_area")


@dataclass
class FieldObjects:
    """The objects of one field (one page of an image) with the field's pixels, ready to crop."""

    image: str
    labels: str
    slice: int | None  # page of a stack, None for a plain image
    rgb: np.ndarray
    found: LabelPlane
    options: ObjectOptions

    @property
    def objects(self) -> list[FieldObject]:
        return self.found.objects

    def classified(self) -> list[FieldObject]:
        return [o for o in self.objects if o.skipped is None]

    def crop(self, obj: FieldObject, size: tuple[int, int] | None = None) -> np.ndarray:
        """The object's crop (``HxWx3`` uint8), squashed to ``size`` ``(h, w)`` when given."""
        y0, y1, x0, x1 = crop_box(obj, self.rgb.shape[:2], self.options.padding)
        out = self.rgb[y0:y1, x0:x1]
        if self.options.mask_outside != "none":
            outside = self.found.ids[y0:y1, x0:x1] != obj.key
            out = out.copy()
            out[outside] = 0 if self.options.mask_outside == "blank" else (out[outside] * DIM + 0.5).astype(np.uint8)
        return squash(out, size)

    def summary(self) -> dict:
        """Counts for the API's ``objects`` list and the CLI's report line."""
        out = {"image": self.image, "labels": self.labels}
        if self.slice is not None:
            out["slice"] = self.slice
        objs = self.objects
        out.update(objects=len(objs), classified=sum(o.skipped is None for o in objs),
                   border=sum(o.border for o in objs),
                   below_min_area=sum(o.area < self.options.min_area for o in objs),
                   absent_values=self.found.absent_count, absent_first=self.found.absent_first,
                   binary_mask=self.found.binary_mask)
        return out

    def notes(self) -> list[str]:
        """What a user should know about this field, one phrase each (empty when nothing is special)."""
        s, notes = self.summary(), []
        if s["binary_mask"]:
            notes.append(f"one value only: read as a binary mask, its {s['objects']} separate regions are the objects")
        if s["border"]:
            what = "skipped (exclude_border)" if self.options.exclude_border else "classified, flagged border"
            notes.append(f"{s['border']} on the border ({what})")
        if s["below_min_area"]:
            notes.append(f"{s['below_min_area']} below the minimum area of {self.options.min_area} px (not classified)")
        if s["absent_values"]:
            notes.append(self.found.absent_text())
        return notes


def squash(crop: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """A crop squashed to ``size`` ``(h, w)`` (bilinear, as the models' preprocessing), or as it is."""
    if size is not None and crop.shape[:2] != tuple(size):
        crop = np.asarray(Image.fromarray(crop).resize((size[1], size[0]), Image.BILINEAR))
    return np.ascontiguousarray(crop)


def crop_box(obj: FieldObject, shape: tuple[int, int], padding: float) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the bounding box plus ``padding`` x its side on each side, within the field."""
    rows, cols = obj.box
    pad_y, pad_x = int(padding * (rows.stop - rows.start) + 0.5), int(padding * (cols.stop - cols.start) + 0.5)
    return (max(0, rows.start - pad_y), min(shape[0], rows.stop + pad_y),
            max(0, cols.start - pad_x), min(shape[1], cols.stop + pad_x))


def mark_skipped(found: LabelPlane, options: ObjectOptions) -> None:
    for obj in found.objects:
        if obj.area < options.min_area:
            obj.skipped = f"area {obj.area} px is below the minimum area of {options.min_area} px (not classified)"
        elif obj.border and options.exclude_border:
            obj.skipped = "touches the border of the image (not classified: exclude_border)"


def pair_pages(rgb_pages: list[np.ndarray], label_pages: list[np.ndarray], image: str, labels: str,
               options: ObjectOptions, limit: ObjectLimit | None = None, field: str = "labels") -> list[FieldObjects]:
    """Pair an image's pages with its label image's pages and find the objects of each."""
    if len(label_pages) != len(rgb_pages):
        raise ImageReadError(f"{labels}: {len(label_pages)} label page(s) for the {len(rgb_pages)} page(s) of "
                             f"{image}; give one label page per page", field=field)
    out = []
    for page_no, (rgb, plane) in enumerate(zip(rgb_pages, label_pages), 1):
        if plane.shape != rgb.shape[:2]:
            raise ImageReadError(f"{labels}: the label image is {plane.shape[1]} x {plane.shape[0]} pixels, its image "
                                 f"{image} is {rgb.shape[1]} x {rgb.shape[0]}; they must have the same size",
                                 field=field)
        name = labels if len(label_pages) == 1 else f"{labels} page {page_no}"
        found = find_objects(plane, name, limit.left() if limit else None, field)
        if limit:
            limit.add(len(found.objects), name, field)
        mark_skipped(found, options)
        out.append(FieldObjects(image, labels, page_no if len(rgb_pages) > 1 else None, rgb, found, options))
    return out


def read_field(image_source, labels_source, image_name: str, labels_name: str, options: ObjectOptions,
               budget: Budget | None = None, limit: ObjectLimit | None = None) -> list[FieldObjects]:
    """Read an image (path, bytes or array) and its label image (path, bytes or 2-D array); find the objects.

    Raises:
        ImageReadError: naming the file (unreadable, wrong size, not a label image, no objects).
        ImageTooLarge: over a limit of ``budget`` or ``limit`` (HTTP 413).
    """
    from .imageio import to_rgb8

    budget = budget or Budget()
    if isinstance(image_source, np.ndarray):
        rgb_pages = [to_rgb8(image_source, image_name)]
    else:
        rgb_pages = list(iter_pages(image_source, image_name, budget, field="images"))
    if isinstance(labels_source, np.ndarray):
        if labels_source.ndim != 2 or not (np.issubdtype(labels_source.dtype, np.integer)
                                           or labels_source.dtype == np.bool_):
            raise ImageReadError(f"{labels_name}: a label image is a 2-D array of integers, got "
                                 f"{labels_source.dtype} {labels_source.shape}", field="labels")
        label_pages = [labels_source]
    else:
        label_pages = read_labels(labels_source, labels_name, budget)
    return pair_pages(rgb_pages, label_pages, image_name, labels_name, options, limit)


def object_rows(fields: list[FieldObjects], classify, size: tuple[int, int] | None = None, chunk: int = 64
                ) -> list[dict]:
    """One row per object, in label order: ``{"image", ["slice"], object fields, **classify(crop)}``, or the
    object fields and ``"error"`` for an object not classified. ``classify``: list of crops -> list of dicts.

    Crops with the same pixels are classified once (thousands of one-pixel objects hold a few hundred distinct
    crops at most): a request costs a model run per distinct crop, batched ``chunk`` at a time, so memory holds
    one chunk of crops and the results of the distinct ones."""
    results: dict[bytes, dict] = {}  # by crop content
    pending: dict[bytes, np.ndarray] = {}

    def flush():
        if pending:
            results.update(zip(pending, classify(list(pending.values()))))
            pending.clear()

    rows = []
    for f in fields:
        head = {"image": f.image, **({"slice": f.slice} if f.slice is not None else {})}
        keys = {}
        for obj in f.classified():
            crop = f.crop(obj)
            key = hashlib.blake2b(repr(crop.shape).encode() + crop.tobytes(), digest_size=16).digest()
            keys[obj.value] = key
            if key not in results and key not in pending:
                pending[key] = squash(crop, size)
                if len(pending) >= chunk:
                    flush()
        flush()
        for obj in f.objects:
            row = {**head, **obj.fields()}
            if obj.skipped is not None:
                row["error"] = f"{f.image}: object {obj.value}: {obj.skipped}"
            else:
                row.update(results[keys[obj.value]])
            rows.append(row)
    return rows


def crop_name(image: str, value: int, slice_no: int | None = None) -> str:
    """``<image stem>__obj<object>.png`` (``<stem>__s<slice>__obj<object>.png`` for a page of a stack): the name
    of an object's crop, from which a label given to the crop maps back to the object."""
    stem = re.sub(r'[\x00-\x1f/\\:*?"<>|]', "_", Path(image.replace("\\", "/")).stem).lstrip(".") or "image"
    return f"{stem}__s{slice_no}__obj{value}.png" if slice_no else f"{stem}__obj{value}.png"


def label_stem(stem: str) -> str | None:
    """The image stem a label file name points to (``A01_cp_masks`` -> ``A01``), or None for a plain name."""
    for suffix in LABEL_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[:-len(suffix)]
    return None


def label_candidates(image: Path, folder: Path) -> list[Path]:
    """The label images of ``image`` in ``folder``: same stem, optionally with a suffix of LABEL_SUFFIXES,
    as .png, .tif or .tiff (never the image itself)."""
    found = []
    for suffix in ("",) + LABEL_SUFFIXES:
        for ext in LABEL_FILE_SUFFIXES:
            for name in {f"{image.stem}{suffix}{ext}", f"{image.stem}{suffix}{ext.upper()}"}:
                path = folder / name
                if path.is_file() and path.resolve() != image.resolve():
                    found.append(path)
    return sorted(set(found))


def match_label_file(image: Path, labels: Path) -> Path:
    """The label image of ``image``: ``labels`` itself when it is a file, else the one match in that folder.

    Raises:
        ImageReadError: none or several matches, naming what was looked for.
    """
    if not labels.is_dir():
        return labels
    found = label_candidates(image, labels)
    if len(found) == 1:
        return found[0]
    if not found:
        looked = ", ".join(f"{image.stem}{s}" for s in ("",) + LABEL_SUFFIXES)
        raise ImageReadError(f"{image}: no label image in {labels} (looked for {looked} as .png/.tif)",
                             field="labels")
    raise ImageReadError(f"{image}: several label images in {labels}: {', '.join(p.name for p in found)}; keep one",
                         field="labels")


def match_by_name(images: list[str], labels: list[str]) -> list[int] | None:
    """For each image name, the index of its label file name (same stem, optionally with a label suffix), or
    None when the names do not pair one to one."""
    stems = {}
    for i, name in enumerate(labels):
        stem = Path(name).stem
        for key in {stem, label_stem(stem)} - {None}:
            stems.setdefault(key, []).append(i)
    out = []
    for name in images:
        hits = stems.get(Path(name).stem, [])
        if len(hits) != 1:
            return None
        out.append(hits[0])
    return out if len(set(out)) == len(out) else None


def is_label_file(path: Path) -> bool:
    """A file named like a label image (``*_masks.png``, ``*_labels.tif``, ...): left out when a folder of
    images is expanded for objects, since Cellpose writes its masks beside the images."""
    return path.suffix.lower() in LABEL_FILE_SUFFIXES and label_stem(path.stem) is not None


__all__ = ["crop_name", "ObjectOptions", "FieldObjects", "FieldObject", "ObjectLimit", "read_field", "pair_pages",
           "object_rows", "match_label_file", "match_by_name", "is_label_file", "crop_box", "IMAGE_SUFFIXES",
           "OBJECT_COLUMNS", "MASK_OUTSIDE", "DEFAULT_PADDING", "read_labels"]
