"""Shared fixtures. Real data is read in place from ../shared/data; tests skip with a reason where it is absent."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()

try:  # the live-server fixture, shared with the Fiji tests
    from live_server import live_server  # noqa: F401
except ImportError:
    pass


def shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real test data not found at {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def bbbc013() -> Path:
    return shared("bbbc013")


def copy_subset(src: Path, dst: Path, per_class: int, classes=None, unlabelled: int = 0) -> Path:
    """A small dataset folder built from real images (a copy in a temp folder, never in the project)."""
    for d in sorted(p for p in src.iterdir() if p.is_dir() and p.name not in ("unlabelled", "test")):
        if classes and d.name not in classes:
            continue
        (dst / d.name).mkdir(parents=True)
        for f in sorted(d.iterdir())[:per_class]:
            shutil.copy(f, dst / d.name / f.name)
    if unlabelled:
        (dst / "unlabelled").mkdir(parents=True)
        for f in sorted((src / "unlabelled").iterdir())[:unlabelled]:
            shutil.copy(f, dst / "unlabelled" / f.name)
    return dst


@pytest.fixture(scope="session")
def small_bbbc013(bbbc013, tmp_path_factory) -> Path:
    """12 labelled images per class and 30 unlabelled ones, all real BBBC013 crops."""
    return copy_subset(bbbc013, tmp_path_factory.mktemp("small") / "bbbc013", per_class=12, unlabelled=30)


@pytest.fixture(scope="session")
def nd_run(small_bbbc013, tmp_path_factory):
    """One trained no-distillation run (linear head, 64 px, Lite0), shared by tests that only read it."""
    from omniclas.config import TrainConfig
    from omniclas.engine import train

    cfg = TrainConfig(dataset=str(small_bbbc013), out_dir=str(tmp_path_factory.mktemp("runs") / "nd"), process="nd",
                      backbones=("efficientnet_lite0",), image_size=64)
    return train(cfg)
