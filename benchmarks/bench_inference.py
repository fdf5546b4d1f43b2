"""Benchmark where frozen bodies run forward: speed of each CPU runtime, its agreement with torch float32, and
the cost per image of single models against the saved ensemble.

1. Throughput (images/s) of the EfficientNet-Lite0/1/2 bodies at 128 and 224 px, batch 64, for torch float32,
   torch bf16 + channels_last, onnxruntime float32, OpenVINO float32 and OpenVINO bf16 (``omniclas.model.runtime``).
   Runtimes are interleaved within each repetition so that load from other processes hits them alike; the
   median over repetitions is reported.
2. Accuracy: process N.D. (the three Lite bodies, linear heads) trained on each dataset with the bodies on each
   runtime, k = 20 labels per class, seed 0; test accuracy, and how often each runtime's saved model gives the
   same class as the torch float32 one on the test images.
3. Cost per image of a saved model: one Lite0 member, the three-member ensemble, and the ensemble averaging
   four flipped views (the default), through ``Predictor`` at batch 64 and at batch 1.

    python benchmarks/bench_inference.py                 # everything
    python benchmarks/bench_inference.py --parts speed --reps 3

Writes benchmarks/results/inference.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_server"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_processes import SHARED, hide_labels  # noqa: E402
from omniclas.model.backbones import create_body  # noqa: E402
from omniclas.config import TrainConfig  # noqa: E402
from omniclas.engine import train  # noqa: E402
from omniclas.data.imageio import read_image  # noqa: E402
from omniclas.model.predictor import Predictor  # noqa: E402
from omniclas.model.runtime import bf16_supported, compile_body  # noqa: E402

BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
# (label, runtime, bf16)
RUNTIMES = (("torch fp32", "torch", False), ("torch bf16 + channels_last", "torch", True),
            ("onnxruntime fp32", "onnxruntime", False), ("OpenVINO fp32", "openvino", False),
            ("OpenVINO bf16", "openvino", True))


def cpu_description() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), " \
           f"native bf16: {bf16_supported()}"


def speed(reps: int) -> list[str]:
    rows = ["| backbone | px | " + " | ".join(label for label, _, _ in RUNTIMES) + " |",
            "|---|---|" + "---|" * len(RUNTIMES)]
    for name in BACKBONES:
        body, _ = create_body(name, True)
        for size in (128, 224):
            x = torch.rand(64, 3, size, size) * 2 - 1
            compiled = [compile_body(body, size, runtime, bf16) for _, runtime, bf16 in RUNTIMES]
            for c in compiled:
                c(x)  # warm up
            times = [[] for _ in compiled]
            for _ in range(reps):
                for i, c in enumerate(compiled):
                    t = time.perf_counter()
                    c(x)
                    times[i].append(time.perf_counter() - t)
            rows.append(f"| {name} | {size} | " + " | ".join(f"{64 / statistics.median(t):.0f}" for t in times) + " |")
            print(rows[-1], flush=True)
    return rows


def accuracy(datasets: list[str], tmp: Path) -> list[str]:
    rows = ["| dataset | test images | " + " | ".join(f"{label}: accuracy (same class as torch fp32)"
                                                    for label, _, _ in RUNTIMES if label != "torch bf16 + channels_last")
            + " |", "|---|---|" + "---|" * (len(RUNTIMES) - 1)]
    for name in datasets:
        folder = tmp / f"{name}-acc"
        hide_labels(name, folder, 20, 0)
        test = sorted(p for p in (folder / "test").rglob("*") if p.is_file())
        images = [read_image(p) for p in test]
        results = []
        for label, runtime, bf16 in RUNTIMES:
            if label == "torch bf16 + channels_last":
                continue
            r = train(TrainConfig(dataset=str(folder), out_dir=str(tmp / f"{name}-{runtime}-{bf16}"), process="nd",
                                  runtime=runtime, bf16=bf16, auto_views=False, train_views=False,
                                  predict_views=False))
            probs = Predictor.load(r.run_dir, bf16=bf16, runtime=runtime).predict_proba(images)
            results.append((r.manifest["test"]["accuracy"], probs.argmax(1)))
        reference = results[0][1]
        rows.append(f"| {name} | {len(test)} | " + " | ".join(f"{acc:.3f} ({(pred == reference).mean():.1%})"
                                                              for acc, pred in results) + " |")
        print(rows[-1], flush=True)
    return rows


def cost(tmp: Path, reps: int) -> list[str]:
    folder = tmp / "cost"
    hide_labels("bbbc013", folder, 5, 0)
    images = [read_image(p) for p in sorted((SHARED / "bbbc013" / "unlabelled").iterdir())[:64]]
    rows = ["| saved model | body passes per image | ms per image, batch 64 | ms for one image |", "|---|---|---|---|"]
    for label, options in (("Lite0, 1 view", dict(backbones=("efficientnet_lite0",), predict_views=False)),
                           ("Lite0+1+2 ensemble, 1 view", dict(predict_views=False)),
                           ("Lite0+1+2 ensemble, flipped views (default)", dict(auto_views=False))):
        r = train(TrainConfig(dataset=str(folder), out_dir=str(tmp / f"cost-{len(rows)}"), process="nd",
                              image_size=224, **options))
        predictor = Predictor.load(r.run_dir)
        predictor.predict_proba(images[:2])  # compile
        batch, single = [], []
        for _ in range(reps):
            t = time.perf_counter()
            predictor.predict_proba(images)
            batch.append((time.perf_counter() - t) / len(images))
            t = time.perf_counter()
            predictor.predict_proba(images[:1])
            single.append(time.perf_counter() - t)
        rows.append(f"| {label} | {r.manifest['cost']['body_passes_per_image']} | "
                    f"{1000 * statistics.median(batch):.1f} | {1000 * statistics.median(single):.1f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="speed,accuracy,cost")
    ap.add_argument("--datasets", default="bbbc013,bccd_wbc,fashion_mnist_sub100,flowers5")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "inference.md"))
    args = ap.parse_args()
    parts = args.parts.split(",")
    started = time.monotonic()
    text = [f"# Inference benchmark: CPU runtimes for the frozen bodies\n",
            f"{time.strftime('%Y-%m-%d %H:%M')}, {cpu_description()}.\n",
            f"Command: `python benchmarks/bench_inference.py {' '.join(sys.argv[1:])}`\n"]
    with tempfile.TemporaryDirectory() as tmp:
        if "speed" in parts:
            text += ["## Throughput, images/s (batch 64, median of the repetitions)\n", *speed(args.reps), ""]
        if "accuracy" in parts:
            text += ["## Accuracy on each runtime (N.D., k = 20, seed 0)\n", *accuracy(args.datasets.split(","),
                                                                                    Path(tmp)), ""]
        if "cost" in parts:
            text += ["## Cost per image of a saved model (224 px, the fastest runtime installed)\n",
                     *cost(Path(tmp), args.reps), ""]
    text.append(f"Took {time.monotonic() - started:.0f} s.")
    Path(args.out).write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
