"""Regenerate the test fixture set in tests/data from the full data sets in ../shared/data.

    python tests/data/make_fixtures.py [--source ../shared/data] [--stardist-wheel stardist-0.9.2-....whl]

Deterministic: the same source gives byte-identical files. Real images are copied under their original names (a
spread over each sorted class folder, so several wells and fields are represented); the TIFFs in tiff/ and the
truncated PNG in corrupt/ are derived from copied images with tifffile. The real field with its segmentation in
dsb2018/ comes from the StarDist wheel on PyPI (``pip download --no-deps stardist==0.9.2``); without
--stardist-wheel the committed dsb2018/ is kept. Sources and licences: README.md here.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "data"
MAX_BYTES = 2_000_000

# data set -> folder -> number of images copied
SELECTION = {
    "bbbc013": {"CytoplasmicGFP": 20, "NoGFP": 20, "NuclearGFP": 20, "unlabelled": 40},
    "bccd_wbc": {"Basophil": 3, "Eosinophil": 5, "Lymphocyte": 4, "Monocyte": 4, "Neutrophil": 6},
}
GENERATED = ["bbbc013", "bccd_wbc", "tiff", "corrupt"]
DSB_DIR = "dsb2018"  # rewritten only with --stardist-wheel
DSB_FILES = {"stardist/data/images/img2d.tif": "dsb2018_field.png",
             "stardist/data/images/mask2d.tif": "dsb2018_field_masks.png"}
STACK_SIDE = 32  # the stack's pages are the centre 32x32 of three NuclearGFP crops
CAMERA_GAIN = 16  # 8-bit values x16: a 12-bit camera range, as a 16-bit TIFF stores it


def spread(files: list[Path], n: int) -> list[Path]:
    """``n`` files evenly spaced over the sorted list (all of them if there are no more than ``n``)."""
    return files if len(files) <= n else [files[i * len(files) // n] for i in range(n)]


def centre(arr: np.ndarray, side: int) -> np.ndarray:
    top, left = (arr.shape[0] - side) // 2, (arr.shape[1] - side) // 2
    return arr[top:top + side, left:left + side]


def copy_selection(source: Path) -> None:
    for dataset, folders in SELECTION.items():
        for folder, n in folders.items():
            src = source / dataset / folder
            dst = HERE / dataset / folder
            dst.mkdir(parents=True)
            for f in spread(sorted(p for p in src.iterdir() if p.is_file()), n):
                shutil.copyfile(f, dst / f.name)


def make_tiffs() -> None:
    """16-bit, 2-channel, 4-channel and 3-page TIFFs from BBBC013 NuclearGFP crops (GFP in green, DNA in blue)."""
    out = HERE / "tiff"
    out.mkdir()
    crops = sorted((HERE / "bbbc013" / "NuclearGFP").iterdir())
    src = crops[0]
    rgb = np.asarray(Image.open(src).convert("RGB"))
    gfp, dna = rgb[:, :, 1].astype(np.uint16) * CAMERA_GAIN, rgb[:, :, 2].astype(np.uint16) * CAMERA_GAIN
    tifffile.imwrite(out / f"{src.stem}_gfp_uint16.tif", gfp)
    tifffile.imwrite(out / f"{src.stem}_gfp_dna_2ch.tif", np.stack([gfp, dna]), imagej=True, metadata={"axes": "CYX"})
    mask = np.where(rgb[:, :, 2] > np.median(rgb[:, :, 2]), 255, 0).astype(np.uint8)  # a nucleus mask as 4th channel
    tifffile.imwrite(out / f"{src.stem}_rgb_mask_4ch.tif", np.dstack([rgb, mask]), photometric="rgb",
                     extrasamples=["unassalpha"])
    pages = [p for p in crops if min(Image.open(p).size) >= STACK_SIDE][:3]
    stack = np.stack([centre(np.asarray(Image.open(p).convert("RGB"))[:, :, 1], STACK_SIDE).astype(np.uint16)
                      * CAMERA_GAIN for p in pages])
    tifffile.imwrite(out / "nuclear_gfp_stack_3pages.tif", stack, imagej=True,
                     metadata={"axes": "ZYX", "Labels": [p.name for p in pages]})


def make_corrupt() -> None:
    """A real PNG cut in half: the header reads, the pixel data ends early."""
    out = HERE / "corrupt"
    out.mkdir()
    src = sorted((HERE / "bbbc013" / "CytoplasmicGFP").iterdir())[0]
    data = src.read_bytes()
    (out / f"{src.stem}_truncated.png").write_bytes(data[: len(data) // 2])


def copy_dsb_field(wheel: Path) -> None:
    """The DSB 2018 (BBBC038) nuclei field and its annotated label image from the StarDist wheel, as 16-bit PNG
    (the same pixels and label values; PNG is a third of the TIFF's size)."""
    import io
    import zipfile

    out = HERE / DSB_DIR
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    with zipfile.ZipFile(wheel) as zf:
        for member, name in DSB_FILES.items():
            arr = tifffile.imread(io.BytesIO(zf.read(member)))
            Image.fromarray(arr.astype(np.uint16)).save(out / name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the full data sets (default ../shared/data)")
    parser.add_argument("--stardist-wheel", type=Path, default=None,
                        help="the stardist 0.9.2 wheel, to rewrite dsb2018/ (the real field with its segmentation)")
    args = parser.parse_args(argv)
    for dataset in SELECTION:
        if not (args.source / dataset).is_dir():
            parser.error(f"{args.source / dataset} not found")
    for name in GENERATED:
        shutil.rmtree(HERE / name, ignore_errors=True)
    copy_selection(args.source)
    make_tiffs()
    make_corrupt()
    if args.stardist_wheel:
        copy_dsb_field(args.stardist_wheel)
    files = [p for name in GENERATED + [DSB_DIR] for p in (HERE / name).rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    print(f"{len(files)} files, {total / 1e6:.2f} MB in {HERE}")
    if total > MAX_BYTES:
        raise SystemExit(f"the fixture set must stay under {MAX_BYTES / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
