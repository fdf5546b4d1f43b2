"""Shared fixtures.

Real images come from the fixture set in tests/data (in the repository; see tests/data/README.md), read in place.
No test may write there: a test that changes a dataset copies it to a temporary folder first, and the session
fails if anything in tests/data changed. Nor into the user's own models folder: ``$OMNICLAS_MODELS`` points at a
temporary folder for the whole session (``server_env`` passes it on to the processes tests start), and the
session fails if anything in ``~/OmniClas`` changed. The few tests that need the full data sets in ../shared/data request
``shared_data``; they are marked ``shared_data`` and skip with a reason where that folder is absent.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from live_server import DATA_ROOT as TEST_DATA, live_server  # noqa: F401  (live_server is a fixture)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marker
def pytest_collection_modifyitems(items):
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="session", autouse=True)
def fixture_set_stays_untouched():
    before = _listing(TEST_DATA)
    yield
    after = _listing(TEST_DATA)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"tests wrote into the fixture set {TEST_DATA}: {changed[:10]} (copy to tmp_path first)"


@pytest.fixture(scope="session", autouse=True)
def user_models_stay_untouched(tmp_path_factory):
    """Every command that takes the default models folder gets a temporary one; ~/OmniClas is never written."""
    home_folder = Path.home() / "OmniClas"
    before = _listing(home_folder) if home_folder.is_dir() else None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMNICLAS_MODELS", str(tmp_path_factory.mktemp("default-models")))
        yield
    after = _listing(home_folder) if home_folder.is_dir() else None
    assert before == after, f"tests wrote into the user's folder {home_folder} (use a temporary models root)"


@pytest.fixture(scope="session")
def bbbc013() -> Path:
    """BBBC013 U2OS crops: 3 classes of 20 images (CytoplasmicGFP, NoGFP, NuclearGFP) and 40 unlabelled."""
    return TEST_DATA / "bbbc013"


@pytest.fixture(scope="session")
def bccd_wbc() -> Path:
    """BCCD white blood cells: 5 unbalanced classes, Basophil with 3 images."""
    return TEST_DATA / "bccd_wbc"


@pytest.fixture(scope="session")
def tiffs() -> Path:
    """16-bit, 2-channel, 4-channel and 3-page TIFFs derived from BBBC013 crops (see tests/data/README.md)."""
    return TEST_DATA / "tiff"


@pytest.fixture(scope="session")
def corrupt_png() -> Path:
    """A real PNG cut in half."""
    return TEST_DATA / "corrupt" / "A01_Cell162_truncated.png"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full data sets, for the few tests that need more than the fixture set (marks the test ``shared_data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the full data sets in {SHARED_DATA}, which are not shipped (tests/data/README.md)")
    return SHARED_DATA


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
