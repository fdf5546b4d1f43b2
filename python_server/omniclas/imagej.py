"""Classify ImageJ images (``ij.ImagePlus``) from a Python session that runs ImageJ in-process.

ImageJ runs through scyjava/JPype (plain ImageJ 1.x on the class path); an ImagePlus obtained through
pyimagej is the same Java object, so it works as well (pyimagej itself is optional and not imported here).

    import scyjava
    scyjava.config.add_classpath("/usr/share/java/ij.jar")
    scyjava.start_jvm()
    IJ = scyjava.jimport("ij.IJ")
    imp = IJ.openImage("cell.tif")
    from omniclas.imagej import classify_imageplus
    from omniclas.model.predictor import Predictor
    rows = classify_imageplus(imp, Predictor.load("models/gfp/1"))

Each plane of the image (every slice of a stack; for a multi-channel hyperstack every Z/T position with all its
channels) becomes one numpy array with the raw pixel values (8-bit, 16-bit, 32-bit or RGB), then goes through
the same bit-depth and channel rule as image files (:func:`omniclas.data.imageio.to_rgb8`) before prediction.

Objects (docs/objects.md): :func:`classify_objects` classifies each ROI (a ``RoiManager`` or a list of ``Roi``)
or each object of a label ``ImagePlus`` in the current plane of an image, one row per object, as Fiji's Classify
Image with ``objects=`` does: ROIs are drawn into label images (ROI n = value n; overlapping ROIs in separate
layers) and cropped by :mod:`omniclas.data.objects`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["imageplus_planes", "classify_imageplus", "roi_label_layers", "classify_objects"]


def _is_imageplus(obj) -> bool:
    return all(hasattr(obj, name) for name in ("getStack", "getBitDepth", "getNChannels"))


def _processor_to_numpy(ip, bit_depth: int) -> np.ndarray:
    """One ImageProcessor → ``HxW`` (8/16/32-bit, raw values) or ``HxWx3`` uint8 (RGB) array (a copy)."""
    width, height = int(ip.getWidth()), int(ip.getHeight())
    pixels = np.array(ip.getPixels())  # JPype primitive arrays support the buffer protocol: one bulk copy
    if bit_depth == 8:
        arr = pixels.view(np.uint8).reshape(height, width)
    elif bit_depth == 16:
        arr = pixels.view(np.uint16).reshape(height, width)
    elif bit_depth == 32:
        arr = pixels.astype(np.float32, copy=False).reshape(height, width)
    elif bit_depth == 24:
        packed = pixels.view(np.uint32).reshape(height, width)
        arr = np.stack([(packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF], axis=-1).astype(np.uint8)
    else:
        raise ValueError(f"unsupported ImageJ bit depth {bit_depth}")
    return np.ascontiguousarray(arr)


def imageplus_planes(imp) -> list[tuple[int, np.ndarray]]:
    """The planes of an ImagePlus as ``(plane number from 1, array)`` pairs, raw values.

    8-bit → uint8 ``HxW``, 16-bit → uint16 ``HxW``, 32-bit → float32 ``HxW``, RGB → uint8 ``HxWx3``;
    a multi-channel (non-RGB) hyperstack gives ``HxWxC`` per Z/T position (numbered Z fastest).
    """
    if not _is_imageplus(imp):
        raise TypeError(f"expected an ij.ImagePlus, got {type(imp).__name__}")
    bit_depth = int(imp.getBitDepth())
    stack = imp.getStack()
    channels = int(imp.getNChannels())
    if channels > 1 and bit_depth != 24:
        out = []
        n_z, n_t = int(imp.getNSlices()), int(imp.getNFrames())
        for t in range(1, n_t + 1):
            for z in range(1, n_z + 1):
                chans = [_processor_to_numpy(stack.getProcessor(int(imp.getStackIndex(c, z, t))), bit_depth)
                         for c in range(1, channels + 1)]
                out.append((len(out) + 1, np.stack(chans, axis=-1)))
        return out
    return [(n, _processor_to_numpy(stack.getProcessor(n), bit_depth))
            for n in range(1, int(stack.getSize()) + 1)]


def _top(probabilities: dict, k: int = 5) -> list[dict]:
    best = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)[:k]
    return [{"class": c, "probability": float(p)} for c, p in best]


def classify_imageplus(imp, predictor) -> list[dict]:
    """Classify every plane of an ImageJ ImagePlus.

    Args:
        imp: an ``ij.ImagePlus`` (from scyjava/JPype or pyimagej).
        predictor: an object with ``predict_images(list_of_arrays) -> list[dict]`` (``omniclas.model.predictor.Predictor``),
            or a model folder (str/Path), loaded with ``Predictor.load``.

    Returns:
        One dict per plane: the predictor's ``class``, ``confidence``, ``probabilities``, plus ``image`` (the
        ImagePlus title), ``slice`` (1..n) and ``top`` (up to 5 classes, best first), like the HTTP API's RESULT.
    """
    if isinstance(predictor, (str, Path)):
        from .model.predictor import Predictor

        predictor = Predictor.load(predictor)
    from .data.imageio import to_rgb8

    title = str(imp.getTitle()) if _is_imageplus(imp) else ""
    planes = imageplus_planes(imp)
    arrays = [to_rgb8(arr, f"{title} plane {n}") for n, arr in planes]
    results = predictor.predict_images(arrays) if arrays else []
    out = []
    for (n, _), res in zip(planes, results):
        row = dict(res)
        row["image"] = title
        row["slice"] = n
        row["confidence"] = float(row.get("confidence", 0.0))
        if "top" not in row and isinstance(row.get("probabilities"), dict):
            row["top"] = _top(row["probabilities"])
        out.append(row)
    return out


def _current_plane(imp) -> int:
    """The plane number :func:`imageplus_planes` gives the image's current position."""
    if int(imp.getNChannels()) > 1 and int(imp.getBitDepth()) != 24:
        return (int(imp.getT()) - 1) * int(imp.getNSlices()) + int(imp.getZ())
    return int(imp.getCurrentSlice())


def roi_label_layers(rois, width: int, height: int) -> list[np.ndarray]:
    """ROI i (from 0) drawn with value i + 1 into the first ``uint16`` layer where none of its pixels is taken."""
    layers: list[np.ndarray] = []
    for i, roi in enumerate(rois):
        b = roi.getBounds()
        x, y, w, h = int(b.x), int(b.y), int(b.width), int(b.height)
        mask = roi.getMask()
        inside = np.ones((h, w), dtype=bool) if mask is None else \
            np.array(mask.getPixels()).view(np.uint8).reshape(h, w) != 0
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        inside = inside[y0 - y:y1 - y, x0 - x:x1 - x]
        if not bool(roi.isArea()) or not inside.any():
            raise ValueError(f"ROI {i + 1} has no area inside the image: only area ROIs can be classified")
        for layer in layers:
            if not (layer[y0:y1, x0:x1][inside]).any():
                break
        else:
            layer = np.zeros((height, width), dtype=np.uint16)
            layers.append(layer)
        layer[y0:y1, x0:x1][inside] = i + 1
    return layers


def classify_objects(imp, objects, predictor, options=None) -> list[dict]:
    """Classify the objects of the current plane of an ImagePlus: one row per object, in object order.

    Args:
        imp: an ``ij.ImagePlus``.
        objects: a ``RoiManager`` (its ROIs), a list of ``Roi`` (object n = the n-th ROI), or a label
            ``ImagePlus`` (0 = background, n = object n) of the image's size.
        predictor: a :class:`~omniclas.model.predictor.Predictor` or a model folder.
        options: an :class:`~omniclas.data.objects.ObjectOptions` (padding, mask_outside, min_area, ...).

    Returns:
        The rows of :meth:`Predictor.predict_objects` with ``image`` (the title) and ``slice`` (the plane).
    """
    from .data.objects import ObjectOptions, object_rows, read_field

    if isinstance(predictor, (str, Path)):
        from .model.predictor import Predictor

        predictor = Predictor.load(predictor)
    title = str(imp.getTitle())
    plane_no = _current_plane(imp)
    plane = dict(imageplus_planes(imp))[plane_no]
    if _is_imageplus(objects):
        label_plane = dict(imageplus_planes(objects))[int(objects.getCurrentSlice())]
        if label_plane.dtype == np.float32:  # ImageJ's 32-bit label images: whole numbers as floats
            if not np.array_equal(label_plane, np.round(label_plane)) or label_plane.min() < 0:
                raise ValueError(f"{objects.getTitle()}: a label image holds whole numbers 0, 1, 2, ...")
            label_plane = label_plane.astype(np.int64)
        layers = [label_plane]
    else:
        rois = list(objects.getRoisAsArray()) if hasattr(objects, "getRoisAsArray") else list(objects)
        layers = roi_label_layers(rois, int(imp.getWidth()), int(imp.getHeight()))
    options = options or ObjectOptions()
    rows = []
    for labels in layers:
        fields = read_field(plane, labels, title, f"{title} objects", options)
        rows += object_rows(fields, predictor.predict_images, size=predictor.input_size)
    for row in rows:
        row["slice"] = plane_no
    return sorted(rows, key=lambda r: r["object"])
