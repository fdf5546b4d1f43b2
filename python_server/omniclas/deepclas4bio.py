"""DeepClas4Bio compatibility: its console scripts, which answer in ``./data.json``, and its Python functions.

The protocol reproduced is described, call by call, in docs/deepclas4bio.md.

=====================================  ======================================================================
console script                         ``data.json``
=====================================  ======================================================================
deepclas4bio-listFrameworks            ``{"type":"frameworks","frameworks":[...]}``
deepclas4bio-listModels F              ``{"type":"models","framework":F,"models":[names]}`` (``[]`` for a
                                       framework OmniClas does not have, such as Keras)
deepclas4bio-predict IMAGE F M         ``{"type":"classification","image","framework","model","class"}`` (+
                                       confidence, unsure, runner_up, probabilities; ``slices`` for a stack)
deepclas4bio-predictBatch C.json       ``{"type":"classification","framework","model","results":[{"image","class"}]}``
deepclas4bio-listMeasures              ``{"type":"measures","measures":[...]}``
deepclas4bio-listReadDatasets          ``{"type":"readDatasets","readDatasets":[{"name","description"}]}``
deepclas4bio-evaluate C.json           ``{"<model>": {"<measure>": value}}`` (+ a ``"SKIPPED ..."`` row naming
                                       unreadable images)
=====================================  ======================================================================

Every exit writes ``data.json``, so a client never reads the answer of an earlier call: a usage error or any
other failure writes an error document that keeps the keys its client reads (``{"type":"error","message",
"models":[]}`` for listModels, ...), and for evaluate a table DeepCompareJ can show
(``{"ERROR: <message>": {}}``). The document is written first as "did not finish", so even a killed command
leaves no stale answer. A path that ``Runtime.exec(String)`` split at its spaces is joined again.
The old script flags (``-f F``, ``-i IMAGE -f F -m M``, ``-c C.json``) work too. Models come from the
registry (``$OMNICLAS_MODELS`` or ``--models-root DIR``).

The Python functions (``listFrameworks``, ``listModels``, ``predict``, ``predictBatch``, ``listMeasures``,
``listReadDatasets``, ``evaluate``) are the importable ``deepclas4bio`` module's, as the ImagePy client calls them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from .errors import ConfigError, OmniClasError

OUTPUT = "data.json"
ERROR_KEY = "ERROR: "  # an evaluate error is one table row named by its message
SKIPPED_KEY = "SKIPPED "  # so are the images evaluate could not read: "SKIPPED 1 unreadable image: <why>"


class UnreadableImage(UserWarning):
    """predictBatch's warning for an image it could not read (its class is None)."""


# ------------------------------------------------------------------------------------------ Python API
def _registry(root=None):
    from .registry import get_registry

    return get_registry(root)


def _check_model(reg, framework: str, model: str) -> dict:
    """The model's info, once its framework is known to OmniClas and is the model's own."""
    from .registry import list_frameworks

    if framework not in list_frameworks():
        raise ConfigError(f"framework '{framework}' is not installed in OmniClas; available: "
                          f"{', '.join(list_frameworks())}", field="framework")
    info = reg.model_info(model)
    if info["framework"] != framework:
        raise ConfigError(f"model '{model}' belongs to framework '{info['framework']}', not '{framework}'",
                          field="framework")
    return info


def listFrameworks() -> list[str]:  # noqa: N802 - DeepClas4Bio's names
    from .registry import list_frameworks

    return list_frameworks()


def listModels(framework: str, root=None) -> list[str]:  # noqa: N802
    """The model names of a framework; ``[]`` for a framework OmniClas does not have (e.g. Keras)."""
    if framework not in listFrameworks():
        return []
    return [m["name"] for m in _registry(root).list_models(framework)]


def listMeasures() -> list[str]:  # noqa: N802
    from .report.measures import list_measures

    return list_measures()


def listReadDatasets() -> list[dict]:  # noqa: N802
    from .registry.evaluate import READERS

    return [dict(r) for r in READERS]


def predict(image, framework: str, model: str, root=None) -> str:
    """The class of one image (of its first page, for a stack)."""
    reg = _registry(root)
    _check_model(reg, framework, model)
    return reg.predict(model, image)["class"]


def predictBatch(images: list, framework: str, model: str, root=None) -> list[str | None]:  # noqa: N802
    """One class per image (the first page of a stack), in order; ``None`` for an image that cannot be read, which
    is named in a warning (:class:`UnreadableImage`) while the others are still classified."""
    reg = _registry(root)
    _check_model(reg, framework, model)
    results = reg.predict_batch(model, list(images), all_pages=False)
    for r in results:
        if "error" in r:
            warnings.warn(r["error"], UnreadableImage, stacklevel=2)
    return [r.get("class") for r in results]


def evaluate(readDataset: str, path, pathLabels, measures, predictors, root=None) -> dict:  # noqa: N803
    """``{model: {measure: value}}`` for ``predictors`` = ``[{"framework", "model"}, ...]``. Unreadable images are
    left out of the measures and named in a warning (:class:`UnreadableImage`)."""
    result = _evaluate(readDataset, path, pathLabels, measures, predictors, root)
    for s in result["skipped"]:
        warnings.warn(s["reason"], UnreadableImage, stacklevel=2)
    return {r["model"]: r["measures"] for r in result["results"]}


def _evaluate(reader: str, path, labels, measures, predictors, root) -> dict:
    """The registry's whole evaluation answer (with ``skipped``), after DeepClas4Bio's checks."""
    from .registry.evaluate import READERS

    readers = [r["name"] for r in READERS]
    if reader not in readers:
        raise ConfigError(f"readDataset '{reader}' is not supported; use {', '.join(readers)}",
                          field="readDataset")
    if not isinstance(predictors, list) or not predictors:
        raise ConfigError("predictors must be a non-empty list of {'framework', 'model'}", field="predictors")
    reg = _registry(root)
    for p in predictors:
        if not isinstance(p, dict) or not isinstance(p.get("model"), str) or not isinstance(p.get("framework"), str):
            raise ConfigError("each predictor needs 'framework' and 'model'", field="predictors")
        _check_model(reg, p["framework"], p["model"])
    return reg.evaluate(path, measures, predictors, labels or None, labels_field="pathLabels")


# ------------------------------------------------------------------------------------------ console scripts
class UsageError(Exception):
    pass


class _HelpShown(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the error still reaches data.json."""

    def error(self, message):
        raise UsageError(f"{message}; usage: {self.format_usage().strip().removeprefix('usage: ')}")

    def exit(self, status=0, message=None):
        if status:
            raise UsageError(message or "invalid arguments")
        raise _HelpShown()


def _write(data: dict) -> None:
    tmp = Path(f".{OUTPUT}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, OUTPUT)


def _joined(parts: list[str]) -> str:
    """A path that Runtime.exec(String) split at its spaces, joined again."""
    return " ".join(parts)


class Command:
    """One console script: its arguments, its answer, and the error document its clients can still read."""

    name = ""
    reads_config = False  # the answer overwrites data.json only after the config file (maybe data.json) is read

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        pass

    def error_document(self, message: str, args) -> dict:
        raise NotImplementedError

    def answer(self, args) -> dict:
        raise NotImplementedError

    def main(self, argv=None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = _Parser(prog=f"deepclas4bio-{self.name}", description=f"DeepClas4Bio {self.name}, answered in "
                                                                         f"./{OUTPUT}")
        self.add_arguments(parser)
        parser.add_argument("--models-root", default=None, metavar="DIR", help="model registry folder")
        args = None
        try:
            args = parser.parse_args(argv)
            self.args_ready(args)
            if not self.reads_config:
                self.started(args)
            _write(self.answer(args))
            return getattr(args, "status", 0)
        except _HelpShown:
            return self._fail(f"help: {parser.format_usage().strip()}", args, 0, echo=False)
        except UsageError as err:
            return self._fail(f"usage error: {err}", args, 2)
        except OmniClasError as err:
            return self._fail(str(err), args, 2)
        except KeyboardInterrupt:
            return self._fail("interrupted", args, 130)
        except Exception as err:  # a bug: a short message, never a traceback, and still an answer
            return self._fail(f"internal error ({type(err).__name__}: {err})", args, 1)

    def args_ready(self, args) -> None:
        """Check the arguments; raise UsageError."""

    def started(self, args) -> None:
        _write(self.error_document(f"deepclas4bio-{self.name} did not finish (it was stopped or crashed)", args))

    def _fail(self, message: str, args, status: int, echo: bool = True) -> int:
        try:
            _write(self.error_document(message, args))
        except OSError as err:
            print(f"error: cannot write ./{OUTPUT}: {err.strerror or err}", file=sys.stderr)
            return 2
        if echo:
            print(f"error: {message}", file=sys.stderr)
        return status

    @staticmethod
    def registry(args):
        from .registry import Registry

        return Registry(args.models_root if args is not None else None)


class _ListCommand(Command):
    """A command with no arguments that answers one list: ``{"type": key, key: [...]}``."""
    key = ""

    @staticmethod
    def items() -> list:
        raise NotImplementedError

    def add_arguments(self, p):
        p.add_argument("extra", nargs="*", help=argparse.SUPPRESS)

    def args_ready(self, args):
        if args.extra:
            raise UsageError(f"{self.name} takes no arguments, got {' '.join(args.extra)}")

    def error_document(self, message, args):
        return {"type": "error", "message": message, self.key: []}

    def answer(self, args):
        return {"type": self.key, self.key: self.items()}


class ListFrameworks(_ListCommand):
    name, key, items = "listFrameworks", "frameworks", staticmethod(listFrameworks)


class ListModels(Command):
    name = "listModels"

    def add_arguments(self, p):
        p.add_argument("words", nargs="*", metavar="FRAMEWORK")
        p.add_argument("-f", "--framework", default=None, help=argparse.SUPPRESS)

    def args_ready(self, args):
        if args.framework is None and len(args.words) == 1:
            args.framework = args.words[0]
        elif args.framework is None or args.words:
            raise UsageError("listModels takes one FRAMEWORK")

    def error_document(self, message, args):
        return {"type": "error", "message": message, "framework": getattr(args, "framework", None), "models": []}

    def answer(self, args):
        if args.framework not in listFrameworks():
            return {"type": "models", "framework": args.framework, "models": []}
        return {"type": "models", "framework": args.framework,
                "models": [m["name"] for m in self.registry(args).list_models(args.framework)]}


class Predict(Command):
    name = "predict"

    def add_arguments(self, p):
        p.add_argument("words", nargs="*", metavar="IMAGE FRAMEWORK MODEL")
        p.add_argument("-i", "--image", default=None, help=argparse.SUPPRESS)
        p.add_argument("-f", "--framework", default=None, help=argparse.SUPPRESS)
        p.add_argument("-m", "--model", default=None, help=argparse.SUPPRESS)

    def args_ready(self, args):
        if args.image is None and args.framework is None and args.model is None:
            whole = _joined(args.words)
            if len(args.words) < 3 or (not Path(_joined(args.words[:-2])).exists() and Path(whole).is_file()):
                raise UsageError(f"predict takes IMAGE FRAMEWORK MODEL, got {whole!r}")
            args.image, args.framework, args.model = _joined(args.words[:-2]), args.words[-2], args.words[-1]
        elif args.words or None in (args.image, args.framework, args.model):
            raise UsageError("predict takes IMAGE FRAMEWORK MODEL (or -i IMAGE -f FRAMEWORK -m MODEL)")

    def error_document(self, message, args):
        return {"type": "error", "message": message, "image": getattr(args, "image", None),
                "framework": getattr(args, "framework", None), "model": getattr(args, "model", None), "class": None}

    def answer(self, args):
        reg = self.registry(args)
        _check_model(reg, args.framework, args.model)
        results = reg.predict_batch(args.model, [args.image], skip_unreadable=False)  # its one image: an error
        first = results[0]
        out = {"type": "classification", "image": args.image, "framework": args.framework, "model": args.model,
               "class": first["class"], "confidence": first["confidence"], "unsure": first["unsure"],
               "runner_up": first["runner_up"], "probabilities": first["probabilities"]}
        if len(results) > 1:  # a stack: page 1 answers, every page is listed
            out["slices"] = [{"slice": r["slice"], "class": r["class"], "confidence": r["confidence"],
                              "unsure": r["unsure"]} for r in results]
        return out


def _read_config(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}", field="config") from None
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON ({err})", field="config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object", field="config")
    return data


def _need(data: dict, key: str, path: str, kind=str):
    if key not in data:
        raise ConfigError(f"{path}: '{key}' is missing", field=key)
    if not isinstance(data[key], kind):
        raise ConfigError(f"{path}: '{key}' has the wrong type", field=key)
    return data[key]


class _ConfigCommand(Command):
    """Commands that take one JSON config file (written by the client, sometimes as ./data.json itself)."""

    reads_config = True

    def add_arguments(self, p):
        p.add_argument("words", nargs="*", metavar="CONFIG.json")
        p.add_argument("-c", "--config", default=None, help=argparse.SUPPRESS)

    def args_ready(self, args):
        if args.config is None and args.words:
            args.config = _joined(args.words)
        elif args.config is None or args.words:
            raise UsageError(f"{self.name} takes one CONFIG.json")

    def load(self, args) -> dict:
        data = _read_config(args.config)
        self.started(args)
        return data


def _resolve_image(image: str, config_dir: Path) -> str:
    p = Path(image).expanduser()
    if p.is_absolute() or p.exists():
        return str(p)
    alt = config_dir / p
    return str(alt) if alt.exists() else str(p)


class PredictBatch(_ConfigCommand):
    name = "predictBatch"

    def error_document(self, message, args):
        return {"type": "error", "message": message, "results": []}

    def answer(self, args):
        data = self.load(args)
        framework, model = _need(data, "framework", args.config), _need(data, "model", args.config)
        images = _need(data, "images", args.config, list)
        if not all(isinstance(i, str) for i in images):
            raise ConfigError(f"{args.config}: 'images' must be a list of file paths", field="images")
        reg = self.registry(args)
        _check_model(reg, framework, model)
        base = Path(args.config).resolve().parent
        results = reg.predict_batch(model, [_resolve_image(i, base) for i in images], labels=images,
                                    skip_unreadable=True)
        rows = []
        for r in results:
            row = {"image": r["image"], "class": r.get("class"), "confidence": r.get("confidence"),
                   "unsure": r.get("unsure"), "runner_up": r.get("runner_up")}
            if "slice" in r:
                row["slice"] = r["slice"]
            if "error" in r:
                row["error"] = r["error"]
            rows.append(row)
        args.status = 1 if any("error" in r for r in rows) else 0
        return {"type": "classification", "framework": framework, "model": model, "results": rows}


class ListMeasures(_ListCommand):
    name, key, items = "listMeasures", "measures", staticmethod(listMeasures)


class ListReadDatasets(_ListCommand):
    name, key, items = "listReadDatasets", "readDatasets", staticmethod(listReadDatasets)


class Evaluate(_ConfigCommand):
    name = "evaluate"

    def error_document(self, message, args):
        # DeepCompareJ casts every value to a JSONObject and each of its values to a Double: one empty row
        return {ERROR_KEY + message: {}}

    def answer(self, args):
        data = self.load(args)
        measures = _need(data, "measures", args.config, list)
        predictors = _need(data, "predictors", args.config, list)
        dataset = _need(data, "pathDataset", args.config)
        labels = data.get("pathLabels")
        if labels is not None and not isinstance(labels, str):
            raise ConfigError(f"{args.config}: 'pathLabels' has the wrong type", field="pathLabels")
        result = _evaluate(data.get("readDataset", "ReadDatasetFolders"), dataset, labels, measures, predictors,
                           args.models_root)
        answer = {r["model"]: r["measures"] for r in result["results"]}
        skipped = result["skipped"]
        if skipped:  # one more table row, named by what was left out (DeepCompareJ shows every key as a row)
            answer[f"{SKIPPED_KEY}{len(skipped)} unreadable image{'s' if len(skipped) > 1 else ''} (not counted): "
                   + "; ".join(s["reason"] for s in skipped)] = {}
        return answer


list_frameworks_main = ListFrameworks().main
list_models_main = ListModels().main
predict_main = Predict().main
predict_batch_main = PredictBatch().main
list_measures_main = ListMeasures().main
list_read_datasets_main = ListReadDatasets().main
evaluate_main = Evaluate().main

COMMANDS = {"listFrameworks": list_frameworks_main, "listModels": list_models_main, "predict": predict_main,
            "predictBatch": predict_batch_main, "listMeasures": list_measures_main,
            "listReadDatasets": list_read_datasets_main, "evaluate": evaluate_main}


def main(argv=None) -> int:
    """``python -m omniclas.deepclas4bio COMMAND ARGS...``"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        message = f"usage: python -m omniclas.deepclas4bio {{{','.join(COMMANDS)}}} ..."
        _write({"type": "error", "message": message})
        print(message, file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
