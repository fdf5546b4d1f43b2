"""GUI test of Label Images' "Label next" view (issue 25) under Xvfb (marked ``gui``): a real ImageJ drives the
plugin against the live server's ``POST /suggest``. The Java side is
fiji_plugin/src/test/java/org/omniclas/fiji/gui/LabelNextGuiHarness.java; the fixtures come from test_fiji_gui.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import fiji_jvm
from test_fiji_gui import TEST_CLASSES, _artifacts, _get, _harness_env, _imagej_home, _lines, harness, xvfb  # noqa: F401

pytestmark = pytest.mark.gui


def test_label_next_files_a_suggested_image_and_retrains(xvfb, harness, tmp_path, live_server, bbbc013):  # noqa: F811
    """A fresh dataset (no model yet: 4 labelled images per class, 30 unlabelled) under the server's dataset root:
    Label next shows the cold-start batch with a reason under each image; key 1 files the first one, which leaves
    the batch; Retrain quickly trains N.D. and the batch comes back with the model's guesses."""
    artifacts = _artifacts("gui_label_next")
    ij_home, home = _imagej_home(tmp_path, live_server.url)
    source = tmp_path / "source"
    source.mkdir()
    for f in sorted((bbbc013 / "unlabelled").glob("*.png"))[:30]:
        shutil.copy(f, source / f.name)
    dataset = Path(str(live_server.dataset_root)).resolve() / f"fiji_next_{uuid.uuid4().hex[:6]}"
    for cls in ("NoGFP", "NuclearGFP"):
        (dataset / cls).mkdir(parents=True)
        for f in sorted((bbbc013 / cls).glob("*.png"))[:4]:
            shutil.copy(f, dataset / cls / f.name)
    jobs_before = {j["id"] for j in _get(live_server.api("jobs"))["jobs"]}
    cp = os.pathsep.join(str(p) for p in fiji_jvm.classpath() + [TEST_CLASSES])
    cmd = ["java", f"-Duser.home={home}", f"-Dplugins.dir={ij_home}", f"-Dij.dir={ij_home}", "-cp", cp,
           "org.omniclas.fiji.gui.LabelNextGuiHarness", str(artifacts), str(source), str(dataset), "retrain=1"]
    try:
        try:
            proc = subprocess.run(cmd, env=_harness_env(xvfb), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=1200)
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"Label next harness timed out:\n{(err.stdout or '')[-3000:]}")
        out = proc.stdout
        (artifacts / "harness-output.txt").write_text(out)
        assert proc.returncode == 0, out[-4000:]
        unlabelled_after = {p.name for p in (dataset / "unlabelled").iterdir()}
        key1 = _lines(out, "KEY1")[0]
        filed_dir = {p.name for p in (dataset / key1).iterdir()}
        jobs_after = {j["id"] for j in _get(live_server.api("jobs"))["jobs"]}
        accepted_into = {d.name: {p.name for p in d.iterdir()} for d in dataset.iterdir() if d.is_dir()}
    finally:
        shutil.rmtree(dataset, ignore_errors=True)
    assert "[harness] DONE" in out

    # the cold-start batch: images of the pool, each with the reason it was chosen (no model: no guess)
    batch = int(_lines(out, "BATCH")[0])
    shown = [line.split(" | ", 1) for line in _lines(out, "SHOWN")]
    assert batch == len(shown) == 24  # the plugin asks for 24; the pool has 30
    assert {name for name, _ in shown} <= {f.name for f in source.iterdir()}
    assert all(reason and reason != "None" and not reason.startswith("? ") for _, reason in shown), shown
    status = _lines(out, "STATUS")[0]  # what chose the batch, then the selected image's reason in full
    assert status.startswith(f"Label next: {batch} of {batch} to file (cold start") and f"#1 {shown[0][0]}: " in status

    # key 1 filed the first suggested image: on disk in key 1's class, out of unlabelled/ and out of the batch
    first = shown[0][0]
    assert _lines(out, "FILED") == [f"{first} -> {key1}"]
    assert first in filed_dir and first not in unlabelled_after
    assert int(_lines(out, "AFTER")[0]) == batch - 1
    assert _lines(out, "SELECTED_NOW")[0] == shown[1][0]  # the next one is selected, ready for its key

    # Retrain quickly: refused while a class folder is empty, in the plugin's words, before any job is sent; then a
    # progress window, and the batch from the new model, each image with a guess
    refused = _lines(out, "REFUSED")[0]
    assert refused.startswith(f"Retrain quickly: {dataset} cannot be trained on yet:|- Class folder \"Debris\" is empty")
    assert len(jobs_after - jobs_before) == 1  # the refused retrain sent nothing
    assert _lines(out, "PROGRESS_WINDOW") == ["true"]
    job = _lines(out, "JOB")[0]
    spec = _get(live_server.api(f"jobs/{job}"))["spec"]
    assert spec["process"] == "nd" and Path(spec["dataset"]).resolve() == dataset
    guesses = [line.split(" | ", 1) for line in _lines(out, "GUESS")]
    assert 0 < len(guesses) <= 24 and first not in {name for name, _ in guesses}
    for name, text in guesses:
        cls, pct = text[2:].rsplit(" ", 1)
        assert text.startswith("? ") and cls in {"NoGFP", "NuclearGFP"} and pct.endswith("%"), text
    assert "(cold start" not in _lines(out, "RETRAINED_STATUS")[0]

    # A accepts the guess shown under the selected image: filed into that class, out of the batch
    name, cls = _lines(out, "ACCEPTED")[0].split(" -> ")
    assert dict(guesses)[name].startswith(f"? {cls} ") and name in accepted_into[cls]

