"""DeepClas4Bio command-line compatibility: each command writes its answer to ``./data.json``.

=================================  ==========================================================================
console script                     ``data.json``
=================================  ==========================================================================
deepclas4bio-listFrameworks        ``{"type":"frameworks","frameworks":[...]}``
deepclas4bio-listModels F          ``{"type":"models","framework":F,"models":[names]}``
deepclas4bio-predict IMAGE F M     ``{"type":"classification","image","framework","model","class"}`` (+ confidence,
                                   probabilities)
deepclas4bio-predictBatch C.json   ``{"type":"classification","framework","model","results":[{"image","class"}]}``
deepclas4bio-listMeasures          ``{"type":"measures","measures":[...]}``
deepclas4bio-evaluate C.json       DeepClas4Bio's ``{"<model>": {"<measure>": value}}``
=================================  ==========================================================================

``C.json`` for evaluate: ``{"readDataset":"ReadDatasetFolders","pathDataset","pathLabels","measures":[...],
"predictors":[{"framework","model"}]}``. Models come from the registry (``$OMNICLAS_MODELS`` or
``--models-root DIR``). On an error the command writes ``{"type":"error","message":...}``, prints
``error: <message>`` and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import ConfigError, OmniClasError

OUTPUT = "data.json"


def _write(data: dict) -> None:
    tmp = Path(f".{OUTPUT}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, OUTPUT)


def _run(prog: str, argv, add_args, body) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_args(parser)
    parser.add_argument("--models-root", default=None, metavar="DIR", help="model registry folder")
    args = parser.parse_args(argv)
    try:
        from .registry import Registry

        _write(body(Registry(args.models_root), args))
        return 0
    except OmniClasError as err:
        _write({"type": "error", "message": str(err)})
        print(f"error: {err}", file=sys.stderr)
        return 2


def _framework_of(reg, framework: str, model: str):
    from .registry import get_framework

    get_framework(framework)
    info = reg.model_info(model)
    if info["framework"] != framework:
        raise ConfigError(f"model '{model}' belongs to framework '{info['framework']}', not '{framework}'",
                          field="framework")
    return info


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


def list_frameworks_main(argv=None) -> int:
    from .registry import list_frameworks

    return _run("deepclas4bio-listFrameworks", argv, lambda p: None,
                lambda reg, a: {"type": "frameworks", "frameworks": list_frameworks()})


def list_models_main(argv=None) -> int:
    def body(reg, a):
        return {"type": "models", "framework": a.framework,
                "models": [m["name"] for m in reg.list_models(a.framework)]}

    return _run("deepclas4bio-listModels", argv, lambda p: p.add_argument("framework"), body)


def predict_main(argv=None) -> int:
    def args(p):
        p.add_argument("image")
        p.add_argument("framework")
        p.add_argument("model")

    def body(reg, a):
        _framework_of(reg, a.framework, a.model)
        res = reg.predict(a.model, a.image)
        return {"type": "classification", "image": a.image, "framework": a.framework, "model": a.model,
                "class": res["class"], "confidence": res["confidence"], "probabilities": res["probabilities"]}

    return _run("deepclas4bio-predict", argv, args, body)


def _resolve_image(image: str, config_dir: Path) -> str:
    p = Path(image).expanduser()
    if p.is_absolute() or p.exists():
        return str(p)
    alt = config_dir / p
    return str(alt) if alt.exists() else str(p)


def predict_batch_main(argv=None) -> int:
    def body(reg, a):
        data = _read_config(a.config)
        framework, model = _need(data, "framework", a.config), _need(data, "model", a.config)
        images = _need(data, "images", a.config, list)
        if not all(isinstance(i, str) for i in images):
            raise ConfigError(f"{a.config}: 'images' must be a list of file paths", field="images")
        _framework_of(reg, framework, model)
        base = Path(a.config).resolve().parent
        results = reg.predict_batch(model, [_resolve_image(i, base) for i in images], all_pages=False)
        return {"type": "classification", "framework": framework, "model": model,
                "results": [{"image": img, "class": r["class"], "confidence": r["confidence"]}
                            for img, r in zip(images, results)]}

    return _run("deepclas4bio-predictBatch", argv, lambda p: p.add_argument("config"), body)


def list_measures_main(argv=None) -> int:
    from .measures import list_measures

    return _run("deepclas4bio-listMeasures", argv, lambda p: None,
                lambda reg, a: {"type": "measures", "measures": list_measures()})


def evaluate_main(argv=None) -> int:
    def body(reg, a):
        data = _read_config(a.config)
        reader = data.get("readDataset", "ReadDatasetFolders")
        if reader != "ReadDatasetFolders":
            raise ConfigError(f"{a.config}: readDataset '{reader}' is not supported; use ReadDatasetFolders",
                              field="readDataset")
        dataset = _need(data, "pathDataset", a.config)
        labels = data.get("pathLabels") or None
        measures = _need(data, "measures", a.config, list)
        predictors = _need(data, "predictors", a.config, list)
        for p in predictors:
            if not isinstance(p, dict) or not isinstance(p.get("model"), str):
                raise ConfigError(f"{a.config}: each predictor needs 'framework' and 'model'", field="predictors")
            if p.get("framework"):
                _framework_of(reg, p["framework"], p["model"])
        result = reg.evaluate(dataset, measures, predictors, labels)
        return {r["model"]: r["measures"] for r in result["results"]}

    return _run("deepclas4bio-evaluate", argv, lambda p: p.add_argument("config"), body)


COMMANDS = {
    "listFrameworks": list_frameworks_main, "listModels": list_models_main, "predict": predict_main,
    "predictBatch": predict_batch_main, "listMeasures": list_measures_main, "evaluate": evaluate_main,
}


def main(argv=None) -> int:
    """``python -m omniclas.deepclas4bio COMMAND ARGS...``"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m omniclas.deepclas4bio {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
