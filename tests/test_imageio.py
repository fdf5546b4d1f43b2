"""Reading microscopy images: bit depths, channel counts, stacks, and files that cannot be read."""
import re

import numpy as np
import pytest
import tifffile
from PIL import Image

from omniclas.errors import ImageReadError
from omniclas.data.imageio import read_image, read_pages


def _source(tiff, bbbc013):
    """The BBBC013 crop a derived TIFF was made from: its name starts with the crop's name (e.g. A12_Cell13)."""
    return bbbc013 / "NuclearGFP" / (re.match(r"[A-Z]\d+_Cell\d+", tiff.name).group() + ".png")


def _corr(a, b) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_real_png_is_rgb8(bbbc013):
    path = sorted((bbbc013 / "NuclearGFP").iterdir())[0]
    img = read_image(path)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert np.array_equal(img, np.asarray(Image.open(path).convert("RGB")))


def test_real_jpeg_is_rgb8(bccd_wbc):
    path = sorted((bccd_wbc / "Basophil").iterdir())[0]
    with Image.open(path) as pil:
        expected = np.asarray(pil.convert("RGB"))
    img = read_image(path)
    assert img.dtype == np.uint8 and img.shape == expected.shape and img.shape[0] > 100
    assert np.array_equal(img, expected)


def test_16bit_single_channel_is_rescaled_to_grey(tiffs, bbbc013):
    path = next(tiffs.glob("*_gfp_uint16.tif"))
    raw = tifffile.imread(path)
    assert raw.dtype == np.uint16 and raw.ndim == 2 and 255 < raw.max() < 4096  # a dim 12-bit camera image
    img = read_image(path)
    assert img.dtype == np.uint8 and img.shape == (*raw.shape, 3)
    assert np.array_equal(img[:, :, 0], img[:, :, 1]) and np.array_equal(img[:, :, 1], img[:, :, 2])
    assert img.max() == 255  # fills the 8-bit range
    green = read_image(_source(path, bbbc013))[:, :, 1]
    assert _corr(img[:, :, 0], green) > 0.99


def test_two_channels_become_red_and_green(tiffs, bbbc013):
    path = next(tiffs.glob("*_2ch.tif"))
    assert tifffile.imread(path).shape[0] == 2  # channels first, as ImageJ writes them
    img = read_image(path)
    src = read_image(_source(path, bbbc013))  # GFP in green, DNA in blue
    assert img.shape == src.shape and img.dtype == np.uint8
    assert _corr(img[:, :, 0], src[:, :, 1]) > 0.99  # channel 1 (GFP) -> red
    assert _corr(img[:, :, 1], src[:, :, 2]) > 0.99  # channel 2 (DNA) -> green
    assert img[:, :, 0].max() == img[:, :, 1].max() == 255 and img[:, :, 2].max() == 0


def test_four_channels_keep_the_first_three(tiffs, bbbc013):
    path = next(tiffs.glob("*_4ch.tif"))
    raw = tifffile.imread(path)
    assert raw.shape[2] == 4 and raw[:, :, 3].max() == 255
    assert np.array_equal(read_image(path), read_image(_source(path, bbbc013)))


def test_stack_gives_one_image_per_page(tiffs, bbbc013):
    path = tiffs / "nuclear_gfp_stack_3pages.tif"
    with tifffile.TiffFile(path) as tif:
        sources = tif.imagej_metadata["Labels"]
    pages = read_pages(path)
    assert len(pages) == len(sources) == 3 and all(p.shape == (32, 32, 3) for p in pages)
    assert np.array_equal(read_image(path), pages[0])
    for page, name in zip(pages, sources):  # each page is the centre of its source crop's GFP channel
        green = read_image(bbbc013 / "NuclearGFP" / name)[:, :, 1]
        top, left = (green.shape[0] - 32) // 2, (green.shape[1] - 32) // 2
        assert _corr(page[:, :, 0], green[top:top + 32, left:left + 32]) > 0.99
    assert _corr(pages[0], pages[1]) < 0.9  # three different cells


def test_truncated_real_png_names_the_file(corrupt_png):
    with pytest.raises(ImageReadError) as err:
        read_image(corrupt_png)
    assert str(corrupt_png) in str(err.value) and "truncated" in str(err.value)


def test_corrupt_empty_and_missing_files_name_the_file(tmp_path):
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    for path, words in ((corrupt, "not a readable"), (empty, "empty"), (tmp_path / "gone.jpg", "cannot read")):
        with pytest.raises(ImageReadError) as err:
            read_image(path)
        assert str(path) in str(err.value) and words in str(err.value)


def test_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (2000, 2000)).save(path)
    with pytest.raises(ImageReadError, match="more than 1000000 pixels"):
        read_image(path, max_pixels=1_000_000)
