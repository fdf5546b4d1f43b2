"""Plate-sized data: peak RSS and wall time of training (I.M.D.D.) and of ``omniclas predict`` as the folder grows.

The pool is generated from flowers5: random crops (60-100% of the side), flips and quarter turns of its images,
re-encoded as 128 px JPEGs, so 100,000 distinct images exist without a plate. The test set (25% of each class)
and the labelled images (k per class) are flowers5's own files; the generated pool comes only from the other
images, so no test image leaks into the pool.

Every run is its own process under ``/usr/bin/time -v`` (peak RSS is the kernel's maximum resident set size) with
an empty feature store and body cache (cold: features are computed, not read).

    python benchmarks/bench_scale.py --part train --sizes 3000,30000 [--baseline-src ../old/python_server]
    python benchmarks/bench_scale.py --part predict --sizes 3000,30000 --model runs/scale-train-3000
    python benchmarks/bench_scale.py --part workers --sizes 30000 --model runs/scale-train-3000

``--part workers`` classifies the pool as a predict job on a real redis-server, sharded over one and then two
``omniclas worker`` processes, each pinned to its own core (``taskset``, one thread), and compares the wall times
and the merged CSVs.

``--baseline-src`` runs the 3,000-image training again with another checkout's package (the design before the
feature store), to compare accuracy and memory. Results go to ``--out`` (markdown) and ``--jsonl``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared" / "data").resolve()
SIDE = 128


def split_flowers(k: int, seed: int):
    rng = np.random.default_rng(seed)
    classes = sorted(d.name for d in (SHARED / "flowers5").iterdir() if d.is_dir())
    parts = {}
    for cls in classes:
        files = sorted((SHARED / "flowers5" / cls).glob("*.jpg"))
        files = [files[i] for i in rng.permutation(len(files))]
        n_test = round(0.25 * len(files))
        parts[cls] = (files[:n_test], files[n_test:n_test + k], files[n_test + k:])
    return parts


def variant(path: Path, rng) -> Image.Image:
    """A random crop, flip and quarter turn of ``path``, at SIDE px."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    side = int(min(w, h) * rng.uniform(0.6, 1.0))
    x, y = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
    img = img.crop((x, y, x + side, y + side)).resize((SIDE, SIDE), Image.BILINEAR)
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img.rotate(90 * int(rng.integers(0, 4)))


def build_dataset(root: Path, n_pool: int, k: int, seed: int) -> Path:
    """root/<n>/{<class>/, test/<class>/, unlabelled/}: labelled and test are links to flowers5, the pool is made."""
    folder = root / f"flowers5-k{k}-pool{n_pool}"
    done = folder / ".complete"
    if done.exists():
        return folder
    rng = np.random.default_rng(seed)
    parts = split_flowers(k, seed)
    sources = [f for _, _, rest in parts.values() for f in rest]
    for cls, (test, labelled, _) in parts.items():
        for sub, files in ((folder / "test" / cls, test), (folder / cls, labelled)):
            sub.mkdir(parents=True, exist_ok=True)
            for f in files:
                if not (sub / f.name).exists():
                    (sub / f.name).symlink_to(f)
    pool = folder / "unlabelled"
    pool.mkdir(parents=True, exist_ok=True)
    for i in range(n_pool):  # one flat folder: the engine reads unlabelled/ without sub-folders
        target = pool / f"g{i:06d}.jpg"
        if target.exists():
            continue
        variant(sources[i % len(sources)], rng).save(target, quality=90)
    done.touch()
    return folder


def timed(cmd: list[str], env: dict) -> dict:
    """Run ``cmd`` under /usr/bin/time -v: wall seconds, peak RSS in MB, exit code, and the output's tail."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        start = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", stats.name, *cmd], env=env, capture_output=True, text=True)
        wall = time.monotonic() - start
        text = Path(stats.name).read_text()
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(rss_kb / 1024), "rc": proc.returncode,
            "tail": (proc.stdout + proc.stderr)[-2000:]}


def environment(src: Path, cache: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMNICLAS_CACHE=str(cache), OMP_WAIT_POLICY="PASSIVE")
    env.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
    return env


def run_train(folder: Path, out: Path, src: Path, seed: int) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="omniclas-scale-cache-"))
    cmd = [sys.executable, "-m", "omniclas", "train", str(folder), "--out", str(out), "--process", "imdd",
           "--backbones", "efficientnet_lite0", "--image-size", str(SIDE), "--seed", str(seed)]
    row = timed(cmd, environment(src, cache))
    manifest = out / "manifest.json"
    if row["rc"] == 0 and manifest.is_file():
        m = json.loads(manifest.read_text())
        row.update(test_accuracy=m["test"]["accuracy"], test_images=m["test"]["images"],
                   auto_labelled=len(m.get("auto_labelled") or []), rounds=len(m.get("iterations") or []),
                   stage_seconds=m.get("stage_seconds"))
    subprocess.run(["rm", "-rf", str(cache)])
    return row


def run_predict(model: Path, folder: Path, csv: Path, src: Path) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="omniclas-scale-cache-"))
    csv.unlink(missing_ok=True)
    row = timed([sys.executable, "-m", "omniclas", "predict", str(model), str(folder), "--csv", str(csv)],
                environment(src, cache))
    row["rows"] = max(0, sum(1 for _ in csv.open()) - 1) if csv.is_file() else 0
    subprocess.run(["rm", "-rf", str(cache)])
    return row


def body_throughput(model: Path, n: int = 512) -> float:
    """Images/s of the model's bodies alone on random 128 px input (the fastest runtime, compiled, warmed)."""
    sys.path.insert(0, str(ROOT / "python_server"))
    import torch

    from omniclas.model.predictor import Predictor

    p = Predictor.load(model)
    x = torch.rand(n, 3, *p.input_size)
    p.probabilities(x[:64])  # compile and warm
    start = time.monotonic()
    p.probabilities(x)
    return n / (time.monotonic() - start)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_workers(model: Path, folder: Path, n_workers: int, work: Path, src: Path) -> dict:
    """Wall time of a predict job over ``folder`` on ``n_workers`` RQ workers pinned to cores 0..n-1."""
    import shutil

    import redis

    sys.path.insert(0, str(src))
    from omniclas.registry import Registry
    from omniclas.server import create_app

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    Registry(work / "models").register(model, "scale")
    app = create_app({"MODELS_ROOT": str(work / "models"), "DATASET_ROOTS": [str(folder.parent)],
                      "JOBS_DIR": str(work / "jobs"), "QUEUE": url})
    client = app.test_client()
    env = environment(src, work / "cache")
    env.update(OMP_NUM_THREADS="1")
    log = open(work / "workers.log", "wb")
    workers = [subprocess.Popen(["taskset", "-c", str(i), sys.executable, "-m", "omniclas", "worker", "--queue", url,
                                 "--threads", "1"], stdout=log, stderr=subprocess.STDOUT, env=env)
               for i in range(n_workers)]
    try:
        time.sleep(10)  # the workers import torch before the clock starts
        start = time.monotonic()
        job = client.post("/api/v1/jobs", json={"kind": "predict", "model": "scale", "folder": str(folder)}).get_json()
        while job["state"] not in ("finished", "failed", "cancelled"):
            time.sleep(2)
            job = client.get(f"/api/v1/jobs/{job['id']}").get_json()
        wall = time.monotonic() - start
        csv_text = client.get(f"/api/v1/jobs/{job['id']}/results.csv").get_data(as_text=True)
    finally:
        for w in workers:
            w.terminate()
            w.wait(30)
        log.close()
        app.extensions["omniclas"].close()
        server.terminate()
        server.wait(10)
    return {"workers": n_workers, "wall_s": round(wall, 1), "state": job["state"], "csv": csv_text,
            "images_per_s": round(len(csv_text.splitlines()) / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("train", "predict", "workers"), required=True)
    ap.add_argument("--sizes", default="3000,30000", help="pool sizes (unlabelled images), comma-separated")
    ap.add_argument("--k", type=int, default=20, help="labelled images per class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "omniclas-scale"),
                    help="where the generated pools go (100,000 images: about 0.6 GB)")
    ap.add_argument("--baseline-src", help="python_server folder of an older checkout, run at the first size")
    ap.add_argument("--model", help="--part predict: the run folder to classify with")
    ap.add_argument("--jsonl", default=str(ROOT / "benchmarks" / "results" / "scale.jsonl"))
    args = ap.parse_args()
    data = Path(args.data)
    src = ROOT / "python_server"
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        folder = build_dataset(data, n, args.k, args.seed)
        if args.part == "train":
            jobs = [("current", src)] + ([("baseline", Path(args.baseline_src).resolve())]
                                         if args.baseline_src and n == sizes[0] else [])
            for code, where in jobs:
                row = run_train(folder, data / "runs" / f"train-{code}-{n}", where, args.seed)
                rows.append({"part": "train", "code": code, "images": n, **row})
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "tail"}), flush=True)
        elif args.part == "workers":
            one, two = (run_workers(Path(args.model), folder / "unlabelled", w, data / "workers", src) for w in (1, 2))
            same = one.pop("csv") == two.pop("csv")
            for r in (one, two):
                rows.append({"part": "workers", "code": "current", "images": n, "peak_rss_mb": 0, "rc": 0,
                             "same_csv": same, "ratio": round(two["wall_s"] / one["wall_s"], 2), **r})
                print(json.dumps(rows[-1]), flush=True)
        else:
            row = run_predict(Path(args.model), folder / "unlabelled", data / f"predict-{n}.csv", src)
            row["body_images_per_s"] = round(body_throughput(Path(args.model)), 1)
            row["images_per_s"] = round(n / row["wall_s"], 1)
            rows.append({"part": "predict", "code": "current", "images": n, **row})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "tail"}), flush=True)
    stamp = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, "
                                                           f"{os.cpu_count()} cores"}
    with open(args.jsonl, "a") as f:
        for r in rows:
            f.write(json.dumps({**stamp, **r}) + "\n")
    print("\n| part | code | images | wall s | peak RSS MB | test accuracy | rc |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['part']} | {r['code']} | {r['images']:,} | {r['wall_s']} | {r['peak_rss_mb']:,} | "
              f"{r.get('test_accuracy', '')} | {r['rc']} |")


if __name__ == "__main__":
    main()
