"""Read a dataset folder and split it into train, validation and test sets.

Layout::

    dataset/
      <class A>/*.png|jpg|tif     labelled images, one sub-folder per class
      <class B>/...
      unlabelled/                  optional: images nobody has labelled
      test/<class>/...             optional: an independent test set

Labelled and test images are decoded once here, to check them and to learn their typical size, and not kept:
training reads them again, a batch at a time. Unlabelled images are only listed here; they are read when a
process first needs them (never by N.D.). Unreadable files are reported by path, skipped and counted.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DatasetError, ImageReadError
from .files import sha256_file
from .imageio import is_image_file, read_image

log = logging.getLogger(__name__)

UNLABELLED_DIR = "unlabelled"
TEST_DIR = "test"
RESERVED_DIRS = {UNLABELLED_DIR, TEST_DIR}


@dataclass
class Dataset:
    """A dataset folder: its classes, and its images as paths (checked labelled and test images, listed unlabelled
    ones). ``sides`` holds the longer side of each labelled image."""

    root: Path
    classes: list[str]
    labelled: list[tuple[Path, int]]
    unlabelled: list[Path]
    test: list[tuple[Path, int]] | None
    sides: dict[Path, int] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}
    _digests: dict[Path, str] = field(default_factory=dict, repr=False)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def skip(self, path: Path, reason: str) -> None:
        """Record an image that turned out unreadable after loading (an unlabelled one, read when first needed)."""
        log.warning("skipping %s", reason)
        self.skipped.append({"path": self.relative(path), "reason": reason})

    def digest(self, path: Path) -> str:
        """sha256 of the image file: what the feature store keys an image's features by."""
        if path not in self._digests:
            self._digests[path] = sha256_file(path)
        return self._digests[path]

    def content_hash(self, paths) -> str:
        """sha256 over the relative path and file contents of every image in ``paths``: two runs on equal data
        share it."""
        h = hashlib.sha256()
        for path in sorted(paths):
            h.update(self.relative(path).encode())
            h.update(self.digest(path).encode())
        return h.hexdigest()

    def typical_size(self) -> int:
        """Median of the longer side of the labelled images."""
        sides = [self.sides[p] for p, _ in self.labelled if p in self.sides]
        return int(np.median(sides)) if sides else 224


@dataclass
class Split:
    train: list[tuple[Path, int]]
    valid: list[tuple[Path, int]]
    test: list[tuple[Path, int]]
    unlabelled: list[Path]

    def assignment(self, dataset: Dataset) -> dict[str, str]:
        """Which image went where, by path relative to the dataset root."""
        out = {}
        for name in ("train", "valid", "test"):
            for path, _ in getattr(self, name):
                out[dataset.relative(path)] = name
        for path in self.unlabelled:
            out[dataset.relative(path)] = "unlabelled"
        return out


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def class_folders(folder: Path, exclude=()) -> list[Path]:
    return sorted(d for d in folder.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and d.name.lower() not in exclude)


def load_dataset(root, progress=None) -> Dataset:
    """Scan and decode a dataset folder.

    Raises:
        DatasetError: the folder is missing, has fewer than two non-empty classes, or a class folder is empty.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset folder not found: {root}", field="dataset")
    if not root.is_dir():
        raise DatasetError(f"dataset path is not a folder: {root}", field="dataset")
    root = root.resolve()
    class_dirs = class_folders(root, exclude=RESERVED_DIRS)
    stray = list_images(root)
    if not class_dirs:
        hint = f" ({len(stray)} images lie directly in it; move them into one sub-folder per class)" if stray else ""
        raise DatasetError(f"{root}: no class folders found{hint}. Expected {root}/<class>/<image>.", field="dataset")
    classes = [d.name for d in class_dirs]
    sides: dict[Path, int] = {}
    skipped: list[dict] = []

    def listed(folder: Path) -> list[Path]:
        """The images of ``folder``; any other file (notes.txt) is named among the skipped ones, not passed over."""
        for other in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                            and not is_image_file(p)):
            reason = f"{other.relative_to(root)}: not a PNG, JPEG, TIFF or BMP image (skipped)"
            log.warning("skipping %s", reason)
            skipped.append({"path": str(other.relative_to(root)), "reason": reason})
        return list_images(folder)

    def decode(paths: list[Path]) -> list[Path]:
        ok = []
        for path in paths:
            try:
                sides[path] = max(read_image(path).shape[:2])  # checked, then let go: training reads it again
                ok.append(path)
            except ImageReadError as err:
                log.warning("skipping %s", err)
                skipped.append({"path": str(path.relative_to(root)), "reason": str(err)})
        return ok

    labelled: list[tuple[Path, int]] = []
    for idx, d in enumerate(class_dirs):
        files = listed(d)
        if not files:
            raise DatasetError(f"class folder {d} has no images (PNG, JPEG, TIFF or BMP); add images or remove it", field="dataset")
        readable = decode(files)
        if not readable:
            raise DatasetError(f"class folder {d}: none of its {len(files)} images could be read", field="dataset")
        labelled += [(p, idx) for p in readable]
    if len(classes) < 2:
        raise DatasetError(f"{root}: found only one class ('{classes[0]}'); a classifier needs at least two class folders",
                           field="dataset")
    unlabelled: list[Path] = []
    if (root / UNLABELLED_DIR).is_dir():
        unlabelled = listed(root / UNLABELLED_DIR)  # read when a process needs them
    test = None
    if (root / TEST_DIR).is_dir():
        test = []
        for d in class_folders(root / TEST_DIR):
            if d.name not in classes:
                raise DatasetError(f"test class folder {d} has no matching training class; expected one of {classes}",
                                   field="dataset")
            test += [(p, classes.index(d.name)) for p in decode(listed(d))]
        if not test:
            raise DatasetError(f"{root / TEST_DIR} holds no readable images", field="dataset")
    return Dataset(root, classes, labelled, unlabelled, test, sides, skipped)


def split_dataset(ds: Dataset, test_fraction: float = 0.25, valid_fraction: float = 0.2, seed: int = 0) -> Split:
    """Stratified, seeded split. Each class gives at least one test image (unless ``test/`` exists) and, when
    ``valid_fraction`` > 0, one validation image; the rest trains, at least two per class (cross-validation holds
    one out). A class with too few images to split raises :class:`DatasetError`."""
    rng = np.random.default_rng(seed)
    need = 2 if ds.test is not None else 3
    train, valid, test = [], [], []
    for idx, name in enumerate(ds.classes):
        items = [it for it in ds.labelled if it[1] == idx]
        if len(items) < need:
            where = "two for training" if ds.test is not None else "one for testing and two for training"
            raise DatasetError(
                f"class '{name}' has {len(items)} readable image(s); at least {need} are needed ({where}). "
                f"Label more images of '{name}', or remove the class folder.", field="dataset")
        order = rng.permutation(len(items))
        items = [items[i] for i in order]
        n_test = 0 if ds.test is not None else max(1, round(test_fraction * len(items)))
        n_test = min(n_test, len(items) - 2)
        n_valid = min(max(1, round(valid_fraction * (len(items) - n_test))), len(items) - n_test - 1) \
            if valid_fraction > 0 else 0
        test += items[:n_test]
        valid += items[n_test:n_test + n_valid]
        train += items[n_test + n_valid:]
    if ds.test is not None:
        test = list(ds.test)
    return Split(sorted(train), sorted(valid), sorted(test), sorted(ds.unlabelled))
