"""The Label next loop as Fiji's Label Images runs it (issue 25): how long a biologist waits at each step.

A copy of ../shared/data/bbbc013 with K labelled images per class (the rest of its labels left out) and its 596
unlabelled images, served by a real ``omniclas serve`` on loopback; the HTTP calls are those of the plugin:
1. ``POST /suggest`` without a model: the cold-start batch ("Label next" before any model),
2. ``POST /jobs {dataset, process: nd}`` polled until finished ("Retrain quickly"),
3. ``POST /suggest {job}``: the next batch from that job's model.
Two passes, each on a newly started server: the first with an empty cache (``$OMNICLAS_CACHE``: no converted
backbone, no stored feature), the second with the cache the first filled (the usual case: the pool does not change
between rounds). Prints a markdown table and writes it to benchmarks/results/label_next.md.

    python benchmarks/bench_label_next.py [--per-class 5] [--n 24]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

DATA = (ROOT / ".." / "shared" / "data" / "bbbc013").resolve()
OUT = ROOT / "benchmarks" / "results" / "label_next.md"


def make_dataset(dst: Path, per_class: int) -> tuple[int, int]:
    """K images per class (the first by name) and every unlabelled image; returns (labelled, unlabelled)."""
    labelled = 0
    for cls in sorted(p for p in DATA.iterdir() if p.is_dir() and p.name != "unlabelled"):
        (dst / cls.name).mkdir(parents=True)
        for f in sorted(cls.glob("*.png"))[:per_class]:
            shutil.copy(f, dst / cls.name / f.name)
            labelled += 1
    shutil.copytree(DATA / "unlabelled", dst / "unlabelled")
    return labelled, len(list((dst / "unlabelled").iterdir()))


def megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6 if folder.is_dir() else 0.0


def timed(step):
    start = time.perf_counter()
    value = step()
    return time.perf_counter() - start, value


def one_pass(session, url: str, dataset: Path, n: int) -> list[tuple[str, float, str]]:
    """The three steps of the loop: (step, seconds, what came back)."""
    def suggest(**choice):
        r = session.post(f"{url}/api/v1/suggest", json={"dataset": str(dataset), "n": n, **choice}, timeout=3600)
        r.raise_for_status()
        return r.json()

    def retrain():
        r = session.post(f"{url}/api/v1/jobs", json={"dataset": str(dataset), "process": "nd"}, timeout=60)
        r.raise_for_status()
        job_id = r.json()["job_id"]
        while True:
            job = session.get(f"{url}/api/v1/jobs/{job_id}", timeout=60).json()
            if job["state"] in ("finished", "failed", "cancelled", "interrupted"):
                return job
            time.sleep(0.5)

    rows = []
    s, cold = timed(suggest)
    rows.append(("Label next, no model (cold start)", s, f"{len(cold['suggestions'])} images, {cold['strategy']}"))
    s, job = timed(retrain)
    if job["state"] != "finished":
        raise RuntimeError(f"job {job['id']} {job['state']}: {job.get('error')}")
    acc = (job.get("result") or {}).get("test_accuracy")
    rows.append(("Retrain quickly (N.D., POST /jobs to finished)", s,
                 f"job finished, test accuracy {acc:.3f}" if acc is not None else "job finished"))
    s, warm = timed(lambda: suggest(job=job["id"]))
    rows.append(("Label next from the job's model", s, f"{len(warm['suggestions'])} images, {warm['strategy']}"))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=5, help="labelled images per class (default 5)")
    ap.add_argument("--n", type=int, default=24, help="images per batch, as Fiji asks (default 24)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found (the shared data folder)")
        return 0
    import requests

    from bench_server import cpu_name
    from live_server import server_env, start_server, stop_server

    rows, stored = [], []
    with tempfile.TemporaryDirectory(prefix="omniclas-label-next-") as tmp:
        work = Path(tmp)
        dataset = work / "data" / "bbbc013_next"
        labelled, pool = make_dataset(dataset, args.per_class)
        env = server_env(OMNICLAS_CACHE=work / "cache")
        for label in ("empty", "filled by pass 1"):
            proc, url = start_server(work / "models", work / "data", work / f"server-{len(rows)}.log",
                                     jobs_dir=work / f"jobs-{len(rows)}", env=env)
            try:
                rows += [(label, *row) for row in one_pass(requests.Session(), url, dataset, args.n)]
            finally:
                stop_server(proc)
            stored.append(megabytes(work / "cache" / "features"))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Label next: the loop's waiting times (benchmarks/bench_label_next.py)",
        "",
        f"{when}; {cpu_name()}, {os.cpu_count()} cores (shared with other work); bbbc013 with {args.per_class} "
        f"labelled images per class ({labelled} in all) and {pool} unlabelled; batches of {args.n}; the server's "
        "default N.D. (no distillation). Each pass on a newly started server; the cache holds converted backbones "
        "and the feature store.",
        "",
        "| cache | step | seconds | answer |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {cache} | {step} | {s:.1f} | {what} |" for cache, step, s, what in rows]
    lines += ["", "Feature store after each pass: " + ", ".join(f"{mb:.1f} MB" for mb in stored) + "."]
    lines += ["", "    python benchmarks/bench_label_next.py " + " ".join(argv if argv is not None else sys.argv[1:]), ""]
    text = "\n".join(lines)
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
