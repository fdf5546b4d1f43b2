"""The model card (README.md) written beside every registered model."""
from __future__ import annotations

import json


def _fmt(x, digits=3):
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def model_card(manifest: dict, files: dict[str, str]) -> str:
    name, version = manifest.get("name"), manifest.get("version")
    classes = manifest.get("classes", [])
    lines = [f"# {name} (version {version})", ""]
    lines += [f"Image classifier registered in OmniClas on {manifest.get('created')} (framework "
              f"`{manifest.get('framework')}`).", ""]
    lines += ["## Model", "", "| | |", "|---|---|"]
    lines.append(f"| classes | {', '.join(f'`{c}`' for c in classes)} |")
    if manifest.get("backbone"):
        lines.append(f"| backbone | {manifest['backbone']} |")
    if manifest.get("head"):
        lines.append(f"| head | {manifest['head']} |")
    if manifest.get("input_size"):
        h, w = manifest["input_size"]
        lines.append(f"| input | {h} x {w} RGB, NCHW float32 |")
    if manifest.get("mean") is not None:
        lines.append(f"| normalisation | (x/255 - mean) / std, mean {manifest['mean']}, std {manifest['std']} |")
    lines.append("")

    metrics = manifest.get("metrics") or {}
    test = manifest.get("test") or {}
    if metrics or test:
        lines += ["## Evaluation (held-out test split of the training run)", ""]
        for k, v in metrics.items():
            lines.append(f"- {k}: {_fmt(v)}")
        per_class = test.get("per_class") or []
        if per_class:
            lines += ["", "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
            for row in per_class:
                lines.append(f"| {row.get('class')} | {_fmt(row.get('precision'))} | {_fmt(row.get('recall'))} | "
                             f"{_fmt(row.get('f1'))} | {row.get('support')} |")
        cm = test.get("confusion_matrix")
        if cm:
            lines += ["", "Confusion matrix (rows: true class, columns: predicted class, order as above):", "",
                      "```", *(" ".join(f"{v:4d}" if isinstance(v, int) else str(v) for v in row) for row in cm), "```"]
        lines.append("")

    prov = manifest.get("provenance") or {}
    if prov:
        lines += ["## Training provenance", ""]
        for key in ("process", "iterations", "auto_labelled", "seed", "run_dir", "source"):
            if key in prov and prov[key] is not None:
                val = prov[key]
                if isinstance(val, (list, dict)):
                    val = f"`{json.dumps(val)[:300]}`"
                lines.append(f"- {key}: {val}")
        if prov.get("config"):
            lines += ["", "Training configuration:", "", "```json", json.dumps(prov["config"], indent=2), "```"]
        if prov.get("versions"):
            lines += ["", "Software: " + ", ".join(f"{k} {v}" for k, v in prov["versions"].items())]
        if prov.get("data_hashes"):
            lines += ["", "Data (sha256): " + ", ".join(f"{k} `{v}`" for k, v in prov["data_hashes"].items())]
        lines.append("")

    lines += ["## Use", "",
              "```bash",
              f"omniclas models                                  # list registered models",
              f"deepclas4bio-predict image.png {manifest.get('framework')} {name}",
              f"curl -F model={name} -F images=@image.png http://127.0.0.1:5000/api/v1/predict",
              f"omniclas export {name} {name}.onnx                # for Java tools (onnxruntime)",
              "```", "",
              "Intended use: research image classification on images like the training set. Check the "
              "per-class scores above before trusting it on new data.", ""]
    lines += ["## Files (sha256)", "", "| file | sha256 |", "|---|---|"]
    for fname, digest in sorted(files.items()):
        lines.append(f"| {fname} | `{digest}` |")
    lines.append("")
    return "\n".join(lines)
