"""Decoding within a memory budget: the estimate checked before decoding bounds what decoding really takes."""
from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
import tifffile

from omniclas.data.imageio import Budget, ImageTooLarge, _cost, iter_pages, read_pages
from live_server import DATA_ROOT as TEST_DATA

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


# --------------------------------------------------------------------------- hostile headers (issue 24)
def _png(width: int, height: int, depth: int, rows: bytes, interlace: int = 0) -> bytes:
    """A PNG of greyscale ``rows`` (filter bytes included) as one complete zlib stream, whatever the header says."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


SERVER_BUDGET = dict(max_pixels=40_000_000, max_pages=1000, image_bytes=256 * MB, request_bytes=512 * MB)


@pytest.mark.parametrize("depth,interlace", [(1, 0), (8, 1)])
def test_a_one_pixel_wide_png_of_40_million_rows_is_refused_from_its_header(depth, interlace):
    """1 x 39,999,999 pixels in 68 bytes: Pillow's pointer per row and the resize to the model's input cost
    gigabytes, so the budget refuses it before decoding (it used to be decoded, 1.5 GB, and classified)."""
    data = _png(1, 39_999_999, depth, b"\x00" * 20, interlace)
    assert len(data) < 100
    budget = Budget(**SERVER_BUDGET)
    with pytest.raises(ImageTooLarge, match=r"tall\.png: decoding this 1 x 39999999 image needs .* more than"):
        list(iter_pages(data, "tall.png", budget, size=(224, 224)))
    assert budget.decoded == 0


def test_a_png_whose_pixel_data_ends_early_is_refused_not_read_with_black_rows():
    from PIL import Image

    from omniclas.errors import ImageReadError

    src = next((TEST_DATA / "bbbc013").rglob("*.png"), None) or next(TEST_DATA.rglob("*.png"))
    grey = np.asarray(Image.open(src).convert("L"))
    h, w = grey.shape
    rows = b"".join(b"\x00" + grey[r].tobytes() for r in range(h // 2))  # half the rows, a complete stream
    with pytest.raises(ImageReadError, match=r"cut\.png: .*\(image file is truncated\)$"):  # Pillow's and Fiji's words
        read_pages(_png(w, h, 8, rows), "cut.png")
    whole = b"".join(b"\x00" + grey[r].tobytes() for r in range(h))
    assert np.array_equal(read_pages(_png(w, h, 8, whole), "whole.png")[0][:, :, 0], grey)


def _many_pages(n: int, shaped: bool = True) -> bytes:
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf, shaped=shaped) as writer:
        for _ in range(n):
            writer.write(np.zeros((1, 1), np.uint8), contiguous=False)
    return buf.getvalue()


@pytest.fixture
def pages_parsed(monkeypatch):
    """Counts the TIFF pages tifffile parses (each one costs about a millisecond)."""
    seen = []
    real = tifffile.TiffPage.__init__

    def counting(self, *args, **kwargs):
        seen.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffPage, "__init__", counting)
    return seen


def test_a_tiff_of_20000_one_pixel_pages_is_refused_before_its_pages_are_parsed(pages_parsed):
    """Its pages are counted from the chain of page offsets (it used to take 16 s of parsing first)."""
    from omniclas.data.labels import read_labels

    data = _many_pages(20_000)
    with pytest.raises(ImageTooLarge, match="many.tif: more than 1000 images"):
        list(iter_pages(data, "many.tif", Budget(**SERVER_BUDGET)))
    with pytest.raises(ImageTooLarge, match="labels.tif: more than 1000 images"):
        read_labels(data, "labels.tif", Budget(**SERVER_BUDGET))
    with pytest.raises(ImageTooLarge, match="many.tif: TIFF of 20000 pages, more than 10000"):
        read_pages(data, "many.tif")
    assert len(pages_parsed) < 10


def test_the_first_page_of_a_long_plain_tiff_is_read_without_parsing_the_others(pages_parsed):
    data = _many_pages(3000, shaped=False)
    first = read_pages(data, "plain.tif")
    assert len(first) == 3000
    pages_parsed.clear()
    from omniclas.data.imageio import read_image

    assert read_image(data, "plain.tif").shape == (1, 1, 3)
    assert len(pages_parsed) < 10
