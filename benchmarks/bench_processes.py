"""Benchmark AutoML and the seven processes on real data with hidden labels, against N.D., over several seeds.

For each dataset and seed, a stratified 25% of every class is the test set (``test/``). Of the rest, k images per
class keep their labels; the others go to ``unlabelled/`` with their labels hidden from the engine (kept here to
score the automatic labels). Dataset folders are built from symbolic links in a temporary folder: ../shared/data
is read in place and never copied. ``many`` puts the classes of every dataset side by side (23 classes).

Runs share the feature store (features are computed once and read by later runs), so the wall times of later
runs leave out features computed before; ``--cold`` gives every run an empty store and body cache (for timing).

An ``auto`` run trains every candidate AutoML tries (N.D., and I.D.D., I.M.D., I.M.D.D. with each selection rule)
on the same chains: each candidate is reported as its own row (its kept round's test accuracy, reported only,
never used to choose), beside the candidate AutoML kept (row "auto").

``auto@nostudent`` and ``auto@student`` turn the student (issue 23) off and on; plain ``auto`` lets its held-out
estimate decide. The table counts the runs where a student ran and the seconds it took.

    python benchmarks/bench_processes.py                                   # everything (hours)
    python benchmarks/bench_processes.py --datasets bccd_wbc --k 5 --seeds 0 --variants auto,imdd@prior

Writes one JSON line per run to ``--jsonl`` and a markdown table (mean and standard deviation over seeds) to
``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_server"))

from omniclas.config import PROCESSES, TrainConfig  # noqa: E402
from omniclas.data.dataset import class_folders, list_images  # noqa: E402
from omniclas.engine import train  # noqa: E402

SHARED = (ROOT / ".." / "shared" / "data").resolve()
DATASETS = ("bbbc013", "bccd_wbc", "fashion_mnist_sub100", "flowers5", "many")
MANY_PARTS = ("bbbc013", "bccd_wbc", "fashion_mnist_sub100", "flowers5")
# A variant is a process with optional options: "imdd@threshold" is I.M.D.D. with the paper's selection rule;
# "nd@paper" is N.D. as the paper keeps it: the single base model best on the test set, no views; "imdd@allviews"
# uses every test-time view, none dropped on the held-out labels; "nd@finetune" is the paper's fine-tuning
# protocol (minutes per model on a CPU).
VARIANT_OPTIONS = {"": {}, "threshold": {"selection": "threshold"}, "balanced": {"selection": "balanced"},
                   "prior": {"selection": "prior"},
                   "allviews": {"auto_views": False},
                   # the paper's whole protocol: fine-tuned CNNs (2+8 epochs), the best on test kept, no views
                   "finetune": {"head": "finetune", "keep": "best_on_test", "auto_views": False,
                                "train_views": False, "predict_views": False},
                   "paper": {"keep": "best_on_test", "train_views": False, "predict_views": False, "auto_views": False},
                   # the student (issue 23): always trained (on) or never (off); plain "auto" decides itself
                   "student": {"student": "on"}, "nostudent": {"student": "off"}}
DEFAULT_VARIANTS = "auto,dd,md,mdd"


def class_sources(name: str) -> list[tuple[str, list[Path]]]:
    """(class name, image files) of a shared dataset; ``many`` prefixes each part's classes with its name."""
    if name == "many":
        return [(f"{part}__{c}", files) for part in MANY_PARTS for c, files in class_sources(part)]
    return [(d.name, list_images(d)) for d in class_folders(SHARED / name, exclude={"unlabelled", "test"})]


def hide_labels(name: str, dst: Path, k: int, seed: int, max_per_class: int | None = None) -> dict[str, str]:
    """Build dst/{class,unlabelled,test} from links; returns the hidden label of each unlabelled image."""
    rng = np.random.default_rng(seed)
    truth = {}
    (dst / "unlabelled").mkdir(parents=True)
    for cls, files in class_sources(name):
        files = [files[i] for i in rng.permutation(len(files))][:max_per_class]
        n_test = max(1, round(0.25 * len(files)))
        test, rest = files[:n_test], files[n_test:]
        keep = min(k, len(rest) - 1) if len(rest) > 2 else len(rest)  # a rare class keeps one image hidden
        labelled, hidden = rest[:keep], rest[keep:]
        for folder, items in ((dst / "test" / cls, test), (dst / cls, labelled)):
            folder.mkdir(parents=True)
            for f in items:
                (folder / f.name).symlink_to(f)
        for f in hidden:
            link = f"{cls}__{f.name}"
            (dst / "unlabelled" / link).symlink_to(f)
            truth[f"unlabelled/{link}"] = cls
    if name == "bbbc013":  # its real unlabelled crops join the pool, with no truth to score them
        for f in list_images(SHARED / name / "unlabelled"):
            (dst / "unlabelled" / f"real__{f.name}").symlink_to(f)
    return truth


def parse_variant(text: str) -> tuple[str, str, dict]:
    process, _, option = text.partition("@")
    if process not in PROCESSES or option not in VARIANT_OPTIONS:
        raise SystemExit(f"unknown variant {text!r}")
    return text, process, VARIANT_OPTIONS[option]


def eta_errors(events: list[tuple[float, float, float | None]], wall: float) -> dict:
    """The ETA shown when the run passed 25, 50 and 75% against the time that was actually left (ratio - 1)."""
    out = {}
    for q in (0.25, 0.5, 0.75):
        e = next((e for e in events if e[1] >= q), None)
        if e is not None and e[2] is not None and wall - e[0] > 0:
            out[f"{int(q * 100)}%"] = round(e[2] / (wall - e[0]) - 1, 3)
    return out


def eta_trace(events: list, wall: float, step: float = 0.05) -> list:
    """Where the ETA went wrong: [seconds, fraction, ETA, actually left, stage] each time the fraction passed
    another ``step``."""
    out, next_q = [], step
    for t, fraction, eta, stage in events:
        if fraction >= next_q and eta is not None:
            out.append([round(t, 1), round(fraction, 3), round(eta, 1), round(wall - t, 1), stage])
            next_q = (int(fraction / step) + 1) * step
    return out


def _cpu_seconds() -> float:
    """CPU seconds of this process, every thread: on shared cores, a run's work with little of the others' load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(folder: Path, truth: dict, variant: str, process: str, options: dict, seed: int, out: Path,
            image_size=None, cold: bool = False) -> dict:
    cfg = TrainConfig(dataset=str(folder), out_dir=str(out), process=process, seed=seed, image_size=image_size,
                      **options)
    if cold:  # an empty feature store and body cache: the run computes and converts everything
        os.environ["OMNICLAS_CACHE"] = tempfile.mkdtemp(prefix="omniclas-cold-")
    events = []
    start, cpu_start = time.monotonic(), _cpu_seconds()
    result = train(cfg, progress=lambda e: events.append((time.monotonic() - start, e.fraction, e.eta_s, e.stage)))
    wall, cpu = time.monotonic() - start, _cpu_seconds() - cpu_start
    passes = dict(getattr(result.bank, "passes", {}) or {})
    raw_s = getattr(result.bank, "forward_s", 0.0)  # the bodies' own forward passes, in the same run
    m = result.manifest
    scored = [a for a in m["auto_labelled"] if a["path"] in truth]
    right = sum(truth[a["path"]] == a["class"] for a in scored)
    best = m["iterations"][m["best_iteration"]]
    return {"variant": variant, "process": process, "options": options, "seed": seed,
            "test_accuracy": m["test"]["accuracy"], "test_images": m["test"]["images"],
            "auto": len(m["auto_labelled"]), "auto_scored": len(scored),
            "auto_accuracy": right / len(scored) if scored else None,
            "rounds": len(m["iterations"]), "best_round": m["best_iteration"],
            "estimate": best.get("estimate_accuracy"), "stop_reason": m["stop_reason"],
            "views": m["view_plan"], "selection": m["selection"], "model": m["backbone"], "input": m["input_size"][0],
            "runtime": m["runtime"], "stage_seconds": m["stage_seconds"], "wall_s": round(wall, 1),
            "per_round": [{k: h.get(k) for k in ("iteration", "automatic_labels", "labelled", "estimate_accuracy",
                                                 "test_accuracy")} for h in m["iterations"]],
            "automl": m.get("automl"), "work": m.get("work"), "passes": passes, "raw_forward_s": round(raw_s, 1),
            "eta_error": eta_errors(events, wall), "eta_trace": eta_trace(events, wall), "cpu_s": round(cpu, 1),
            "student": _student_row(m.get("student"))}


def _student_row(s: dict | None) -> dict | None:
    """What the table and the JSON lines keep of the student: ran, why not, epochs, time, its estimate."""
    if not s:
        return None
    est = s.get("estimate") or {}
    return {"ran": s.get("ran"), "reason": s.get("reason"), "epochs": s.get("epochs"), "seconds": s.get("seconds"),
            "estimate_with_student": (est.get("student") or {}).get("accuracy"),
            "estimate_ensemble": (est.get("ensemble") or {}).get("accuracy"),
            "noise": (est.get("student") or {}).get("noise"), "by_epoch": est.get("by_epoch")}


def mean_sd(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def candidate_rows(rows: list[dict]) -> list[dict]:
    """An auto run's candidates as rows of their own (variant ``auto:<name>``), beside the run's own row."""
    out = []
    for r in rows:
        out.append(r)
        for c in (r.get("automl") or {}).get("candidates") or []:
            out.append({**r, "student": None, "variant": f"auto:{c['name']}", "process": c["process"], "selection": c["selection"],
                        "test_accuracy": c["test_accuracy"], "auto": c["automatic_labels"], "auto_accuracy": None,
                        "rounds": len(c["estimates"]), "best_round": c["kept_round"], "stage_seconds": {},
                        "wall_s": 0.0, "chosen": c["name"] == r["automl"]["chosen"]})
    return out


def table(rows: list[dict]) -> str:
    """Mean over seeds per (dataset, k, variant), with the difference to N.D. on the same seeds."""
    groups = defaultdict(list)
    for r in candidate_rows(rows):
        groups[(r["dataset"], r["k"], r["variant"])].append(r)
    out = ["| dataset | k | process | rule | test accuracy | vs N.D. | automatic labels | their accuracy | rounds "
           "(best) | student ran | features s | training s | labelling s | student s | wall s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (dataset, k, variant), runs in groups.items():
        nd = {r["seed"]: r["test_accuracy"] for r in groups.get((dataset, k, "nd"), [])
              or groups.get((dataset, k, "auto:nd"), [])}
        delta = [r["test_accuracy"] - nd[r["seed"]] for r in runs if r["seed"] in nd]
        proc = PROCESSES[runs[0]["process"]]
        rule = runs[0]["selection"] if proc.iterative else ("-" if not proc.distills else "all (one shot)")
        if variant.endswith("@paper"):
            rule = "paper's N.D.: best base model on test, no views"
        name = proc.name
        if variant == "auto":
            picks = defaultdict(int)
            for r in runs:
                picks[r["automl"]["chosen"]] += 1
            name, rule = "**auto**", "kept: " + ", ".join(f"{n} x{c}" for n, c in sorted(picks.items()))
        elif variant.startswith("auto:"):
            name = f"{proc.name} (in auto)"
        stages = lambda key: f"{np.mean([r['stage_seconds'].get(key, 0) for r in runs]):.0f}"  # noqa: E731
        out.append(
            f"| {dataset} | {k} | {name} | {rule} | {mean_sd([r['test_accuracy'] for r in runs])} | "
            f"{np.mean(delta):+.3f} | {np.mean([r['auto'] for r in runs]):.0f} | "
            f"{mean_sd([r['auto_accuracy'] for r in runs])} | "
            f"{np.mean([r['rounds'] for r in runs]):.1f} ({np.mean([r['best_round'] for r in runs]):.1f}) | "
            f"{sum(bool((r.get('student') or {}).get('ran')) for r in runs)}/{len(runs)} | "
            f"{stages('features')} | {stages('training')} | {stages('labelling')} | {stages('student')} | "
            f"{np.mean([r['wall_s'] for r in runs]):.0f} |")
    return "\n".join(out)


def speed_table(rows: list[dict]) -> str:
    """AutoML against I.M.D.D. and N.D. run by run (same dataset, k and seed): wall times as ratios, where its time
    went (head fits, features against the bodies' raw forward time for the same passes), the ETA's error when the
    run passed 25/50/75% (shown / actual time left - 1), and test accuracy."""
    by = defaultdict(dict)
    for r in rows:
        by[(r["dataset"], r["k"], r["seed"])][r["variant"]] = r
    out = ["| dataset | k | seed | N.D. acc | I.M.D.D. acc | auto acc (kept) | N.D. s | I.M.D.D. s | auto s | "
           "auto / I.M.D.D. (wall) | auto / I.M.D.D. (CPU s) | auto fits s (share) | auto features s / raw s | "
           "ETA error at 25/50/75% (auto) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (dataset, k, seed), v in sorted(by.items()):
        auto, imdd, nd = v.get("auto"), v.get("imdd"), v.get("nd")
        if auto is None:
            continue
        fit_s = sum((auto.get("work") or {}).get(kind, {}).get("seconds", 0.0) for kind in ("fit", "refit"))
        feat_s = (auto.get("work") or {}).get("features", {}).get("seconds", 0.0)
        acc = lambda r: f"{r['test_accuracy']:.3f}" if r else "-"  # noqa: E731
        wall = lambda r: f"{r['wall_s']:.0f}" if r else "-"  # noqa: E731
        eta = auto.get("eta_error") or {}
        ratio = f"{auto['wall_s'] / imdd['wall_s']:.2f}" if imdd else "-"
        cpu_ratio = f"{auto['cpu_s'] / imdd['cpu_s']:.2f}" if imdd and imdd.get("cpu_s") else "-"
        out.append(f"| {dataset} | {k} | {seed} | {acc(nd)} | {acc(imdd)} | {acc(auto)} ({auto['automl']['chosen']}) "
                   f"| {wall(nd)} | {wall(imdd)} | {wall(auto)} | {ratio} | {cpu_ratio} | "
                   f"{fit_s:.0f} ({fit_s / auto['wall_s']:.0%}) | {feat_s:.0f} / {auto.get('raw_forward_s', 0):.0f} | "
                    + " / ".join(f"{eta[q]:+.0%}" if q in eta else "-" for q in ("25%", "50%", "75%")) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--k", default="5,20")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS)
    ap.add_argument("--cold", action="store_true", help="an empty feature store and body cache per run (honest "
                    "wall times)")
    ap.add_argument("--image-size", type=int, help="network input size (default: the engine's choice)")
    ap.add_argument("--max-per-class", type=int, help="use at most this many images per class")
    ap.add_argument("--jsonl", default=str(ROOT / "benchmarks" / "results" / "processes.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "processes.md"))
    ap.add_argument("--tables-from", help="no runs: print the tables of the runs in this JSON-lines file")
    args = ap.parse_args()
    if args.tables_from:
        rows = [json.loads(line) for line in open(args.tables_from)]
        print(f"{table(rows)}\n\nAutoML's time, run by run:\n\n{speed_table(rows)}")
        return
    if not SHARED.is_dir():
        sys.exit(f"benchmark data not found at {SHARED}")
    variants = [parse_variant(v) for v in args.variants.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, open(args.jsonl, "a") as log:
        for name in args.datasets.split(","):
            for k in map(int, args.k.split(",")):
                for seed in map(int, args.seeds.split(",")):
                    folder = Path(tmp) / f"{name}-k{k}-s{seed}"
                    truth = hide_labels(name, folder, k, seed, args.max_per_class)
                    for variant, process, options in variants:
                        r = run_one(folder, truth, variant, process, options, seed,
                                    Path(tmp) / f"run-{name}-{k}-{seed}-{variant}", args.image_size, args.cold)
                        r.update({"dataset": name, "k": k, "cold": args.cold})
                        rows.append(r)
                        log.write(json.dumps(r) + "\n")
                        log.flush()
                        st = r["student"] or {}
                        print(f"{name} k={k} seed={seed} {variant:16s} test {r['test_accuracy']:.3f} auto {r['auto']} "
                              f"student {'ran' if st.get('ran') else 'no'} ({st.get('estimate_with_student')} vs "
                              f"{st.get('estimate_ensemble')}, {st.get('seconds')} s) "
                              f"({r['auto_accuracy'] if r['auto_accuracy'] is None else round(r['auto_accuracy'], 3)}) "
                              f"rounds {r['rounds']} best {r['best_round']} wall {r['wall_s']} s", flush=True)
    text = (f"\n## {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores\n\n"
            f"Command: `python benchmarks/bench_processes.py {' '.join(sys.argv[1:])}`\n\n{table(rows)}\n")
    if any(r["variant"] == "auto" for r in rows):
        text += f"\nAutoML's time, run by run:\n\n{speed_table(rows)}\n"
    print(text)
    with open(args.out, "a") as f:
        f.write(text)


if __name__ == "__main__":
    main()
