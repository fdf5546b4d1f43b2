"""Benchmark the frozen-feature linear head: which feature scaling and C, and whether self-training pays off at
which image size. Everything runs on features cached by the engine's own ``ImageBank``.

Labels are hidden as in ``bench_processes.py`` (its ``hide_labels``): per class a seeded 25% is the test set, k
images keep their labels, the rest become unlabelled (their labels kept only for scoring). The backbones are
EfficientNet-Lite0/1/2, features in bf16 where the CPU supports it (the engine's default), and the 6 views are
the original plus the 5 test-time transforms.

(a) Linear-head variants at the engine's image size (``choose_image_size``): a logistic regression
    (``class_weight="balanced"``) on standardised features (z-scored with the labelled images' mean and
    std) with C in {0.05, 0.2, 1}, or on unit-length (L2) features with C in {10, 100, 1000}; L2 with C = 100 is
    the package's ``fit_linear``. Scored by the test accuracy of each backbone, and by the automatic labels of
    one labelling pass: the 3-backbone x 6-view ``ensemble_vote`` over the unlabelled images, at confidence
    thresholds 0.5 and 0.8 (how many pass, and how many of those are right).
(b) Self-training vs none at image sizes 64, 128 and 224: the I.M.D.D. loop on cached features with the
    package's ``fit_linear`` (L2, C = ``LINEAR_C``): fit the 3 heads on the labelled + automatic labels, label
    the remaining unlabelled images by the 3 x 6 vote, keep those with confidence >= 0.8, repeat; at most 6
    rounds (5 labelling passes), stopping early when nothing is left or nothing passes. Unlike the engine, no
    validation split picks the round: the last round is scored, so the table shows what the automatic labels
    do by themselves. "No self-training" is round 0 (process N.D. without the validation split).
Accuracies are the mean over the 3 backbones on the held-out test images, averaged over the seeds.

    python benchmarks/bench_linear_head.py                     # the full set (about 15 min on 2 busy cores)
    python benchmarks/bench_linear_head.py --runs bbbc013:5 --seeds 0 --sizes 128 --parts a

The data in ../shared/data is read in place. Prints markdown tables and writes benchmarks/results/linear_head.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_server"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_inference import cpu_description  # noqa: E402
from bench_processes import SHARED, hide_labels  # noqa: E402
from omniclas.config import ENSEMBLE_BACKBONES, TRANSFORMS  # noqa: E402
from omniclas.data import load_dataset  # noqa: E402
from omniclas.engine.base_models import LINEAR_C, fit_linear, predict_proba  # noqa: E402
from omniclas.engine.features import ImageBank  # noqa: E402
from omniclas.engine.inputs import choose_image_size  # noqa: E402
from omniclas.model.transforms import tta_views  # noqa: E402
from omniclas.engine.vote import ensemble_vote  # noqa: E402
from omniclas.model.runtime import bf16_supported  # noqa: E402
from omniclas.engine.progress import Reporter  # noqa: E402


def accept(vote, threshold: float) -> np.ndarray:
    """The paper's rule (the engine's ``threshold`` selection)."""
    return np.flatnonzero(vote.confidence >= threshold)

BACKBONES = ENSEMBLE_BACKBONES
VIEWS = [name for name, _ in tta_views(TRANSFORMS)]
VARIANTS = [("std", 0.05), ("std", 0.2), ("std", 1.0), ("l2", 10.0), ("l2", 100.0), ("l2", 1000.0)]
THRESHOLDS = (0.5, 0.8)
SELF_TRAIN_THRESHOLD = 0.8
MAX_ROUNDS = 6
BATCH_SIZE = 32  # TrainConfig's default, as the engine computes features


class Banks:
    """One ImageBank per image size over every labelled image of a dataset; seeds and k only pick indices, so
    features are computed once per (image, backbone, view, size)."""

    def __init__(self, name: str, bf16: bool):
        full = load_dataset(SHARED / name)
        self.classes = full.classes
        self.paths = [p for p, _ in full.labelled]
        self.digest = full.digest
        self.position = {p.resolve(): i for i, p in enumerate(self.paths)}
        self.engine_size = choose_image_size(full.typical_size())
        self.bf16 = bf16
        self._banks: dict[int, ImageBank] = {}

    def at(self, size: int) -> ImageBank:
        if size not in self._banks:
            self._banks[size] = ImageBank(self.paths, size, digest=self.digest, bf16=self.bf16,
                                          batch_size=BATCH_SIZE, runtime="auto", report=Reporter(),
                                          resident=len(self.paths))
        return self._banks[size]


class Task:
    """One hidden-label split (dataset, k, seed) as index arrays into the dataset's banks."""

    def __init__(self, banks: Banks, name: str, k: int, seed: int, tmp: Path):
        folder = tmp / f"{name}-k{k}-s{seed}"
        truth = hide_labels(name, folder, k, seed)
        ds = load_dataset(folder)
        assert ds.classes == banks.classes
        pos = banks.position
        self.L = np.array([pos[p.resolve()] for p, _ in ds.labelled])
        self.yL = np.array([y for _, y in ds.labelled])
        self.T = np.array([pos[p.resolve()] for p, _ in ds.test])
        self.yT = np.array([y for _, y in ds.test])
        hidden = [p for p in ds.unlabelled if ds.relative(p) in truth]  # labelled images whose label is hidden
        self.U = np.array([pos[p.resolve()] for p in hidden], dtype=int)
        self.yU = np.array([ds.classes.index(truth[ds.relative(p)]) for p in hidden], dtype=int)
        self.n_classes = len(ds.classes)
        self.seed = seed


# --- (a) linear-head variants ---

def fit_variant(f_train: np.ndarray, y: np.ndarray, n_classes: int, scaling: str, C: float, seed: int):
    """A logistic regression on standardised or unit-length features; returns f -> class probabilities over
    all classes (a class absent from training gets probability 0)."""
    f_train = f_train.astype(np.float64)
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6

    def prep(f):
        f = f.astype(np.float64)
        return (f - mu) / sd if scaling == "std" else f / np.linalg.norm(f, axis=1, keepdims=True)

    lr = LogisticRegression(C=C, max_iter=5000, class_weight="balanced", random_state=seed).fit(prep(f_train), y)

    def predict(f):
        out = np.zeros((len(f), n_classes))
        out[:, lr.classes_] = lr.predict_proba(prep(f))
        return out

    return predict


def run_variants(bank: ImageBank, task: Task) -> dict:
    """{(scaling, C): {"test": [acc per backbone], "all": acc of the vote, th: (n accepted, n right)}}."""
    out = {}
    for scaling, C in VARIANTS:
        accs, probs = [], []
        for b in BACKBONES:
            predict = fit_variant(bank.features(b, task.L), task.yL, task.n_classes, scaling, C, task.seed)
            accs.append(float((predict(bank.features(b, task.T)).argmax(1) == task.yT).mean()))
            for view in VIEWS:
                probs.append(predict(bank.features(b, task.U, view)))
        vote = ensemble_vote(np.stack(probs))
        res = {"test": accs, "all": float((vote.labels == task.yU).mean())}
        for th in THRESHOLDS:
            chosen = accept(vote, th)
            res[th] = (len(chosen), int((vote.labels[chosen] == task.yU[chosen]).sum()))
        out[(scaling, C)] = res
    return out


# --- (b) self-training ---

def self_train(bank: ImageBank, task: Task) -> dict:
    """The I.M.D.D. loop on cached features with the package's fit_linear; test accuracy per round."""
    auto: dict[int, int] = {}  # bank index -> automatic label
    unlabelled = set(task.U.tolist())
    truth = dict(zip(task.U.tolist(), task.yU.tolist()))
    round_acc = []
    for it in range(MAX_ROUNDS):
        auto_idx = np.array(sorted(auto), dtype=int)
        fit_idx = np.concatenate([task.L, auto_idx])
        fit_y = np.concatenate([task.yL, np.array([auto[i] for i in auto_idx], dtype=int)])
        models = [fit_linear(bank, b, [(fit_idx, "original", fit_y)], task.n_classes, task.seed) for b in BACKBONES]
        round_acc.append(float(np.mean([(predict_proba(bank, m, task.T).argmax(1) == task.yT).mean()
                                        for m in models])))
        if it == MAX_ROUNDS - 1:
            break
        remaining = np.array(sorted(unlabelled - set(auto)), dtype=int)
        if len(remaining) == 0:
            break
        vote = ensemble_vote(np.stack([predict_proba(bank, m, remaining, v) for m in models for v in VIEWS]))
        chosen = accept(vote, SELF_TRAIN_THRESHOLD)
        if len(chosen) == 0:
            break
        for j in chosen:
            auto[int(remaining[j])] = int(vote.labels[j])
    right = sum(truth[i] == label for i, label in auto.items())
    return {"acc0": round_acc[0], "acc": round_acc[-1], "rounds": len(round_acc), "auto": len(auto),
            "pseudo_acc": right / len(auto) if auto else float("nan")}


# --- tables ---

def mean(xs) -> float:
    xs = [x for x in xs if x == x]
    return float(np.mean(xs)) if xs else float("nan")


def fmt_pseudo(pairs) -> str:
    n = mean([p[0] for p in pairs])
    acc = mean([p[1] / p[0] if p[0] else float("nan") for p in pairs])
    return f"{n:.0f} / {acc:.3f}" if acc == acc else f"{n:.0f} / -"


def variants_table(name: str, k: int, size: int, results: list[dict]) -> tuple[list[str], dict]:
    rows, scores = [], {}
    for scaling, C in VARIANTS:
        rs = [r[(scaling, C)] for r in results]
        per_backbone = [mean([r["test"][i] for r in rs]) for i in range(len(BACKBONES))]
        m = mean(per_backbone)
        p08 = [r[0.8] for r in rs]
        acc08 = mean([p[1] / p[0] if p[0] else float("nan") for p in p08])
        scores[(scaling, C)] = (m, acc08, mean([p[0] for p in p08]))
        label = f"{'unit length (L2)' if scaling == 'l2' else 'standardised'} | {C:g}"
        if scaling == "l2" and C == LINEAR_C:
            label += " (package)"
        rows.append(f"| {name} | {k} | {size} | {label} | " + " | ".join(f"{a:.3f}" for a in per_backbone)
                    + f" | **{m:.3f}** | {mean([r['all'] for r in rs]):.3f} | "
                    + " | ".join(fmt_pseudo([r[th] for r in rs]) for th in THRESHOLDS) + " |")
    return rows, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", help="dataset:k pairs",
                    default="bbbc013:5,bbbc013:20,bccd_wbc:5,bccd_wbc:20,"
                            "fashion_mnist_sub100:5,fashion_mnist_sub100:20")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--sizes", default="64,128,224", help="image sizes for part (b)")
    ap.add_argument("--parts", default="ab")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and BLAS threads (1: on a busy shared machine, spinning OpenMP/BLAS threads made 2 "
                         "threads 3-25x slower than 1)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "linear_head.md"))
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"benchmark data not found at {SHARED}")
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # numpy/scikit-learn BLAS and OpenMP
    runs = [(r.split(":")[0], int(r.split(":")[1])) for r in args.runs.split(",")]
    names = list(dict.fromkeys(name for name, _ in runs))
    runs.sort(key=lambda r: names.index(r[0]))  # one dataset's runs together: they share its cached features
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    bf16 = bf16_supported()
    started, load_start = time.monotonic(), os.getloadavg()

    cols_a = (["dataset", "k", "px", "features", "C"]
              + [f"test acc {b.replace('efficientnet_', '')}" for b in BACKBONES]
              + ["test acc mean", "vote acc (all unlabelled)", ">= 0.5: n / acc", ">= 0.8: n / acc"])
    head_a = "| " + " | ".join(cols_a) + " |\n" + "|---" * len(cols_a) + "|"
    head_b = ("| dataset | k | px | no self-training | self-training | gain | automatic labels | their accuracy | "
              "rounds |\n|---|---|---|---|---|---|---|---|---|")
    rows_a, rows_b, summary = [], [], []
    scores_a: dict[tuple[str, int], dict] = {}
    st_results: dict[tuple[str, int, int], list[dict]] = {}
    banks: dict[str, Banks] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, k in runs:
            if name not in banks:
                banks.clear()  # keep one dataset's features in memory at a time
                banks[name] = Banks(name, bf16)
            bk = banks[name]
            tasks = [Task(bk, name, k, s, Path(tmp)) for s in seeds]
            print(f"\n## {name}, k = {k}: {len(tasks[0].L)} labelled, {len(tasks[0].T)} test, "
                  f"{len(tasks[0].U)} unlabelled (seed {seeds[0]}); engine size {bk.engine_size} px "
                  f"[{(time.monotonic() - started) / 60:.1f} min]", flush=True)
            if "a" in args.parts:
                t0 = time.monotonic()
                results = [run_variants(bk.at(bk.engine_size), t) for t in tasks]
                rows, scores = variants_table(name, k, bk.engine_size, results)
                scores_a[(name, k)] = scores
                print(f"\n{head_a}\n" + "\n".join(rows) + f"\n({time.monotonic() - t0:.0f} s)", flush=True)
                rows_a += rows
            if "b" in args.parts:
                for size in sizes:
                    t0 = time.monotonic()
                    rs = [self_train(bk.at(size), t) for t in tasks]
                    st_results[(name, k, size)] = rs
                    a0, a1 = mean([r["acc0"] for r in rs]), mean([r["acc"] for r in rs])
                    sd0, sd1 = np.std([r["acc0"] for r in rs]), np.std([r["acc"] for r in rs])
                    row = (f"| {name} | {k} | {size}{' (engine)' if size == bk.engine_size else ''} | "
                           f"{a0:.3f} ± {sd0:.3f} | {a1:.3f} ± {sd1:.3f} | {a1 - a0:+.3f} | "
                           f"{mean([r['auto'] for r in rs]):.0f} | {mean([r['pseudo_acc'] for r in rs]):.3f} | "
                           f"{mean([r['rounds'] for r in rs]):.1f} |")
                    print(f"{head_b if size == sizes[0] else ''}\n{row} ({time.monotonic() - t0:.0f} s)"
                          .lstrip("\n"), flush=True)
                    rows_b.append(row)

    # Summary lines: which variant wins, and what image size does.
    if scores_a:
        ranks = defaultdict(list)
        for (name, k), scores in scores_a.items():
            best_test = max(scores, key=lambda v: scores[v][0])
            valid08 = {v: s for v, s in scores.items() if s[1] == s[1]}
            best_08 = max(valid08, key=lambda v: valid08[v][1:]) if valid08 else None  # ties: more labels
            pkg = scores[("l2", LINEAR_C)]
            summary.append(
                f"(a) {name}, k = {k}: best test accuracy {best_test[0]} C={best_test[1]:g} "
                f"({scores[best_test][0]:.3f}); best automatic-label accuracy at 0.8: "
                + (f"{best_08[0]} C={best_08[1]:g} ({scores[best_08][1]:.3f}, {scores[best_08][2]:.0f} labels)"
                   if best_08 else "-")
                + f"; the package's L2 C={LINEAR_C:g}: {pkg[0]:.3f} test, {pkg[1]:.3f} at 0.8 ({pkg[2]:.0f} labels).")
            variants = list(scores)
            for v, r in zip(variants, rankdata([-scores[v][0] for v in variants])):  # ties share their mean rank
                ranks[v].append(r)
        summary.append("(a) mean rank by test accuracy over the dataset/k runs (1 = best): "
                       + ", ".join(f"{s} C={c:g}: {np.mean(r):.1f}"
                                   for (s, c), r in sorted(ranks.items(), key=lambda kv: np.mean(kv[1]))) + ".")
    if st_results:
        for name, k in runs:
            parts = []
            for size in sizes:
                rs = st_results.get((name, k, size))
                if rs:
                    a0, a1 = mean([r["acc0"] for r in rs]), mean([r["acc"] for r in rs])
                    parts.append(f"{size} px {a0:.3f} -> {a1:.3f} ({a1 - a0:+.3f})")
            summary.append(f"(b) {name}, k = {k}, no self-training -> self-training: " + "; ".join(parts) + ".")
        for size in sizes:
            rs = [r for (_, _, s), group in st_results.items() if s == size for r in group]
            summary.append(f"(b) {size} px over all runs and seeds: no self-training "
                           f"{mean([r['acc0'] for r in rs]):.3f}, self-training {mean([r['acc'] for r in rs]):.3f}.")

    wall = time.monotonic() - started
    load_end = os.getloadavg()
    text = [
        "# Linear head: feature scaling, C, self-training and image size\n",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {cpu_description()}, "
        f"torch {torch.__version__} with {torch.get_num_threads()} thread(s), features in "
        f"{'bf16' if bf16 else 'fp32'}, seeds {args.seeds}.\n",
        f"Command: `{' '.join(['python', 'benchmarks/bench_linear_head.py', *sys.argv[1:]])}` ({wall / 60:.0f} min)\n",
        f"The machine was shared with other people's test and benchmark runs (1-min load average "
        f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end, on {os.cpu_count()} CPUs); that affects "
        f"the run time only, not the numbers below, which are deterministic for given seeds.\n",
        (__doc__.split("\n\n    python")[0]).split("\n", 2)[2].strip() + "\n",
        "## Summary\n", "\n".join(f"- {s}" for s in summary) + "\n",
    ]
    if rows_a:
        text += ["## (a) Linear-head variants, at the engine's image size\n",
                 "Test accuracy per backbone and their mean (mean over seeds); the automatic labels of one "
                 "3-backbone x 6-view vote over the unlabelled images: accuracy of the vote on all of them, and at "
                 "each confidence threshold the number accepted / the fraction of those that are right.\n",
                 head_a + "\n" + "\n".join(rows_a) + "\n"]
    if rows_b:
        text += ["## (b) Self-training vs none, by image size\n",
                 f"Mean test accuracy over the 3 backbones, mean ± standard deviation over seeds {args.seeds}; "
                 f"automatic labels: how many were kept by the end, and the fraction that is right; rounds: "
                 f"fits done (at most {MAX_ROUNDS}).\n",
                 head_b + "\n" + "\n".join(rows_b) + "\n"]
    Path(args.out).write_text("\n".join(text))
    print("\n" + "\n".join(f"- {s}" for s in summary))
    print(f"\nwrote {args.out} ({wall / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
