"""Probe: could another way of using the automatic labels close the gap to the issue's k = 5 target?

The process benchmark (bench_processes.py) runs the engine itself; this probe instead replays I.M.D.D.'s loop on
features computed once, so that ideas the engine does not have can be tried in seconds. It follows the engine
where it can: the same bodies and image sizes, the ensemble of three linear heads trained on the original and
flipped views (``fit_linear``'s constants), the same vote (``ensemble_vote``) and selection rules
(``get_selection``), 5 rounds with automatic labels kept once taken, and the last round kept. It differs in that
it keeps no cross-validated chains and BBBC013's real unlabelled crops are left out of its pool.

Variants (what each round does with the vote):

* ``threshold`` and ``balanced``: the engine's rules, as shipped.
* ``weight 0.5`` / ``weight conf^2``: the threshold rule, each automatic label weighted in the fit.
* ``threshold 0.6 + agree``: a lower threshold where every model and view agree.
* ``balanced + floor 0.5``: the balanced rule, but no image under confidence 0.5.
* ``C=10 for rounds``: the threshold rule with a stronger regularisation once automatic labels join.
* ``graph voter``: label spreading on a k-nearest-neighbour graph of the pool votes beside the models, and only
  images where the graph and the models agree are taken (class-balanced, growing share).
* ``threshold or balanced``: the union of the two rules: the confident images, and at least the balanced share
  of every class (for data where the threshold takes few).

    python benchmarks/probe_selection.py                       # 5 datasets, k = 5, 3 seeds (about 5 minutes)
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_server"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bench_processes import DATASETS, MANY_PARTS, class_sources  # noqa: E402
from omniclas.engine.base_models import ABSENT_CLASS_BIAS, LINEAR_C, LINEAR_TOL, softmax, unit_rows  # noqa: E402
from omniclas.engine.features import ImageBank  # noqa: E402
from omniclas.engine.inputs import choose_image_size  # noqa: E402
from omniclas.engine.select import SelectionContext, get_selection  # noqa: E402
from omniclas.engine.vote import ensemble_vote  # noqa: E402
from omniclas.data.imageio import read_image  # noqa: E402
from omniclas.data.files import sha256_file  # noqa: E402

BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
VIEWS = ("original", "hflip")
ROUNDS = 5
VARIANTS = {
    "threshold (default)": {"rule": "threshold"},
    "balanced": {"rule": "balanced"},
    "weight 0.5": {"rule": "threshold", "weight": 0.5},
    "weight conf^2": {"rule": "threshold", "weight": "conf2"},
    "threshold 0.6 + agree": {"rule": "threshold", "threshold": 0.6, "agree": 1.0},
    "balanced + floor 0.5": {"rule": "balanced", "floor": 0.5},
    "C=10 for rounds": {"rule": "threshold", "round_c": 10.0},
    "graph voter": {"rule": "graph"},
    "threshold or balanced": {"rule": "union"},
}


class _Quiet:
    def __call__(self, **_):
        pass

    def work(self, *_, **__):
        return contextlib.nullcontext()


def features(name: str) -> tuple[dict, np.ndarray]:
    """Unit-length features per (backbone, view) of every labelled image of a dataset, and the labels."""
    if name == "many":
        parts = [features(p) for p in MANY_PARTS]
        offsets = np.cumsum([0] + [int(y.max()) + 1 for _, y in parts[:-1]])
        return ({key: np.concatenate([f[key] for f, _ in parts]) for key in parts[0][0]},
                np.concatenate([y + o for (_, y), o in zip(parts, offsets)]))
    files, labels = [], []
    for c, (_, paths) in enumerate(class_sources(name)):
        files += paths
        labels += [c] * len(paths)
    images = [read_image(p) for p in files]
    size = choose_image_size(int(np.median([max(im.shape[:2]) for im in images])))
    bank = ImageBank(files, size, digest=sha256_file, bf16=None, batch_size=64, runtime="auto", report=_Quiet(),
                     resident=len(files))
    everything = np.arange(len(files))
    return ({(b, v): unit_rows(bank.features(b, everything, v)) for b in BACKBONES for v in VIEWS},
            np.array(labels))


def split(y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bench_processes' protocol: 25% of each class for test, k labelled, the rest unlabelled."""
    rng = np.random.default_rng(seed)
    train, test, pool = [], [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = max(1, round(0.25 * len(idx)))
        rest = idx[n_test:]
        keep = min(k, len(rest) - 1) if len(rest) > 2 else len(rest)
        test += list(idx[:n_test])
        train += list(rest[:keep])
        pool += list(rest[keep:])
    return np.array(train), np.array(test), np.array(pool)


def fit(feats, backbone, idx, y, weight, c, n_classes):
    """fit_linear with sample weights: one logistic regression on the rows of every training view."""
    x = np.concatenate([feats[(backbone, v)][idx] for v in VIEWS])
    lr = LogisticRegression(C=c, tol=LINEAR_TOL, max_iter=5000, class_weight="balanced")
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr.fit(x, np.tile(y, len(VIEWS)), sample_weight=np.tile(weight, len(VIEWS)))
    coef = np.zeros((n_classes, x.shape[1]), np.float32)
    bias = np.full(n_classes, ABSENT_CLASS_BIAS, np.float32)
    coef[lr.classes_], bias[lr.classes_] = lr.coef_, lr.intercept_
    return coef, bias


def predictions(feats, heads, idx) -> np.ndarray:
    """(models x views, images, classes) probabilities."""
    return np.stack([softmax(feats[(b, v)][idx] @ w.T + bias) for b, (w, bias) in zip(BACKBONES, heads)
                     for v in VIEWS])


def label_spreading(feats, seeds, seed_y, pool, n_classes, neighbours=10, alpha=0.99, steps=30) -> np.ndarray:
    """Zhou et al.'s label spreading over a cosine k-NN graph of the seeds and the pool; pool probabilities."""
    nodes = np.concatenate([seeds, pool])
    x = unit_rows(np.concatenate([feats[(b, "original")][nodes] for b in BACKBONES], axis=1))
    sim = x @ x.T
    np.fill_diagonal(sim, -1)
    near = np.argpartition(-sim, neighbours, axis=1)[:, :neighbours]
    rows = np.repeat(np.arange(len(nodes)), neighbours)
    w = np.zeros_like(sim)
    w[rows, near.ravel()] = np.maximum(sim[rows, near.ravel()], 0) ** 3
    w = w + w.T
    d = 1 / np.sqrt(np.maximum(w.sum(1), 1e-12))
    w *= d[:, None] * d[None, :]
    start = np.zeros((len(nodes), n_classes))
    start[np.arange(len(seeds)), seed_y] = 1
    start /= np.maximum(start.sum(0, keepdims=True), 1)  # each class seeds the same mass
    z = start.copy()
    for _ in range(steps):
        z = alpha * w @ z + (1 - alpha) * start
    z = np.maximum(z[len(seeds):], 0)
    return z / np.maximum(z.sum(1, keepdims=True), 1e-12)


def choose(variant: dict, vote, rnd: int, n_classes: int) -> np.ndarray:
    if variant["rule"] == "graph":  # agreement of graph and models decided before the vote; balanced share
        return get_selection("balanced")(vote, SelectionContext(rnd, n_classes, 0.8))
    if variant["rule"] == "union":
        ctx = SelectionContext(rnd, n_classes, 0.8)
        return np.union1d(get_selection("threshold")(vote, ctx), get_selection("balanced")(vote, ctx))
    keep = vote.confidence >= variant.get("floor", 0.0)
    keep &= vote.agreement >= variant.get("agree", 0.0)
    ctx = SelectionContext(rnd, n_classes, variant.get("threshold", 0.8))
    chosen = get_selection(variant["rule"])(vote, ctx)
    return chosen[keep[chosen]]


def replay(feats, y, k: int, seed: int, variant: dict) -> dict:
    """N.D., then ROUNDS rounds of labelling; test accuracy of the ensemble after each."""
    n_classes = int(y.max()) + 1
    train, test, pool = split(y, k, seed)
    auto_label, auto_weight = {}, {}
    curve, heads = [], None
    for rnd in range(ROUNDS + 1):
        taken = np.array(sorted(auto_label), dtype=int)
        idx = np.concatenate([train, taken])
        labels = np.concatenate([y[train], [auto_label[i] for i in taken]]).astype(int)
        weight = np.concatenate([np.ones(len(train)), [auto_weight[i] for i in taken]])
        c = variant.get("round_c", LINEAR_C) if len(taken) else LINEAR_C
        heads = [fit(feats, b, idx, labels, weight, c, n_classes) for b in BACKBONES]
        curve.append(float((predictions(feats, heads, test).mean(0).argmax(1) == y[test]).mean()))
        remaining = np.array([i for i in pool if i not in auto_label], dtype=int)
        if rnd == ROUNDS or not len(remaining):
            break
        probs = predictions(feats, heads, remaining)
        if variant["rule"] == "graph":
            graph = label_spreading(feats, idx, labels, remaining, n_classes)
            vote = ensemble_vote(np.concatenate([probs, np.repeat(graph[None], len(probs), 0)]))
            vote.agreement = (graph.argmax(1) == probs.mean(0).argmax(1)).astype(float)
        else:
            vote = ensemble_vote(probs)
        for j in choose(variant, vote, rnd, n_classes):
            w = variant.get("weight", 1.0)
            auto_label[int(remaining[j])] = int(vote.labels[j])
            auto_weight[int(remaining[j])] = float(vote.confidence[j]) ** 2 if w == "conf2" else w
    taken = np.array(sorted(auto_label), dtype=int)
    return {"curve": curve, "auto": len(taken),
            "auto_accuracy": float(np.mean([auto_label[i] == y[i] for i in taken])) if len(taken) else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "selection_probe.md"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    lines = ["| dataset | variant | N.D. | after 5 rounds | vs N.D. | automatic labels | their accuracy | s |",
             "|---|---|---|---|---|---|---|---|"]
    for name in args.datasets.split(","):
        feats, y = features(name)
        for label, variant in VARIANTS.items():
            start = time.monotonic()
            runs = [replay(feats, y, args.k, s, variant) for s in seeds]
            nd, final = np.mean([r["curve"][0] for r in runs]), np.mean([r["curve"][-1] for r in runs])
            right = [r["auto_accuracy"] for r in runs if r["auto_accuracy"] is not None]
            line = (f"| {name} | {label} | {nd:.3f} | {final:.3f} | {final - nd:+.3f} | "
                    f"{np.mean([r['auto'] for r in runs]):.0f} | {np.mean(right) if right else 0:.3f} | "
                    f"{time.monotonic() - start:.0f} |")
            print(line, flush=True)
            lines.append(line)
    header = (f"# Selection probe: k = {args.k}, seeds {args.seeds}, mean over seeds\n\n"
              f"Command: `python benchmarks/probe_selection.py --k {args.k}` (see its docstring for the protocol).\n\n")
    out = Path(args.out)
    notes = out.read_text().partition("\nMachine:") if out.exists() else ("", "", "")
    out.write_text(header + "\n".join(lines) + "\n" + (notes[1] + notes[2] if notes[1] else ""))  # keeps the notes


if __name__ == "__main__":
    main()
