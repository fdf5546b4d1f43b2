"""Benchmark CPU inference: fp32 vs bf16 autocast, contiguous vs channels_last, and what bf16 does to predictions.

1. Throughput of the backbone body (the part that runs in bf16; the linear head is always float32) for
   EfficientNet-Lite0/1/2 at 128 and 224 px, batch 64, in four modes: fp32 contiguous, fp32 channels_last,
   bf16 autocast contiguous, bf16 autocast + channels_last (the package's mode: ``preprocess.run_batches``).
   Plus batch-1 latency of Lite0. All at 1 thread; Lite0 also at torch's default thread count. The modes are
   interleaved within each repetition, so load from other processes on a shared machine hits them alike; the
   median over repetitions is reported.
2. Agreement: a Lite0 model trained with process N.D. (linear head) on each dataset, loaded with
   ``Predictor.load(run_dir, bf16=False)`` and ``bf16=True``; compared on the held-out test images and, for
   BBBC013, its 596 unlabelled images. The head is fitted on bf16 features (the default where the CPU supports
   bf16) and, in a second run, on fp32 features.
3. A full test-time-augmentation labelling pass (the engine's ``ImageBank.predict_proba`` over 6 views) of
   BBBC013's 596 unlabelled images with the Lite0 model, fp32 vs bf16; the views are interleaved between modes.

    python benchmarks/bench_inference.py                       # everything (about 20 min on 2 busy cores)
    python benchmarks/bench_inference.py --skip-accuracy --skip-tta --threads 1 --reps 5

The data in ../shared/data is read in place. Prints markdown tables and writes benchmarks/results/inference.md.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_server"))

from omniclas.backbones import create_body, get_backbone_cfg  # noqa: E402
from omniclas.config import TRANSFORMS, TrainConfig  # noqa: E402
from omniclas.data import load_dataset  # noqa: E402
from omniclas.engine import train  # noqa: E402
from omniclas.engine.base_models import BaseModel, ImageBank  # noqa: E402
from omniclas.engine.tta import tta_views  # noqa: E402
from omniclas.engine.vote import accept, ensemble_vote  # noqa: E402
from omniclas.imageio import read_image  # noqa: E402
from omniclas.predictor import Predictor  # noqa: E402
from omniclas.preprocess import bf16_supported, inference_context, normalise, resize_batch, run_batches  # noqa: E402

SHARED = (ROOT / ".." / "shared" / "data").resolve()
BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
SUMMARY: list[str] = []  # one line per key figure, written at the top of the results file
FEATURE_ERRORS: list[str] = []  # rows: relative error of bf16 body features
# (label, bf16 autocast, channels_last); the last is what run_batches does.
MODES = (("fp32", False, False), ("fp32 + CL", False, True), ("bf16", True, False), ("bf16 + CL", True, True))


def cpu_description() -> str:
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name in ("", "x86_64"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return f"{name} ({', '.join(isa) or 'no AVX-512'}), {os.cpu_count()} logical CPUs"


@torch.inference_mode()
def forward(body: torch.nn.Module, x_unit: torch.Tensor, mean, std, bf16: bool, channels_last: bool) -> torch.Tensor:
    """One batch as ``preprocess.run_batches`` runs it, with the memory format as a choice."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    batch = normalise(x_unit, mean, std).contiguous(memory_format=fmt)
    with inference_context(bf16):
        return body(batch).float()


def time_modes(bodies: dict, x_unit, mean, std, reps: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each mode; modes interleaved within each repetition; warm-up calls discarded."""
    times = {label: [] for label, _, _ in MODES}
    for r in range(warmup + reps):
        for label, bf16, cl in MODES:
            start = time.perf_counter()
            forward(bodies[cl], x_unit, mean, std, bf16, cl)
            if r >= warmup:
                times[label].append(time.perf_counter() - start)
    return times


def load_bodies(name: str) -> dict:
    """The pretrained body twice: contiguous weights (key False) and channels_last weights (key True)."""
    body, _ = create_body(name, pretrained=True)
    body.eval()
    return {False: body, True: copy.deepcopy(body).to(memory_format=torch.channels_last)}


def bench_throughput(sizes, batch: int, reps: int, warmup: int, backbones, threads, lite0_threads) -> list[str]:
    rows = []
    gen = torch.Generator().manual_seed(0)
    for name in backbones:
        cfg, bodies = get_backbone_cfg(name), load_bodies(name)
        for size in sizes:
            x = torch.rand(batch, 3, size, size, generator=gen)
            for n_threads in (lite0_threads if name == "efficientnet_lite0" else threads):
                torch.set_num_threads(n_threads)
                times = time_modes(bodies, x, cfg.mean, cfg.std, reps, warmup)
                ips = {m: batch / statistics.median(t) for m, t in times.items()}
                row = (f"| {name} | {size} | {n_threads} | " + " | ".join(f"{ips[m]:.0f}" for m, _, _ in MODES)
                       + f" | **{ips['bf16 + CL'] / ips['fp32']:.2f}x** | {ips['bf16 + CL'] / ips['fp32 + CL']:.2f}x |")
                print(row, flush=True)
                rows.append(row)
                if name == "efficientnet_lite0":
                    SUMMARY.append(f"Lite0 @{size}px, batch {batch}, {n_threads} thread(s): bf16 + channels_last is "
                                   f"{ips['bf16 + CL'] / ips['fp32']:.2f}x the throughput of fp32 contiguous "
                                   f"({ips['fp32']:.0f} -> {ips['bf16 + CL']:.0f} images/s), "
                                   f"{ips['bf16 + CL'] / ips['fp32 + CL']:.2f}x fp32 + channels_last.")
    return rows


def bench_latency(sizes, reps: int, warmup: int, threads, name: str = "efficientnet_lite0") -> list[str]:
    cfg, bodies = get_backbone_cfg(name), load_bodies(name)
    rows = []
    gen = torch.Generator().manual_seed(1)
    for size in sizes:
        x = torch.rand(1, 3, size, size, generator=gen)
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            times = time_modes(bodies, x, cfg.mean, cfg.std, reps, warmup)
            ms = {m: 1000 * statistics.median(t) for m, t in times.items()}
            row = (f"| {name} | {size} | {n_threads} | " + " | ".join(f"{ms[m]:.1f}" for m, _, _ in MODES)
                   + f" | **{ms['fp32'] / ms['bf16 + CL']:.2f}x** |")
            print(row, flush=True)
            rows.append(row)
    return rows


def train_nd(dataset: Path, out: Path, bf16: bool):
    cfg = TrainConfig(dataset=str(dataset), out_dir=str(out), process="nd", backbones=("efficientnet_lite0",),
                      bf16=bf16)
    start = time.monotonic()
    result = train(cfg)
    return result, time.monotonic() - start


def compare(p32: np.ndarray, p16: np.ndarray, y: np.ndarray | None) -> dict:
    out = {"n": len(p32), "same_top1": float((p32.argmax(1) == p16.argmax(1)).mean()),
           "max_abs_diff": float(np.abs(p32 - p16).max()), "mean_abs_diff": float(np.abs(p32 - p16).mean())}
    if y is not None:
        out["acc32"] = float((p32.argmax(1) == y).mean())
        out["acc16"] = float((p16.argmax(1) == y).mean())
    return out


def bench_agreement(datasets, tmp: Path) -> tuple[list[str], dict]:
    """Rows of the agreement table; also returns the trained BBBC013 run (for the TTA pass)."""
    rows, runs = [], {}
    for name in datasets:
        src = SHARED / name
        for head_bf16 in (True, False):
            out = tmp / f"{name}-nd-{'bf16' if head_bf16 else 'fp32'}"
            result, wall = train_nd(src, out, head_bf16)
            runs[(name, head_bf16)] = out
            m = result.manifest
            test = sorted(rel for rel, where in m["splits"].items() if where == "test")
            y_test = np.array([m["classes"].index(rel.split("/")[0]) for rel in test])
            test_images = [read_image(src / rel) for rel in test]
            unl_dir = src / "unlabelled"
            unl_images = [read_image(p) for p in sorted(unl_dir.iterdir())] if unl_dir.is_dir() else []
            probs, secs, feats = {}, {}, {}
            for bf16 in (False, True):
                predictor = Predictor.load(out, bf16=bf16)
                start = time.perf_counter()
                probs[bf16] = (predictor.predict_proba(test_images),
                               predictor.predict_proba(unl_images) if unl_images else None)
                secs[bf16] = time.perf_counter() - start
                feats[bf16] = run_batches(predictor.model.body, predictor.preprocess(test_images), predictor.mean,
                                          predictor.std, bf16, predictor.batch_size).numpy()
            # How far the pooled body features move: |f_bf16 - f_fp32| / |f_fp32| per test image.
            rel = np.linalg.norm(feats[True] - feats[False], axis=1) / np.linalg.norm(feats[False], axis=1)
            if head_bf16:
                SUMMARY.append(f"{name}: bf16 moves the pooled Lite0 features by {np.median(rel):.1%} of their length "
                               f"(median over the test images; max {rel.max():.1%}).")
                FEATURE_ERRORS.append(f"| {name} @{m['input_size'][0]}px | {len(rel)} | {np.median(rel):.3f} | "
                                      f"{rel.max():.3f} |")
            head = "bf16 features" if head_bf16 else "fp32 features"
            c = compare(probs[False][0], probs[True][0], y_test)
            row = (f"| {name} @{m['input_size'][0]}px | {head} | test | {c['n']} | {c['same_top1']:.4f} | "
                   f"{c['max_abs_diff']:.4f} | {c['mean_abs_diff']:.5f} | {c['acc32']:.3f} | {c['acc16']:.3f} |")
            print(row, flush=True)
            rows.append(row)
            SUMMARY.append(f"{name}, head on {head}: bf16 and fp32 give the same top-1 class for "
                           f"{c['same_top1']:.1%} of {c['n']} test images (max probability difference "
                           f"{c['max_abs_diff']:.2f}); test accuracy fp32 {c['acc32']:.3f}, bf16 {c['acc16']:.3f}.")
            if unl_images:
                c = compare(probs[False][1], probs[True][1], None)
                row = (f"| {name} @{m['input_size'][0]}px | {head} | unlabelled | {c['n']} | {c['same_top1']:.4f} | "
                       f"{c['max_abs_diff']:.4f} | {c['mean_abs_diff']:.5f} | - | - |")
                print(row, flush=True)
                rows.append(row)
                SUMMARY.append(f"{name}, head on {head}: same top-1 class for {c['same_top1']:.1%} of {c['n']} "
                               f"unlabelled images (max probability difference {c['max_abs_diff']:.2f}).")
            print(f"<!-- {name}, head on {head}: training {wall:.0f} s; predicting test+unlabelled "
                  f"fp32 {secs[False]:.1f} s, bf16 {secs[True]:.1f} s -->", flush=True)
    return rows, runs


def bench_tta_pass(run_dir: Path, reps: int, batch_size: int) -> list[str]:
    """The engine's labelling pass (ImageBank.predict_proba per view, then the vote) for bbbc013/unlabelled."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    size = manifest["input_size"][0]
    ds = load_dataset(SHARED / "bbbc013")
    x = resize_batch([ds.images[p] for p in ds.unlabelled], size)
    idx = np.arange(len(ds.unlabelled))
    views = [v for v, _ in tta_views(TRANSFORMS)]
    totals = {False: [], True: []}
    votes = {}
    for _ in range(reps):
        banks, probs, spent = {}, {False: [], True: []}, {False: 0.0, True: 0.0}
        models = {}
        for bf16 in (False, True):
            banks[bf16] = ImageBank(x, bf16, batch_size, lambda **kw: None)
            banks[bf16].pretrained(manifest["backbone"], 2)  # read the ImageNet weights from disk before timing
            models[bf16] = BaseModel(manifest["backbone"], "linear", Predictor.load(run_dir, bf16=bf16).model, 0, 0)
        for view in views:  # interleave the modes view by view
            for bf16 in (False, True):
                start = time.perf_counter()
                probs[bf16].append(banks[bf16].predict_proba(models[bf16], idx, view))
                spent[bf16] += time.perf_counter() - start
        for bf16 in (False, True):
            start = time.perf_counter()
            votes[bf16] = ensemble_vote(np.stack(probs[bf16]))
            spent[bf16] += time.perf_counter() - start
            totals[bf16].append(spent[bf16])
    n_views = len(views) * len(idx)
    rows = []
    for bf16 in (False, True):
        t = statistics.median(totals[bf16])
        rows.append(f"| {'bf16 + CL' if bf16 else 'fp32 + CL'} | {len(idx)} x {len(views)} views @{size}px | "
                    f"{t:.1f} | {n_views / t:.0f} | {len(accept(votes[bf16], 0.8))} |")
    same = float((votes[False].labels == votes[True].labels).mean())
    t32, t16 = statistics.median(totals[False]), statistics.median(totals[True])
    SUMMARY.append(f"TTA labelling pass (Lite0, {len(idx)} images x {len(views)} views @{size}px, "
                   f"{torch.get_num_threads()} thread(s)): fp32 {t32:.0f} s, bf16 {t16:.0f} s ({t32 / t16:.2f}x); "
                   f"the vote gives the same label for {same:.1%} of images; accepted at 0.8: "
                   f"{len(accept(votes[False], 0.8))} (fp32) vs {len(accept(votes[True], 0.8))} (bf16).")
    rows.append(f"| speed-up | | {statistics.median(totals[False]) / statistics.median(totals[True]):.2f}x | | "
                f"vote labels identical: {same:.4f} |")
    for r in rows:
        print(r, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--sizes", default="128,224")
    default_threads = torch.get_num_threads()
    ap.add_argument("--threads", default="1", help="torch thread counts for the throughput and latency tables")
    ap.add_argument("--lite0-threads", default=str(default_threads) if default_threads > 1 else "",
                    help="further thread counts measured for Lite0 only (default: torch's default)")
    ap.add_argument("--work-threads", type=int, default=1,
                    help="torch and BLAS threads for the agreement and TTA sections (1: steadier timings on a "
                         "shared machine)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per mode (batch 64); median reported")
    ap.add_argument("--latency-reps", type=int, default=20, help="timed repetitions per mode at batch 1")
    ap.add_argument("--tta-reps", type=int, default=1)
    ap.add_argument("--datasets", default="bbbc013,bccd_wbc", help="for the fp32-vs-bf16 agreement")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-tta", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "inference.md"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    lite0_threads = list(dict.fromkeys(threads + [int(t) for t in args.lite0_threads.split(",") if t]))
    started, load_start = time.monotonic(), os.getloadavg()
    sections = []
    if not bf16_supported():
        print("warning: this CPU has no native bf16; bf16 numbers will be emulated and slow", flush=True)

    if not args.skip_throughput:
        head = ("| backbone | px | threads | " + " | ".join(m for m, _, _ in MODES)
                + " | bf16+CL vs fp32 | bf16+CL vs fp32+CL |\n|---|---|---|---|---|---|---|---|---|")
        print(f"\nBody forward, batch {args.batch}, images/s (median of {args.reps}):\n\n{head}", flush=True)
        rows = bench_throughput(sizes, args.batch, args.reps, 1, args.backbones.split(","), threads, lite0_threads)
        sections.append(f"## Throughput: body forward, batch {args.batch}, images/s (median of {args.reps}, "
                        f"after 1 warm-up)\n\nCL = channels_last (input and weights). Higher is better.\n\n"
                        + head + "\n" + "\n".join(rows))
        head = ("| backbone | px | threads | " + " | ".join(m for m, _, _ in MODES) + " | fp32 / bf16+CL |\n"
                "|---|---|---|---|---|---|---|---|")
        print(f"\nBatch-1 latency, ms (median of {args.latency_reps}):\n\n{head}", flush=True)
        rows = bench_latency(sizes, args.latency_reps, 3, lite0_threads)
        sections.append(f"## Latency: one image, ms (median of {args.latency_reps}, after 3 warm-ups)\n\n"
                        "Lower is better.\n\n" + head + "\n" + "\n".join(rows))

    torch.set_num_threads(args.work_threads)
    threadpool_limits(args.work_threads)  # scikit-learn's BLAS in training, likewise
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        if not args.skip_accuracy or not args.skip_tta:
            datasets = args.datasets.split(",") if not args.skip_accuracy else ["bbbc013"]
            if "bbbc013" not in datasets and not args.skip_tta:
                datasets.append("bbbc013")
            head = ("| dataset | head fitted on | images | n | identical top-1 | max abs prob diff | "
                    "mean abs prob diff | acc fp32 | acc bf16 |\n|---|---|---|---|---|---|---|---|---|")
            print(f"\nPredictor.load(bf16=False) vs (bf16=True), Lite0 N.D. linear head:\n\n{head}", flush=True)
            rows, runs = bench_agreement(datasets, Path(tmp))
            if not args.skip_accuracy:
                sections.append(
                    "## Agreement: `Predictor.load(run, bf16=False)` vs `bf16=True`\n\n"
                    "Model: EfficientNet-Lite0 + linear head (process N.D., seed 0, the engine's default split and "
                    "image size). Its head was fitted on features computed in bf16 (the default where the CPU "
                    "supports it) or in fp32 (`TrainConfig(bf16=False)`). Probabilities are compared image by "
                    "image; accuracy is on the held-out test split.\n\n" + head + "\n" + "\n".join(rows)
                    + "\n\nWhy the probabilities move: the relative error of the pooled body features in bf16, "
                    "norm(f_bf16 - f_fp32) / norm(f_fp32) per test image. It grows through the network's blocks (under "
                    "1% after the stem, over 10% at the pooled output in a layer-by-layer probe), and the head "
                    "fitted with C = 100 on unit-length features turns that into logit changes of up to about "
                    "1.\n\n| dataset | test images | median | max |\n|---|---|---|---|\n" + "\n".join(FEATURE_ERRORS))
        if not args.skip_tta:
            head = ("| mode | images | seconds | images/s (views count) | accepted at 0.8 |\n|---|---|---|---|---|")
            print(f"\nTTA labelling pass, bbbc013/unlabelled, Lite0:\n\n{head}", flush=True)
            rows = bench_tta_pass(runs[("bbbc013", True)], args.tta_reps, TrainConfig(dataset="").batch_size)
            sections.append(
                f"## A full TTA labelling pass: BBBC013's unlabelled images, Lite0, 6 views (median of "
                f"{args.tta_reps})\n\n"
                "The engine's own path: a fresh `ImageBank` per mode, `predict_proba` per view (features computed "
                "in batches of 32, as in training, then the linear head), then `ensemble_vote`. ImageNet weights "
                "are read from disk before the clock starts. Views are interleaved between the two modes.\n\n"
                + head + "\n" + "\n".join(rows))

    wall = time.monotonic() - started
    load_end = os.getloadavg()
    header = (
        f"# Inference benchmark: fp32 vs bf16, contiguous vs channels_last\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')}, {cpu_description()}, torch {torch.__version__} "
        f"(default {default_threads} threads), bf16 native: {bf16_supported()}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}.\n\n"
        f"Command: `{' '.join(['python', 'benchmarks/bench_inference.py', *sys.argv[1:]])}` ({wall / 60:.0f} min)\n\n"
        f"**The machine was shared** with other people's test and benchmark runs (1-min load average "
        f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end, on {os.cpu_count()} CPUs), so absolute "
        f"numbers are noisy and low; the modes are interleaved so ratios between them are the more reliable "
        f"figures.\n\n"
        f"Threads: with 2 threads on 2 cores that other processes also use, OpenMP threads spin-wait at every "
        f"barrier while the other core is taken, so 2 threads ran slower than 1, and erratically (in an "
        f"earlier run of this script a batch-1 forward at 128 px took 1.9 s at 2 threads vs 9 ms at 1; in a probe, "
        f"OMP_WAIT_POLICY=passive recovered most of the loss). The 1-thread rows are "
        f"the clean comparison of the modes; on an idle machine more threads are faster. The same holds for "
        f"scikit-learn's BLAS threads when fitting the linear head (3.3 s vs 0.13 s for one fit in a probe), "
        f"so the agreement and TTA sections run at --work-threads (default 1) for torch and BLAS.\n")
    summary = "## Summary\n\n" + "\n".join(f"- {line}" for line in SUMMARY) + "\n"
    Path(args.out).write_text(header + "\n" + summary + "\n" + "\n\n".join(sections) + "\n")
    print(f"\nwrote {args.out} ({wall / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
