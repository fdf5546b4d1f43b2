"""Classify image files straight into a results CSV (docs/results-csv.md), a batch at a time, so that a stopped
run keeps what it wrote and a resumed one skips it: ``omniclas predict --csv``, predict jobs and their shards."""
from __future__ import annotations

import csv
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..errors import Cancelled, OmniClasError
from . import results_csv


@dataclass
class Tally:
    """What a results CSV holds: distinct images, rows, error rows, rows per class."""

    images: int = 0
    rows: int = 0
    errors: int = 0
    counts: Counter = field(default_factory=Counter)
    unsure: int = 0  # rows marked unsure

    def add(self, cls: str, error: str, unsure: bool = False) -> None:
        self.rows += 1
        if error:
            self.errors += 1
        elif cls:
            self.counts[cls] += 1
            self.unsure += bool(unsure)

    def result(self, csv_path, classes) -> dict:
        """A finished predict job's result (docs/http-api.md)."""
        return {"csv": str(csv_path), "images": self.images, "rows": self.rows, "errors": self.errors,
                "unsure": self.unsure, "counts": {c: self.counts.get(c, 0) for c in classes}}


def read_csv(path: Path, classes: Sequence[str], cut: bool = False, field_name: str = "csv") -> tuple[set, Tally]:
    """The images a results CSV holds, and its tally. With ``cut`` (before appending to a CSV a run left): a partial
    last line is dropped, and so are the last image's rows, which may lack pages of a stack (it is classified
    again)."""
    expected = results_csv.header(classes)
    class_at, unsure_at = expected.index("class"), expected.index("unsure")
    done, tally, last, last_at, last_rows = set(), Tally(), None, None, Tally()
    with open(path, "r+b" if cut else "rb") as f:
        first = f.readline()
        got = next(csv.reader([first.decode("utf-8", "replace")]), [])
        if got != expected:
            raise OmniClasError(f"{path} is not a results CSV of this model: its header is {','.join(got)[:200]!r}, "
                                f"this model's is {','.join(expected)!r}; give another file", field=field_name)
        at = f.tell()
        for line in f:
            if not line.endswith(b"\n"):
                break  # cut off mid-line by a crash
            cells = next(csv.reader([line.decode("utf-8")]))
            if cells[0] != last:
                if last is not None:
                    done.add(last)
                    _merge(tally, last_rows)
                last, last_at, last_rows = cells[0], at, Tally()
            whole = len(cells) == len(expected)
            last_rows.add(cells[class_at] if whole else "", cells[-1], whole and cells[unsure_at] == "true")
            at += len(line)
        if cut:
            f.truncate(last_at if last is not None else at)
        elif last is not None:
            done.add(last)
            _merge(tally, last_rows)
    tally.images = len(done)
    return done, tally


def _merge(into: Tally, part: Tally) -> None:
    into.rows += part.rows
    into.errors += part.errors
    into.counts.update(part.counts)
    into.unsure += part.unsure


def predict_to_csv(model, paths: Sequence, csv_path, resume: bool = False, batch_size: int = 64,
                   on_batch: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None, roots=None,
                   unsure_threshold: float | None = None) -> Tally:
    """Classify ``paths`` into ``csv_path``, flushed after each batch. With ``resume``, an existing CSV keeps its
    rows and only the images it lacks are classified and appended; otherwise it is replaced, but only once the
    first batch is classified (an error before then leaves it as it was). ``on_batch(done, total)`` is called at
    the start and after each batch; ``cancel()`` is asked after each batch (raises ``Cancelled``). ``roots``: each
    file must resolve under one of these folders as it is opened (else its row is an error)."""
    from ..model.batch_predict import predict_rows

    csv_path, classes = Path(csv_path), list(model.classes)
    done, tally = set(), Tally()
    appending = resume and csv_path.is_file() and csv_path.stat().st_size > 0
    if appending:
        done, tally = read_csv(csv_path, classes, cut=True)
    todo = [p for p in paths if str(p) not in done] if done else list(paths)
    total, finished = len(todo) + tally.images, tally.images
    if on_batch:
        on_batch(finished, total)
    out = None
    try:
        for n, rows in predict_rows(model, todo, batch_size, roots, unsure_threshold):
            if out is None:
                out = open(csv_path, "a" if appending else "w", newline="", encoding="utf-8")
                writer = results_csv.ResultsCsvWriter(out, classes, write_header=not appending)
            for r in rows:
                writer.write(r)
                tally.add(r.get("class", ""), r.get("error", ""), bool(r.get("unsure")))
            out.flush()
            finished += n
            tally.images += n
            if on_batch:
                on_batch(finished, total)
            if cancel and cancel():
                raise Cancelled("cancelled by the user")
    finally:
        if out is not None:
            out.close()
    if out is None and not appending:  # nothing to classify: still a valid, empty table
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            results_csv.ResultsCsvWriter(f, classes)
    return tally


def merge_csvs(parts: Sequence[Path], out: Path) -> None:
    """Concatenate results CSVs of the same model in order, one header, into ``out`` (whole or not at all)."""
    tmp = out.with_name(out.name + ".partial")
    with open(tmp, "wb") as dst:
        for i, part in enumerate(parts):
            with open(part, "rb") as src:
                head = src.readline()
                if i == 0:
                    dst.write(head)
                shutil.copyfileobj(src, dst)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, out)
