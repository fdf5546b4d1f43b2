"""report.html: every section of a real run's report, images that decode, readable at 73 classes, small for
thousands of images, served by the server and opened by ``omniclas info --open``."""
from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from distilled_run import distilled_run
from live_server import DATA_ROOT, require_data, server_env

from omniclas.report.run_folder import test_metrics as metrics_of
from omniclas.data.imageio import read_image
from omniclas.registry import Registry
from omniclas.report.html import GALLERY_BUDGET, MISTAKES_MAX, NAV, REPORT_FILE, THUMB, render
from omniclas.server import create_app

API = "/api/v1"
SECTIONS = [i for i, _ in NAV]


class Page(HTMLParser):
    """What a reader sees: sections, their images and captions, the class table's rows, links and scripts."""

    def __init__(self, text: str):
        super().__init__()
        self.section = None
        self.images: dict[str, list[dict]] = {}
        self.sections: list[str] = []
        self.text: dict[str, str] = {}
        self.rows: list[list[str]] = []
        self.details: list[str] = []
        self.links, self.scripts, self.meta = [], [], []
        self._figure = None
        self._row = None
        self._cell = None
        self._in_table = False
        self._in_summary = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a["id"]
            self.sections.append(a["id"])
        elif tag == "img":
            entry = {"src": a["src"], "title": self._figure, "caption": ""}
            self.images.setdefault(self.section, []).append(entry)
        elif tag == "figure":
            self._figure = a.get("title")
        elif tag == "table" and a.get("id") == "class-table":
            self._in_table = True
        elif tag == "tr" and self._in_table:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = ""
        elif tag == "details":
            self.details.append("")
        elif tag == "summary" and self.details:
            self._in_summary = True
        elif tag in ("a", "link") and "href" in a:
            self.links.append(a["href"])
        elif tag == "script":
            self.scripts.append(a)
        elif tag == "meta":
            self.meta.append(a)

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        elif tag == "td" and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._in_table = False
        elif tag == "summary":
            self._in_summary = False
        elif tag == "section":
            self.section = None

    def handle_data(self, data):
        if self.section:
            self.text[self.section] = self.text.get(self.section, "") + data
        if self._cell is not None:
            self._cell += data
        if self._in_summary:
            self.details[-1] += data
        if self._figure is not None and self.images.get(self.section):
            self.images[self.section][-1]["caption"] += data


def decode(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    img = Image.open(io.BytesIO(base64.b64decode(src[len(prefix):])))
    img.load()
    assert img.format == "PNG" and img.width > 0 and img.height > 0
    return img


def assert_self_contained(text: str, page: Page) -> None:
    """Nothing is fetched when the page opens: no external source, link, style or script."""
    assert "http://" not in text and "https://" not in text
    assert all(href.startswith("#") for href in page.links), page.links
    assert all("src" not in s for s in page.scripts)
    assert any("Content-Security-Policy" in m.get("http-equiv", "") and "default-src 'none'" in m.get("content", "")
               for m in page.meta)
    for images in page.images.values():
        for img in images:
            decode(img["src"])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return distilled_run(tmp_path_factory)


def test_real_run_report_holds_every_section_and_its_images_decode(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text())
    text = (run_dir / REPORT_FILE).read_text(encoding="utf-8")  # written by the training run itself
    page = Page(text)
    assert page.sections == SECTIONS
    assert_self_contained(text, page)
    summary = page.text["summary"]
    acc = m["test"]["accuracy"]
    assert f"{acc:.3f} on {m['test']['images']} test images (95% interval" in summary and "Estimated accuracy" in summary
    assert "I.M.D.D." in summary and m["selection"] in summary
    assert all(b in summary for b in ("efficientnet_lite0", "efficientnet_lite1"))
    assert all(stage in summary for stage in m["stage_seconds"])
    # one plot of the rounds (four panels), one heatmap
    rounds_plot = decode(page.images["rounds"][0]["src"])
    assert rounds_plot.width >= 800 and len(page.images["rounds"]) == 1
    assert len(page.images["confusion"]) == 1
    # calibration: its line in the summary and report.md, one figure (reliability, accuracy against coverage)
    c = m["calibration"]
    line = f"unsure below confidence {c['threshold']:.3f}: on the {c['held_out_images']} held-out predictions"
    assert line in summary and f"temperature {c['temperature']:.2f}" in summary
    assert f"Calibration: {line}" in (run_dir / "report.md").read_text()
    (figure,) = page.images["calibration"]
    assert decode(figure["src"]).width >= 800
    # the class table: every class once, worst F1 first
    assert sorted(r[0] for r in page.rows) == sorted(m["classes"])
    f1 = [float(r[3]) for r in page.rows]
    assert f1 == sorted(f1)
    # the gallery: every automatic label the model trained on (few here), per class, lowest confidence first
    auto = m["auto_labelled"]
    assert auto, "the distillation run should have taken automatic labels"
    gallery = page.images["gallery"]
    assert sorted(img["title"] for img in gallery) == sorted(a["path"] for a in auto)
    by_path = {a["path"]: a for a in auto}
    for cls in {a["class"] for a in auto}:
        shown = [by_path[img["title"]] for img in gallery if by_path[img["title"]]["class"] == cls]
        assert [a["confidence"] for a in shown] == sorted(a["confidence"] for a in shown)
    first = gallery[0]
    a = by_path[first["title"]]
    assert f"conf {a['confidence']:.2f}" in first["caption"] and f"round {a['iteration']}" in first["caption"]
    # a thumbnail is that very image, shrunk
    thumb = np.asarray(decode(first["src"]).convert("RGB"))
    original = Image.fromarray(read_image(Path(m["dataset"]) / first["title"]))
    original.thumbnail((THUMB, THUMB), Image.BILINEAR)
    assert thumb.shape == np.asarray(original).shape
    assert np.abs(thumb.astype(int) - np.asarray(original).astype(int)).mean() < 3  # palette rounding only
    # the mistakes: each misclassified test image with its true and predicted class
    wrong = [p for p in m["test_predictions"] if p["true"] != p["predicted"]]
    shown = page.images.get("mistakes", [])
    assert sorted(img["title"] for img in shown) == sorted(p["path"] for p in wrong)
    for img in shown:
        p = next(p for p in wrong if p["path"] == img["title"])
        assert f"true {p['true']}" in img["caption"] and f"predicted {p['predicted']}" in img["caption"]
    if not wrong:
        assert "None: every one of the" in page.text["mistakes"]


def relabelled(m: dict, n_classes: int, n_test: int, n_auto: int) -> dict:
    """A run manifest re-labelled onto ``n_classes`` classes, its images the real ones of bbbc013 (labelled and
    unlabelled), every fourth test image misclassified."""
    root = require_data("bbbc013")
    images = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    classes = [f"phenotype {i:02d}" for i in range(n_classes)]
    classes[:4] = ["0", "G1 phase", "<b>bold</b> & co", "a class name far too long to fit on one axis label"]
    rng = np.random.default_rng(0)
    y_true = np.arange(n_test) % n_classes
    y_pred = y_true.copy()
    y_pred[::4] = (y_true[::4] + 1) % n_classes
    probs = np.full((n_test, n_classes), 0.1 / (n_classes - 1))
    probs[np.arange(n_test), y_pred] = 0.9
    out = dict(m, classes=classes, dataset=str(root), test=metrics_of(classes, y_true, probs))
    out["test_predictions"] = [{"path": images[i % len(images)], "true": classes[t], "predicted": classes[p],
                                "confidence": round(float(rng.uniform(0.4, 1)), 4)}
                               for i, (t, p) in enumerate(zip(y_true, y_pred))]
    out["auto_labelled"] = [{"path": images[i % len(images)], "label": int(c), "class": classes[c],
                             "confidence": round(float(rng.uniform(0.5, 1)), 4), "agreement": 1.0,
                             "iteration": i % 2} for i, c in enumerate(rng.integers(0, n_classes, n_auto))]
    return out


def test_report_stays_readable_at_73_classes(run_dir):
    m = relabelled(json.loads((run_dir / "manifest.json").read_text()), 73, n_test=146, n_auto=300)
    text = render(m)
    page = Page(text)
    assert page.sections == SECTIONS
    assert_self_contained(text, page)
    heatmap = decode(page.images["confusion"][0]["src"])
    assert heatmap.height / 73 >= 15 and heatmap.width / 73 >= 15  # every row and column keeps room for a label
    assert len(page.rows) == 73 and {r[0] for r in page.rows} == set(m["classes"])
    assert "<b>bold</b> & co" in {r[0] for r in page.rows} and "<b>bold</b>" not in text  # names are escaped
    assert len(page.details) == len({a["class"] for a in m["auto_labelled"]})
    assert "Largest confusions" in page.text["confusion"]


def test_report_of_thousands_of_images_stays_small(run_dir):
    m = relabelled(json.loads((run_dir / "manifest.json").read_text()), 73, n_test=1000, n_auto=5000)
    text = render(m)
    page = Page(text)
    assert len(text) < 5_000_000, len(text)
    assert len(page.images["gallery"]) <= GALLERY_BUDGET
    assert len(page.images["mistakes"]) == MISTAKES_MAX
    assert f"{250 - MISTAKES_MAX} more" in page.text["mistakes"]
    assert " more" in page.text["gallery"]
    for summary in page.details:  # each class says how many it holds, whatever is shown
        cls = summary.split(" (")[0]
        n = sum(a["class"] == cls for a in m["auto_labelled"])
        assert f"({n} automatic labels" in summary


def test_registry_and_server_serve_the_report(run_dir, tmp_path, live_server):
    models = tmp_path / "models"
    reg = Registry(models)
    reg.register(run_dir, "dist")
    folder = reg.resolve("dist")[2]
    assert REPORT_FILE in reg.read_manifest(folder)["files"]
    app = create_app({"MODELS_ROOT": str(models), "DATASET_ROOTS": [str(DATA_ROOT)], "JOBS_DIR": str(tmp_path / "j"),
                      "BF16": False})
    app.extensions["omniclas"].jobs.dispatcher.submit = lambda job: None  # no worker: the job stays queued
    try:
        c = app.test_client()
        r = c.get(f"{API}/models/dist/report")
        assert r.status_code == 200 and r.mimetype == "text/html"
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert r.data == (run_dir / REPORT_FILE).read_bytes()
        # a model without a training report: an imported ONNX classifier
        onnx = reg.export("dist", tmp_path / "dist.onnx")
        reg.register(onnx, "ext", framework="onnx")
        r = c.get(f"{API}/models/ext/report")
        assert r.status_code == 404 and "no training report" in r.get_json()["error"]["message"]
        # a job that has not finished has no report yet
        job = c.post(f"{API}/jobs", json={"dataset": "bbbc013", "process": "nd"}).get_json()
        r = c.get(f"{API}/jobs/{job['job_id']}/report")
        assert r.status_code == 409 and "queued" in r.get_json()["error"]["message"]
        assert c.get(f"{API}/jobs/{'0' * 12}/report").status_code == 404
        # a report changed after registration is refused like any registered file
        report = folder / REPORT_FILE
        report.chmod(0o644)
        report.write_text(report.read_text().replace("Summary", "Tampered"))
        r = c.get(f"{API}/models/dist/report")
        assert r.status_code == 409 and REPORT_FILE in r.get_json()["error"]["message"]
    finally:
        app.extensions["omniclas"].close()

    # a real server: the model registered from a run shows its report, and so does a finished job
    url = live_server.url
    r = requests.get(f"{url}{API}/models/{live_server.model}/report", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert Page(r.text).sections == SECTIONS
    spec = {"dataset": "bbbc013", "process": "nd", "backbones": ["efficientnet_lite0"], "image_size": 64}
    jid = requests.post(f"{url}{API}/jobs", json=spec, timeout=10).json()["job_id"]
    deadline = time.monotonic() + 300
    while (job := requests.get(f"{url}{API}/jobs/{jid}", timeout=10).json())["state"] not in (
            "finished", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(1)
    assert job["state"] == "finished", job
    r = requests.get(f"{url}{API}/jobs/{jid}/report", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = Page(r.text)
    assert page.sections == SECTIONS
    assert_self_contained(r.text, page)


def test_info_open_shows_the_report_in_a_browser(run_dir, tmp_path):
    """``omniclas info RUN --open`` hands the report to the browser ($BROWSER here: a script that notes the URL);
    a run from before reports existed gets one drawn into a temporary file, its folder left as it was."""
    noted = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import sys\nopen({str(noted)!r}, 'a').write(sys.argv[1] + '\\n')\n")
    env = server_env(BROWSER=f"{sys.executable} {browser} %s")
    cmd = [sys.executable, "-m", "omniclas", "info", str(run_dir), "--open"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert noted.read_text().split() == [(run_dir / REPORT_FILE).resolve().as_uri()]
    old = tmp_path / "old-run"
    shutil.copytree(run_dir, old)
    (old / REPORT_FILE).unlink()
    before = sorted(p.name for p in old.iterdir())
    out = subprocess.run(cmd[:4] + [str(old), "--open"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    opened = Path(noted.read_text().split()[-1].removeprefix("file://"))
    assert opened.name == REPORT_FILE and opened.parent != old and sorted(p.name for p in old.iterdir()) == before
    assert Page(opened.read_text()).sections == SECTIONS
    assert "No web browser" not in out.stdout
    # no browser at all (a server, a bare terminal): the path, and a plain word that nothing opened
    bare = {k: v for k, v in server_env().items() if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}
    bare["PATH"] = str(tmp_path / "no-programs")
    out = subprocess.run(cmd, env=bare, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"Report: {run_dir / REPORT_FILE}" in out.stdout and "No web browser could be started here" in out.stdout


@pytest.mark.parametrize("kept", [0, 3])
def test_accuracy_plot_keeps_its_legend_off_the_curves_and_the_kept_mark_inside(kept):
    """The legend sits outside the accuracy panel, and "kept" stays inside it, also when the last round is kept."""
    import matplotlib.pyplot as plt

    from omniclas.report.html import rounds_plot

    rounds = [{"iteration": i, "train_images": 30 + 10 * i, "automatic_labels": 10 * i, "labelled": 10,
               "estimate_accuracy": 0.8 + 0.03 * i, "test_accuracy": 0.78 + 0.03 * i,
               "estimate_by_backbone": {"a": {"accuracy": 0.79 + 0.03 * i}, "b": {"accuracy": 0.8 + 0.02 * i}}}
              for i in range(4)]
    fig = rounds_plot(rounds, kept)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = next(a for a in fig.axes if a.get_title() == "Accuracy")
    panel = ax.get_window_extent(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(panel), (legend, panel)
    (mark,) = [t for t in ax.texts if t.get_text().strip() == "kept"]
    box = mark.get_window_extent(renderer)
    assert panel.x0 <= box.x0 and box.x1 <= panel.x1 and panel.y0 <= box.y0 and box.y1 <= panel.y1, (box, panel)
    plt.close(fig)


def test_automl_candidates_in_the_report_the_markdown_and_the_summary(small_bbbc013, tmp_path, capsys):
    """AutoML's table, the same rows in report.html, report.md and the command line's summary."""
    from omniclas.cli import main
    from omniclas.config import TrainConfig
    from omniclas.engine import train

    run = train(TrainConfig(dataset=str(small_bbbc013), out_dir=str(tmp_path / "auto"), max_iterations=1,
                            backbones=("efficientnet_lite0",), image_size=64))
    m = run.manifest
    names = [c["name"] for c in m["automl"]["candidates"]]
    page = Page((run.run_dir / REPORT_FILE).read_text(encoding="utf-8"))
    automl = page.text["automl"]
    assert f"kept {m['automl']['chosen']}" in automl and all(name in automl for name in names)
    markdown = (run.run_dir / "report.md").read_text()
    assert all(f"| {name} |" in markdown for name in names) and m["automl"]["reason"] in markdown
    assert main(["info", str(run.run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"* {m['automl']['chosen']}" in out and "(chosen by AutoML)" in out
