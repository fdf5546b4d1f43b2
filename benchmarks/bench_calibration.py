"""Benchmark calibration and "unsure" on the shared sets: does the temperature fitted on a run's held-out
predictions calibrate the test set, and are the rows not marked unsure right as often as the target precision?

Datasets are split as benchmarks/bench_processes.py splits them (its ``hide_labels``: 25% of each class is the
test set, k labelled per class, the rest unlabelled). Per run, from its manifest: the test-set ECE before and after
the temperature, the coverage (share of test images not unsure) and the precision of those rows, against the
targets (ECE <= 0.03; precision >= target - 0.01). The table gives the mean over seeds, and the ECE and precision
of the seeds' test predictions pooled (small test sets make a single seed's ECE noisy).

    python benchmarks/bench_calibration.py                                  # nd, k 5 and 20, seeds 0 1 2
    python benchmarks/bench_calibration.py --processes nd,auto --seeds 0 --datasets bccd_wbc
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_processes import ROOT, hide_labels  # noqa: E402  (also puts python_server on the path)

from omniclas.config import TrainConfig  # noqa: E402
from omniclas.engine import train  # noqa: E402
from omniclas.model.calibration import confidence_ece, settings, unsure_mask  # noqa: E402

SETS = ("bbbc013", "bccd_wbc", "fashion_mnist_sub100", "flowers5")
ECE_TARGET = 0.03
PRECISION_SLACK = 0.01
BULKY = ("test_confidence", "test_right", "held_out_predictions", "cal")  # in the JSON lines, not the log


def dump_probabilities(folder: Path) -> None:
    """With --dump: each run's raw held-out and test probabilities (before the temperature) into an .npz, to try
    other calibrations without training again."""
    from omniclas.engine import outputs

    fitted = outputs.calibration

    def calibration(cfg, rs, y_test, test_probs, student=None):
        np.savez(folder / f"{Path(cfg.out_dir).name}.npz", held=rs.kept_probs, held_y=rs.kept_y, test=test_probs,
                 test_y=y_test)
        return fitted(cfg, rs, y_test, test_probs, student)

    folder.mkdir(parents=True, exist_ok=True)
    outputs.calibration = calibration


def run_one(dataset: str, k: int, seed: int, process: str, work: Path) -> dict:
    folder = work / f"{dataset}-k{k}-s{seed}"
    if not folder.exists():
        hide_labels(dataset, folder, k, seed)
    start = time.monotonic()
    m = train(TrainConfig(dataset=str(folder), out_dir=str(work / f"run-{dataset}-{k}-{seed}-{process}"),
                          process=process, seed=seed)).manifest
    c = m["calibration"]
    return {"dataset": dataset, "k": k, "seed": seed, "process": process, "target": c["target_precision"],
            "temperature": c["temperature"], "threshold": c["threshold"], "held_out": c["held_out_images"],
            "held_out_ece_before": c.get("ece_before"), "held_out_ece_after": c.get("ece_after"),
            "held_out_coverage": c.get("coverage"), "note": c.get("note"), "test": c.get("test"),
            "cal": {k: v for k, v in c.items() if k != "held_out"},
            "test_accuracy": m["test"]["accuracy"], "wall_s": round(time.monotonic() - start, 1),
            "kept": (m.get("automl") or {}).get("chosen", process),
            # calibrated confidence and right/wrong per test image, for the pooled figures
            "test_confidence": [p["confidence"] for p in m["test_predictions"]],
            "test_right": "".join("1" if p["true"] == p["predicted"] else "0" for p in m["test_predictions"]),
            "held_out_predictions": c.get("held_out")}


def noise_floor(runs: list[dict], draws: int = 200) -> float:
    """The ECE a perfectly calibrated model with the same confidences would show on these test images (each right
    with the probability its confidence says): what the test set's size alone adds to the measured ECE."""
    conf = np.concatenate([r["test_confidence"] for r in runs])
    rng = np.random.default_rng(0)
    return float(np.mean([confidence_ece(conf, rng.random(len(conf)) < conf) for _ in range(draws)]))


def pooled(runs: list[dict]) -> tuple[float, float | None, float]:
    """ECE, precision and coverage of every seed's test predictions together (each at its run's threshold)."""
    conf = np.concatenate([r["test_confidence"] for r in runs])
    right = np.array([c == "1" for r in runs for c in r["test_right"]])
    sure = ~np.concatenate([unsure_mask(np.asarray(r["test_confidence"]), *settings({"calibration": r["cal"]})[1:])
                            for r in runs])
    return (confidence_ece(conf, right), float(right[sure].mean()) if sure.any() else None,
            float(sure.mean()))


def fmt(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def table(rows: list[dict]) -> str:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["k"], r["process"])].append(r)
    out = ["| dataset | k | process | seeds | test images | T | test ECE before | test ECE after | pooled ECE after "
           f"(<= {ECE_TARGET}) | pooled ECE if perfectly calibrated | coverage | precision not unsure | pooled "
           f"precision (>= target - {PRECISION_SLACK}) | test accuracy |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (dataset, k, process), runs in groups.items():
        t = [r["test"] or {} for r in runs]
        p_ece, p_prec, p_cov = pooled(runs)
        target = runs[0]["target"] - PRECISION_SLACK
        out.append(
            f"| {dataset} | {k} | {process} | {len(runs)} | {sum(x.get('images', 0) for x in t)} | "
            f"{fmt([r['temperature'] for r in runs])} | {fmt([x.get('ece_before') for x in t])} | "
            f"{fmt([x.get('ece_after') for x in t])} | {p_ece:.3f} {'ok' if p_ece <= ECE_TARGET else 'MISSED'} | "
            f"{noise_floor(runs):.3f} | "
            f"{fmt([x.get('coverage') for x in t])} | {fmt([x.get('precision') for x in t])} | "
            + (f"{p_prec:.3f} {'ok' if p_prec >= target else 'MISSED'}" if p_prec is not None else "- (all unsure)")
            + f" | {fmt([r['test_accuracy'] for r in runs])} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(SETS))
    ap.add_argument("--k", default="5,20")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--processes", default="nd")
    ap.add_argument("--jsonl", default=str(ROOT / "benchmarks/results/calibration.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/calibration.md"))
    ap.add_argument("--table-only", action="store_true", help="no runs: the table from the rows in --jsonl")
    ap.add_argument("--dump", help="a folder for each run's raw held-out and test probabilities (.npz)")
    args = ap.parse_args()
    if args.dump:
        dump_probabilities(Path(args.dump))
    if args.table_only:
        rows = [json.loads(line) for line in open(args.jsonl)]
        return write_table(rows, args.out)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-calibration-") as tmp:
        for process in args.processes.split(","):
            for dataset in args.datasets.split(","):
                for k in map(int, args.k.split(",")):
                    for seed in map(int, args.seeds.split(",")):
                        row = run_one(dataset, k, seed, process, Path(tmp))
                        rows.append(row)
                        print(json.dumps({x: v for x, v in row.items() if x not in BULKY}), flush=True)
                        with open(args.jsonl, "a") as f:
                            f.write(json.dumps(row) + "\n")
    write_table(rows, args.out)


def write_table(rows: list[dict], out: str) -> None:
    text = table(rows)
    print(text)
    Path(out).write_text(
        "# Calibration and unsure (benchmarks/bench_calibration.py)\n\n"
        "Per dataset, labels per class (k) and process: the temperature T each run fitted on its held-out predictions, "
        "the test-set ECE (15 bins) before and after it (mean ± sd over seeds, and the seeds' test predictions "
        "pooled), the ECE a perfectly calibrated model with the same confidences would show on as many images (what "
        "the test set's size alone adds), the coverage (share of test images not unsure) and how often those are "
        f"right, against the targets: ECE <= {ECE_TARGET}, precision >= target - {PRECISION_SLACK}.\n\n"
        + text + "\n")


if __name__ == "__main__":
    main()
