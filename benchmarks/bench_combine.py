"""How to combine the three backbones in one saved model: probabilities averaged over one head per backbone (what
``Network`` ships), or one head on their concatenated features.

Both cost the same per image: the three bodies dominate (``inference.md``), and a head is one matrix product.
So the choice is by accuracy. N.D. on frozen features, the protocol of ``probe_selection.py`` (25% test, k labels
per class, 3 seeds), both trained on the original and flipped views and averaged over them at prediction.

    python benchmarks/bench_combine.py            # 5 datasets, k = 5 and 20 (about 3 minutes once features exist)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from probe_selection import BACKBONES, DATASETS, ROOT, VIEWS, features, fit, split
from omniclas.engine.base_models import LINEAR_C, softmax, unit_rows

CONCAT = "concatenated"


def accuracy(feats, heads: dict, test: np.ndarray, y: np.ndarray) -> float:
    probs = np.mean([softmax(feats[(name, v)][test] @ w.T + b) for name, (w, b) in heads.items() for v in VIEWS], 0)
    return float((probs.argmax(1) == y[test]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--k", default="5,20")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "combine.md"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    lines = ["| dataset | k | averaged probabilities (3 heads) | one head on concatenated features | difference |",
             "|---|---|---|---|---|"]
    diffs = []
    for name in args.datasets.split(","):
        feats, y = features(name)
        for v in VIEWS:  # each body's unit-length features side by side, unit length again
            feats[(CONCAT, v)] = unit_rows(np.concatenate([feats[(b, v)] for b in BACKBONES], axis=1))
        n_classes = int(y.max()) + 1
        for k in (int(k) for k in args.k.split(",")):
            avg, cat = [], []
            for seed in seeds:
                train, test, _ = split(y, k, seed)
                ones = np.ones(len(train))
                avg.append(accuracy(feats, {b: fit(feats, b, train, y[train], ones, LINEAR_C, n_classes)
                                            for b in BACKBONES}, test, y))
                cat.append(accuracy(feats, {CONCAT: fit(feats, CONCAT, train, y[train], ones, LINEAR_C, n_classes)},
                                    test, y))
            diffs.append(np.mean(cat) - np.mean(avg))
            line = (f"| {name} | {k} | {np.mean(avg):.3f} ± {np.std(avg):.3f} | {np.mean(cat):.3f} ± {np.std(cat):.3f} "
                    f"| {diffs[-1]:+.3f} |")
            print(line, flush=True)
            lines.append(line)
    text = (f"# Combining backbones: averaged probabilities or one head on concatenated features\n\n"
            f"Command: `python benchmarks/bench_combine.py` (protocol in its docstring); seeds {args.seeds}, mean ± "
            f"standard deviation. Difference: concatenated minus averaged; mean difference {np.mean(diffs):+.3f}.\n\n"
            + "\n".join(lines) + "\n")
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
