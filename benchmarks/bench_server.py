"""Prediction speed of the HTTP server: single-image latency (p50/p99) and batch throughput, fp32 vs bf16; and
the server under load with slow clients: 200 idle connections and 20 clients predicting at once.

Trains a small model with the default backbone (efficientnet_lite0, linear head) on ../shared/data/bbbc013,
registers it in a temporary models root, starts ``omniclas serve`` twice (``--no-bf16`` and ``--bf16``) on
loopback, and times ``POST /api/v1/predict`` with real images. Then, on a third server (default settings), it
times ``/health`` and one-image ``/predict`` alone, then again while 200 connections sit open (half silent, half
sending a header byte a second, as a slow or hostile client would) and 20 clients predict without pause, and
reads the server's resident memory before and after. Prints markdown tables and writes them to
benchmarks/results/server.md.

    python benchmarks/bench_server.py [--image-size PX] [--single 200] [--batch 64] [--batches 10]
                                      [--idle 200] [--active 20] [--load-s 60]
"""
from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_gets(url: str, n: int, pause: float = 0.0) -> list[float]:
    import requests

    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        requests.get(f"{url}/health", timeout=60).raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
        time.sleep(pause)
    return out


def load(url: str, pid: int, model: str, images: list[Path], idle: int, active: int, seconds: float) -> dict:
    """Latencies of /health and one-image /predict alone, then with ``idle`` open connections (half silent, half
    trickling a header byte a second) and ``active`` clients predicting for ``seconds``; the server's RSS."""
    import requests

    port = int(url.rsplit(":", 1)[1])
    payload = [(p.name, p.read_bytes()) for p in images]

    def predict_once(session, i):
        n, b = payload[i % len(payload)]
        t0 = time.perf_counter()
        r = session.post(f"{url}/api/v1/predict", data={"model": model}, files=[("images", (n, b, "image/png"))],
                         timeout=300)
        return r.status_code, (time.perf_counter() - t0) * 1000

    session = requests.Session()
    for i in range(10):
        predict_once(session, i)  # warm-up
    out = {"rss_before": rss_mb(pid), "health_alone": timed_gets(url, 50, 0.05),
           "predict_alone": [predict_once(session, i)[1] for i in range(50)]}
    socks = []
    for i in range(idle):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(sock)
    stop = threading.Event()
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def client(k):
        s = requests.Session()
        i = k
        while not stop.is_set():
            try:
                got = predict_once(s, i)
            except requests.RequestException:
                got = (0, float("nan"))
            with lock:
                results.append(got)
            i += active

    def trickle():
        while not stop.wait(1.0):
            for sock in socks[1::2]:
                try:
                    sock.send(b"X")
                except OSError:
                    pass

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(active)]
    threads.append(threading.Thread(target=trickle, daemon=True))
    for t in threads:
        t.start()
    health = []
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        health += timed_gets(url, 1)
        time.sleep(0.25)
    stop.set()
    for t in threads:
        t.join(timeout=320)
    closed = timed_out = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            data = sock.recv(65536)  # b"": closed silently (idle); a 408 answer, then closed (trickling)
            timed_out += data.split(b"\r\n", 1)[0].endswith(b" 408 Request Timeout")
            closed += data == b"" or data.startswith(b"HTTP/")
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        sock.close()
    ok = [ms for status, ms in results if status == 200]
    out.update(health_loaded=health, predict_loaded=ok, predict_failed=len(results) - len(ok),
               idle_closed=closed, timed_out=timed_out, rss_after=rss_mb(pid))
    return out


def load_table(r: dict, idle: int, active: int, seconds: float) -> list[str]:
    def pct(values):
        return f"{statistics.median(values):.1f} / {percentile(values, 0.99):.1f}" if values else "-"

    return [
        f"| condition | /health p50 / p99 (ms) | one-image /predict p50 / p99 (ms) | /predict answers (non-200) |",
        "|---|---|---|---|",
        f"| alone | {pct(r['health_alone'])} | {pct(r['predict_alone'])} | {len(r['predict_alone'])} (0) |",
        f"| {idle} idle/trickling connections + {active} clients predicting, {seconds:.0f} s | "
        f"{pct(r['health_loaded'])} | {pct(r['predict_loaded'])} | {len(r['predict_loaded'])} "
        f"({r['predict_failed']}) |", "",
        f"Server RSS: {r['rss_before']:.0f} MB before the load, {r['rss_after']:.0f} MB after. "
        f"Of the {idle} connections held open, the server had closed {r['idle_closed']} by the end: the silent "
        f"ones after --idle-timeout (30 s), and {r['timed_out']} trickling ones with a 408 after --header-timeout "
        f"(10 s)."]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=None,
                    help="network input size of the benchmarked model (default: the engine's choice for the data)")
    ap.add_argument("--single", type=int, default=200, help="single-image requests timed")
    ap.add_argument("--batch", type=int, default=64, help="images per batch request")
    ap.add_argument("--batches", type=int, default=10, help="batch requests timed")
    ap.add_argument("--idle", type=int, default=200, help="idle or trickling connections held during the load")
    ap.add_argument("--active", type=int, default=20, help="clients predicting without pause during the load")
    ap.add_argument("--load-s", type=float, default=60, help="seconds of load")
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
    proc, url = start_server(work / "models", DATA.parent, work / "server-load.log", jobs_dir=work / "jobs")
    try:
        print(f"load: {args.idle} idle connections, {args.active} clients, {args.load_s:.0f} s ...", flush=True)
        loaded = load(url, proc.pid, "bench", images, args.idle, args.active, args.load_s)
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
    table += ["", "## Under load, with slow clients", "",
              f"A third server with the default settings (bf16 where the CPU has it, 4 request threads, "
              f"--max-connections 1000). One-image requests as above; /health sampled every 0.25 s during the "
              f"load, waiting for a request thread like any request.",
              ""] + load_table(loaded, args.idle, args.active, args.load_s)
    text = "\n".join(header + table) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
