"""Benchmark the seven processes on real data with hidden labels.

For each dataset, a stratified, seeded 25% of every class is held out as the test set. Of the rest, k images per
class keep their labels; the others go to ``unlabelled/`` with their labels hidden from the engine (kept here to
score the automatic labels). The dataset folders are built from symbolic links in a temporary folder: the data in
../shared/data is read in place and never copied.

    python benchmarks/bench_processes.py                      # bccd_wbc and bbbc013, k = 5 and 20, linear heads
    python benchmarks/bench_processes.py --paper               # adds the paper's fine-tuning protocol
    python benchmarks/bench_processes.py --datasets bccd_wbc --k 5 --processes nd,imdd

Prints a markdown table and appends it to benchmarks/results/processes.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_server"))

from omniclas.config import PROCESSES, TrainConfig  # noqa: E402
from omniclas.data.dataset import _class_dirs, _list_images  # noqa: E402
from omniclas.engine import train  # noqa: E402

SHARED = (ROOT / ".." / "shared" / "data").resolve()


def hide_labels(src: Path, dst: Path, k: int, seed: int, max_per_class: int | None) -> dict[str, str]:
    """Build dst/{class,unlabelled,test} from links to src; returns the hidden label of each unlabelled image."""
    rng = np.random.default_rng(seed)
    truth = {}
    (dst / "unlabelled").mkdir(parents=True)
    for class_dir in _class_dirs(src, exclude={"unlabelled", "test"}):
        files = _list_images(class_dir)
        files = [files[i] for i in rng.permutation(len(files))]
        if max_per_class:
            files = files[:max_per_class]
        n_test = max(1, round(0.25 * len(files)))
        test, rest = files[:n_test], files[n_test:]
        labelled, hidden = rest[:k], rest[k:]
        for folder, items in ((dst / "test" / class_dir.name, test), (dst / class_dir.name, labelled)):
            folder.mkdir(parents=True)
            for f in items:
                (folder / f.name).symlink_to(f)
        for f in hidden:
            name = f"{class_dir.name}__{f.name}"
            (dst / "unlabelled" / name).symlink_to(f)
            truth[f"unlabelled/{name}"] = class_dir.name
    return truth


def run_one(dataset_dir: Path, truth: dict, process: str, head: str, seed: int, out: Path, epochs,
            backbones=None) -> dict:
    cfg = TrainConfig(dataset=str(dataset_dir), out_dir=str(out), process=process, head=head, seed=seed,
                      frozen_epochs=epochs[0], unfrozen_epochs=epochs[1], backbones=backbones)
    start = time.monotonic()
    result = train(cfg)
    wall = time.monotonic() - start
    m = result.manifest
    auto = m["auto_labelled"]
    right = sum(truth[a["path"]] == a["class"] for a in auto)
    return {"test_accuracy": m["test"]["accuracy"], "auto": len(auto),
            "pseudo_accuracy": right / len(auto) if auto else None, "rounds": len(m["iterations"]),
            "best_round": m["best_iteration"], "model": f"{m['backbone']}/{m['head']}", "wall_s": wall,
            "input": m["input_size"][0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="bccd_wbc,bbbc013")
    ap.add_argument("--k", default="5,20")
    ap.add_argument("--processes", default=",".join(PROCESSES))
    ap.add_argument("--paper", action="store_true", help="also run the paper's fine-tuning protocol (slow)")
    ap.add_argument("--paper-processes", default="nd,dd")
    ap.add_argument("--paper-backbones", default="efficientnet_lite0",
                    help="backbones for the paper's protocol (fine-tuning costs minutes per model on a CPU)")
    ap.add_argument("--paper-datasets", default="bccd_wbc", help="datasets on which to run the paper's protocol")
    ap.add_argument("--paper-k", default="5", help="k values at which to run the paper's protocol")
    ap.add_argument("--max-per-class", type=int, default=None, help="subsample large datasets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "processes.md"))
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"benchmark data not found at {SHARED}")
    rows = []
    header = ("| dataset | k | process | protocol | model | test acc | auto labels | pseudo-label acc | rounds | wall s |\n"
              "|---|---|---|---|---|---|---|---|---|---|")
    print(header, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            for k in map(int, args.k.split(",")):
                ds_dir = Path(tmp) / f"{name}-k{k}"
                truth = hide_labels(SHARED / name, ds_dir, k, args.seed, args.max_per_class)
                runs = [(p, "linear", None) for p in args.processes.split(",")]
                if args.paper and name in args.paper_datasets.split(",") and str(k) in args.paper_k.split(","):
                    runs += [(p, "finetune", tuple(args.paper_backbones.split(",")))
                             for p in args.paper_processes.split(",")]
                for process, head, backbones in runs:
                    r = run_one(ds_dir, truth, process, head, args.seed, Path(tmp) / f"run-{name}-{k}-{process}-{head}",
                                (2, 8), backbones)
                    protocol = "paper: fine-tune 2+8 epochs" if head == "finetune" else "frozen features + linear head"
                    pa = f"{r['pseudo_accuracy']:.3f}" if r["pseudo_accuracy"] is not None else "-"
                    row = (f"| {name} | {k} | {PROCESSES[process].name} | {protocol} | {r['model']} @{r['input']}px | "
                           f"{r['test_accuracy']:.3f} | {r['auto']} | {pa} | {r['rounds']} | {r['wall_s']:.0f} |")
                    print(row, flush=True)
                    rows.append(row)
    stamp = (f"\n## {time.strftime('%Y-%m-%d %H:%M')} on {platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} threads, torch {torch.__version__}\n\n"
             f"Command: `python benchmarks/bench_processes.py {' '.join(sys.argv[1:])}`\n\n")
    with open(args.out, "a") as f:
        f.write(stamp + header + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
