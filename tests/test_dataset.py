"""Dataset folders: layout, splits, and bad input that must give clear errors."""
import shutil

import pytest

from omniclas.data import load_dataset, split_dataset
from omniclas.errors import DatasetError


def test_real_dataset_with_unlabelled(bbbc013):
    ds = load_dataset(bbbc013)
    assert ds.classes == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]
    assert [sum(1 for _, y in ds.labelled if y == i) for i in range(3)] == [20, 20, 20]
    assert len(ds.unlabelled) == 40 and ds.test is None
    assert ds.skipped == []
    assert set(ds.sides) == {p for p, _ in ds.labelled}  # labelled images checked; unlabelled ones only listed
    assert all(10 <= side <= 100 for side in ds.sides.values()) and ds.typical_size() == 49  # crops of one cell


def test_split_is_stratified_seeded_and_complete(bbbc013):
    ds = load_dataset(bbbc013)
    a, b = split_dataset(ds, seed=3), split_dataset(ds, seed=3)
    assert a == b
    assert split_dataset(ds, seed=4).test != a.test
    for idx in range(3):
        n = sum(1 for _, y in ds.labelled if y == idx)
        n_test = sum(1 for _, y in a.test if y == idx)
        assert n_test == round(0.25 * n)
    assignment = a.assignment(ds)
    assert len(assignment) == 60 + 40
    assert set(assignment.values()) == {"train", "valid", "test", "unlabelled"}


def test_rare_class_keeps_one_image_in_each_split(bccd_wbc):
    ds = load_dataset(bccd_wbc)
    split = split_dataset(ds)
    basophil = ds.classes.index("Basophil")  # 3 images in all, as in the whole BCCD set
    assert [sum(1 for _, y in s if y == basophil) for s in (split.train, split.valid, split.test)] == [1, 1, 1]


def test_test_folder_is_used_as_is(small_bbbc013, tmp_path):
    root = shutil.copytree(small_bbbc013, tmp_path / "ds")
    for c in ("CytoplasmicGFP", "NoGFP", "NuclearGFP"):
        (root / "test" / c).mkdir(parents=True)
        for f in sorted((root / c).iterdir())[:2]:
            f.rename(root / "test" / c / f.name)
    ds = load_dataset(root)
    split = split_dataset(ds)
    assert len(split.test) == 6 and sorted(split.test) == sorted(ds.test)
    assert ds.classes == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]


def test_corrupt_file_is_reported_skipped_and_counted(small_bbbc013, corrupt_png, tmp_path):
    root = shutil.copytree(small_bbbc013, tmp_path / "ds")
    shutil.copy(corrupt_png, root / "NoGFP" / "broken.png")  # a real PNG cut in half
    (root / "unlabelled" / "truncated.tif").write_bytes(b"II*\x00garbage")
    ds = load_dataset(root)
    assert [s["path"] for s in ds.skipped] == ["NoGFP/broken.png"]  # unlabelled images are read when needed
    assert "broken.png" in ds.skipped[0]["reason"] and "truncated" in ds.skipped[0]["reason"]
    assert len(ds.labelled) == 36 and len(ds.unlabelled) == 31
    # a process that reads the unlabelled images names, skips and counts the unreadable one
    from omniclas.config import TrainConfig
    from omniclas.engine import train

    m = train(TrainConfig(dataset=str(root), out_dir=str(tmp_path / "run"), process="idd", max_iterations=1,
                          backbones=("efficientnet_lite0",), image_size=64)).manifest
    assert {s["path"] for s in m["skipped_files"]} == {"NoGFP/broken.png", "unlabelled/truncated.tif"}
    assert m["counts"]["skipped"] == 2 and "truncated.tif" in m["skipped_files"][1]["reason"]


@pytest.mark.parametrize("breakage, message", [
    ("missing", "dataset folder not found"),
    ("empty_class", "has no images"),
    ("single_class", "only one class"),
    ("flat", "no class folders found"),
    ("too_few", "at least 3 are needed"),
    ("unreadable_class", "none of its 1 images could be read"),
])
def test_bad_datasets_give_clear_errors(small_bbbc013, tmp_path, breakage, message):
    root = tmp_path / "ds"
    if breakage != "missing":
        shutil.copytree(small_bbbc013, root)
    if breakage == "empty_class":
        (root / "Mitotic").mkdir()
    elif breakage == "single_class":
        shutil.rmtree(root / "NoGFP")
        shutil.rmtree(root / "NuclearGFP")
    elif breakage == "flat":
        for d in list(root.iterdir()):
            shutil.rmtree(d)
        shutil.copy(sorted((small_bbbc013 / "NoGFP").iterdir())[0], root / "a.png")
    elif breakage == "too_few":
        for f in sorted((root / "NoGFP").iterdir())[2:]:
            f.unlink()
    elif breakage == "unreadable_class":
        (root / "Broken").mkdir()
        (root / "Broken" / "x.png").write_text("nope")
    with pytest.raises(DatasetError, match=message) as err:
        split_dataset(load_dataset(root))
    if breakage in ("empty_class", "unreadable_class"):
        assert str(root) in str(err.value)
    if breakage == "too_few":
        assert "NoGFP" in str(err.value)


def test_other_files_are_named_not_passed_over(small_bbbc013, tmp_path):
    """Issue 22 item 13: a notes.txt in a class folder (or in unlabelled/) is named among the skipped files, as the
    README says; hidden files (.DS_Store) are the system's and stay unnamed."""
    root = shutil.copytree(small_bbbc013, tmp_path / "ds")
    (root / "NoGFP" / "notes.txt").write_text("imaged on Tuesday")
    (root / "unlabelled" / "plate.xlsx").write_bytes(b"PK")
    (root / "NoGFP" / ".DS_Store").write_bytes(b"\0")
    ds = load_dataset(root)
    assert [s["path"] for s in ds.skipped] == ["NoGFP/notes.txt", "unlabelled/plate.xlsx"]
    assert ds.skipped[0]["reason"] == "NoGFP/notes.txt: not a PNG, JPEG, TIFF or BMP image (skipped)"
    assert len(ds.labelled) == 36 and len(ds.unlabelled) == 30
