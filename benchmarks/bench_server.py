"""Prediction speed of the HTTP server: single-image latency (p50/p99) and batch throughput, fp32 vs bf16.

Trains a small model with the default backbone (efficientnet_lite0, linear head) on ../shared/data/bbbc013,
registers it in a temporary models root, starts ``omniclas serve`` twice (``--no-bf16`` and ``--bf16``) on
loopback, and times ``POST /api/v1/predict`` with real images. Prints a markdown table and writes it to
benchmarks/results/server.md.

    python benchmarks/bench_server.py [--image-size PX] [--single 200] [--batch 64] [--batches 10]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "python_server"))

DATA = (ROOT / ".." / "shared" / "data" / "bbbc013").resolve()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def percentile(values, q):
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def bench(url: str, model: str, images: list[Path], single: int, batch: int, batches: int) -> dict:
    import requests

    s = requests.Session()
    payload = [(p.name, p.read_bytes()) for p in images]

    def post(items):
        files = [("images", (n, b, "image/png")) for n, b in items]
        r = s.post(f"{url}/api/v1/predict", data={"model": model}, files=files, timeout=300)
        r.raise_for_status()
        return r.json()

    for i in range(10):  # warm-up: model load, first bf16/oneDNN kernels
        post(payload[i % len(payload): i % len(payload) + 1])
    post([payload[i % len(payload)] for i in range(batch)])
    lat = []
    for i in range(single):
        t0 = time.perf_counter()
        post([payload[i % len(payload)]])
        lat.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    n = 0
    for b in range(batches):
        items = [payload[(b * batch + i) % len(payload)] for i in range(batch)]
        n += len(post(items)["results"])
    dt = time.perf_counter() - t0
    return {"p50": statistics.median(lat), "p99": percentile(lat, 0.99), "throughput": n / dt}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=None,
                    help="network input size of the benchmarked model (default: the engine's choice for the data)")
    ap.add_argument("--single", type=int, default=200, help="single-image requests timed")
    ap.add_argument("--batch", type=int, default=64, help="images per batch request")
    ap.add_argument("--batches", type=int, default=10, help="batch requests timed")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "server.md"))
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: real data not found at {DATA}", file=sys.stderr)
        return 0

    import torch

    from live_server import start_server, stop_server
    from omniclas.config import TrainConfig
    from omniclas.engine import train
    from omniclas.model.runtime import bf16_supported
    from omniclas.registry import Registry

    work = Path(tempfile.mkdtemp(prefix="omniclas-bench-"))
    print(f"training efficientnet_lite0 (linear head, {args.image_size or 'default'} px) on {DATA} ...", flush=True)
    run = train(TrainConfig(dataset=str(DATA), out_dir=str(work / "run"), process="nd", head="linear",
                            image_size=args.image_size, backbones=("efficientnet_lite0",)))
    Registry(work / "models").register(run.run_dir, "bench")
    size = run.manifest["input_size"][0]
    images = sorted(p for p in DATA.rglob("*.png") if p.parent.name != "unlabelled")
    rows = []
    load_before = os.getloadavg()[0]
    for label, flag in (("fp32", "--no-bf16"), ("bf16", "--bf16")):
        proc, url = start_server(work / "models", DATA.parent, work / f"server-{label}.log", jobs_dir=work / "jobs",
                                 extra_args=[flag])
        try:
            print(f"timing {label} ...", flush=True)
            rows.append((label, bench(url, "bench", images, args.single, args.batch, args.batches)))
        finally:
            stop_server(proc)
    table = ["| precision | single image p50 (ms) | single image p99 (ms) | batch of "
             f"{args.batch} (images/s) |", "|---|---|---|---|"]
    for label, r in rows:
        table.append(f"| {label} | {r['p50']:.1f} | {r['p99']:.1f} | {r['throughput']:.0f} |")
    header = [
        "# Server prediction benchmark", "",
        f"`python benchmarks/bench_server.py{f' --image-size {args.image_size}' if args.image_size else ''}`: "
        f"`POST /api/v1/predict` over loopback (waitress, 4 threads), efficientnet_lite0 with a linear head at "
        f"{size} x {size} px (the engine's input size for this data unless --image-size), "
        f"real BBBC013 PNG crops (~35-70 px, resized by the server). Single image: {args.single} sequential "
        f"requests of one image; batch: {args.batches} requests of {args.batch} images. "
        f"Times include HTTP, multipart parsing, PNG decoding and resizing.", "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; native bf16: {'yes' if bf16_supported() else 'no (emulated)'}; "
        f"Python {platform.python_version()}. Load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after the timing (above ~0.5, other processes shared the cores and the numbers "
        f"are pessimistic).", ""]
    text = "\n".join(header + table) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
