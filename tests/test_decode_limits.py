"""Decoding within a memory budget: the estimate checked before decoding bounds what decoding really takes."""
from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
import tifffile

from omniclas.data.imageio import Budget, ImageTooLarge, _cost, iter_pages, read_pages

MB = 1 << 20


def tiff(arr, **kw) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def test_float64_image_peak_memory_stays_within_the_estimate():
    """A 3000 x 3000 float64 TIFF (72 MB decoded, a few hundred KB on disk) converts with small working copies:
    the measured peak stays under the estimate the budget checks (the old conversion took about six times the
    decoded size)."""
    h = w = 3000
    arr = np.zeros((h, w), np.float64)
    arr[::7, ::5] = np.linspace(0, 1, arr[::7, ::5].size).reshape(arr[::7, ::5].shape)
    data = tiff(arr, compression="zlib")
    assert len(data) < 4 * MB
    del arr
    estimate = _cost(h, w, h * w * 8, integer8=False)
    tracemalloc.start()
    try:
        pages = list(iter_pages(data, "big.tif", Budget(), size=(64, 64)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(pages) == 1 and pages[0].shape == (64, 64, 3)
    print(f"peak {peak / MB:.1f} MB, estimate {estimate / MB:.1f} MB")
    assert peak <= estimate, (peak / MB, estimate / MB)
    assert peak < 1.7 * h * w * 8


def test_budget_refuses_before_decoding_and_counts_what_is_kept():
    data = tiff(np.zeros((2000, 2000), np.float64), compression="zlib")
    with pytest.raises(ImageTooLarge, match="limit of 16 MB per image"):
        next(iter_pages(data, "f64.tif", Budget(image_bytes=16 * MB)))
    small = tiff(np.zeros((3, 300, 300), np.uint16), photometric="minisblack")
    budget = Budget(request_bytes=4 * MB)
    pages = list(iter_pages(small, "stack.tif", budget, size=(32, 32)))
    assert len(pages) == 3 and budget.held == 3 * 32 * 32 * 3  # only the squashed copies are kept
    tight = Budget(request_bytes=int(0.3 * MB))
    with pytest.raises(ImageTooLarge, match="decode to more than 0.3 MB in all"):
        list(iter_pages(small, "stack.tif", tight))
    assert tight.decoded == 0  # refused from the header, before the first page was decoded


def test_pages_in_separate_series_and_the_page_limit():
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as w:
        for i in range(999):
            w.write(np.full((8, 8), i % 251, np.uint8))
    assert len(tifffile.TiffFile(io.BytesIO(buf.getvalue())).series) == 999
    assert len(read_pages(buf.getvalue())) == 999
    with pytest.raises(ImageTooLarge, match="more than 500 images"):
        list(iter_pages(buf.getvalue(), "many.tif", Budget(max_pages=500)))
