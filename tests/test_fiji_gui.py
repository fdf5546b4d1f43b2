"""GUI tests of the OmniClas ImageJ plugin under Xvfb (marked ``gui``): real ImageJ 1.x, real windows, real events.

A Java harness (fiji_plugin/src/test/java/org/omniclas/fiji/gui/GuiHarness.java, compiled by the Maven build into
fiji_plugin/target/test-classes) starts ImageJ with the plugin installed in a temporary plugins folder and drives it
with real mouse and key events (see its class comment for the steps). This module checks what the harness saw and
what happened on disk and on the server. Screenshots land in fiji_plugin/target/test-artifacts/gui/ (or
$OMNICLAS_TEST_ARTIFACTS/gui); with $OMNICLAS_SCREENSHOT_DIR set, small documentation PNGs go there too
(docs/screenshots/ was made that way). Also here, because they need a display: ``ImageJ -batch`` exit codes, and
Fiji starting (and stopping) a real ``omniclas serve``.
Source images are read in place from the ``bbbc013`` fixture and must stay untouched.
"""
from __future__ import annotations

import csv as csv_module
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import fiji_jvm

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[1]
TEST_CLASSES = ROOT / "fiji_plugin" / "target" / "test-classes"
PROCESSES = ["nd", "dd", "idd", "md", "imd", "mdd", "imdd"]


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


@pytest.fixture()
def harness():
    reason = fiji_jvm.missing_reason()
    if reason:
        pytest.skip(reason)
    if not (TEST_CLASSES / "org" / "omniclas" / "fiji" / "gui" / "GuiHarness.class").is_file():
        pytest.skip(f"GUI harness not compiled ({fiji_jvm.BUILD_HINT})")


def _artifacts(name: str) -> Path:
    base = Path(os.environ.get("OMNICLAS_TEST_ARTIFACTS", ROOT / "fiji_plugin" / "target" / "test-artifacts"))
    path = base / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _imagej_home(tmp_path: Path, url: str) -> tuple[Path, Path]:
    """An ImageJ folder with the plugin installed as a user would (plugins/omniclas_fiji-x.jar, plugins/jars/gson.jar)
    and a home folder whose IJ_Prefs.txt points the plugin at ``url``."""
    ij_home = tmp_path / "ImageJ"
    (ij_home / "plugins" / "jars").mkdir(parents=True)
    shutil.copy(fiji_jvm.plugin_jar(), ij_home / "plugins" / fiji_jvm.plugin_jar().name)
    shutil.copy(fiji_jvm.gson_jar(), ij_home / "plugins" / "jars" / "gson.jar")
    home = tmp_path / "home"
    (home / ".imagej").mkdir(parents=True)
    (home / ".imagej" / "IJ_Prefs.txt").write_text(f".omniclas.url={url}\n")
    return ij_home, home


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _harness_env(display: str) -> dict:
    env = {**os.environ, "DISPLAY": display}
    if env.get("OMNICLAS_SCREENSHOT_DIR"):
        env["OMNICLAS_SCREENSHOT_DIR"] = str(Path(env["OMNICLAS_SCREENSHOT_DIR"]).resolve())
    return env


def _lines(out: str, tag: str) -> list[str]:
    return [line[len(f"[harness] {tag} "):] for line in out.splitlines() if line.startswith(f"[harness] {tag} ")]


def _shown_by_rules(catalog: dict, process: dict, values: dict) -> dict:
    """The non-advanced options that apply to ``process`` with ``values`` (the rules of GET /processes, applied here
    independently of the plugin), as the wizard shows their values."""
    options = {o["name"]: o for o in catalog["options"]}

    def applies(o, depth=0):
        for key, want in o["applies"].items():
            if key in options:
                other = options[key]
                value = values[key] if applies(other, depth + 1) else process["defaults"][key]
                if value not in want:
                    return False
            elif process.get(key) != want:
                return False
        return True

    def text(v):
        if isinstance(v, list):
            return ",".join(v)
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, float):
            return str(int(v)) if v == int(v) else repr(v)
        return str(v)

    return {n: text(values[n]) for n, o in options.items() if not o["advanced"] and applies(o)}


def _wizard(line: str) -> dict:
    return dict(part.split("=", 1) for part in line.split()[1:])


def test_menu_dialogs_labelling_and_server_windows(xvfb, harness, tmp_path, live_server, bbbc013):
    source = bbbc013 / "unlabelled"
    artifacts = _artifacts("gui")
    ij_home, home = _imagej_home(tmp_path, f"http://127.0.0.1:{_closed_port()}")  # dialogs first meet no server
    dataset = tmp_path / "dataset"
    source_before = sorted(p.name for p in source.iterdir())
    # "Ask the model": a second dataset made from 24 real unlabelled images (a copy, spread over the folder)
    ask_source = tmp_path / "ask_source"
    ask_source.mkdir()
    for f in sorted(source.glob("*.png"))[:24]:
        shutil.copy(f, ask_source / f.name)
    ask_dataset = tmp_path / "ask_dataset"
    (ask_dataset / "unlabelled").mkdir(parents=True)  # and one truncated image among the unlabelled ones
    shutil.copy(bbbc013.parent / "corrupt" / "A01_Cell162_truncated.png", ask_dataset / "unlabelled" / "broken.png")
    # Models window: two copies of the live model, one to rename and one to delete
    from omniclas.registry import Registry

    tag = os.urandom(3).hex()
    rename_from, rename_to, delete = f"gui-rename-{tag}", f"gui-renamed-{tag}", f"gui-delete-{tag}"
    registered = f"gui-registered-{tag}"
    registry = Registry(live_server.models_root)
    registry.register(live_server.run_dir, rename_from)
    registry.register(live_server.run_dir, delete)
    versions = f"gui-versions-{tag}"  # two versions of one model
    registry.register(live_server.run_dir, versions)
    registry.register(live_server.run_dir, versions)
    jobs_before = {j["id"] for j in _get(live_server.api("jobs"))["jobs"]}
    train_dataset, made = fiji_jvm.training_dataset(live_server, bbbc013)

    cp = os.pathsep.join(str(p) for p in fiji_jvm.classpath() + [TEST_CLASSES])
    cmd = ["java", f"-Duser.home={home}", f"-Dplugins.dir={ij_home}", f"-Dij.dir={ij_home}",
           "-Domniclas.browser=", "-cp", cp,  # no browser: Open report gives the path
           "org.omniclas.fiji.gui.GuiHarness", str(artifacts), str(source), str(dataset),
           f"url={live_server.url}", f"model={live_server.model}", f"rename_from={rename_from}",
           f"rename_to={rename_to}", f"delete={delete}", f"ask_source={ask_source}", f"ask_dataset={ask_dataset}",
           f"train_dataset={train_dataset}", f"tag={tag}", f"dataset_root={live_server.dataset_root}",
           f"versions={versions}"]
    try:
        proc = subprocess.Popen(cmd, env=_harness_env(xvfb), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen_on_x = []
        deadline = time.time() + 40
        while time.time() < deadline and proc.poll() is None and not seen_on_x:
            seen_on_x = _xdotool_windows(xvfb, "^ImageJ$")
            time.sleep(0.5)
        try:
            out, _ = proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail("GUI harness timed out:\n" + out[-3000:])
        (artifacts / "harness-output.txt").write_text(out)
        server_models = [m["name"] for m in _get(live_server.api("models"))["models"]]
        new_jobs = [j for j in _get(live_server.api("jobs"))["jobs"] if j["id"] not in jobs_before]
        catalog = _get(live_server.api("processes"))
    finally:
        for name in (rename_from, rename_to, delete, registered, versions):
            _delete_model(live_server, name)
        if made:
            shutil.rmtree(train_dataset, ignore_errors=True)
    assert proc.returncode == 0, out[-4000:]
    assert "[harness] DONE" in out
    if shutil.which("xdotool"):
        assert seen_on_x, "xdotool did not see the ImageJ window on the X server"

    menu = _lines(out, "MENU")[0]
    for item in ("Label Images...", "Train Classifier...", "Classify Image", "Classify Folder...", "Models...",
                 "Jobs...", "Server Settings..."):
        assert item in menu
    assert int(_lines(out, "FIND_COMMANDS")[0].split()[0]) >= 7  # Find Commands lists the installed plugin
    windows = _lines(out, "WINDOW")
    assert len(windows) == 7 and not any(w.endswith("-> none") for w in windows), windows
    # no server answers: each command that needs one offers to start it (issue 9, item 5); Classify Image first
    # says that no image is open (issue 19)
    for command in ("Classify Folder...", "Train Classifier...", "Models...", "Jobs..."):
        assert any(w.startswith(command + " ->") and w.endswith("OFFERS_START") for w in windows), (command, windows)
    assert any(w.startswith("Classify Image ->") and w.endswith("SAYS There is no image open.") for w in windows), windows
    for shot in ("00_imagej", "01_server_settings", "06_label_dialog", "07_label_window", "09_label_renamed"):
        assert (artifacts / f"{shot}.png").stat().st_size > 1000

    # ---- Label Images says at once that training needs the dataset under a dataset root; Cancel creates nothing
    assert _lines(out, "ROOTS_WARNING")[0].startswith("OmniClas:")
    assert _lines(out, "OUTSIDE_CREATED") == ["false"]

    # ---- labelling: keys stay with their categories; the dataset on disk is <dataset>/<class>/<img> + unlabelled/
    assert _lines(out, "UNASSIGN_BUTTON") == ["Unassign (key 0)"]
    assert _lines(out, "CATEGORY_LIST") == ["[1] Cells (4)|[2] Debris (1)|[3] Artefact (1)",
                                           "[1] Nuclear (5)|[2] Debris (1)|[3] Artefact (1)"]
    assert sorted(p.name for p in dataset.iterdir()) == ["Artefact", "Debris", "Nuclear", "unlabelled"]
    counts = {d: len(list((dataset / d).iterdir())) for d in ("Nuclear", "Debris", "Artefact", "unlabelled")}
    assert counts == {"Nuclear": 5, "Debris": 1, "Artefact": 1, "unlabelled": len(source_before) - 7}
    labelled = {p.name for d in ("Nuclear", "Debris", "Artefact") for p in (dataset / d).iterdir()}
    assert labelled <= set(source_before)
    assert sorted(p.name for p in source.iterdir()) == source_before  # the source folder is untouched

    # ---- Ask the model: least certain first; A, Ctrl+Z (the image and the folder state come back), A, Enter
    classes = set(_get(live_server.api(f"models/{live_server.model}"))["classes"])
    confidences = json.loads(_lines(out, "ORDER")[0])
    assert len(confidences) == 24 and confidences == sorted(confidences)
    # the unreadable image is named by its own file name and counted; it stops nothing (issue 19)
    assert _lines(out, "ASK_STATUS")[0].startswith("24 of 25 images have a suggestion; 1 unreadable: broken.png."), out
    assert any(line.startswith("ok") for line in _lines(out, "SORT_TOGGLE"))
    assert len(_lines(out, "UNDO_ACCEPT")) == 1
    accepted = [re.match(r"(\S+) -> (\S+) ", line).groups() for line in _lines(out, "ACCEPTED")]
    assert len(accepted) == 4
    for name, cls in accepted:
        assert cls in classes
        assert (ask_dataset / cls / name).is_file()
        assert not (ask_dataset / "unlabelled" / name).exists()
    assert all(any(d.iterdir()) for d in ask_dataset.iterdir())  # no empty class folder left behind
    assert sum(1 for d in ask_dataset.iterdir() for _ in d.iterdir()) == 25
    assert len(list((ask_dataset / "unlabelled").iterdir())) == 21

    # ---- a failed command: one clear message, and no stale text in ImageJ's status bar
    status = _lines(out, "STATUS_AFTER_ERROR")[0]
    assert status.startswith("[] OmniClas:") and "no_such_model_xyz" in status, status

    # ---- Open report with no browser: the path of the report, copied on request
    report = Path(_lines(out, "REPORT_PATH")[0])
    assert str(report) in _lines(out, "REPORT_DIALOG")[0] and "No web browser could be opened" in _lines(out, "REPORT_DIALOG")[0]
    assert _lines(out, "REPORT_HEAD") == ["<!doctype html>"] and report.suffix == ".html"

    # ---- Classify Image; Models (rename, delete on the server)
    assert any(line.startswith("3 rows") for line in _lines(out, "CLASSIFIED"))
    assert rename_to in server_models and rename_from not in server_models and delete not in server_models
    assert live_server.model in server_models

    # ---- the Train wizard shows each process's defaults (GET /processes), only the options that apply
    assert _lines(out, "WIZARD_DEFAULT_PROCESS") == ["auto"]  # the CLI's default (AutoML)
    wizard = {line.split()[0]: _wizard(line) for line in _lines(out, "WIZARD")}
    by_id = {p["id"]: p for p in catalog["processes"]}
    for pid in PROCESSES:
        assert wizard[pid] == _shown_by_rules(catalog, by_id[pid], by_id[pid]["defaults"]), pid
    assert wizard["nd"]["backbones"] == "efficientnet_lite0,efficientnet_lite1,efficientnet_lite2"  # not one backbone
    for hidden in ("transforms", "threshold", "max_iterations", "selection", "frozen_epochs", "unfrozen_epochs"):
        assert hidden not in wizard["nd"]
    assert wizard["imdd"]["threshold"] == "0.8" and "threshold" not in wizard["imdd+selection=balanced"]
    assert wizard["imdd+head=finetune"]["frozen_epochs"] == "2" and wizard["imdd+head=finetune"]["unfrozen_epochs"] == "8"
    assert wizard["dd+click"]["backbones"] == "efficientnet_lite2"  # D.D. trains one backbone: the new tick replaces
    assert {"image_size": "0", "batch_size": "32", "seed": "0"}.items() <= wizard["dd+advanced"].items()
    assert "seed" not in wizard["dd+click"]  # advanced options stay folded away until asked for
    descriptions = dict(line.split(" ", 1) for line in _lines(out, "WIZARD_DESCRIPTION"))
    assert descriptions["imdd"] == f"I.M.D.D.: {by_id['imdd']['description']}"  # whole, not "a..."

    # ---- I.M.D.D. (fine-tuned, so that it runs long enough to cancel) sent what the CLI trains; cancelled, not
    # recorded; resumed and cancelled in Jobs
    job_id = _lines(out, "JOB_ID")[0]
    fiji_jvm.check_spec_is_cli_defaults(_get(live_server.api(f"jobs/{job_id}"))["spec"], train_dataset, "imdd",
                                        head="finetune")
    assert "{'" not in _lines(out, "PROGRESS_LOG")[0]  # no raw Python dict of the spec
    assert "Train Classifier" not in _lines(out, "RECORDER_AFTER_CANCEL")[0]
    # Cancel asks first, in the progress window and in the Jobs tab; "Keep training" keeps the job running
    for tag in ("CANCEL_CONFIRM", "JOBS_CANCEL_CONFIRM"):
        assert "Cancel training job" in _lines(out, tag)[0], tag
    assert _lines(out, "AFTER_KEEP")[0] == "running true"
    assert ": cancelled" in _lines(out, "JOBS_LINE")[0]
    assert _lines(out, "JOBS_RESUMED")[0].startswith(job_id)
    status = _lines(out, "STATUS_AFTER_RESUME")[0]  # followed like a new job: no stale "cancelled"
    assert f"job {job_id}: running" in status and "cancelled" not in status, status
    resumed = _get(live_server.api(f"jobs/{job_id}"))
    assert resumed["attempts"] >= 2  # Resume in the Jobs tab reached the server
    assert "resume requested" in _lines(out, "JOBS_LOG")[0] and "{'" not in _lines(out, "JOBS_LOG")[0]
    other = _lines(out, "JOBS_OTHER")[0]
    assert _lines(out, "JOBS_CANCELLED")[0].startswith(other) and ": cancelled" in _lines(out, "JOBS_CANCELLED")[0]
    assert _get(live_server.api(f"jobs/{other}"))["state"] == "cancelled"

    # ---- a short run to the end: per-class table with 3 decimals, Register beside it, one Recorder line
    fast = _lines(out, "FAST_JOB_ID")[0]
    assert _get(live_server.api(f"jobs/{fast}"))["state"] == "finished"
    assert sorted(j["id"] for j in new_jobs) == sorted([job_id, other, fast])
    for cell in _lines(out, "PER_CLASS")[0].split():
        assert re.fullmatch(r"\w+:\d\.\d{3}/\d\.\d{3}", cell), cell
    assert len(_lines(out, "REGISTER_DIALOG")) == 1  # (the harness fails when it covers the table)
    recorded = [line for line in _lines(out, "RECORDER")[0].split("|") if "Train Classifier" in line]
    assert len(recorded) == 1, recorded
    assert f'run("Train Classifier...", "dataset={train_dataset} process=nd backbones=efficientnet_lite0 head=linear' in recorded[0]
    assert "image_size=64" in recorded[0] and recorded[0].endswith('model_name=");')
    assert _lines(out, "REGISTERED") == [registered] and registered in server_models
    # ---- versions: a Version column with a choice of versions; Delete can take one version; names in use warn
    assert _lines(out, "VERSION_CELL")[0].startswith("2 of 2")
    assert _lines(out, "VERSION_CHOICES") == ["2,1"]
    assert _lines(out, "VERSION_PICKED")[0].startswith("1 of 2")
    assert f'version 1, or all its 2 versions' in _lines(out, "VERSION_DELETE")[0]
    assert _lines(out, "VERSIONS_LEFT") == ["[2]"]
    latest = int(_get(live_server.api(f"models/{live_server.model}"))["version"])
    in_use = (f'A model named "{live_server.model}" exists (version {latest}): registering makes version {latest + 1} '
              "of it.")
    assert in_use in _lines(out, "WIZARD_NAME_WARNING")[0]
    assert in_use in _lines(out, "REGISTER_NAME_WARNING")[0].replace("|", " ")
    assert _lines(out, "NAME_OFFERED") == [f"{live_server.model}_2"]
    assert _lines(out, "MODELS_TAB_REFRESHED") == [registered]
    for shot in ("10_ask_model", "11_ask_accepted", "12_classify_results", "13_models", "15_train_wizard",
                 "16_training_progress", "17_jobs_running", "18_register"):
        assert (artifacts / f"{shot}.png").stat().st_size > 1000
    assert sorted(p.name for p in source.iterdir()) == source_before


def _omniclas_pids(port: int) -> list[int]:
    """Processes whose command line is ``... serve ... --port <port> ...`` (the server Fiji started)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in args and b"--port" in args and str(port).encode() in args:
                pids.append(int(proc.name))
    return pids


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids += [int(k) for k in task.read_text().split()]
        except OSError:
            pass
    return kids


def _serve_takes_parent_pid() -> bool:
    """Whether this checkout's ``omniclas serve`` watches a parent process (``--parent-pid``)."""
    from live_server import server_env

    res = subprocess.run([sys.executable, "-m", "omniclas", "serve", "--help"], env=server_env(),
                         capture_output=True, text=True, timeout=120)
    return "--parent-pid" in res.stdout


def _start_server_from_fiji(xvfb, tmp_path, *extra: str):
    """The harness in mode=start_server: ImageJ with no server, Models... offers to start one (Start server).
    Returns (harness process, port, models root, dataset root, home, artifacts)."""
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc to find the server process")
    from live_server import server_env

    port = _closed_port()
    url = f"http://127.0.0.1:{port}"
    ij_home, home = _imagej_home(tmp_path, url)
    models, datasets = tmp_path / "models", tmp_path / "datasets"
    datasets.mkdir()
    artifacts = _artifacts("gui-server-start")
    cp = os.pathsep.join(str(p) for p in fiji_jvm.classpath() + [TEST_CLASSES])
    cmd = ["java", f"-Duser.home={home}", f"-Dplugins.dir={ij_home}", "-cp", cp, "org.omniclas.fiji.gui.GuiHarness",
           str(artifacts), "-", "-", "mode=start_server", f"url={url}", f"executable={sys.executable}",
           f"models_root={models}", f"dataset_root={datasets}", *extra]
    env = server_env(DISPLAY=xvfb)  # this checkout's omniclas for `python -m omniclas`; no OMNICLAS_* settings
    if os.environ.get("OMNICLAS_SCREENSHOT_DIR"):
        env["OMNICLAS_SCREENSHOT_DIR"] = str(Path(os.environ["OMNICLAS_SCREENSHOT_DIR"]).resolve())
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, port, models, datasets, home, artifacts


def _gone(pids: set[int], timeout: float) -> list[int]:
    """Waits until none of ``pids`` runs (zombies count as gone); returns those still running."""
    deadline = time.time() + timeout
    while True:
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()
                 and "Z" not in (Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1])]
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.2)


def test_fiji_starts_the_server_and_stops_it_on_quit(xvfb, harness, tmp_path):
    """No server answers: Models... offers to start one; Fiji runs a real ``python -m omniclas serve`` from the
    environment set in Server Settings, waits for /health, and File > Quit stops it (and its training worker)."""
    proc, port, models, datasets, home, artifacts = _start_server_from_fiji(xvfb, tmp_path)
    url = f"http://127.0.0.1:{port}"
    seen: set[int] = set()
    deadline = time.time() + 400
    while proc.poll() is None and time.time() < deadline:  # note the server and its worker while they run
        for pid in _omniclas_pids(port):
            seen.add(pid)
            seen.update(_children(pid))
        time.sleep(0.3)
    if proc.poll() is None:
        proc.kill()
    out = proc.stdout.read()
    (artifacts / "harness-output.txt").write_text(out)
    log = home / ".imagej" / "omniclas-server.log"
    assert proc.returncode == 0, out[-3000:] + "\n--- server log:\n" + (log.read_text() if log.exists() else "")
    assert "[harness] DONE" in out
    offer = _lines(out, "OFFER")[0]
    assert f"No OmniClas server answers at {url}" in offer and "Start one now?" in offer
    assert json.loads(_lines(out, "SERVER_STARTED")[0])["status"] == "ok"
    command = _lines(out, "SERVER_COMMAND")[0]
    # the server watches ImageJ's process (an omniclas older than --parent-pid is started again without it)
    watch = f" --parent-pid {proc.pid}" if _serve_takes_parent_pid() else ""
    assert command == (f"{sys.executable} -m omniclas serve --host 127.0.0.1 --port {port}{watch} --models-root {models} "
                       f"--dataset-root {datasets}")
    assert "OmniClas serving" in log.read_text()
    assert seen, "the server process was never seen"
    # ImageJ quit: the server answers no more, and neither it nor its worker process is left running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/health", timeout=5)
    alive = _gone(seen, 30)
    assert not alive, f"left running after ImageJ quit: {alive}"


def test_a_server_fiji_started_stops_when_fiji_is_killed(xvfb, harness, tmp_path):
    """SIGKILL runs no shutdown hook: the server stops because it watches ImageJ's process (--parent-pid)."""
    if not _serve_takes_parent_pid():
        pytest.skip("this omniclas serve has no --parent-pid yet")
    proc, port, *_ , artifacts = _start_server_from_fiji(xvfb, tmp_path, "then=kill")
    seen: set[int] = set()
    out = []
    try:
        deadline = time.time() + 400
        for line in proc.stdout:  # the harness prints WAITING_FOR_KILL once the server answers
            out.append(line)
            if "WAITING_FOR_KILL" in line or time.time() > deadline:
                break
        (artifacts / "harness-output.txt").write_text("".join(out))
        assert any("WAITING_FOR_KILL" in line for line in out), "".join(out)[-3000:]
        for pid in _omniclas_pids(port):
            seen.add(pid)
            seen.update(_children(pid))
        assert seen, "the server process was never seen"
    finally:
        proc.kill()  # SIGKILL
        proc.wait(30)
    alive = _gone(seen, 30)
    assert not alive, f"left running after ImageJ was killed: {alive}"


def _batch(xvfb: str, ij_home: Path, home: Path, macro: Path) -> subprocess.CompletedProcess:
    """``ImageJ -batch macro.ijm`` for real (a display, so a modal dialog would block the run)."""
    cmd = ["java", f"-Duser.home={home}", f"-Dplugins.dir={ij_home}", "-cp", str(fiji_jvm.ij_jar()), "ij.ImageJ",
           "-ijpath", str(ij_home), "-batch", str(macro)]
    try:
        return subprocess.run(cmd, env={**os.environ, "DISPLAY": xvfb}, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"ImageJ -batch did not finish (a dialog waiting for a click?):\n{err.stdout}")


def test_batch_mode_exit_codes(xvfb, harness, tmp_path, live_server, bbbc013):
    """``ImageJ -batch``: an OmniClas error goes to the output, opens no dialog, stops the macro and exits 1;
    a run that works exits 0 and its macro reads the results (nResults, getResultString, csv=)."""
    down = tmp_path / "down"
    ij_home, home = _imagej_home(down, f"http://127.0.0.1:{_closed_port()}")
    macro = down / "down.ijm"
    macro.write_text('print("before");\nrun("Models...", "action=list");\nprint("after");\n')
    res = _batch(xvfb, ij_home, home, macro)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "before" in res.stdout and "after" not in res.stdout
    assert "OmniClas error: Cannot reach the OmniClas server" in res.stdout
    assert "Exception" not in res.stdout + res.stderr

    up = tmp_path / "up"
    ij_home, home = _imagej_home(up, live_server.url)
    image = sorted((bbbc013 / "NuclearGFP").glob("*.png"))[0]
    csv = up / "results.csv"
    macro = up / "up.ijm"
    macro.write_text(f'open("{image}");\nrun("Classify Image", "model={live_server.model} csv=[{csv}]");\n'
                     'print("N=" + nResults);\nprint("CLASS=" + getResultString("class", 0));\n')
    res = _batch(xvfb, ij_home, home, macro)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "N=1" in res.stdout.splitlines()
    cls = next(line[6:] for line in res.stdout.splitlines() if line.startswith("CLASS="))
    assert cls in _get(live_server.api(f"models/{live_server.model}"))["classes"]
    assert csv.read_text().splitlines()[1].split(",")[2] == cls


def test_a_batch_csv_holds_its_own_runs_rows(xvfb, harness, tmp_path, live_server, bbbc013):
    """Issue 22 item 1: each run fills its own table. Two open images classified with csv=A, closed, then one
    image with csv=B: B holds one row, A two; the same for objects after images (no rows of the run before)."""
    from fields import compose_field, pick_crops

    ij_home, home = _imagej_home(tmp_path / "ij", live_server.url)
    first, second, third = sorted((bbbc013 / "NuclearGFP").glob("*.png"))[:3]
    field = compose_field(pick_crops(2, start=12), whole_crops=True)
    image, labels = field.write(tmp_path / "field")
    a, b, c = (tmp_path / f"{n}.csv" for n in "ABC")
    model = live_server.model
    macro = tmp_path / "runs.ijm"
    macro.write_text(f'open("{first}");\nopen("{second}");\n'
                     f'run("Classify Image", "model={model} all_open csv=[{a}]");\n'
                     'print("NA=" + nResults);\nclose("*");\n'
                     f'open("{third}");\nrun("Classify Image", "model={model} csv=[{b}]");\n'
                     'print("NB=" + nResults);\nclose("*");\n'
                     f'open("{labels}");\nopen("{image}");\n'
                     f'run("Classify Image", "model={model} objects={labels.name} padding=0 csv=[{c}]");\n'
                     'print("NC=" + nResults);\n')
    res = _batch(xvfb, ij_home, home, macro)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout.splitlines()
    assert "NA=2" in out and "NB=1" in out and f"NC={len(field.truth)}" in out, res.stdout
    rows = {name: list(csv_module.DictReader(path.open(newline="", encoding="utf-8")))
            for name, path in (("A", a), ("B", b), ("C", c))}
    assert [r["image"] for r in rows["A"]] == [first.name, second.name]
    assert [r["image"] for r in rows["B"]] == [third.name]
    assert len(rows["C"]) == len(field.truth) and {r["image"] for r in rows["C"]} == {image.name}


PALETTE = [(255, 0, 0), (0, 200, 0), (40, 120, 255)]  # the plugin's colours of the first three classes


def test_classify_rois_of_the_roi_manager(xvfb, harness, tmp_path, live_server):
    """Issue 16: ROIs in the ROI Manager (one per cell of a field of 12 real crops), Classify Image with Objects =
    ROI Manager: one row per ROI as the server answers for the same field and label image, each ROI outlined in
    its class's colour and renamed "class (confidence)", and the colours listed in the Log."""
    from fields import compose_field, pick_crops
    from test_fiji_objects import api_objects

    field = compose_field(pick_crops(4, start=12))
    image, labels = field.write(tmp_path / "field")
    artifacts = _artifacts("gui_objects")
    ij_home, home = _imagej_home(tmp_path, live_server.url)
    cp = os.pathsep.join(str(p) for p in fiji_jvm.classpath() + [TEST_CLASSES])
    cmd = ["java", f"-Duser.home={home}", f"-Dplugins.dir={ij_home}", f"-Dij.dir={ij_home}", "-cp", cp,
           "org.omniclas.fiji.gui.ObjectsGuiHarness", str(artifacts), str(image), str(labels),
           f"url={live_server.url}", f"model={live_server.model}"]
    try:
        out = subprocess.run(cmd, env=_harness_env(xvfb), capture_output=True, text=True, timeout=600).stdout
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"objects harness timed out:\n{(err.stdout or '')[-3000:]}")
    (artifacts / "harness-output.txt").write_text(out)
    assert "[harness] DONE" in out, out[-4000:]
    assert _lines(out, "ROIS") == ["12"] and _lines(out, "OBJECTS_CHOICE") == ["ROI Manager"]
    want = api_objects(live_server, image, labels)
    classes = _get(live_server.api(f"models/{live_server.model}"))["classes"]
    rows = [line.split() for line in _lines(out, "ROW")]
    assert [int(r[0]) for r in rows] == list(range(1, 13))
    assert [r[1] for r in rows] == [w["class"] for w in want]
    for r, w in zip(rows, want):
        assert float(r[2]) == pytest.approx(w["confidence"], abs=1e-3)
        assert (int(r[3]), int(r[4]), int(r[5])) == (w["bbox_x"], w["bbox_y"], w["area"])
    for tag in ("OVERLAY", "MANAGER"):
        shown = [line.split(" ", 1) for line in _lines(out, tag)]
        assert len(shown) == 12, tag
        for (colour, name), w in zip(shown, want):
            grey = (192, 192, 192)  # ObjectClassifier.UNSURE: light grey
            assert tuple(int(v) for v in colour.split(",")) == (grey if w["unsure"] else
                                                                PALETTE[classes.index(w["class"])]), (tag, name)
            cls, conf = name[:-1].split(" (")
            assert conf.endswith(", unsure") == w["unsure"]
            assert cls == w["class"] and float(conf.removesuffix(", unsure")) == pytest.approx(w["confidence"],
                                                                                             abs=0.006)
    log = _lines(out, "LOG")[0]
    assert f"OmniClas colours: {classes[0]} = red, {classes[1]} = green, {classes[2]} = blue" in log
    assert "field.png: 12 objects, 12 classified" in log
    assert (artifacts / "30_objects_classified.png").stat().st_size > 1000


def test_batch_classifies_the_rois_of_a_macro(xvfb, harness, tmp_path, live_server):
    """``ImageJ -batch``: a macro fills the ROI Manager and classifies its ROIs; nResults and the CSV have a row
    per ROI."""
    from fields import compose_field, pick_crops

    field = compose_field(pick_crops(2, start=12), whole_crops=True)
    image, _ = field.write(tmp_path / "field")
    boxes = []
    for n in sorted(field.truth):
        ys, xs = np.nonzero(field.labels == n)
        boxes.append(f"makeRectangle({xs.min()}, {ys.min()}, {xs.max() - xs.min() + 1}, {ys.max() - ys.min() + 1}); "
                     f'roiManager("add");')
    ij_home, home = _imagej_home(tmp_path / "ij", live_server.url)
    csv = tmp_path / "objects.csv"
    macro = tmp_path / "objects.ijm"
    macro.write_text(f'open("{image}");\n' + "\n".join(boxes) + "\n"
                     f'run("Classify Image", "model={live_server.model} objects=[ROI Manager] padding=0 csv=[{csv}]");\n'
                     'print("N=" + nResults);\nprint("OBJECT6=" + getResult("object", 5));\n')
    res = _batch(xvfb, ij_home, home, macro)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "N=6" in res.stdout.splitlines() and "OBJECT6=6" in res.stdout.splitlines()
    lines = csv.read_text().splitlines()
    assert len(lines) == 7 and lines[0].startswith("image,slice,object,x,y,bbox_x")
