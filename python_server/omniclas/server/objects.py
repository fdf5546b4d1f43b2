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
from ..data.objects import FieldObjects, ObjectOptions, crop_name, match_by_name, object_rows, read_field
from ..errors import ConfigError, ImageReadError
from .uploads import budget_for

OPTION_FIELDS = ("padding", "mask_outside", "min_area", "exclude_border")
OBJECT_FIELDS = ("labels", *OPTION_FIELDS)
SUMMARY_FILE = "objects.json"
objects_bp = Blueprint("objects", __name__)


def wants_objects() -> bool:
    """True when the request classifies objects (label images or object options sent)."""
    _files_only()
    return bool(request.files.getlist("labels")) or any(k in request.form for k in OPTION_FIELDS)


def _files_only() -> None:
    for key in ("images", "labels"):
        if key in request.form:
            raise ConfigError(f"'{key}' must be sent as files (multipart file parts), not as text", field=key)


def object_options(form) -> ObjectOptions:
    """The object options of a form, each checked and named in its error."""
    def number(key, kind, default):
        text = form.get(key)
        if text is None:
            return default
        try:
            return kind(text.strip())
        except ValueError:
            raise ConfigError(f"{key} must be a {'whole ' if kind is int else ''}number, got {text!r}",
                              field=key) from None

    border = form.get("exclude_border", "false").strip().lower()
    if border not in ("true", "false"):
        raise ConfigError(f"exclude_border must be true or false, got {form.get('exclude_border')!r}",
                          field="exclude_border")
    return ObjectOptions(padding=number("padding", float, ObjectOptions.padding),
                         mask_outside=form.get("mask_outside", "none").strip(),
                         min_area=number("min_area", int, 0), exclude_border=border == "true")


def paired_uploads(config) -> tuple[list[tuple], list]:
    """``([(name, image file, label file or None)], [label files of no image])``: label images matched to the
    images by name, else by order. An image without a label image, or a label image without an image, gets an
    error row: a schema-valid request is answered whole."""
    images, labels = request.files.getlist("images"), request.files.getlist("labels")
    if not images:
        raise ConfigError("attach one or more image files in the form field 'images'", field="images")
    for key, files in (("images", images), ("labels", labels)):
        if len(files) > config["MAX_FILES"]:
            raise ConfigError(f"{len(files)} files in '{key}' in one request; the limit is {config['MAX_FILES']}",
                              field=key)
    names = [f.filename or f"image {i + 1}" for i, f in enumerate(images)]
    order = match_by_name(names, [f.filename or "" for f in labels]) or list(range(min(len(images), len(labels))))
    order += [None] * (len(images) - len(order))
    pairs = [(name, image, None if j is None else labels[j]) for name, image, j in zip(names, images, order)]
    return pairs, [f for j, f in enumerate(labels) if j not in order]


def read_uploads(config, options: ObjectOptions) -> list[list[FieldObjects] | dict]:
    """The objects of each uploaded image, or ``{"image", "error"}`` for an image whose files cannot be read or
    paired. Limits of the request raise (413)."""
    budget, limit = budget_for(config), ObjectLimit(int(config["MAX_OBJECTS"]))
    pairs, unpaired = paired_uploads(config)
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


def predict_objects(registry, ref: str, config) -> dict:
    """The answer of ``POST /predict`` with label images: one result per object (or per unreadable image)."""
    from ..registry.manifest import input_size
    from ..registry.store import Registry

    options = object_options(request.form)
    name, version, manifest, model = registry.load(ref)
    results, summaries = [], []
    for item in read_uploads(config, options):
        if isinstance(item, dict):
            results.append(item)
            continue
        results += object_rows(item, lambda crops: Registry.classify(model, crops), size=input_size(manifest))
        summaries += [f.summary() for f in item]
    return {"model": name, "version": version, "results": results, "objects": summaries}


@objects_bp.post("/crops")
def crops():
    """A zip of one PNG per classified object, and objects.json: the crops with their object fields, each field's
    summary, and the images that gave no crops with the reason (``errors``)."""
    from PIL import Image

    config = current_app.config
    unknown = sorted((set(request.form) | set(request.files)) - {"images", *OBJECT_FIELDS})
    if unknown:
        raise ConfigError(f"unknown form field(s): {', '.join(unknown)}; send 'images' and 'labels'",
                          field=unknown[0])
    _files_only()
    options = object_options(request.form)
    buf = io.BytesIO()
    listing = {"crops": [], "objects": [], "errors": []}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for item in read_uploads(config, options):
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


def openapi_parts(max_files: int) -> dict:
    """What the OpenAPI document says of objects: the form fields of /predict and /crops, the schemas of an
    object's result and of a field's summary, and the /crops answer."""
    from ..data.objects import MASK_OUTSIDE, MAX_PADDING

    binary = {"type": "string", "format": "binary"}
    form = {
        "labels": {"type": "array", "maxItems": max_files, "items": {
            **binary, "description": "a label image per image (PNG or TIFF, one channel of integers: 0 = background, "
                                     "n = object n), matched by name (the image's stem, or with _masks, _cp_masks, "
                                     "_labels), else by order"}},
        "padding": {"type": "number", "minimum": 0, "maximum": MAX_PADDING,
                    "description": "context around each object, as a fraction of its box (default 0: the bounding box)"},
        "mask_outside": {"type": "string", "enum": list(MASK_OUTSIDE),
                         "description": "pixels of a crop outside its object: none (default), dim or blank"},
        "min_area": {"type": "integer", "minimum": 0,
                     "description": "objects with fewer pixels get a result with an error instead of a class"},
        "exclude_border": {"type": "boolean", "description": "objects touching the border get an error, no class"},
    }
    integer, number = {"type": "integer"}, {"type": "number"}
    schemas = {
        "ObjectResult": {"type": "object", "required": ["image"], "description": (
            "one object of a label image (or an image whose files could not be read: image and error only)"),
            "properties": {
                "image": {"type": "string"}, "slice": {**integer, "minimum": 1},
                "object": {**integer, "minimum": 1, "description": "its label value"},
                "x": number, "y": number, "bbox_x": integer, "bbox_y": integer, "bbox_width": integer,
                "bbox_height": integer, "area": integer,
                "border": {"type": "boolean", "description": "it touches the border of the image"},
                "class": {"type": "string"}, "confidence": number,
                "probabilities": {"type": "object", "additionalProperties": number},
                "top": {"type": "array", "items": {"type": "object"}},
                "error": {"type": "string", "description": "why it has no class"}}},
        "ObjectSummary": {"type": "object", "properties": {
            "image": {"type": "string"}, "labels": {"type": "string"}, "slice": integer, "objects": integer,
            "classified": integer, "border": integer, "below_min_area": integer,
            "absent_values": {**integer, "description": "label values between 1 and the largest that no pixel has"},
            "absent_first": {"type": "array", "items": integer}, "binary_mask": {"type": "boolean"}}},
    }
    crops_body = {"multipart/form-data": {"schema": {
        "type": "object", "required": ["images"], "additionalProperties": False,
        "properties": {"images": {"type": "array", "minItems": 1, "maxItems": max_files, "items": binary}, **form}}}}
    crops_answer = {"200": {"description": f"a zip: <image stem>__obj<object>.png per object, and {SUMMARY_FILE} "
                                           "(crops with their object fields, summaries, errors)",
                            "content": {"application/zip": {"schema": binary}}},
                    "413": {"description": "images, label images or objects over the server's limits",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
    return {"form": form, "schemas": schemas, "crops_body": crops_body, "crops_answer": crops_answer}
