"""GUI test of the OmniClas ImageJ plugin under Xvfb (marked ``gui``), against the real ``live_server``.

A Java harness (fiji_plugin/src/test/java/org/omniclas/fiji/gui/GuiHarness.java, compiled by the Maven build into
fiji_plugin/target/test-classes) starts ImageJ 1.x with the plugin installed in a temporary plugins folder, checks
the Plugins > OmniClas menu, opens and screenshots every dialog (server settings pointing at a closed port), then
drives with real mouse and key events: a labelling session; "Ask the model..." (suggestions, sort by uncertainty,
accept with A / Enter); Classify Image; the Models window's Rename and Delete; the Train wizard and the progress
window's Cancel. Screenshots land in fiji_plugin/target/test-artifacts/gui/ (or $OMNICLAS_TEST_ARTIFACTS/gui);
with $OMNICLAS_SCREENSHOT_DIR set, small documentation PNGs go there too (docs/screenshots/ was made that way).
Source images are read in place from ../shared/data/bbbc013 and must stay untouched.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import fiji_jvm

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[1]
BBBC013 = (ROOT / "tests" / "data" / "bbbc013").resolve()
SOURCE = BBBC013 / "unlabelled"
TEST_CLASSES = ROOT / "fiji_plugin" / "target" / "test-classes"


def _free_display() -> int:
    for n in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    pytest.skip("no free X display number")


@pytest.fixture()
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (apt install xvfb)")
    n = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.skip("Xvfb did not start")
    yield f":{n}"
    proc.terminate()
    proc.wait(10)


def _xdotool_windows(display: str, name: str) -> list[str]:
    if shutil.which("xdotool") is None:
        return []
    res = subprocess.run(["xdotool", "search", "--name", name], env={**os.environ, "DISPLAY": display},
                         capture_output=True, text=True)
    return res.stdout.split()


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def _delete_model(live_server, name: str) -> None:
    req = urllib.request.Request(live_server.api(f"models/{name}"), method="DELETE")
    try:
        urllib.request.urlopen(req, timeout=30).close()
    except urllib.error.HTTPError as err:
        if err.code != 404:
            raise


def test_menu_dialogs_labelling_and_server_windows(xvfb, tmp_path, live_server):
    reason = fiji_jvm.missing_reason()
    if reason:
        pytest.skip(reason)
    if not (TEST_CLASSES / "org" / "omniclas" / "fiji" / "gui" / "GuiHarness.class").is_file():
        pytest.skip(f"GUI harness not compiled ({fiji_jvm.BUILD_HINT})")
    if not SOURCE.is_dir():
        pytest.skip(f"real test data not found at {SOURCE} (see ../shared/data/README.md)")
    artifacts = Path(os.environ.get("OMNICLAS_TEST_ARTIFACTS", ROOT / "fiji_plugin" / "target" / "test-artifacts")) / "gui"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)

    # an ImageJ folder with the plugin installed as a user would: plugins/omniclas_fiji-x.jar + plugins/jars/gson.jar
    ij_home = tmp_path / "ImageJ"
    (ij_home / "plugins" / "jars").mkdir(parents=True)
    shutil.copy(fiji_jvm.plugin_jar(), ij_home / "plugins" / fiji_jvm.plugin_jar().name)
    shutil.copy(fiji_jvm.gson_jar(), ij_home / "plugins" / "jars" / "gson.jar")
    home = tmp_path / "home"
    (home / ".imagej").mkdir(parents=True)
    with socket.socket() as s:  # server settings point at a closed port: dialogs show the "start the server" message
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    (home / ".imagej" / "IJ_Prefs.txt").write_text(f".omniclas.url=http://127.0.0.1:{closed}\n")
    dataset = tmp_path / "dataset"
    source_before = sorted(p.name for p in SOURCE.iterdir())
    # "Ask the model": a second dataset made from 24 real unlabelled images (a copy, spread over the folder)
    ask_source = tmp_path / "ask_source"
    ask_source.mkdir()
    for f in sorted(SOURCE.glob("*.png"))[:24]:
        shutil.copy(f, ask_source / f.name)
    ask_dataset = tmp_path / "ask_dataset"
    # Models window: two copies of the live model, one to rename and one to delete
    from omniclas.registry import Registry

    tag = os.urandom(3).hex()
    rename_from, rename_to, delete = f"gui-rename-{tag}", f"gui-renamed-{tag}", f"gui-delete-{tag}"
    registry = Registry(live_server.models_root)
    registry.register(live_server.run_dir, rename_from)
    registry.register(live_server.run_dir, delete)
    jobs_before = {j["id"] for j in _get(live_server.api("jobs"))["jobs"]}

    cp = os.pathsep.join(str(p) for p in fiji_jvm.classpath() + [TEST_CLASSES])
    cmd = ["java", f"-Duser.home={home}", f"-Dplugins.dir={ij_home}", f"-Dij.dir={ij_home}", "-cp", cp,
           "org.omniclas.fiji.gui.GuiHarness", str(artifacts), str(SOURCE), str(dataset),
           f"url={live_server.url}", f"model={live_server.model}", f"rename_from={rename_from}",
           f"rename_to={rename_to}", f"delete={delete}", f"ask_source={ask_source}", f"ask_dataset={ask_dataset}",
           f"train_dataset={BBBC013}"]
    env = {**os.environ, "DISPLAY": xvfb}
    if env.get("OMNICLAS_SCREENSHOT_DIR"):
        env["OMNICLAS_SCREENSHOT_DIR"] = str(Path(env["OMNICLAS_SCREENSHOT_DIR"]).resolve())
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen_on_x = []
        deadline = time.time() + 40
        while time.time() < deadline and proc.poll() is None and not seen_on_x:
            seen_on_x = _xdotool_windows(xvfb, "^ImageJ$")
            time.sleep(0.5)
        try:
            out, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail("GUI harness timed out:\n" + out[-3000:])
        (artifacts / "harness-output.txt").write_text(out)
        server_models = [m["name"] for m in _get(live_server.api("models"))["models"]]
        new_jobs = [j for j in _get(live_server.api("jobs"))["jobs"] if j["id"] not in jobs_before]
    finally:
        for name in (rename_from, rename_to, delete):
            _delete_model(live_server, name)
    assert proc.returncode == 0, out[-4000:]
    assert "[harness] DONE" in out
    if shutil.which("xdotool"):
        assert seen_on_x, "xdotool did not see the ImageJ window on the X server"

    menu = next(line for line in out.splitlines() if line.startswith("[harness] MENU "))
    for item in ("Label Images...", "Train Classifier...", "Classify Image", "Classify Folder...", "Models...",
                 "Server Settings..."):
        assert item in menu
    windows = [line for line in out.splitlines() if line.startswith("[harness] WINDOW ")]
    assert len(windows) == 6 and not any(line.endswith("-> none") for line in windows), windows
    for shot in ("00_imagej", "01_server_settings", "06_label_dialog", "07_label_window", "09_label_renamed"):
        assert (artifacts / f"{shot}.png").stat().st_size > 1000

    # the dataset on disk: exactly <dataset>/<class>/<img> + <dataset>/unlabelled/<img>
    dirs = sorted(p.name for p in dataset.iterdir())
    assert dirs == ["Debris", "Nuclear", "unlabelled"]
    assert len(list((dataset / "Nuclear").iterdir())) == 3
    assert len(list((dataset / "Debris").iterdir())) == 1
    assert len(list((dataset / "unlabelled").iterdir())) == len(source_before) - 4
    labelled = {p.name for d in ("Nuclear", "Debris") for p in (dataset / d).iterdir()}
    assert labelled <= set(source_before)
    # the source folder is untouched
    assert sorted(p.name for p in SOURCE.iterdir()) == source_before

    # ---- Ask the model: unlabelled sorted by ascending confidence, accepted images moved into the suggested class
    lines = out.splitlines()
    classes = set(_get(live_server.api(f"models/{live_server.model}"))["classes"])
    order = next(line for line in lines if line.startswith("[harness] ORDER "))
    confidences = json.loads(order.split(" ", 2)[2])
    assert len(confidences) == 24 and confidences == sorted(confidences)
    assert any(line.startswith("[harness] SORT_TOGGLE ok") for line in lines)
    accepted = [re.match(r"\[harness\] ACCEPTED (\S+) -> (\S+) ", line).groups() for line in lines
                if line.startswith("[harness] ACCEPTED ")]
    assert len(accepted) == 4
    for name, cls in accepted:
        assert cls in classes
        assert (ask_dataset / cls / name).is_file()
        assert not (ask_dataset / "unlabelled" / name).exists()
    on_disk = sum(1 for d in ask_dataset.iterdir() for _ in d.iterdir())
    assert on_disk == 24 and len(list((ask_dataset / "unlabelled").iterdir())) == 20
    assert sorted(p.name for p in ask_source.iterdir()) == sorted(p.name for p in (ask_dataset).rglob("*.png"))

    # ---- Classify Image: three rows in "OmniClas Results"
    assert any(line.startswith("[harness] CLASSIFIED 3 rows") for line in lines)

    # ---- Models window: renamed and deleted on the server
    assert rename_to in server_models and rename_from not in server_models and delete not in server_models
    assert live_server.model in server_models

    # ---- Train wizard: the job was running, Cancel made it 'cancelled' on the server
    job_id = next(line.split()[-1] for line in lines if line.startswith("[harness] JOB_ID "))
    assert [j["id"] for j in new_jobs] == [job_id]
    job = _get(live_server.api(f"jobs/{job_id}"))
    assert job["state"] == "cancelled", job
    assert job["started"] and job["spec"]["process"] == "nd" and job["spec"]["backbones"] == ["efficientnet_lite0"]
    for shot in ("10_ask_model", "11_ask_accepted", "12_classify_results", "13_models", "15_train_wizard",
                 "16_training_progress"):
        assert (artifacts / f"{shot}.png").stat().st_size > 1000
    # the source folder is still untouched
    assert sorted(p.name for p in SOURCE.iterdir()) == source_before
