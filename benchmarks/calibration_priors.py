"""Try other temperature priors on the raw probabilities that ``bench_calibration.py --dump`` saved, without
training again: the shipped rule (the fitted log T shrunk toward T = 1 by n / (n + 50)), no shrinking, and a
prior centred on the temperature the distilled runs of the *other* datasets fitted (leave one dataset out).

    python benchmarks/bench_calibration.py --processes auto --seeds 0,1,2 --dump /tmp/caldump --jsonl /tmp/cal.jsonl
    python benchmarks/calibration_priors.py --dump /tmp/caldump --jsonl /tmp/cal.jsonl

Per dataset and k, the seeds' test predictions pooled: ECE, precision of the rows not unsure, coverage.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_server"))
from omniclas.model import calibration as cal  # noqa: E402

TARGET = 0.95


def load(dump: Path, jsonl: Path) -> list[dict]:
    kept = {}
    for line in jsonl.read_text().splitlines():
        r = json.loads(line)
        kept[(r["dataset"], r["k"], r["seed"])] = r.get("kept", r["process"])
    runs = []
    for f in sorted(dump.glob("run-*.npz")):
        name, k, seed = re.match(r"run-(.+)-(\d+)-(\d+)-[^-]+\.npz", f.name).groups()
        z = np.load(f)
        held, y = z["held"].astype(np.float64), z["held_y"]
        runs.append({"dataset": name, "k": int(k), "kept": kept.get((name, int(k), int(seed)), "?"), "held": held,
                     "held_y": y, "test": z["test"], "test_y": z["test_y"],
                     "fitted": cal.fit_temperature(held, y) if len(y) >= cal.MIN_HELD_OUT else 1.0})
    return runs


def distilled(run: dict) -> bool:
    return not run["kept"].startswith("nd")


def centred(runs: list[dict], strength: float, on_others: bool):
    """The fitted log T shrunk by n / (n + strength) toward 0, or (``on_others``) toward the mean log T the
    distilled runs of the other datasets fitted."""
    def rule(run: dict, n: int) -> float:
        others = [np.log(r["fitted"]) for r in runs if distilled(r) and r["dataset"] != run["dataset"]]
        centre = float(np.mean(others)) if on_others and distilled(run) and others else 0.0
        w = n / (n + strength)
        return float(np.exp(np.log(run["fitted"]) * w + centre * (1 - w)))
    return rule


def pooled(runs: list[dict], rule) -> dict:
    out = {}
    for key in sorted({(r["dataset"], r["k"]) for r in runs}):
        conf, right, sure = [], [], []
        for r in (x for x in runs if (x["dataset"], x["k"]) == key):
            n = len(r["held_y"])
            enough = n >= cal.MIN_HELD_OUT
            t = rule(r, n) if enough else 1.0
            held = cal.apply_temperature(r["held"], t)
            threshold = cal.precision_threshold(held.max(1), held.argmax(1) == r["held_y"], TARGET) if enough else None
            test = cal.apply_temperature(r["test"], t)
            conf.append(test.max(1))
            right.append(test.argmax(1) == r["test_y"])
            sure.append(~cal.unsure_mask(conf[-1], threshold, enough and threshold is None))
        c, ok, s = np.concatenate(conf), np.concatenate(right), np.concatenate(sure)
        out[key] = (cal.confidence_ece(c, ok), float(ok[s].mean()) if s.any() else None, float(s.mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dump", required=True, type=Path)
    ap.add_argument("--jsonl", required=True, type=Path)
    args = ap.parse_args()
    runs = load(args.dump, args.jsonl)
    rules = {"shipped: toward 1, 50": centred(runs, 50, False), "no shrinking": lambda r, n: r["fitted"],
             "toward the others' T, 50": centred(runs, 50, True), "toward the others' T, 25": centred(runs, 25, True)}
    results = {name: pooled(runs, rule) for name, rule in rules.items()}
    keys = list(next(iter(results.values())))
    print("| rule | mean ECE | " + " | ".join(f"{d} k={k}" for d, k in keys) + " |")
    print("|---" * (len(keys) + 2) + "|")
    for name, res in results.items():
        cells = [f"{e:.3f} / {'-' if p is None else f'{p:.3f}'} / {cov:.2f}" for e, p, cov in res.values()]
        print(f"| {name} | {np.mean([v[0] for v in res.values()]):.3f} | " + " | ".join(cells) + " |")
    print("\ncells: pooled test ECE / precision of the rows not unsure / coverage")


if __name__ == "__main__":
    main()
