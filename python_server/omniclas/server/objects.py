"""Objects in the HTTP API (docs/http-api.md, docs/objects.md).

- ``POST /predict`` with label images in the multipart part ``labels`` (one per image, matched by file name, else
  by order) answers one result per object, and an ``objects`` summary per image.
- ``POST /crops`` answers a zip of one PNG per object, named ``<image stem>__obj<object>.png`` as
  ``omniclas crops`` names them (Fiji's Label Images puts them into a dataset's ``unlabelled/``).

Label images count against every limit of the request's image budget (pixels and memory per image, decoded bytes
and pages per request, files per request), and all their objects together against ``MAX_OBJECTS``.
"""
from __future__ import annotations

import io
import json
import zipfile

from flask import Blueprint, current_app, request, send_file

from ..data.labels import ObjectLimit
from ..data.objects import (
    FieldObjects,
    ObjectOptions,
    crop_name,
    match_by_name,
    object_rows,
    read_field,
)
from ..errors import ConfigError, ImageReadError
from .answers import Error
from .openapi import Answers, validate
from .schemas import CropsForm
from .uploads import budget_for

SUMMARY_FILE = "objects.json"
objects_bp = Blueprint("objects", __name__)


def object_options(form) -> ObjectOptions:
    """The crop options of a checked form (:class:`~omniclas.server.schemas.ObjectsForm`)."""
    return ObjectOptions(padding=form.padding, mask_outside=form.mask_outside, min_area=form.min_area,
                         exclude_border=form.exclude_border)


def paired_uploads(config, form) -> tuple[list[tuple], list]:
    """``([(name, image file, label file or None)], [label files of no image])``: label images matched to the
    images by name, else by order. An image without a label image, or a label image without an image, gets an
    error row: a schema-valid request is answered whole."""
    images, labels = form.images, form.labels or []
    for key, files in (("images", images), ("labels", labels)):
        if len(files) > config["MAX_FILES"]:
            raise ConfigError(f"{len(files)} files in '{key}' in one request; the limit is {config['MAX_FILES']}",
                              field=key)
    names = [f.filename or f"image {i + 1}" for i, f in enumerate(images)]
    order = match_by_name(names, [f.filename or "" for f in labels]) or list(range(min(len(images), len(labels))))
    order += [None] * (len(images) - len(order))
    pairs = [(name, image, None if j is None else labels[j]) for name, image, j in zip(names, images, order)]
    return pairs, [f for j, f in enumerate(labels) if j not in order]


def read_uploads(config, form) -> list[list[FieldObjects] | dict]:
    """The objects of each uploaded image, or ``{"image", "error"}`` for an image whose files cannot be read or
    paired. Limits of the request raise (413)."""
    options = object_options(form)
    budget, limit = budget_for(config), ObjectLimit(int(config["MAX_OBJECTS"]))
    pairs, unpaired = paired_uploads(config, form)
    out = []
    for n, (name, image, labels) in enumerate(pairs, 1):
        if labels is None:
            out.append({"image": name, "error": f"{name}: no label image for it in the part 'labels' (one per "
                                                f"image: its name, or with _masks, _cp_masks, _labels; or in order)"})
            continue
        try:
            out.append(read_field(image.read(), labels.read(), name, labels.filename or f"label image {n}",
                                  options, budget, limit))
        except ImageReadError as err:
            if getattr(err, "http_status", None) == 413:
                raise
            out.append({"image": name, "error": str(err)})
    for f in unpaired:
        name = f.filename or "label image"
        out.append({"image": name, "error": f"{name}: a label image without an image (send one label image per "
                                            f"image, named like it or in the same order)"})
    return out


def predict_objects(registry, ref: str, config, form) -> dict:
    """The answer of ``POST /predict`` with label images: one result per object (or per unreadable image)."""
    from ..registry.manifest import input_size
    from ..registry.store import Registry

    name, version, manifest, model = registry.load(ref)
    results, summaries = [], []
    for item in read_uploads(config, form):
        if isinstance(item, dict):
            results.append(item)
            continue
        results += object_rows(item, lambda crops: Registry.classify(model, crops, form.unsure_threshold),
                               size=input_size(manifest))
        summaries += [f.summary() for f in item]
    return {"model": name, "version": version, "results": results, "objects": summaries}


@objects_bp.post("/crops")
@validate("models", Answers(HTTP_413=(Error, "images, label images or objects over the server's limits"), files={
    "HTTP_200": (f"a zip: <image stem>__obj<object>.png per object, and {SUMMARY_FILE} (the crops with their object "
                 "fields, each field's summary, the images that gave no crops and why)", {"application/zip": bytes})}),
          form=CropsForm)
def crops():
    """one PNG crop per object of label images, in a zip (what omniclas crops writes)"""
    from PIL import Image

    config = current_app.config
    buf = io.BytesIO()
    listing = {"crops": [], "objects": [], "errors": []}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for item in read_uploads(config, request.context.form):
            if isinstance(item, dict):
                listing["errors"].append(item)
                continue
            for f in item:
                listing["objects"].append(f.summary())
                for obj in f.classified():
                    png = io.BytesIO()
                    Image.fromarray(f.crop(obj)).save(png, format="PNG")
                    name = crop_name(f.image, obj.value, f.slice)
                    zf.writestr(name, png.getvalue())
                    listing["crops"].append({"file": name, "image": f.image, **obj.fields()})
        zf.writestr(SUMMARY_FILE, json.dumps(listing, indent=1))
    return send_file(io.BytesIO(buf.getvalue()), mimetype="application/zip", as_attachment=True,
                     download_name="crops.zip")
