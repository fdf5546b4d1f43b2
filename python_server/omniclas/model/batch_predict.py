"""Classify many image files a batch at a time, yielding rows as they come: memory holds one batch, whatever the
number of files (``omniclas predict``, predict jobs)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Sequence

BATCH = 64


def _decode(path, roots=None) -> tuple[list | None, str | None]:
    from ..data.imageio import read_pages
    from ..data.roots import read_under_roots
    from ..errors import OmniClasError

    try:
        if roots is None:
            return read_pages(path), None
        try:
            data = read_under_roots(path, roots)
        except OSError as err:
            return None, f"{path}: cannot read file ({err.strerror or err})"
        return read_pages(data, str(path)), None
    except OmniClasError as err:  # an unreadable or forbidden file is an error row, not the end of the batch
        return None, str(err)


def predict_rows(model, paths: Sequence, batch_size: int = BATCH, roots=None,
                 unsure_threshold: float | None = None) -> Iterator[tuple[int, list[dict]]]:
    """For each batch of ``paths``: (files in it, their rows). A row is a result dict (``image``, ``slice`` for a
    stack's page, ``class``, ``confidence``, ``unsure``, ``runner_up``, ``probabilities``, or ``error``), as
    ``report.results_csv`` writes. ``roots``: each file must resolve under one of these folders when it is opened
    (else an error row). ``unsure_threshold``: instead of the model's own (:mod:`.calibration`)."""
    from .predictor import describe_for

    starts = range(0, len(paths), batch_size)

    def decode(start):
        return [_decode(p, roots) for p in paths[start:start + batch_size]]

    # one batch ahead: the next files decode (PIL and tifffile release the GIL) while the model runs, and no more
    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(decode, starts[0]) if starts else None
        for i, start in enumerate(starts):
            decoded = ahead.result()
            ahead = pool.submit(decode, starts[i + 1]) if i + 1 < len(starts) else None
            batch = paths[start:start + batch_size]
            pages = [page for found, _ in decoded if found for page in found]
            probs = model.predict_proba(pages) if pages else []
            rows, at = [], 0
            for path, (found, error) in zip(batch, decoded):
                if found is None:
                    rows.append({"image": str(path), "error": error})
                    continue
                for page_no, p in enumerate(probs[at:at + len(found)], 1):
                    row = {"image": str(path)}
                    if len(found) > 1:
                        row["slice"] = page_no
                    rows.append({**row, **describe_for(model, p, unsure_threshold)})
                at += len(found)
            yield len(batch), rows
