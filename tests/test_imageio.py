"""Reading microscopy images: bit depths, channel counts, stacks, and files that cannot be read."""
import io

import numpy as np
import pytest
import tifffile
from PIL import Image

from omniclas.errors import ImageReadError
from omniclas.imageio import read_image, read_pages


def _tiff_bytes(arr, **kw) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def test_real_png_is_rgb8(bbbc013):
    path = sorted((bbbc013 / "NuclearGFP").iterdir())[0]
    img = read_image(path)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert np.array_equal(img, np.asarray(Image.open(path).convert("RGB")))


def test_16bit_single_channel_is_rescaled_to_grey(bbbc013):
    green = read_image(sorted((bbbc013 / "NuclearGFP").iterdir())[0])[:, :, 1].astype(np.uint16) * 16  # 12-bit range
    img = read_image(_tiff_bytes(green))
    assert img.dtype == np.uint8
    assert np.array_equal(img[:, :, 0], img[:, :, 1]) and np.array_equal(img[:, :, 1], img[:, :, 2])
    assert img.max() == 255  # a dim 12-bit image fills the 8-bit range
    assert np.corrcoef(img[:, :, 0].ravel(), green.ravel())[0, 1] > 0.99


def test_two_channels_become_red_and_green():
    arr = np.zeros((2, 20, 30), dtype=np.uint16)
    arr[0, :, :10] = 1000
    arr[1, :, 20:] = 3000
    img = read_image(_tiff_bytes(arr, imagej=True, metadata={"axes": "CYX"}))
    assert img.shape == (20, 30, 3)
    assert img[0, 0, 0] == 255 and img[0, 25, 0] == 0
    assert img[0, 25, 1] == 255 and img[0, 0, 1] == 0
    assert img[:, :, 2].max() == 0


def test_four_channels_keep_the_first_three():
    arr = np.random.default_rng(0).integers(0, 255, (16, 16, 4), dtype=np.uint8)
    img = read_image(_tiff_bytes(arr, photometric="rgb", extrasamples=["unassalpha"]))
    assert np.array_equal(img, arr[:, :, :3])


def test_stack_gives_one_image_per_page():
    stack = np.stack([np.full((10, 12), v, dtype=np.uint16) for v in (0, 100, 200)])
    stack[:, 0, 0] = 400  # give each page some contrast
    pages = read_pages(_tiff_bytes(stack, imagej=True, metadata={"axes": "ZYX"}))
    assert len(pages) == 3 and all(p.shape == (10, 12, 3) for p in pages)


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
