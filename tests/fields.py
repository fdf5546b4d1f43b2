"""Fields of real cells with their label images, composed from the fixture set's real crops (never written there).

The BBBC013 crops are single U2OS cells with the background already black. :func:`compose_field` pastes crops of
known classes onto a dark canvas, on a grid with a seeded jitter, and writes the label image a segmentation tool
would: object n = the n-th crop's cell (its non-black pixels, holes filled), or with ``whole_crops`` the crop's
whole rectangle. The tests, the benchmark (benchmarks/bench_objects.py) and the Fiji tests use it.

The real field with a real segmentation is :data:`DSB_FIELD` (tests/data/dsb2018, see its README).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

DATA = Path(__file__).resolve().parent / "data"
BBBC013 = DATA / "bbbc013"
CLASSES = ("CytoplasmicGFP", "NoGFP", "NuclearGFP")
DSB_FIELD = DATA / "dsb2018" / "dsb2018_field.png"
DSB_LABELS = DATA / "dsb2018" / "dsb2018_field_masks.png"


@dataclass
class Field:
    image: np.ndarray  # HxWx3 uint8
    labels: np.ndarray  # HxW uint16, object n = crops[n - 1]
    crops: list[Path]
    truth: dict[int, str] = field(default_factory=dict)  # object -> class

    def write(self, folder: Path, stem: str = "field", suffix: str = "_masks") -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        image, labels = folder / f"{stem}.png", folder / f"{stem}{suffix}.png"
        Image.fromarray(self.image).save(image)
        Image.fromarray(self.labels).save(labels)
        return image, labels


def pick_crops(per_class: int, start: int = 0, classes=CLASSES, root: Path = BBBC013) -> list[Path]:
    """``per_class`` crops of each class (sorted names from ``start``), interleaved: A1 B1 C1 A2 B2 ..."""
    lists = [sorted((root / c).glob("*.png"))[start:start + per_class] for c in classes]
    return [p for group in zip(*lists) for p in group]


def cell_mask(crop: np.ndarray) -> np.ndarray:
    """The cell's pixels in a crop whose background is black: the largest non-black region, holes filled."""
    regions, n = ndimage.label(crop.max(axis=2) > 2)
    if n == 0:
        return np.ones(crop.shape[:2], dtype=bool)
    sizes = ndimage.sum_labels(np.ones(regions.shape), regions, range(1, n + 1))
    return ndimage.binary_fill_holes(regions == 1 + int(np.argmax(sizes)))


def compose_field(crops: list[Path], side: int | None = None, pitch: int = 110, seed: int = 0,
                  whole_crops: bool = False) -> Field:
    """Paste ``crops`` row by row into cells of ``pitch`` px on a black ``side`` x ``side`` canvas (default: the
    smallest square grid that holds them), each at a seeded random offset inside its cell."""
    rng = np.random.default_rng(seed)
    per_row = int(np.ceil(np.sqrt(len(crops)))) if side is None else side // pitch
    rows = int(np.ceil(len(crops) / per_row))
    height, width = (rows * pitch, per_row * pitch) if side is None else (side, side)
    if rows * pitch > height:
        raise ValueError(f"{len(crops)} crops do not fit a {side} px field at a pitch of {pitch} px")
    image = np.zeros((height, width, 3), dtype=np.uint8)
    labels = np.zeros((height, width), dtype=np.uint16)
    truth = {}
    for n, path in enumerate(crops, 1):
        crop = np.asarray(Image.open(path).convert("RGB"))
        h, w = crop.shape[:2]
        if h > pitch or w > pitch:
            raise ValueError(f"{path} is larger than the pitch of {pitch} px")
        r, c = divmod(n - 1, per_row)
        y = r * pitch + int(rng.integers(0, pitch - h + 1))
        x = c * pitch + int(rng.integers(0, pitch - w + 1))
        image[y:y + h, x:x + w] = crop
        mask = np.ones((h, w), dtype=bool) if whole_crops else cell_mask(crop)
        labels[y:y + h, x:x + w][mask] = n
        truth[n] = path.parent.name
    return Field(image, labels, list(crops), truth)
