"""What the command line shows: progress with an ETA from the planned work, and a summary that fits a terminal."""
import io
import os
import time
import re
from pathlib import Path

import pytest

from omniclas.cli import main
from omniclas.cli.output import print_summary
from omniclas.engine.progress import PRIOR_SECONDS, Reporter


def test_eta_comes_from_measured_throughput_over_the_whole_plan():
    r = Reporter()
    r.plan("features", 1000)
    r.plan("fit", 1_000_000)  # rows x classes of the head fits to come
    r.credit("features", 100, 2.0)  # 50 images/s measured
    # a fit is not measured yet: its prior (features say little of the machine: their cost is the images')
    assert r.seconds_left() == pytest.approx(900 / 50 + 1_000_000 * PRIOR_SECONDS["fit"])
    r.credit("compile", 1, 2 * PRIOR_SECONDS["compile"])  # a conversion twice as slow as its prior: a loaded machine
    assert r.seconds_left() == pytest.approx(900 / 50 + 1_000_000 * PRIOR_SECONDS["fit"] * 2)
    r.credit("fit", 200_000, 1.0)  # measured: 5e-6 s a unit
    assert r.seconds_left() == pytest.approx(900 / 50 + 800_000 * 5e-6)
    r.expect("features", 400)  # revised: the views chosen need fewer features than planned
    assert r.seconds_left() == pytest.approx(400 / 50 + 800_000 * 5e-6)


def test_work_on_helper_threads_counts_as_throughput_and_reports_from_the_owner_only(monkeypatch):
    """Two fits at once on two threads, 4 s of wall time: the rate is 4 s for both, not 8 s; the events come from
    the thread that made the reporter (a clock stands in for time, so the test does not depend on timing)."""
    import threading
    from omniclas.engine import progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    events = []
    r = Reporter(events.append)
    r.plan("fit", 4)
    inside, leave = threading.Barrier(3), threading.Event()

    def fit():
        with r.work("fit", 1):
            inside.wait()
            leave.wait()

    helpers = [threading.Thread(target=fit) for _ in range(2)]
    for t in helpers:
        t.start()
    inside.wait()  # both blocks open
    clock[0] += 4.0
    leave.set()
    for t in helpers:
        t.join()
    assert r.summary()["fit"] == {"units": 2.0, "seconds": 4.0}
    assert events == []  # helpers do not call back
    r()
    assert events[-1].eta_s == pytest.approx(2 * 2.0)


def test_a_cached_body_loading_fast_does_not_make_the_rest_look_cheaper():
    r = Reporter()
    r.plan("compile", 3)
    r.plan("fit", 1_000_000)
    r.credit("compile", 3, 1.5)  # three cached bodies loaded in 0.5 s each, against a prior of 5 s to convert one
    assert r.seconds_left() == pytest.approx(1_000_000 * PRIOR_SECONDS["fit"])  # the fit's prior, unscaled


def test_the_priors_follow_the_input_size_and_only_conversions_set_the_speed():
    from omniclas.engine.progress import features_prior

    r = Reporter()
    r.priors.update(features_prior(256))  # 4x the pixels of 128 px: 4x the prior of a feature
    assert r.rate("features") == pytest.approx(4 * PRIOR_SECONDS["features"])
    r.plan("student", 10)
    r.credit("vote", 1000, 1.0)  # a vote's cost varies tenfold with classes and chains: no measure of the machine
    assert r.rate("student") == pytest.approx(PRIOR_SECONDS["student"])
    r.credit("features", 100, 100 * 0.5 * r.priors["features"])  # small PNGs decode fast: no measure either
    assert r.rate("student") == pytest.approx(PRIOR_SECONDS["student"])
    r.credit("fit", 1e6, 1e6 * 3 * PRIOR_SECONDS["fit"])  # small fits are all fixed cost: no measure either
    assert r.rate("student") == pytest.approx(PRIOR_SECONDS["student"])
    r.credit("compile", 1, 2 * PRIOR_SECONDS["compile"])  # a conversion at half its prior's speed: a loaded machine
    assert r.rate("student") == pytest.approx(2 * PRIOR_SECONDS["student"])


def test_refits_are_expected_cheaper_than_first_fits_until_measured():
    from omniclas.engine.progress import RELATED

    r = Reporter()
    r.plan("refit", 1_000_000)
    r.credit("fit", 100_000, 0.8)  # round 0's first fits: 8e-6 s a unit
    share = RELATED["refit"][1]
    assert 0 < share < 1 and r.seconds_left() == pytest.approx(1_000_000 * 8e-6 * share)
    r.credit("refit", 100_000, 0.3)  # measured: its own rate from now on
    assert r.seconds_left() == pytest.approx(900_000 * 3e-6)


def test_fraction_never_decreases_when_a_rate_turns_out_slower():
    events = []
    r = Reporter(events.append)
    r.started -= 100.0  # the run has been going for 100 s
    r.plan("features", 100)
    r.credit("features", 50, 50.0)
    r()
    before = events[-1].fraction
    assert 0.6 < before < 0.7  # 100 s spent, 50 s left
    r.credit("features", 10, 60.0)  # much slower than measured so far: more time left than was shown
    r()
    assert events[-1].fraction == before and events[-1].eta_s > 50


def test_fraction_never_reaches_one_before_done():
    events = []
    r = Reporter(events.append)
    r(stage="loading")
    assert events[-1].fraction == 0.0 and events[-1].eta_s is None  # nothing planned or measured yet
    r.plan("features", 10)
    r.credit("features", 10, 1.0)
    r(stage="evaluating")
    assert events[-1].fraction <= 0.99 and events[-1].eta_s == 0.0
    r(stage="done")
    assert events[-1].fraction == 1.0


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_summary_fits_a_terminal_with_73_long_class_names(nd_run, monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=None: __import__("os").terminal_size((80, 24)))
    m = dict(nd_run.manifest)
    names = [f"Phenotype {i:02d} with a very long descriptive folder name" for i in range(73)]
    per_class = [dict(m["test"]["per_class"][0], **{"class": n}) for n in names]
    m.update(classes=names, test=dict(m["test"], per_class=per_class))
    out = Terminal()
    print_summary(m, nd_run.run_dir, out=out)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    classes_line = next(line for line in lines if line.strip().startswith("classes"))
    assert "73:" in classes_line and "more)" in classes_line
    table = [line for line in lines if "Phenotype" in line and re.search(r"\d\.\d{3}", line)]
    assert len(table) == 73 and len({re.search(r"\d\.\d{3}", line).start() for line in table}) == 1  # lined up


def test_a_bad_dataset_gives_one_line_not_a_traceback(tmp_path, capsys):
    (tmp_path / "only_class").mkdir()
    assert main(["train", str(tmp_path), "--process", "nd"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "only_class" in errors[0] and lines[-1] == errors[0]  # after the progress line
    assert not any("Traceback" in line for line in lines)


def test_demo_runs_the_whole_job_and_can_run_again(tmp_path, capsys):
    """README's first command: synthetic data (said so), AutoML, a report, predictions; a second run adds a run
    folder instead of failing on the first."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert "SYNTHETIC" in first and "AutoML tried 10 candidates" in first
    assert (out / "run" / "manifest.json").is_file() and (out / "run" / "report.html").is_file()
    assert "true: " in first
    # its last lines point to the README's section for Fiji, which exists
    assert first.rstrip().splitlines()[-2] == 'Next, with your own images in Fiji: README.md, "From your images to Fiji in five steps"'
    assert "\n## From your images to Fiji in five steps\n" in (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert main(["demo", "--out", str(out)]) == 0
    second = capsys.readouterr().out
    assert "SYNTHETIC" not in second  # the sample is reused, not written again
    assert (out / "run-2" / "manifest.json").is_file() and str(out / "run-2") in second


def test_predict_checks_the_csv_path_before_classifying(nd_run, small_bbbc013, tmp_path, capsys):
    image = next(small_bbbc013.rglob("*.png"))
    for csv in (tmp_path / "missing" / "out.csv", tmp_path):
        assert main(["predict", str(nd_run.run_dir), str(image), "--csv", str(csv)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and str(csv) in captured.err and "Traceback" not in captured.err
    csv = tmp_path / "out.csv"
    assert main(["predict", str(nd_run.run_dir), str(image), "--csv", str(csv)]) == 0
    assert csv.read_text().splitlines()[1].startswith(str(image))


def test_a_model_that_is_not_there_says_what_it_is_not(nd_run, small_bbbc013, tmp_path, capsys, monkeypatch):
    """`omniclas predict runs/none imgs`: neither a run folder nor a registered model, and the message says both."""
    monkeypatch.chdir(tmp_path)
    image = str(next(small_bbbc013.rglob("*.png")))
    root = ["--models-root", str(tmp_path / "models")]
    assert main(["register", str(nd_run.run_dir), "cells", *root]) == 0
    capsys.readouterr()

    def error(*argv) -> str:
        assert main([*argv, *root]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "invalid model name" not in err
        return err

    for argv in (["predict", "runs/none", image], ["info", "runs/none"]):
        err = error(*argv)
        assert "no run folder or registered model named 'runs/none'" in err
        assert str(tmp_path / "runs" / "none") in err and str(tmp_path / "models") in err
    assert "no run folder or registered model named 'ghost'" in error("predict", "ghost", image)
    assert f"{image} is a file, not a run folder" in error("info", image)
    for argv in (["export", "runs/none", "out.onnx"], ["delete", "runs/none"], ["rename", "runs/none", "x"],
                 ["evaluate", str(small_bbbc013), "--model", "runs/none"]):
        assert "no registered model named 'runs/none'" in error(*argv)
    assert "register it first: omniclas register" in error("export", str(nd_run.run_dir), "out.onnx")
    assert "has no version 9" in error("predict", "cells@9", image)  # a known model: the registry's own message


def test_ctrl_c_says_how_to_resume_with_a_command_that_pastes(small_bbbc013, tmp_path):
    """Issue 22 item 15: Ctrl-C (a real SIGINT) during `omniclas train` prints the exact, quoted command that goes
    on, and that command finishes the run; the report hint pastes too, even for a folder with a space and a ü."""
    import shlex
    import signal
    import subprocess
    import sys as _sys

    exe = str(Path(_sys.executable).with_name("omniclas"))
    out = tmp_path / "run ü 1"
    args = ["train", str(small_bbbc013), "--process", "nd", "--backbones", "efficientnet_lite0", "--image-size", "64"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([exe, *args, "--out", str(out)], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        deadline = time.monotonic() + 600
        while not (out / "checkpoint" / "state.json").is_file():  # resumable from here on
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be stopped"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt reached it")
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines[-2].endswith("interrupted; continue the run with:"), stderr
    again = shlex.split(lines[-1])
    assert again == ["omniclas", *args, "--out", str(out), "--resume"]
    done = subprocess.run([exe, *again[1:]], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (out / "manifest.json").is_file()
    hint = done.stdout.strip().splitlines()[-1]
    assert shlex.split(hint.split("open it in a browser: ", 1)[1].rstrip(")")) == ["omniclas", "info", str(out), "--open"]


def test_serve_on_a_busy_port_suggests_another(tmp_path, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--models-root", str(tmp_path / "m"),
                     "--jobs-dir", str(tmp_path / "jobs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and f"--port {port + 1}" in err, err
