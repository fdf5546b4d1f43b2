"""The OmniClas Fiji/ImageJ plugin driven in-process (scyjava/JPype, headless ImageJ 1.x).

Needs the built plugin jar (see tests/fiji_jvm.py) and, for most tests, a running ``omniclas serve`` with a
registered model (the ``live_server`` fixture). Real images are read in place from the fixture set (tests/data).
"""
from __future__ import annotations

import csv as csvlib
import io
import json
import math
import shutil
import socket
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

import fiji_jvm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ij():
    reason = fiji_jvm.missing_reason()
    if reason:
        pytest.skip(reason)
    return fiji_jvm.start()


@pytest.fixture()
def settings(ij):
    """Restores the server settings after a test changes them."""
    url, token = str(ij.Settings.url()), str(ij.Prefs.get(ij.Settings.KEY_TOKEN, ""))
    ij.Reporter.clearLastError()
    yield ij
    ij.Settings.save(url, token)


@pytest.fixture()
def server(settings, request):
    try:
        live_server = request.getfixturevalue("live_server")
    except pytest.FixtureLookupError:
        pytest.skip("no live_server fixture (a running `omniclas serve` with a registered model) in tests/conftest.py")
    token = getattr(live_server, "token", None) or ""
    settings.IJ.run("Server Settings...", f"url={live_server.url} token=[{token}]")
    assert str(settings.Settings.url()) == str(live_server.url).rstrip("/") or str(settings.Settings.url()) == str(live_server.url)
    return live_server


@pytest.fixture(scope="module")
def real_image(bbbc013):
    """real_image(cls, index): one real BBBC013 crop (read in place)."""

    def pick(cls: str = "NuclearGFP", index: int = 0) -> Path:
        return sorted((bbbc013 / cls).glob("*.png"))[index]

    return pick


def open_image(ij, path: Path):
    imp = ij.IJ.openImage(str(path))
    assert imp is not None, f"ImageJ cannot open {path}"
    return imp


def model_classes(ij, live_server) -> list[str]:
    client = ij.HttpOmniClasClient(str(live_server.url), getattr(live_server, "token", None) or "")
    return [str(c) for c in client.model(str(live_server.model)).classes]


def last_error(ij) -> str:
    e = ij.Reporter.lastError()
    return "" if e is None else str(e)


def stack16(ij, path: Path, n: int = 3):  # noqa: D401
    """A 16-bit stack made of one real RGB image's grey version, each slice brighter (values up to ~50000)."""
    jimport = __import__("scyjava").jimport
    ImageStack = jimport("ij.ImageStack")
    base = open_image(ij, path).getProcessor().convertToShortProcessor(False)
    stack = ImageStack(base.getWidth(), base.getHeight())
    for k in range(n):
        ip = base.duplicate()
        ip.multiply(60.0 + 40.0 * k)
        stack.addSlice(f"s{k + 1}", ip)
    return ij.ImagePlus("stack16", stack)


# ---------------------------------------------------------------- without a server


def test_commands_registered(ij):
    commands = ij.Commands.fromPluginsConfig()
    for name in ("Label Images...", "Train Classifier...", "Classify Image", "Classify Folder...", "Models...",
                 "Jobs...", "Server Settings..."):
        assert commands.containsKey(name)
        assert __import__("scyjava").jimport("ij.Menus").getCommands().containsKey(name)


def test_encoder_keeps_bit_depth(ij, real_image):
    tifffile = pytest.importorskip("tifffile")
    Encoder = __import__("scyjava").jimport("org.omniclas.fiji.ui.ImageEncoder")
    rgb = open_image(ij, real_image())
    with tifffile.TiffFile(io.BytesIO(bytes(Encoder.sliceToTiff(rgb, 1)))) as t:
        arr = t.series[0].asarray()
    assert arr.dtype == np.uint8 and arr.shape == (rgb.getHeight(), rgb.getWidth(), 3)
    s16 = stack16(ij, real_image())
    with tifffile.TiffFile(io.BytesIO(bytes(Encoder.sliceToTiff(s16, 2)))) as t:
        arr = t.series[0].asarray()
        assert t.pages[0].compression == 1  # uncompressed
    assert arr.dtype == np.uint16 and arr.max() > 255
    assert int(arr[0, 0]) == int(s16.getStack().getProcessor(2).get(0, 0))


def test_server_down_gives_one_clear_message(settings, real_image):
    ij = settings
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ij.IJ.run("Server Settings...", f"url=http://127.0.0.1:{port} token=[]")
    imp = open_image(ij, real_image())
    ij.IJ.run(imp, "Classify Image", "model=anything")
    msg = last_error(ij)
    assert f"127.0.0.1:{port}" in msg
    assert "omniclas serve" in msg
    assert "Exception" not in msg and "\tat " not in msg
    ij.Reporter.clearLastError()
    ij.IJ.run("Models...", "action=list")
    assert "omniclas serve" in last_error(ij)


def test_classify_image_says_no_image_is_open_before_anything_else(settings):
    """As TrackMate does: the image is checked first, before the server or the model are asked for."""
    ij = settings
    with socket.socket() as s:  # no server either: the image is what is missing first
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ij.IJ.run("Server Settings...", f"url=http://127.0.0.1:{port} token=[]")
    assert __import__("scyjava").jimport("ij.WindowManager").getCurrentImage() is None
    ij.IJ.run("Classify Image", "model=anything")
    assert last_error(ij) == "There is no image open."


class _FakePredictor:
    def __init__(self):
        self.seen = []

    def predict_images(self, arrays):
        self.seen.extend(arrays)
        return [{"class": "b" if a.mean() > 50 else "a", "confidence": 0.75,
                 "probabilities": {"a": 0.25, "b": 0.75}} for a in arrays]


def test_imagej_py_converts_imageplus(ij, real_image):
    from omniclas.imagej import classify_imageplus, imageplus_planes

    rgb = open_image(ij, real_image())
    planes = imageplus_planes(rgb)
    assert len(planes) == 1 and planes[0][1].shape == (rgb.getHeight(), rgb.getWidth(), 3)
    assert planes[0][1].dtype == np.uint8
    pixel = int(rgb.getProcessor().getPixel(3, 2)) & 0xFFFFFF
    assert tuple(int(v) for v in planes[0][1][2, 3]) == ((pixel >> 16) & 255, (pixel >> 8) & 255, pixel & 255)

    s16 = stack16(ij, real_image())
    raw = imageplus_planes(s16)
    assert [n for n, _ in raw] == [1, 2, 3]
    assert raw[2][1].dtype == np.uint16
    assert int(raw[2][1][1, 1]) == int(s16.getStack().getProcessor(3).get(1, 1))

    fake = _FakePredictor()
    rows = classify_imageplus(s16, fake)
    assert [r["slice"] for r in rows] == [1, 2, 3]
    assert all(r["image"] == "stack16" and r["top"][0]["class"] == "b" for r in rows)
    assert all(a.dtype == np.uint8 and a.shape[2] == 3 for a in fake.seen)

    comp = ij.IJ.createImage("comp", "16-bit composite-mode", 20, 10, 2, 3, 2)
    planes = imageplus_planes(comp)
    assert len(planes) == 6 and planes[0][1].shape == (10, 20, 2) and planes[0][1].dtype == np.uint16


# ---------------------------------------------------------------- with a live server


def test_classify_real_image_macro(ij, server, real_image):
    imp = open_image(ij, real_image("NuclearGFP"))
    ij.IJ.run(imp, "Classify Image", f"model={server.model}")
    assert last_error(ij) == ""
    rows = fiji_jvm.table_rows(ij.ImageClassifier.lastResults())
    assert len(rows) == 1
    row = rows[0]
    classes = model_classes(ij, server)
    # the columns of docs/results-csv.md: one probability per class of the model, in its order, then error
    assert list(row) == ["image", "slice", "class", "confidence", "unsure", "runner_up", "runner_up_p"] + \
        [f"p_{c}" for c in classes] + ["error"]
    assert row["unsure"] in ("true", "false") and row["runner_up"] in classes and row["runner_up"] != row["class"]
    assert row["class"] in classes and row["error"] == ""
    assert 0.0 <= row["confidence"] <= 1.0 and math.isclose(row[f"p_{row['class']}"], row["confidence"], abs_tol=1e-3)
    assert math.isclose(sum(row[f"p_{c}"] for c in classes), 1.0, abs_tol=1e-3)
    assert row["slice"] == 1 and row["image"] == imp.getTitle()


def test_classify_16bit_stack(ij, server, real_image):
    imp = stack16(ij, real_image("NoGFP"))
    ij.IJ.run(imp, "Classify Image", f"model={server.model}")
    assert last_error(ij) == ""
    rows = fiji_jvm.table_rows(ij.ImageClassifier.lastResults())
    assert [r["slice"] for r in rows] == [1.0, 2.0, 3.0]
    classes = model_classes(ij, server)
    assert all(r["class"] in classes for r in rows)
    # the server rescales 16-bit per image, so brighter copies of one image get the same answer
    assert len({r["class"] for r in rows}) == 1


def test_unknown_model_shows_server_message(ij, server, real_image):
    imp = open_image(ij, real_image())
    ij.IJ.run(imp, "Classify Image", "model=no_such_model_xyz")
    msg = last_error(ij)
    assert "no_such_model_xyz" in msg
    assert "Exception" not in msg


def test_list_models(ij, server):
    ij.IJ.run("Models...", "action=list")
    assert last_error(ij) == ""
    rows = fiji_jvm.table_rows(ij.ModelsWindow.lastTable())
    names = [r["name"] for r in rows]
    assert str(server.model) in names
    mine = rows[names.index(str(server.model))]
    assert mine["classes"]


def test_classify_folder_saves_csv(ij, server, tmp_path, real_image):
    folder = real_image("NoGFP").parent
    csv = tmp_path / "results.csv"
    ij.IJ.run("Classify Folder...", f"model={server.model} folder=[{folder}] csv=[{csv}]")
    assert last_error(ij) == ""
    with csv.open(newline="", encoding="utf-8") as f:
        rows = list(csvlib.reader(f))
    classes = model_classes(ij, server)
    assert rows[0] == ["image", "slice", "class", "confidence", "unsure", "runner_up", "runner_up_p"] + \
        [f"p_{c}" for c in classes] + ["error"]
    assert len(rows) - 1 == len(list(folder.glob("*.png")))
    assert all(r[2] in classes and r[-1] == "" and r[1] == "1" for r in rows[1:]), rows[:3]


def _nine_good_and_a_broken_one(bbbc013: Path, folder: Path) -> Path:
    """9 real PNGs and the truncated fixture as broken.png (copies: tests/data stays untouched)."""
    folder.mkdir()
    for f in sorted((bbbc013 / "unlabelled").glob("*.png"))[:9]:
        shutil.copy(f, folder / f.name)
    shutil.copy(bbbc013.parent / "corrupt" / "A01_Cell162_truncated.png", folder / "broken.png")
    return folder


def test_classify_folder_with_an_unreadable_image(ij, server, tmp_path, bbbc013, capfd):
    """One bad image never sinks a batch: 9 rows with a class, 1 error row naming broken.png, the CSV written."""
    folder = _nine_good_and_a_broken_one(bbbc013, tmp_path / "images")
    csv = tmp_path / "results.csv"
    capfd.readouterr()
    ij.IJ.run("Classify Folder...", f"model={server.model} folder=[{folder}] csv=[{csv}]")
    assert last_error(ij) == ""
    out = capfd.readouterr().out
    assert "10 result rows; 1 image could not be read: broken.png" in out
    with csv.open(newline="", encoding="utf-8") as f:
        rows = list(csvlib.DictReader(f))
    assert len(rows) == 10
    bad = [r for r in rows if r["error"]]
    assert [r["image"] for r in bad] == ["broken.png"]
    assert bad[0]["error"].startswith("broken.png: ") and bad[0]["class"] == "" and bad[0]["confidence"] == ""
    assert bad[0]["slice"] == "1"  # always filled (docs/results-csv.md)
    classes = model_classes(ij, server)
    assert all(r["class"] in classes and r["error"] == "" for r in rows if r["image"] != "broken.png")


def test_label_images_import_names_an_unreadable_image(ij, tmp_path, bbbc013, capfd):
    """Label Images' import copies the readable images and names the one it cannot read (no raw exception)."""
    source = _nine_good_and_a_broken_one(bbbc013, tmp_path / "source")
    dataset = tmp_path / "dataset"
    capfd.readouterr()
    ij.IJ.run("Label Images...", f"source=[{source}] dataset=[{dataset}]")
    out = capfd.readouterr()
    assert last_error(ij) == ""
    # issue 22 item 17: the words the server (data/imageio.py) uses for the same file, not ImageIO's ZLIB error
    from omniclas.data.imageio import read_image
    from omniclas.errors import ImageReadError

    with pytest.raises(ImageReadError) as server_words:
        read_image(source / "broken.png", name="broken.png")
    assert f"OmniClas: not copied: {server_words.value}" in out.out.splitlines(), out.out
    assert "ZLIB" not in out.out
    assert "Exception" not in out.out + out.err
    assert sorted(p.name for p in (dataset / "unlabelled").iterdir()) == sorted(
        p.name for p in source.iterdir() if p.name != "broken.png")


@pytest.mark.slow
def test_training_job_to_the_end(ij, server, capfd, bbbc013):
    dataset, made = fiji_jvm.training_dataset(server, bbbc013)
    classes = sorted(p.name for p in dataset.iterdir() if p.is_dir() and p.name not in ("unlabelled", "test"))
    name = f"fiji_trained_{uuid.uuid4().hex[:6]}"
    try:
        ij.IJ.run("Train Classifier...",
                  f"dataset=[{dataset}] process=nd backbones=efficientnet_lite0 head=linear image_size=64 seed=0 "
                  f"model_name={name}")
        out = capfd.readouterr().out
        assert last_error(ij) == "", last_error(ij)
        assert "submitted" in out and "finished, test accuracy" in out, out[-2000:]
        assert "OmniClas job" in out  # progress lines (stage, iteration, epoch, ETA)
        assert "{'" not in out  # no raw Python dict of the spec
        per_class = fiji_jvm.table_rows(ij.TrainWizard.lastTrainingTable())
        assert sorted(r["class"] for r in per_class) == classes
        ij.IJ.run("Models...", "action=list")
        assert name in [r["name"] for r in fiji_jvm.table_rows(ij.ModelsWindow.lastTable())]
    finally:
        if made:
            shutil.rmtree(dataset, ignore_errors=True)
        ij.IJ.run("Models...", f"action=delete model={name}")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def _post(url: str):
    req = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _wait(what: str, check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_resumed_job_is_registered_under_the_wizards_name(ij, server, bbbc013, capfd):
    """Train Classifier with model_name=NAME, cancelled; Jobs... action=resume follows the job to its end and
    registers it as NAME (as the wizard would have)."""
    dataset, made = fiji_jvm.training_dataset(server, bbbc013)
    name = f"fiji_resumed_{uuid.uuid4().hex[:6]}"
    before = {j["id"] for j in _get(server.api("jobs"))["jobs"]}
    done = threading.Event()

    def train():
        try:
            ij.IJ.run("Train Classifier...", f"dataset=[{dataset}] process=nd backbones=efficientnet_lite0 head=linear "
                                             f"image_size=64 model_name={name}")
        finally:
            done.set()

    threading.Thread(target=train, daemon=True).start()
    try:
        job = _wait("the job on the server", lambda: next(
            (j for j in _get(server.api("jobs"))["jobs"] if j["id"] not in before), None), timeout=60)
        _post(server.api(f"jobs/{job['id']}/cancel"))
        assert done.wait(180), "the plugin did not notice the cancelled job"
        assert _get(server.api(f"jobs/{job['id']}"))["state"] == "cancelled"
        assert name not in [m["name"] for m in _get(server.api("models"))["models"]]
        capfd.readouterr()
        ij.IJ.run("Jobs...", f"action=resume job={job['id']}")
        out = capfd.readouterr().out
        assert last_error(ij) == "", last_error(ij)
        assert _get(server.api(f"jobs/{job['id']}"))["state"] == "finished"
        assert f"registered model {name}" in out, out[-2000:]
        assert name in [m["name"] for m in _get(server.api("models"))["models"]]
    finally:
        done.wait(60)
        ij.IJ.run("Models...", f"action=delete model={name}")
        if made:
            shutil.rmtree(dataset, ignore_errors=True)


@pytest.mark.parametrize("process", ["nd", "dd", "idd", "md", "imd", "mdd", "imdd"])
def test_train_with_process_defaults_sends_what_the_cli_trains(ij, server, bbbc013, process, capfd):
    """A Fiji run that names only the process submits the job the CLI would run (TrainConfig(...).resolved())."""
    dataset, made = fiji_jvm.training_dataset(server, bbbc013)
    before = {j["id"] for j in _get(server.api("jobs"))["jobs"]}
    done = threading.Event()

    def train():
        try:
            ij.IJ.run("Train Classifier...", f"dataset=[{dataset}] process={process} model_name=")
        finally:
            done.set()

    worker = threading.Thread(target=train, daemon=True)
    worker.start()
    try:
        job = _wait("the job on the server", lambda: next(
            (j for j in _get(server.api("jobs"))["jobs"] if j["id"] not in before), None), timeout=60)
        _post(server.api(f"jobs/{job['id']}/cancel"))
        assert done.wait(180), "the plugin did not notice the cancelled job"
        fiji_jvm.check_spec_is_cli_defaults(_get(server.api(f"jobs/{job['id']}"))["spec"], dataset, process)
        out = capfd.readouterr().out
        assert f"job {job['id']} cancelled" in out
        assert last_error(ij) == "", last_error(ij)  # a cancelled run is no error
    finally:
        done.wait(60)
        if made:
            shutil.rmtree(dataset, ignore_errors=True)


def test_headless_macro_reads_results_and_csv(ij, server, real_image, tmp_path, capfd):
    """Headless ImageJ has no named tables: the standard Results table is filled too, and csv= saves them."""
    csv = tmp_path / "results.csv"
    img = real_image("NuclearGFP", 3)
    macro = (f'setBatchMode(true); open("{img}"); '
             f'run("Classify Image", "model={server.model} csv=[{csv}]"); '
             'print("N=" + nResults); print("CLASS=" + getResultString("class", 0)); '
             'print("CONF=" + getResult("confidence", 0)); print("SIZE=" + Table.size("Results"));')
    capfd.readouterr()
    ij.IJ.runMacro(macro)
    out = capfd.readouterr().out
    assert last_error(ij) == "", last_error(ij)
    lines = dict(line.split("=", 1) for line in out.splitlines() if line[:2] in ("N=", "CL", "CO", "SI"))
    classes = model_classes(ij, server)
    assert lines["N"] == "1" and lines["SIZE"] == "1"
    assert lines["CLASS"] in classes
    with csv.open(newline="", encoding="utf-8") as f:
        rows = list(csvlib.DictReader(f))
    assert len(rows) == 1 and rows[0]["class"] == lines["CLASS"] and rows[0]["image"] == img.name
    assert math.isclose(float(rows[0]["confidence"]), float(lines["CONF"]), abs_tol=1e-3)


def test_models_list_prints_to_the_log(ij, server, capfd):
    capfd.readouterr()
    ij.IJ.run("Models...", "action=list")
    out = capfd.readouterr().out
    assert last_error(ij) == ""
    assert "model(s) on " + str(server.url) in out
    mine = next(line for line in out.splitlines() if line.strip().startswith(f"{server.model} "))
    for cls in model_classes(ij, server):
        assert cls in mine


def test_export_a_model_for_the_bioimage_model_zoo_from_a_macro(ij, server, tmp_path, capfd):
    """Models... action=export downloads the server's zoo package; the file is a valid bioimage.io model."""
    import zipfile

    out = tmp_path / "sub" / "cells.bioimageio.zip"
    capfd.readouterr()
    ij.IJ.run("Models...", f"action=export model={server.model} format=bioimageio file=[{out}]")
    assert last_error(ij) == ""
    assert f"exported model {server.model} (bioimageio) to {out}" in capfd.readouterr().out
    with zipfile.ZipFile(out) as z:
        assert "bioimageio.yaml" in z.namelist()
    assert [p.name for p in out.parent.iterdir()] == ["cells.bioimageio.zip"]  # no partial file left beside it
    ij.IJ.run("Models...", f"action=export model=no-such-model format=bioimageio file=[{tmp_path / 'x.zip'}]")
    assert "no-such-model" in last_error(ij) and not (tmp_path / "x.zip").exists()


def test_report_is_fetched_through_the_client(ij, server):
    """The browser cannot send the server's token, so the plugin downloads the report and opens the file."""
    client = ij.HttpOmniClasClient(str(server.url), getattr(server, "token", None) or "")
    html = Path(str(client.fetchReport(client.modelReportUrl(str(server.model))).toString()))
    assert html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    jimport = __import__("scyjava").jimport
    with pytest.raises(jimport("org.omniclas.fiji.client.OmniClasException"), match="no report"):
        client.fetchReport(client.modelReportUrl("no-such-model"))


def test_jobs_list_prints_to_the_log(ij, server, capfd):
    capfd.readouterr()
    ij.IJ.run("Jobs...", "action=list")
    out = capfd.readouterr().out
    assert last_error(ij) == ""
    jobs = _get(server.api("jobs"))["jobs"]
    assert f"{len(jobs)} job(s) on {server.url}" in out
    for job in jobs:
        assert f"  {job['id']}: {job['state']}" in out


def test_batch_mode_error_goes_to_the_log_and_stops_the_macro(settings, real_image, capfd):
    ij = settings
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ij.IJ.run("Server Settings...", f"url=http://127.0.0.1:{port} token=[]")
    capfd.readouterr()
    ij.IJ.runMacro(f'setBatchMode(true); open("{real_image()}"); print("before"); '
                   'run("Classify Image", "model=anything"); print("after");')
    out = capfd.readouterr().out
    assert "before" in out and "after" not in out  # the macro stopped at the error
    assert f"OmniClas error: Cannot reach the OmniClas server at http://127.0.0.1:{port}" in out
    assert "Exception" not in out and "\tat " not in out


def test_train_checks_the_dataset_before_submitting(ij, server, tmp_path, real_image, capfd):
    """An empty class folder (what an undo used to leave) is named before any job is sent; a macro value for an
    option that does not apply (a threshold under the balanced rule) is said to be unused."""
    dataset = tmp_path / "cells"
    for cls in ("NuclearGFP", "NoGFP"):
        (dataset / cls).mkdir(parents=True)
        for i in range(3):
            shutil.copy(real_image(cls, i), dataset / cls)
    (dataset / "Cytoplasmic").mkdir()
    (dataset / "unlabelled").mkdir()
    shutil.copy(real_image("NoGFP", 5), dataset / "unlabelled")
    (dataset / "Tiny").mkdir()
    shutil.copy(real_image("NoGFP", 6), dataset / "Tiny")
    before = len(_get(server.api("jobs"))["jobs"])
    capfd.readouterr()
    ij.IJ.run("Train Classifier...", f"dataset=[{dataset}] process=imdd selection=balanced threshold=0.6 model_name=")
    assert "threshold=0.6 does not apply to imdd" in capfd.readouterr().out
    msg = last_error(ij)
    assert "Class folder \"Cytoplasmic\" is empty" in msg
    assert "Class \"Tiny\" has 1 image; at least 3 are needed" in msg
    assert len(_get(server.api("jobs"))["jobs"]) == before  # nothing was sent


def test_the_wizards_model_names_are_the_registrys(ij):
    """Issue 22 item 4: Fiji's name rule is the registry's, and the name it proposes for a dataset folder
    `my cells ü` is one the registry takes (it proposed `my cells ü_classifier`, refused at the end)."""
    from omniclas.registry.layout import NAME_RE
    from omniclas.registry.store import check_name

    ModelNames = __import__("scyjava").jimport("org.omniclas.fiji.ui.ModelNames")
    assert str(ModelNames.NAME_PATTERN) == NAME_RE.pattern
    for folder in ("my cells ü", "  .hidden plate", "Zellen_2024-03-01", "x" * 300, "ü"):
        proposed = str(ModelNames.propose(folder))
        assert check_name(proposed) == proposed and ModelNames.problem(proposed) is None
    for bad in ("my cells ü_classifier", "_cells", "a/b", "x" * 101):
        assert not NAME_RE.match(bad) and ModelNames.problem(bad) is not None


def test_train_refuses_a_model_name_before_training(ij, server, tmp_path, real_image):
    """A name the registry would refuse is named, with the reason, before any job is sent."""
    dataset = tmp_path / "my cells ü"
    for cls in ("NuclearGFP", "NoGFP"):
        (dataset / cls).mkdir(parents=True)
        for i in range(3):
            shutil.copy(real_image(cls, i), dataset / cls)
    before = len(_get(server.api("jobs"))["jobs"])
    ij.IJ.run("Train Classifier...", f"dataset=[{dataset}] process=nd model_name=[my cells ü_classifier]")
    msg = last_error(ij)
    assert "The model name \"my cells ü_classifier\" cannot be registered: ' ' and 'ü' are not allowed" in msg, msg
    assert len(_get(server.api("jobs"))["jobs"]) == before  # nothing was sent


def test_imagej_py_with_real_predictor(ij, server, real_image):
    models_root = getattr(server, "models_root", None)
    if models_root is None:
        pytest.skip("live_server exposes no models_root, so the model folder for Predictor.load is unknown")
    manifests = sorted(Path(str(models_root)).glob(f"{server.model}/**/manifest.json"))
    if not manifests:
        pytest.skip(f"no manifest.json for {server.model} under {models_root}")
    from omniclas.imagej import classify_imageplus

    rows = classify_imageplus(stack16(ij, real_image("NuclearGFP")), str(manifests[-1].parent))
    classes = model_classes(ij, server)
    assert [r["slice"] for r in rows] == [1, 2, 3]
    assert all(r["class"] in classes and 0 <= r["confidence"] <= 1 for r in rows)


def test_classify_folder_as_a_job_on_the_real_server(ij, server, tmp_path, real_image, capfd):
    """job=always: Fiji submits a predict job to the real server (the folder is under its dataset root), follows it,
    and fetches results.csv; the rows equal those of the image-by-image path (job=never)."""
    folder = real_image("NoGFP").parent
    tables = {}
    for mode in ("always", "never"):
        csv = tmp_path / f"{mode}.csv"
        capfd.readouterr()
        ij.IJ.run("Classify Folder...", f"model={server.model} folder=[{folder}] csv=[{csv}] job={mode}")
        assert last_error(ij) == ""
        out = capfd.readouterr().out
        assert ("OmniClas: job " in out) == (mode == "always"), out
        with csv.open(newline="", encoding="utf-8") as f:
            tables[mode] = {r["image"]: r for r in csvlib.DictReader(f)}
    assert tables["always"].keys() == tables["never"].keys()
    assert len(tables["always"]) == len(list(folder.glob("*.png")))
    for name, row in tables["never"].items():
        assert tables["always"][name]["class"] == row["class"], name
        assert float(tables["always"][name]["confidence"]) == pytest.approx(float(row["confidence"]), abs=1e-3)
