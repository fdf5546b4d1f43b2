"""Registry commands: ``register``, ``models``, ``delete``, ``rename``, ``export``, ``import-onnx``,
``import-bioimageio`` and ``evaluate``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import OmniClasError


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("register", help="register a finished run folder as a model")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("name", metavar="NAME")
    models_root_arg(p)
    p.set_defaults(func=cmd_register)

    p = subparsers.add_parser("models", help="list registered models")
    p.add_argument("--framework", default=None, help="only models of this framework (omniclas, onnx, ...)")
    p.add_argument("--json", action="store_true", help="print JSON")
    models_root_arg(p)
    p.set_defaults(func=cmd_models)

    p = subparsers.add_parser("delete", help="delete a model (all versions) or one version (NAME@VERSION)")
    p.add_argument("name", metavar="NAME")
    models_root_arg(p)
    p.set_defaults(func=cmd_delete)

    p = subparsers.add_parser("rename", help="rename a model")
    p.add_argument("name", metavar="NAME")
    p.add_argument("new_name", metavar="NEW_NAME")
    models_root_arg(p)
    p.set_defaults(func=cmd_rename)

    p = subparsers.add_parser("export", help="export a model to ONNX for Java tools, or as a BioImage Model Zoo "
                                             "package (--format bioimageio)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("out", metavar="OUT", help="OUT.onnx, or OUT.zip for a BioImage Model Zoo package")
    p.add_argument("--format", choices=("onnx", "bioimageio"), default=None,
                   help="default: bioimageio for an OUT ending in .zip, else onnx")
    b = p.add_argument_group("bioimageio")
    b.add_argument("--author", action="append", default=None,
                   help="package author (repeatable; default: git config user.name)")
    b.add_argument("--license", default=None, help="SPDX licence of the package (default CC-BY-4.0)")
    b.add_argument("--sample-image", default=None, metavar="IMAGE",
                   help="image for the test tensors when the training images are not where the run left them")
    models_root_arg(p)
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("import-bioimageio", help="register a BioImage Model Zoo classifier package")
    p.add_argument("package", metavar="PACKAGE", help="the package's .zip, or its folder")
    p.add_argument("name", metavar="NAME")
    models_root_arg(p)
    p.set_defaults(func=cmd_import_bioimageio)

    p = subparsers.add_parser("import-onnx", help="register an external ONNX image classifier with its classes")
    p.add_argument("file", metavar="FILE.onnx")
    p.add_argument("classes", metavar="CLASSES.txt", help="class names, one per line, in output order")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--input-size", type=int, nargs="+", default=None, metavar="PX",
                   help="input size: one value (square) or H W (default: from the model)")
    p.add_argument("--mean", type=_floats3, default=None, help="normalisation mean of pixel/255 (default ImageNet's)")
    p.add_argument("--std", type=_floats3, default=None, help="normalisation std (default ImageNet's)")
    p.add_argument("--output", choices=("auto", "logits", "probabilities"), default="auto",
                   help="what the model outputs (default: auto-detect)")
    models_root_arg(p)
    p.set_defaults(func=cmd_import_onnx)

    p = subparsers.add_parser("evaluate", help="evaluate models on a labelled dataset folder")
    p.add_argument("dataset", metavar="DATASET", help="<dataset>/<class>/<image>")
    p.add_argument("--model", action="append", required=True, help="model name (repeatable)")
    p.add_argument("--measures", nargs="+", default=None,
                   help="measures (default: accuracy precision recall f1); see deepclas4bio-listMeasures")
    p.add_argument("--labels", default=None, help="class list file, one per line (default: the class folders)")
    p.add_argument("--json", action="store_true", help="print JSON")
    models_root_arg(p)
    p.set_defaults(func=cmd_evaluate)


def _registry(args):
    from ..registry import Registry

    return Registry(args.models_root)


def resolve_model(reg, ref: str, run_folders: bool, field: str = "model"):
    """``reg.resolve(ref)``; where no model has that name (a path such as ``runs/none`` never can), the error says
    what ``ref`` is not: a run folder (for commands that take one) and a model in the models folder."""
    from ..registry import InvalidName, ModelNotFound

    try:
        return reg.resolve(ref, field)
    except (InvalidName, ModelNotFound):
        if _known_name(reg, ref, field):  # the model exists, the version does not: the registry says so
            raise
    path = Path(ref)
    if not run_folders and (path / "manifest.json").is_file():
        raise OmniClasError(f"{ref} is a run folder, not a registered model; register it first: "
                            f"omniclas register {ref} NAME", field=field)
    what = "no run folder or registered model" if run_folders else "no registered model"
    where = f"{ref} is a file, not a run folder" if path.is_file() else f"there is no folder {path.absolute()}"
    raise OmniClasError(f"{what} named '{ref}': " + (f"{where}, and " if run_folders else "")
                        + f"the models folder {reg.root} has no model of that name (omniclas models lists them)",
                        field=field)


def _known_name(reg, ref: str, field: str) -> bool:
    from ..registry import InvalidName, parse_ref

    try:
        return bool(reg.versions(parse_ref(ref, field)[0]))
    except InvalidName:
        return False


def models_root_arg(p):
    p.add_argument("--models-root", default=None, metavar="DIR",
                   help="model registry folder (default: $OMNICLAS_MODELS, else ~/OmniClas/models, the folder Fiji's "
                        "server uses too)")


def _floats3(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three numbers, got '{text}'") from None
    if len(vals) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers, got '{text}'")
    return vals


def cmd_register(args) -> int:
    reg = _registry(args)
    m = reg.register(args.run_dir, args.name)
    acc = m["metrics"].get("test_accuracy")
    print(f"registered '{m['name']}' version {m['version']} ({m['backbone']}, classes: {', '.join(m['classes'])}"
          f"{f', test accuracy {acc:.3f}' if acc is not None else ''})")
    warning = classes_changed(reg, m)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def classes_changed(reg, m: dict) -> str | None:
    """Says so when a new version of a name classifies into other classes (or another order) than the one before:
    a script that reads ``NAME`` gets other columns from now on."""
    earlier = [v for v in reg.versions(m["name"]) if v < m["version"]]
    if not earlier:
        return None
    before = reg.model_info(f"{m['name']}@{earlier[-1]}")["classes"]
    if list(before) == list(m["classes"]):
        return None
    return (f"the classes of '{m['name']}' differ between version {earlier[-1]} ({', '.join(before)}) and version "
            f"{m['version']} ({', '.join(m['classes'])}); '{m['name']}' now means version {m['version']}: register it "
            f"under another name to keep them apart")


def cmd_models(args) -> int:
    reg = _registry(args)
    models = reg.list_models(args.framework)
    if args.json:
        print(json.dumps({"models": models}, indent=2))
        return 0
    if not models:
        print(f"no models in {reg.root}")
        return 0
    header = ("name", "ver", "framework", "backbone", "acc", "classes")
    rows = [(m["name"], str(m["version"]), m["framework"], str(m["backbone"] or "-"),
             f"{m['metrics']['test_accuracy']:.3f}" if m["metrics"].get("test_accuracy") is not None else "-",
             ", ".join(m["classes"])) for m in models]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]  # columns as wide as their cells
    for row in (header, *rows):
        cells = [c.rjust(w) if i in (1, 4) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells) + "  " + row[-1])
    return 0


def cmd_delete(args) -> int:
    reg = _registry(args)
    resolve_model(reg, args.name, run_folders=False)
    print(f"deleted {reg.delete(args.name)}")
    return 0


def cmd_rename(args) -> int:
    reg = _registry(args)
    resolve_model(reg, args.name, run_folders=False)
    m = reg.rename(args.name, args.new_name)
    print(f"renamed '{args.name}' to '{m['name']}'")
    return 0


def cmd_export(args) -> int:
    if args.format is None:  # the file name says which: out.zip is a zoo package
        args.format = "bioimageio" if str(args.out).lower().endswith(".zip") else "onnx"
    resolve_model(_registry(args), args.name, run_folders=False)
    if args.format == "bioimageio":
        return _export_bioimageio(args)
    out = _registry(args).export(args.name, args.out)
    print(f"exported '{args.name}' to {out} (ONNX; input 'input' NCHW float32 in 0..1, outputs 'logits', "
          f"'probabilities')")
    return 0


def _export_bioimageio(args) -> int:
    opts = {k: v for k, v in (("authors", args.author), ("license", args.license),
                              ("sample_image", args.sample_image)) if v}
    out = _registry(args).export(args.name, args.out, format="bioimageio", **opts)
    print(f"exported '{args.name}' to {out} (BioImage Model Zoo package; check it with: bioimageio test {out})")
    return 0


def cmd_import_bioimageio(args) -> int:
    m = _registry(args).register(args.package, args.name, framework="bioimageio")
    print(f"imported '{m['name']}' version {m['version']} (bioimageio, {len(m['classes'])} classes, "
          f"input {m['input_size'][0]}x{m['input_size'][1]})")
    return 0


def cmd_import_onnx(args) -> int:
    opts = {}
    if args.input_size:
        opts["input_size"] = args.input_size
    if args.mean:
        opts["mean"] = args.mean
    if args.std:
        opts["std"] = args.std
    m = _registry(args).register(args.file, args.name, framework="onnx", classes=args.classes,
                                 output=args.output, **opts)
    print(f"imported '{m['name']}' version {m['version']} (onnx, {len(m['classes'])} classes, "
          f"input {m['input_size'][0]}x{m['input_size'][1]})")
    return 0


def cmd_evaluate(args) -> int:
    reg = _registry(args)
    for ref in args.model:
        resolve_model(reg, ref, run_folders=False)
    result = reg.evaluate(args.dataset, args.measures, args.model, args.labels)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    names = result["measures"]
    skipped = result["skipped"]
    print(f"{result['images']} images, classes: {', '.join(result['classes'])}"
          + (f"; {len(skipped)} unreadable, not counted:" if skipped else ""))
    for s in skipped:
        print(f"  skipped {s['reason']}")
    print(f"{'model':24} " + " ".join(f"{n:>19}" for n in names))
    for r in result["results"]:
        vals = [r["measures"][n] for n in names]
        print(f"{r['model'] + '@' + str(r['version']):24} " +
              " ".join(f"{v:>19.4f}" if v is not None else f"{'n/a':>19}" for v in vals))
    return 0


