"""``omniclas suggest``: which images of ``DATASET/unlabelled/`` to label next, best first."""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from ..config import SUGGEST_N, SUGGEST_N_MAX
from .output import _fit, _width
from .predict import _check_writable, _load_model

CSV_COLUMNS = ("rank", "image", "reason", "guess", "confidence")


def add_commands(sub) -> None:
    p = sub.add_parser("suggest", help="which unlabelled images to label next",
                       description="Which images of DATASET/unlabelled/ to label next, best first. Without --model: "
                                   "typical, diverse images (a cold start). With a model: the images it is least "
                                   "sure of, spread over the pool, the classes it confuses most first. Label them "
                                   "(move each into DATASET/<class>/), retrain, and ask again.")
    p.add_argument("dataset", help="the dataset folder (DATASET/<class>/..., DATASET/unlabelled/...)")
    p.add_argument("--model", default=None, metavar="RUN_OR_NAME",
                   help="a run folder, or a registered model name (name or name@version)")
    p.add_argument("--n", type=int, default=SUGGEST_N, metavar="N",
                   help=f"how many images to suggest (1 to {SUGGEST_N_MAX}, default {SUGGEST_N})")
    p.add_argument("--csv", default=None, metavar="OUT",
                   help="write the suggestions to this CSV file: " + ",".join(CSV_COLUMNS) + " (image: the "
                        "file's path), best first")
    from .models import models_root_arg

    models_root_arg(p)
    p.set_defaults(func=cmd_suggest)


def cmd_suggest(args) -> int:
    from ..data.files import write_atomic
    from ..engine.suggest import check_n, suggest

    check_n(args.n)  # before a model loads
    out = Path(args.csv) if args.csv else None
    if out:
        _check_writable(out, "csv")
    model = _load_model(args.model, None, args.models_root) if args.model else None
    result = suggest(args.dataset, args.n, model, args.model)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if out:
        write_atomic(out, suggestions_csv(result))
        print(f"{len(result.rows)} images to label next ({result.strategy}): {out}")
    else:
        print_table(result)
    return 0


def suggestions_csv(result) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in result.rows:
        writer.writerow([r.rank, str(result.dataset / r.image), r.reason, r.guess or "",
                         "" if r.confidence is None else f"{r.confidence:.4f}"])
    return buf.getvalue()


def print_table(result) -> None:
    width = _width(sys.stdout)
    print(f"{len(result.rows)} images of {result.dataset}/unlabelled to label next, best first ({result.strategy}"
          + (f", model {result.model}" if result.model else "") + "):")
    name_width = max([5, *(len(r.image) for r in result.rows)])
    guessed = any(r.guess for r in result.rows)
    for r in result.rows:
        guess = f"{r.guess} {r.confidence:.2f}".ljust(22) if guessed and r.guess else ""
        print(_fit(f"{r.rank:>4}  {r.image.ljust(name_width)}  {guess}{r.reason}", width))
