"""Simulated labelling: which images to label next, by strategy, on every shared set (the true labels play the
biologist).

For each dataset and seed, bench_processes.py's split (``hide_labels`` with k = 0: a stratified 25% of every class
is the test set, the rest the pool with its labels hidden; BBBC013's real unlabelled crops, which have no truth,
are left out). Labelling starts from nothing or from 2 random labels per class; each round adds one batch of
C images (C = the number of classes, so the budget grows by one label per class per round) up to 5 per class,
and N.D. is retrained on the labels so far. Strategies:

* ``random per class``: one random image of each class per round: today's practice (the biologist picks
  images of each class from the folder view).
* ``random``: C images drawn from the whole pool.
* ``margin``: the C images of least margin of the ensemble (from nothing: a random first batch).
* ``shipped``: what ``omniclas suggest`` does: from nothing, TypiClust (:func:`typiclust`); with a model,
  :func:`uncertain_batch` (margin and disagreement of members and views, k-means over 4 x C, density).

N.D. is replayed on features computed once (the feature store), as the engine trains it with a linear head: one
logistic regression per body of the N.D. ensemble (``fit_linear``, the engine's constants) on the original and
horizontally flipped views, probabilities averaged over bodies and views (``predict_proba``). It differs from a run
in that the views are fixed (original, hflip) instead of chosen on held-out labels. Each round's pick gets the
members x views probabilities, as ``suggest`` computes them from a saved model.

    python benchmarks/bench_active.py                     # 4 datasets, 2 starts, 3 seeds
    python benchmarks/bench_active.py --datasets bbbc013 --seeds 0

Writes one JSON line per (dataset, start, strategy, seed) to ``--jsonl``, a table to ``--out`` and a plot of test
accuracy against labels per class to ``--plot``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_server"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_processes import SHARED, class_sources, hide_labels, mean_sd  # noqa: E402
from omniclas.config import ENSEMBLE_BACKBONES  # noqa: E402
from omniclas.data.files import sha256_file  # noqa: E402
from omniclas.data.imageio import read_image  # noqa: E402
from omniclas.engine.base_models import fit_linear, predict_proba  # noqa: E402
from omniclas.engine.features import ImageBank  # noqa: E402
from omniclas.engine.inputs import choose_image_size  # noqa: E402
from omniclas.engine.progress import Reporter  # noqa: E402
from omniclas.engine.suggest_pick import typiclust, uncertain_batch, uncertainty  # noqa: E402

DATASETS = ("bbbc013", "bccd_wbc", "fashion_mnist_sub100", "flowers5")
STRATEGIES = ("random per class", "random", "margin", "shipped")
VIEWS = ("original", "hflip")
FINAL = 5  # labels per class at the end


class Simulation:
    """One dataset split: the bank of pool and test images, their true classes, and N.D. on any labelled set."""

    def __init__(self, name: str, seed: int, tmp: Path, backbones):
        folder = tmp / f"{name}-s{seed}"
        truth = hide_labels(name, folder, 0, seed)
        for kept in folder.glob("*/*"):  # a class too rare to hide one image keeps its few labelled: pool them
            if kept.parent.name not in ("test", "unlabelled"):
                truth[kept.relative_to(folder).as_posix()] = kept.parent.name
        self.classes = sorted({c for c in truth.values()})
        pool = sorted(truth)
        test = sorted((p.relative_to(folder).as_posix(), p.parent.name) for p in (folder / "test").glob("*/*"))
        self.paths = [folder / p for p in pool] + [folder / p for p, _ in test]
        self.y = np.array([self.classes.index(truth[p]) for p in pool] + [self.classes.index(c) for _, c in test])
        self.pool = np.arange(len(pool))
        self.test = np.arange(len(pool), len(self.paths))
        self.backbones = backbones
        sample = [self.paths[int(i)] for i in np.linspace(0, len(pool) - 1, 64)]
        size = choose_image_size(int(np.median([max(read_image(p).shape[:2]) for p in sample])))
        self.bank = ImageBank(self.paths, size, digest=sha256_file, bf16=None, batch_size=64, runtime="auto",
                              report=Reporter(), resident=len(self.paths))
        start = time.monotonic()
        self.bank.ensure(np.arange(len(self.paths)), [(b, v) for b in backbones for v in VIEWS])
        self.feature_s = time.monotonic() - start
        self.size = size

    def fit(self, labelled: np.ndarray, seed: int):
        """N.D.'s heads on ``labelled`` (pool indices); None while fewer than two classes are labelled."""
        y = self.y[labelled]
        if len(np.unique(y)) < 2:
            return None
        return [fit_linear(self.bank, b, [(labelled, v, y) for v in VIEWS], len(self.classes), seed)
                for b in self.backbones]

    def probs(self, heads, indices, labelled: np.ndarray) -> np.ndarray:
        """Members x views probabilities (K x N x C); without heads, the one labelled class for every image."""
        if heads is None:
            only = np.zeros((1, len(indices), len(self.classes)))
            only[:, :, self.y[labelled[0]] if len(labelled) else 0] = 1.0
            return only
        return np.stack([predict_proba(self.bank, h, indices, v) for h in heads for v in VIEWS])

    def accuracy(self, heads, labelled) -> float:
        p = self.probs(heads, self.test, labelled).mean(axis=0)
        return float((p.argmax(axis=1) == self.y[self.test]).mean())


def pick(strategy: str, sim: Simulation, labelled: np.ndarray, heads, n: int, rng) -> tuple[np.ndarray, float]:
    """``n`` pool images to label next, and the seconds the choice took (not the fit)."""
    start = time.monotonic()
    left = np.setdiff1d(sim.pool, labelled)
    if strategy == "random per class":
        chosen = []
        for c in rng.permutation(len(sim.classes)):
            of_class = left[sim.y[left] == c]
            if len(of_class):
                chosen.append(int(rng.choice(of_class)))
        rest = np.setdiff1d(left, chosen)  # a class run dry: the rest of the batch from the whole pool
        chosen += [int(i) for i in rng.choice(rest, max(0, n - len(chosen)), replace=False)]
        out = np.array(chosen[:n])
    elif strategy == "random" or (strategy == "margin" and heads is None):
        out = rng.choice(left, n, replace=False)
    elif strategy == "margin":
        margin = uncertainty(sim.probs(heads, left, labelled))["margin"]
        out = left[np.argsort(margin, kind="stable")[:n]]
    elif heads is None:  # shipped, before a model: TypiClust on the default body's frozen features
        b = sim.backbones[0]
        picks = typiclust(sim.bank.features(b, left), sim.bank.features(b, labelled), n, int(rng.integers(1 << 30)))
        out = left[[p.index for p in picks]]
    else:
        picks = uncertain_batch(sim.probs(heads, left, labelled), sim.bank.features(sim.backbones[0], left), n,
                                sim.classes, int(rng.integers(1 << 30)))
        out = left[[p.index for p in picks]]
    return np.asarray(out, dtype=int), time.monotonic() - start


def start_labels(sim: Simulation, per_class: int, rng) -> np.ndarray:
    return np.array([i for c in range(len(sim.classes))
                     for i in rng.permutation(sim.pool[sim.y[sim.pool] == c])[:per_class]], dtype=int)


def simulate(sim: Simulation, strategy: str, start: int, seed: int) -> dict:
    rng = np.random.default_rng([seed, start])  # the same start labels for every strategy
    labelled = start_labels(sim, start, rng)
    rng = np.random.default_rng([seed, start, STRATEGIES.index(strategy)])
    n = len(sim.classes)
    curve, pick_s = [], []
    heads = sim.fit(labelled, seed)
    if start:
        curve.append({"labels": len(labelled), "per_class": start, "accuracy": sim.accuracy(heads, labelled)})
    for per_class in range(start + 1, FINAL + 1):
        chosen, seconds = pick(strategy, sim, labelled, heads, n, rng)
        labelled = np.concatenate([labelled, chosen])
        pick_s.append(seconds)
        heads = sim.fit(labelled, seed)
        counts = np.bincount(sim.y[labelled], minlength=n)
        curve.append({"labels": len(labelled), "per_class": per_class, "accuracy": sim.accuracy(heads, labelled),
                      "classes_missing": int((counts == 0).sum()), "fewest": int(counts.min())})
    return {"strategy": strategy, "start": start, "seed": seed, "classes": n, "pool": len(sim.pool),
            "test": len(sim.test), "curve": curve, "pick_s": [round(s, 2) for s in pick_s]}


def labels_to_reach(curve: list[dict], target: float) -> int | None:
    return next((p["labels"] for p in curve if p["accuracy"] >= target - 1e-9), None)


def table(rows: list[dict]) -> str:
    """Mean accuracy at each budget by strategy, the shipped strategy's gain over random per class at 5 per class,
    and the labels it needs to reach random per class's 5-per-class accuracy (paired by seed)."""
    by = defaultdict(list)
    for r in rows:
        by[(r["dataset"], r["start"], r["strategy"])].append(r)
    out = ["| dataset | start | strategy | 1/class | 2/class | 3/class | 4/class | 5/class | vs random per class "
           "at 5 | labels to reach random per class's 5/class (share) | pick s |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    gains, shares = defaultdict(list), defaultdict(list)
    for (dataset, start, strategy), runs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                  STRATEGIES.index(kv[0][2]))):
        base = {r["seed"]: r for r in by[(dataset, start, "random per class")]}
        cells = []
        for per_class in range(1, FINAL + 1):
            accs = [p["accuracy"] for r in runs for p in r["curve"] if p["per_class"] == per_class]
            cells.append(mean_sd(accs))
        gain = [r["curve"][-1]["accuracy"] - base[r["seed"]]["curve"][-1]["accuracy"] for r in runs if r["seed"] in base]
        need = []
        for r in runs:
            if r["seed"] in base:
                target = base[r["seed"]]["curve"][-1]["accuracy"]
                reached = labels_to_reach(r["curve"], target)
                need.append(reached / r["curve"][-1]["labels"] if reached else None)
        if strategy == "shipped":
            gains[start] += gain
            shares[start] += need
        shown = [s for s in need if s is not None]
        share = (f"{np.mean(shown):.0%}" + (f" ({len(need) - len(shown)} of {len(need)} never)" if len(shown) < len(need)
                                              else "")) if shown else f"never ({len(need)} of {len(need)})"
        out.append(f"| {dataset} | {start}/class | {strategy} | " + " | ".join(cells) +
                   f" | {np.mean(gain):+.3f} | {share} | {np.mean([np.mean(r['pick_s']) for r in runs]):.2f} |")
    summary = []
    for start in sorted(gains):
        within = [s for s in shares[start] if s is not None]
        summary.append(f"- start {start}/class: shipped - random per class at 5 labels/class = "
                       f"{np.mean(gains[start]):+.3f} on average over datasets and seeds (target >= +0.03); reaches "
                       f"random per class's 5/class accuracy within 60% of the labels in "
                       f"{sum(s <= 0.6 for s in within)} of {len(shares[start])} (dataset, seed) pairs")
    return "\n".join(out) + "\n\n" + "\n".join(summary)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    starts = sorted({r["start"] for r in rows})
    fig, axes = plt.subplots(len(starts), len(datasets), figsize=(3.6 * len(datasets), 3.0 * len(starts)),
                             squeeze=False)
    for i, start in enumerate(starts):
        for j, dataset in enumerate(datasets):
            ax = axes[i][j]
            for strategy in STRATEGIES:
                runs = [r for r in rows if (r["dataset"], r["start"], r["strategy"]) == (dataset, start, strategy)]
                if not runs:
                    continue
                xs = [p["per_class"] for p in runs[0]["curve"]]
                ys = np.mean([[p["accuracy"] for p in r["curve"]] for r in runs], axis=0)
                ax.plot(xs, ys, marker="o", label=strategy, lw=2.2 if strategy == "shipped" else 1.2)
            ax.set_title(f"{dataset}, start {start}/class", fontsize=9)
            ax.set_xlabel("labels per class")
            ax.set_ylabel("test accuracy (N.D.)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--starts", default="0,2", help="labels per class before the first round")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--backbones", default=",".join(ENSEMBLE_BACKBONES), help="N.D.'s bodies (default: its ensemble)")
    ap.add_argument("--jsonl", default=str(ROOT / "benchmarks" / "results" / "active.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "active.md"))
    ap.add_argument("--plot", default=str(ROOT / "benchmarks" / "results" / "active.png"))
    ap.add_argument("--tables-from", help="no runs: the table and plot of the runs in this JSON-lines file")
    args = ap.parse_args()
    if args.tables_from:
        rows = [json.loads(line) for line in open(args.tables_from)]
        print(table(rows))
        plot(rows, Path(args.plot))
        return
    if not SHARED.is_dir():
        sys.exit(f"benchmark data not found at {SHARED}")
    backbones = tuple(args.backbones.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, open(args.jsonl, "a") as log:
        for name in args.datasets.split(","):
            for seed in map(int, args.seeds.split(",")):
                sim = Simulation(name, seed, Path(tmp), backbones)
                print(f"{name} seed {seed}: {len(sim.pool)} pool, {len(sim.test)} test, {len(sim.classes)} classes, "
                      f"{sim.size} px, features {sim.feature_s:.0f} s", flush=True)
                for start in map(int, args.starts.split(",")):
                    for strategy in STRATEGIES:
                        r = simulate(sim, strategy, start, seed)
                        r.update({"dataset": name, "backbones": list(backbones), "size": sim.size})
                        rows.append(r)
                        log.write(json.dumps(r) + "\n")
                        log.flush()
                        print(f"  start {start} {strategy:17s} " + " ".join(
                            f"{p['per_class']}:{p['accuracy']:.3f}" for p in r["curve"]), flush=True)
    text = (f"\n## {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores\n\n"
            f"Command: `python benchmarks/bench_active.py {' '.join(sys.argv[1:])}`\n\n{table(rows)}\n")
    print(text)
    with open(args.out, "a") as f:
        f.write(text)
    plot(rows, Path(args.plot))


if __name__ == "__main__":
    main()
