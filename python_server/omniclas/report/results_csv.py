"""The results CSV: one format for ``omniclas predict --csv``, Fiji's tables and batch jobs (docs/results-csv.md).

UTF-8, RFC 4180 quoting, a header row, then one row per image (per page of a stack; per object for object rows)::

    image,slice,class,confidence,unsure,runner_up,runner_up_p,p_<class 1>,...,p_<class N>,error

``slice`` is 1..n (1 for a plain image); ``class``, ``confidence``, ``unsure`` (``true``/``false``), the runner-up
class and its probability and the ``p_<class>`` columns (in the model's class order) are empty on an error row,
``error`` is empty on the others. Object rows add
``object,x,y,bbox_x,bbox_y,bbox_width,bbox_height,area`` after ``slice``.

A result is a dict as the registry, the HTTP API and ``omniclas predict`` give it: ``image``, ``slice`` (absent: 1),
``class``, ``confidence``, ``unsure``, ``runner_up`` ({class, probability}), ``probabilities`` ({class: p}) or
``error``, and for object rows the object columns by
name. :class:`ResultsCsvWriter` writes rows as they come (streaming); :func:`to_text` writes a whole table.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable, TextIO

OBJECT_COLUMNS = ("object", "x", "y", "bbox_x", "bbox_y", "bbox_width", "bbox_height", "area")
UNSURE_COLUMNS = ("unsure", "runner_up", "runner_up_p")
DECIMALS = 6  # confidence and probabilities (the format asks for 4 or more)


def header(classes: Iterable[str], objects: bool = False) -> list[str]:
    """The header row for a model's classes, in the model's order."""
    return ["image", "slice", *(OBJECT_COLUMNS if objects else ()), "class", "confidence", *UNSURE_COLUMNS,
            *(f"p_{c}" for c in classes), "error"]


def _number(value) -> str:
    return "" if value is None else f"{float(value):.{DECIMALS}f}"


def unsure_cells(result: dict) -> list[str]:
    """The ``unsure``, ``runner_up`` and ``runner_up_p`` cells of a result (empty on an error row)."""
    if "class" not in result:
        return ["", "", ""]
    runner_up = result.get("runner_up") or {}
    return ["true" if result.get("unsure") else "false", str(runner_up.get("class", "")),
            _number(runner_up.get("probability"))]


def row(result: dict, classes: list[str], objects: bool = False) -> list[str]:
    """One result as the cells of one row (see the module doc)."""
    failed = "class" not in result
    probs = result.get("probabilities") or {}
    cells = [str(result["image"]), str(result.get("slice") or 1)]
    if objects:
        cells += ["" if result.get(k) is None else str(result[k]) for k in OBJECT_COLUMNS]
    cells += ["", ""] if failed else [str(result["class"]), _number(result["confidence"])]
    cells += unsure_cells(result)
    cells += [""] * len(classes) if failed else [_number(probs.get(c)) for c in classes]
    return cells + [str(result.get("error") or "")]


class ResultsCsvWriter:
    """Writes the header at once, then each result as it comes: a long batch never holds its table in memory."""

    def __init__(self, stream: TextIO, classes: Iterable[str], objects: bool = False, write_header: bool = True):
        self.classes = list(classes)
        self.objects = objects
        self._csv = csv.writer(stream)  # RFC 4180: quotes where needed, CRLF line ends
        if write_header:  # not when appending to a file that has it
            self._csv.writerow(header(self.classes, objects))

    def write(self, result: dict) -> None:
        self._csv.writerow(row(result, self.classes, self.objects))


def to_text(results: Iterable[dict], classes: Iterable[str], objects: bool = False) -> str:
    """The whole table as text (write it with ``data.files.write_atomic``, encoded as UTF-8)."""
    buf = io.StringIO(newline="")
    writer = ResultsCsvWriter(buf, classes, objects)
    for r in results:
        writer.write(r)
    return buf.getvalue()
