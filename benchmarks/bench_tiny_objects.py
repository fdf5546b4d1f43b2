"""Benchmark of a label image of many tiny objects (issue 24): 9,999 one-pixel objects on the real DSB 2018 field
(tests/data/dsb2018, 512 x 512), classified through ``object_rows`` (identical crops classified once) against
every crop through the model, 64 at a time (what ``object_rows`` did before).

A tiny model (process N.D., linear head, 64 px, efficientnet_lite0) is trained on tests/data/bbbc013 first.
Reported: model runs, seconds (median of the repetitions) and the largest difference in confidence between the
two; with the machine's load average.

    python benchmarks/bench_tiny_objects.py [--objects 9999] [--reps 3]

Writes benchmarks/results/tiny_objects.md.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "python_server"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=9999)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tiny_objects.md")
    args = ap.parse_args(argv)

    import numpy as np
    from PIL import Image

    from live_server import DATA_ROOT, train_tiny_run
    from omniclas.data.imageio import Budget, read_image
    from omniclas.data.labels import ObjectLimit
    from omniclas.data.objects import ObjectOptions, object_rows, read_field
    from omniclas.registry import Registry
    from omniclas.registry.manifest import input_size

    work = Path(tempfile.mkdtemp(prefix="omniclas-bench-tiny-"))
    print("training the tiny model on tests/data/bbbc013 ...", flush=True)
    Registry(work / "models").register(train_tiny_run(work / "run"), "tiny")
    _, _, manifest, model = Registry(work / "models", bf16=False).load("tiny")
    size = input_size(manifest)

    rgb = read_image(DATA_ROOT / "dsb2018" / "dsb2018_field.png")
    labels = np.zeros(rgb.shape[:2], np.uint16)
    ys, xs = np.mgrid[0:rgb.shape[0]:2, 0:rgb.shape[1]:2]
    spots = list(zip(ys.ravel(), xs.ravel()))[:args.objects]
    for value, (y, x) in enumerate(spots, 1):
        labels[y, x] = value
    files = []
    for arr in (rgb, labels):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG")
        files.append(buf.getvalue())
    fields = read_field(files[0], files[1], "field.png", "field_masks.png", ObjectOptions(), Budget(),
                        ObjectLimit(None))
    runs = []

    def classify(crops):
        runs.append(len(crops))
        return Registry.classify(model, crops)

    def every_crop():  # each object's crop through the model, 64 at a time
        crops = [f.crop(o, size) for f in fields for o in f.classified()]
        return [r for start in range(0, len(crops), 64) for r in classify(crops[start:start + 64])]

    load = os.getloadavg()[0]
    timings = {}
    for label, run in (("every crop (before)", every_crop),
                       ("object_rows, identical crops once", lambda: object_rows(fields, classify, size=size))):
        seconds = []
        for _ in range(args.reps):
            runs.clear()
            t0 = time.perf_counter()
            rows = run()
            seconds.append(time.perf_counter() - t0)
        timings[label] = (sum(runs), statistics.median(seconds), rows)
        print(f"{label}: {sum(runs)} model runs, {statistics.median(seconds):.2f} s", flush=True)
    before, after = (v[2] for v in timings.values())
    diff = max(abs(a["confidence"] - b["confidence"]) for a, b in zip(before, after))
    same = all(a["class"] == b["class"] for a, b in zip(before, after))
    lines = ["# Many tiny objects", "",
             f"`python benchmarks/bench_tiny_objects.py --objects {args.objects} --reps {args.reps}`: "
             f"{len(spots)} one-pixel objects on the DSB 2018 field ({rgb.shape[1]} x {rgb.shape[0]}), the tiny "
             f"model (efficientnet_lite0, linear head, {size[0]} px, fp32); median of {args.reps} runs. Load "
             f"average {load:.1f} before (2 shared cores: above ~0.5 other processes took part of them).", "",
             "| path | model runs (crops) | seconds |", "|---|---|---|"]
    lines += [f"| {label} | {n} | {s:.2f} |" for label, (n, s, _) in timings.items()]
    lines += ["", f"Same class for every object: {'yes' if same else 'NO'}; largest confidence difference {diff:.2g}."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
