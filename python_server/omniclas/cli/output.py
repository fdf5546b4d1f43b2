"""What the command line prints: the progress line and the end-of-run summary, fitted to the terminal."""
from __future__ import annotations

import shlex
import sys
import textwrap
import time
from pathlib import Path

from ..config import PROCESSES
from ..report import headline


def _width(stream) -> int:
    import shutil

    return max(60, shutil.get_terminal_size((100, 24)).columns) if stream.isatty() else 160


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(1, width - 1)] + "…"


def _join_fitting(names: list[str], width: int) -> str:
    """``a, b, c, … (+N more)`` within ``width`` characters."""
    out = ""
    for i, name in enumerate(names):
        more = f", … (+{len(names) - i} more)" if i else f"… (+{len(names)} more)"
        piece = (", " if i else "") + name
        if len(out) + len(piece) + (len(more) if i < len(names) - 1 else 0) > width:
            return out + more
        out += piece
    return out


class ProgressPrinter:
    """One updating line on a terminal; one line per stage or epoch change in a log file."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_key = None
        self.last_time = 0.0

    def __call__(self, e) -> None:
        where = f"round {e.iteration}/{e.max_iterations}"
        if e.stage == "training" and e.epochs:
            text = f"{where} | {e.model} | epoch {e.epoch}/{e.epochs} batch {e.batch}/{e.batches}"
        else:
            text = " | ".join(part for part in (where, e.stage, e.message) if part)  # no empty field, no stray bar
        eta = f" | ETA {e.eta_s:.0f} s" if e.eta_s is not None else ""
        line = f"[{e.fraction * 100:5.1f}%] {text}{eta}"
        if self.tty:
            width = _width(self.stream) - 1
            self.stream.write("\r" + _fit(line, width).ljust(width))
            if e.stage == "done":
                self.stream.write("\n")
        else:
            key = (e.stage, e.iteration, e.epoch, e.message)  # a log gets a line per step, not per model fit
            if key != self.last_key or time.monotonic() - self.last_time > 30:
                self.stream.write(line + "\n")
                self.last_key, self.last_time = key, time.monotonic()
        self.stream.flush()


def print_summary(manifest: dict, run_dir, out=None) -> None:
    """The cross-validated estimate first, then the test accuracy with the images it rests on (and a plain warning
    when they are too few to judge), then the run."""
    out = out or sys.stdout  # looked up at call time, so a redirected stdout (pytest, notebooks) gets it
    t = manifest["test"]
    width = _width(out)
    rows = [("estimated accuracy", headline.estimate_text(manifest)), ("test accuracy", headline.test_text(manifest)),
            ("run folder", str(run_dir)), ("process", PROCESSES[manifest["process"]].name
                                                     + (" (chosen by AutoML)" if manifest.get("automl") else "")),
            ("model", f"{manifest['backbone']} ({manifest['head']} head, {manifest['input_size'][0]} px, "
                      f"{len(manifest.get('views') or ['original'])} view(s))"),
            ("classes", f"{len(manifest['classes'])}: " + ", ".join(manifest["classes"])),
            ("images", ", ".join(f"{v} {k}" for k, v in manifest["counts"].items())),
            ("rounds", headline.rounds_text(manifest)),
            ("automatic labels", headline.automatic_labels_text(manifest)),
            *([("student", headline.student_text(manifest))] if manifest.get("student") else []),
            ("calibration", headline.unsure_text(manifest)),
            ("wall time", f"{manifest['wall_time_s']} s")]
    key_width = max(len(k) for k, _ in rows)
    room = width - key_width - 4
    print("\nSummary", file=out)
    for k, v in rows:
        v = _join_fitting(manifest["classes"], room - 4).join([f"{len(manifest['classes'])}: ", ""]) \
            if k == "classes" else _fit(v, room)
        print(f"  {k:<{key_width}}  {v}", file=out)
    print_automl(manifest, out, width)
    warning = headline.small_test_set(manifest)
    if warning:  # said in full, wrapped, never cut to the terminal's width
        print("\n" + textwrap.fill(warning, width - 1, initial_indent="  ", subsequent_indent="  "), file=out)
    name_width = min(max([len("class")] + [len(c["class"]) for c in t["per_class"]]), max(12, width - 40))
    print(f"\n  {'class':<{name_width}} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}", file=out)
    for c in t["per_class"]:
        print(f"  {_fit(c['class'], name_width):<{name_width}} {c['precision']:>9.3f} {c['recall']:>7.3f} "
              f"{c['f1']:>6.3f} {c['support']:>8d}", file=out)


def print_automl(manifest: dict, out, width: int) -> None:
    """AutoML's candidates, one line each, and its choice (nothing for a run of a named process)."""
    from ..report.automl import candidate_rows, choice_text

    rows = candidate_rows(manifest)
    if not rows:
        return
    print("\n  " + _fit(choice_text(manifest), width - 2), file=out)
    name_width = max(len("candidate"), *(len(r[0]) for r in rows))
    print(f"  {'candidate':<{name_width}} {'estimate':>8} {'kept round':>10}  estimates per round", file=out)
    for name, per_round, kept, estimate, _, _, chosen in rows:
        line = f"{'*' if chosen else ' '} {name:<{name_width}} {estimate:>8} {kept:>10}  {per_round}"
        print(_fit(line, width), file=out)


def open_report_hint(run_dir) -> str:
    """The report and the command that opens it, quoted so that it pastes (a folder may hold spaces)."""
    return (f"Report: {Path(run_dir) / 'report.html'} (open it in a browser: "
            f"{shlex.join(['omniclas', 'info', str(run_dir), '--open'])})")


def interrupted(args, argv: list[str]) -> str:
    """What Ctrl-C leaves behind, and the exact command that goes on from there."""
    from ..engine import checkpoint

    again = [a for a in argv if a != "--resume"]
    command = getattr(args, "command", None)
    if command == "train":
        out_dir = getattr(args, "out_dir", None)
        if not out_dir or not checkpoint.exists(Path(out_dir)):
            return "interrupted before the run could keep anything: run the same command again to start over"
        if not any(a == "--out" or a.startswith("--out=") for a in again):
            again += ["--out", str(out_dir)]
        return f"interrupted; continue the run with:\n  {shlex.join(['omniclas', *again, '--resume'])}"
    if command == "predict" and getattr(args, "csv", None):
        return (f"interrupted; {args.csv} keeps the rows written; classify the rest with:\n  "
                f"{shlex.join(['omniclas', *again, '--resume'])}")
    return "interrupted"
