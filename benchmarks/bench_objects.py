"""Benchmark of objects from label images (issue 16): accuracy through --objects against the crops themselves,
the padding default, and the time per field.

1. Accuracy. A model is trained (process N.D., the default backbones and views) on k real BBBC013 crops per
   class (../shared/data/bbbc013); the other crops are pasted, 4 per class, into fields of 12 on a black canvas
   with their cell masks as the label image (tests/fields.py), and classified through ``predict_objects`` at
   each padding and mask mode. Reported: accuracy over all objects, the same crops classified as files, and
   the largest gap in right answers between the two on one field of 12 (the target: at most one).
2. The loop a user runs: crops made by ``omniclas crops`` from fields at padding p train the model, and other
   fields are classified through --objects at the same p (so training and prediction see the same framing).
3. Time per field: 50 real crops in a 1024 x 1024 field (and the real DSB 2018 field, 125 nuclei in 512 x 512),
   read from PNG files, objects found, cropped and classified, with the model on its fastest runtime (warm);
   median of the repetitions, with the machine's load average.

    python benchmarks/bench_objects.py                    # everything (about 5 minutes on 2 cores)
    python benchmarks/bench_objects.py --parts time --reps 5

Writes benchmarks/results/objects.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_server"))
sys.path.insert(0, str(ROOT / "tests"))

from fields import CLASSES, DSB_FIELD, DSB_LABELS, compose_field  # noqa: E402
from omniclas.config import TrainConfig  # noqa: E402
from omniclas.data.objects import ObjectOptions, crop_name, read_field  # noqa: E402
from omniclas.engine import train  # noqa: E402
from omniclas.model.predictor import Predictor  # noqa: E402

SHARED = (ROOT / ".." / "shared" / "data").resolve()
PADDINGS = (0.0, 0.1, 0.25, 0.5, 1.0)
MASKS = ("none", "blank")
FIELD = 12  # crops per field, 4 per class


def split_crops(k: int, seed: int) -> tuple[dict, list]:
    """k training crops per class, and the rest as (path, class) test crops, interleaved by class."""
    rng = np.random.default_rng(seed)
    train_crops, rest = {}, []
    for c in CLASSES:
        files = sorted((SHARED / "bbbc013" / c).glob("*.png"))
        files = [files[i] for i in rng.permutation(len(files))]
        train_crops[c] = files[:k]
        rest.append(files[k:])
    n = min(len(r) for r in rest) // (FIELD // len(CLASSES)) * (FIELD // len(CLASSES))
    return train_crops, [p for group in zip(*(r[:n] for r in rest)) for p in group]


def make_dataset(folder: Path, crops: dict) -> Path:
    for c, files in crops.items():
        (folder / c).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(f, folder / c / f.name)
    return folder


def train_model(dataset: Path, out: Path, backbones=None) -> Predictor:
    cfg = TrainConfig(dataset=str(dataset), out_dir=str(out), process="nd", seed=0,
                      **({"backbones": backbones} if backbones else {}))
    return Predictor.load(train(cfg).run_dir)


def fields_of(crops: list[Path], seed: int):
    return [compose_field(crops[i:i + FIELD], pitch=120, seed=seed + i) for i in range(0, len(crops), FIELD)]


def accuracy_through_objects(model: Predictor, fields, options: ObjectOptions) -> tuple[float, list[int]]:
    right, per_field = 0, []
    for f in fields:
        rows = model.predict_objects(f.image, f.labels, options)
        n = sum(r["class"] == f.truth[r["object"]] for r in rows)
        right += n
        per_field.append(n)
    return right / sum(len(f.truth) for f in fields), per_field


def part_accuracy(tmp: Path, k: int, seed: int) -> list[str]:
    train_crops, test_crops = split_crops(k, seed)
    model = train_model(make_dataset(tmp / "train", train_crops), tmp / "run")
    fields = fields_of(test_crops, seed)
    direct = model.predict_images(list(test_crops))
    direct_right = [r["class"] == p.parent.name for r, p in zip(direct, test_crops)]
    direct_fields = [sum(direct_right[i:i + FIELD]) for i in range(0, len(test_crops), FIELD)]
    lines = [f"Model: N.D. ({model.manifest['backbone']}, {len(model.manifest.get('views') or [])} views, "
             f"{model.input_size[0]} px) trained on {k} crops per class (seed {seed}); {len(test_crops)} other crops "
             f"in {len(fields)} fields of {FIELD}.", "",
             f"The crops as files: accuracy {np.mean(direct_right):.3f}.", "",
             "| padding | mask_outside | accuracy through --objects | largest gap on a field of 12 (objects - crops) |",
             "|---|---|---|---|"]
    for padding in PADDINGS:
        for mask in MASKS:
            acc, per_field = accuracy_through_objects(model, fields, ObjectOptions(padding=padding, mask_outside=mask))
            gap = max((o - d for o, d in zip(per_field, direct_fields)), key=abs)
            lines.append(f"| {padding} | {mask} | {acc:.3f} | {gap:+d} |")
            print(lines[-1], flush=True)
    return lines


def part_loop(tmp: Path, k: int, seed: int) -> list[str]:
    """Training crops cut from fields by the crops rule at padding p, test fields at the same p."""
    train_crops, test_crops = split_crops(k, seed)
    train_paths = [p for group in zip(*train_crops.values()) for p in group]
    train_fields, test_fields = fields_of(train_paths, seed + 100), fields_of(test_crops, seed)
    lines = ["| padding | accuracy (training crops made with the same padding) |", "|---|---|"]
    for padding in PADDINGS:
        options = ObjectOptions(padding=padding)
        dataset = tmp / f"loop{padding}"
        for n, f in enumerate(train_fields):
            for field in read_field(f.image, f.labels, f"f{n}.png", f"f{n}_masks.png", options):
                for obj in field.classified():
                    folder = dataset / f.truth[obj.value]
                    folder.mkdir(parents=True, exist_ok=True)
                    from PIL import Image

                    Image.fromarray(field.crop(obj)).save(folder / crop_name(field.image, obj.value))
        model = train_model(dataset, tmp / f"loop_run{padding}")
        acc, _ = accuracy_through_objects(model, test_fields, options)
        lines.append(f"| {padding} | {acc:.3f} |")
        print(lines[-1], flush=True)
    return lines


def part_time(tmp: Path, reps: int, seed: int) -> list[str]:
    train_crops, test_crops = split_crops(20, seed)
    dataset = make_dataset(tmp / "time_train", train_crops)
    all_crops = sorted(p for c in CLASSES for p in (SHARED / "bbbc013" / c).glob("*.png"))
    rng = np.random.default_rng(seed)
    fifty = [all_crops[i] for i in rng.permutation(len(all_crops))[:50]]
    image, labels = compose_field(fifty, side=1024, pitch=128, seed=seed).write(tmp / "field50")
    lines = [f"Field: 50 real crops in 1024 x 1024 px ({image.stat().st_size // 1024} KB PNG + "
             f"{labels.stat().st_size // 1024} KB label PNG); DSB 2018: 512 x 512 px, 125 nuclei, 16-bit. "
             f"Read from files, objects found, cropped and classified; the model warm (compiled once before); "
             f"median of {reps}.", "",
             "| model | runtime | 50 objects, 1024 px field (s) | DSB field, 125 nuclei (s) | load average during (1 min) |",
             "|---|---|---|---|---|"]
    for backbones, label in ((("efficientnet_lite0",), "Lite0"), (None, "default: Lite0+1+2 ensemble")):
        model = train_model(dataset, tmp / f"time_run_{label[:5]}", backbones)
        runtime = model.runtime_info
        model.predict_objects(image, labels)  # compile and warm
        times, dsb, loads = [], [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            rows = model.predict_objects(image, labels)
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.predict_objects(DSB_FIELD, DSB_LABELS)
            dsb.append(time.perf_counter() - t0)
            loads.append(os.getloadavg()[0])
        assert len(rows) == 50
        views = len(model.manifest.get('views') or [])
        name = f"{label}, {views} view{'s' if views > 1 else ''}, {model.input_size[0]} px"
        lines.append(f"| {name} | {runtime.get('name')} {runtime.get('precision', '')} | "
                     f"{statistics.median(times):.3f} | {statistics.median(dsb):.3f} | {statistics.mean(loads):.2f} |")
        print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["accuracy", "loop", "time"],
                        choices=["accuracy", "loop", "time"])
    parser.add_argument("--k", type=int, default=20, help="training crops per class")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "objects.md")
    args = parser.parse_args(argv)
    if not (SHARED / "bbbc013").is_dir():
        raise SystemExit(f"needs the full data sets in {SHARED}")
    import torch

    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    out = ["# Objects from label images: accuracy, padding, time per field", "",
           f"{time.strftime('%Y-%m-%d %H:%M')}, {cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
           f"({torch.get_num_threads()} threads); load average at the start {os.getloadavg()[0]:.2f} (1 min).", "",
           f"Command: `python benchmarks/bench_objects.py --parts {' '.join(args.parts)} --k {args.k} "
           f"--reps {args.reps}`", ""]
    with tempfile.TemporaryDirectory(prefix="bench-objects-") as tmp:
        tmp = Path(tmp)
        if "accuracy" in args.parts:
            out += ["## Through --objects against the crops themselves (model trained on the published crops)", ""]
            out += part_accuracy(tmp, args.k, args.seed) + [""]
        if "loop" in args.parts:
            out += ["## Crops made with `omniclas crops` train the model, --objects classifies", ""]
            out += part_loop(tmp, args.k, args.seed) + [""]
        if "time" in args.parts:
            out += ["## Time per field", ""]
            out += part_time(tmp, args.reps, args.seed) + [""]
    args.out.write_text("\n".join(out))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
