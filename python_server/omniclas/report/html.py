"""``report.html``: a run's training report as one self-contained page (plots and thumbnails embedded as base64
PNG, a few lines of inline JavaScript, nothing fetched when it is opened).

Sections (ids): ``summary`` (the cross-validated estimate and the test accuracy, each with its 95% Wilson interval
and the images it rests on, a warning where the test set is too small to judge; process, selection rule, models,
wall time per stage), ``calibration`` (reliability diagram and accuracy against coverage, held-out and test),
``rounds`` (train images, automatic labels taken, cross-validated estimate and pseudo-label
agreement per round), ``confusion`` (a heatmap that stays readable at dozens of classes), ``classes`` (per-class
precision, recall and F1, sortable, worst F1 first), ``gallery`` (automatic labels per class, lowest confidence
first, with confidence, agreement and round) and ``mistakes`` (misclassified test images, true and predicted
class). Thumbnails are capped in number (:data:`GALLERY_BUDGET`, :data:`MISTAKES_MAX`), so a run of thousands of
images still gives a report of a few MB.
"""
from __future__ import annotations

import base64
import html
import io
import logging
import tempfile
from pathlib import Path

import numpy as np

from ..data.files import write_atomic
from ..errors import OmniClasError

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
THUMB = 96  # px, the longer side
GALLERY_BUDGET = 320  # automatic-label thumbnails in the whole report
GALLERY_PER_CLASS = (4, 24)  # at least, at most per class
MISTAKES_MAX = 80
NAV = (("summary", "Summary"), ("automl", "AutoML"), ("rounds", "Rounds"), ("calibration", "Calibration"),
       ("confusion", "Confusion matrix"), ("classes", "Classes"),
       ("gallery", "Automatic labels"), ("mistakes", "Misclassified test images"))


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


# ------------------------------------------------------------------ pictures
def _figure_png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return png_uri(buf.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display, ever: the report is written by servers and workers too
    import matplotlib.pyplot as plt

    return plt


class Thumbnails:
    """96 px PNG thumbnails of dataset images, read once each; ``None`` where an image is gone or unreadable."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, str | None] = {}

    def __call__(self, rel: str) -> str | None:
        if rel not in self._cache:
            self._cache[rel] = self._make(self.root / rel)
        return self._cache[rel]

    @staticmethod
    def _make(path: Path) -> str | None:
        from PIL import Image

        from ..data.imageio import read_image

        try:
            img = Image.fromarray(read_image(path))
        except (OmniClasError, OSError):
            return None
        img.thumbnail((THUMB, THUMB), Image.BILINEAR)
        buf = io.BytesIO()
        img.quantize(256).save(buf, "PNG", optimize=True)  # a palette: lossless for grey, 3x smaller for colour
        return png_uri(buf.getvalue())


def rounds_figure(iterations: list[dict], best: int | None) -> str:
    """Four panels over the rounds: train images, automatic labels taken, the estimate, pseudo-label agreement."""
    return _figure_png(rounds_plot(iterations, best))


def rounds_plot(iterations: list[dict], best: int | None):
    """The figure of :func:`rounds_figure`. The accuracy panel's legend sits below it, never over its curves, and
    the "kept" mark stays inside the panel whichever round was kept."""
    plt = _pyplot()
    rounds = [h["iteration"] for h in iterations]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.4))
    ax = axes[0][0]
    ax.plot(rounds, [h["train_images"] for h in iterations], "o-", color="#1f77b4", label="training images")
    ax.plot(rounds, [h["automatic_labels"] for h in iterations], "s--", color="#ff7f0e",
            label="of which automatic labels")
    ax.set_title("Training images")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    taken = [h.get("labelled") or 0 for h in iterations]
    ax.bar(rounds, taken, color="#2ca02c")
    ax.set_title("Automatic labels taken after the round")
    for r, t in zip(rounds, taken):
        ax.annotate(str(t), (r, t), ha="center", va="bottom", fontsize=8)
    ax = axes[1][0]
    ax.plot(rounds, [h.get("estimate_accuracy") for h in iterations], "o-", color="#d62728", lw=2,
            label="cross-validated estimate (chooses)")
    by_backbone = sorted({b for h in iterations for b in (h.get("estimate_by_backbone") or {})})
    if len(by_backbone) > 1:
        for b in by_backbone:
            ax.plot(rounds, [(h.get("estimate_by_backbone") or {}).get(b, {}).get("accuracy") for h in iterations],
                    ":", lw=1, label=b)
    if any(h.get("test_accuracy") is not None for h in iterations):
        ax.plot(rounds, [h.get("test_accuracy") for h in iterations], "x--", color="grey",
                label="test accuracy (reported only)")
    if best is not None:
        ax.axvline(best, color="black", lw=0.8, ls="--")
        last = best >= max(rounds)  # the mark's text goes on the side of the line that lies inside the panel
        ax.text(best, 0.03, "kept " if last else " kept", transform=ax.get_xaxis_transform(), fontsize=8,
                ha="right" if last else "left", va="bottom", clip_on=True)
    ax.set_title("Accuracy")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax = axes[1][1]
    agreement, confidence, minimum = [], [], []
    for h in iterations:
        sel = [s for s in h.get("selection") or [] if s.get("taken")]
        n = sum(s["taken"] for s in sel)
        agreement.append(sum(s["taken"] * s["mean_agreement"] for s in sel) / n if n else np.nan)
        confidence.append(sum(s["taken"] * s["mean_confidence"] for s in sel) / n if n else np.nan)
        minimum.append(min((s["min_confidence"] for s in sel), default=np.nan))
    if np.all(np.isnan(agreement)):
        ax.text(0.5, 0.5, "no automatic labels were taken", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.plot(rounds, agreement, "o-", color="#9467bd", label="agreement (share of models x views)")
        ax.plot(rounds, confidence, "s--", color="#8c564b", label="mean confidence")
        ax.plot(rounds, minimum, "v:", color="#7f7f7f", label="lowest confidence")
        ax.set_ylim(min(0.5, np.nanmin(minimum) - 0.05), 1.02)
        ax.legend(fontsize=7)
    ax.set_title("Automatic labels taken: agreement and confidence")
    for a in axes.flat:
        a.set_xlabel("round")
        a.set_xticks(rounds)
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def confusion_figure(classes: list[str], matrix) -> str:
    """A heatmap coloured by the share of each true class (rows), counts written in while they fit; its size
    grows with the number of classes so that every row keeps about 20 px and a label."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=float)
    n = len(classes)
    rows = m.sum(1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    side = float(np.clip(1.2 + 0.22 * n, 3.2, 18))
    font = float(np.clip(180 / max(n, 1), 7, 10))
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    labels = [c if len(c) <= 28 else c[:27] + "…" for c in classes]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
    ax.grid(which="minor", color="#dddddd", lw=0.4)
    ax.tick_params(which="minor", length=0)
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=font,
                            color="white" if share[i, j] > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="share of the true class")
    return _figure_png(fig)


# ------------------------------------------------------------------ sections
def _is_number(c) -> bool:
    try:
        float(str(c).split()[0])
        return True
    except (ValueError, IndexError):
        return False


def _table(header: list[str], rows: list[list]) -> str:
    """Cells are HTML already; numbers are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class=n>{c}</td>" if _is_number(c) else f"<td>{c}</td>" for c in row)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v, digits=3) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def summary_section(m: dict) -> str:
    from ..config import PROCESSES
    from . import headline

    process = PROCESSES.get(m.get("process"))
    warning = headline.small_test_set(m)
    acc_text = esc(headline.test_text(m)) + (f"<p class=warn>{esc(warning)}</p>" if warning else "")
    est = m.get("estimate") or {}
    rule = headline.selection_rule(m) or f"does not apply: {process.name if process else m.get('process')} uses " \
                                         f"no unlabelled images"
    counts = m.get("counts") or {}
    members = m.get("members") or [{"backbone": m.get("backbone"), "head": m.get("head")}]
    rows = [
        ("Estimated accuracy", f"<b>{esc(headline.estimate_text(m))}</b>"),
        ("Test accuracy", acc_text),
        ("Dataset", f"{esc(Path(str(m.get('dataset'))).name)} <span class=dim>({esc(m.get('dataset'))})</span>"),
        ("Process", esc(f"{process.name} ({m['process']}): {process.description}" if process else m.get("process"))),
        ("Selection rule", esc(rule)),
        ("Models", esc(", ".join(f"{x['backbone']} ({x.get('head') or '-'} head)" for x in members))
         + esc(f"; input {m['input_size'][0]} px; probabilities averaged over the views "
               f"{', '.join(m.get('views') or ['original'])}")),
        ("Rounds", esc(headline.rounds_text(m) + f" (rounds judged by {est.get('method', '-')}"
                       + (f", {est['folds']} folds)" if est.get("folds") else ")"))),
        ("Images", esc(", ".join(f"{v} {k}" for k, v in counts.items()))),
        ("Automatic labels", esc(headline.automatic_labels_text(m))),
        ("Calibration", esc(headline.unsure_text(m)) + ' <a href="#calibration">(figure)</a>'),
        ("Runtime", esc(f"{(m.get('runtime') or {}).get('name', '-')} {(m.get('runtime') or {}).get('precision', '')}"
                        f"; seed {m.get('seed')}; created {m.get('created', '-')}")),
    ]
    out = ['<section id="summary"><h2>Summary</h2>', "<table class=kv>"]
    out += [f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows]
    out.append("</table>")
    stages = m.get("stage_seconds") or {}
    total = max(sum(stages.values()), 1e-9)
    out.append(f"<h3>Wall time: {_fmt(m.get('wall_time_s'), 1)} s</h3>")
    out.append(_table(["stage", "seconds", "share"], [
        [esc(k), f"{v:.1f}", f"<span class=bar style='width:{100 * v / total:.0f}px'></span> {100 * v / total:.0f}%"]
        for k, v in stages.items()]))
    candidates = m.get("candidates") or []
    if candidates:
        out.append("<h3>Candidate models</h3>")
        out.append(_table(["backbone", "head", "test accuracy", "kept"], [
            [esc(c.get("backbone")), esc(c.get("kind", "-")), _fmt(c.get("test_accuracy")), "yes" if c.get("kept")
             else "no"] for c in candidates]))
    trials = (m.get("view_plan") or {}).get("trials") if isinstance(m.get("view_plan"), dict) else None
    if trials:
        out.append("<h3>Views tried (held-out evidence)</h3>")
        out.append(_table(["view", "kept", "accuracy without", "accuracy with", "log loss without", "log loss with"], [
            [esc(t["view"]), "yes" if t.get("kept") else "no", _fmt(t.get("accuracy_without")),
             _fmt(t.get("accuracy_with")), _fmt(t.get("log_loss_without")), _fmt(t.get("log_loss_with"))]
            for t in trials]))
    if m.get("skipped_files"):
        out.append("<h3>Unreadable files (skipped)</h3><ul>"
                   + "".join(f"<li>{esc(s.get('reason', s))}</li>" for s in m["skipped_files"]) + "</ul>")
    out.append("</section>")
    return "\n".join(out)


def automl_section(m: dict) -> str:
    from .automl import HEADER, candidate_rows, choice_text
    from .headline import student_text

    rows = candidate_rows(m)
    student = f"<p>Student: {esc(student_text(m))}.</p>" if m.get("student") else ""
    if not rows:
        return ('<section id="automl"><h2>AutoML</h2><p>This run trained the process it was asked for; with '
                '<code>--process auto</code> AutoML would have compared the processes and rules.</p>'
                + student + '</section>')
    return (f'<section id="automl"><h2>AutoML</h2><p>{esc(choice_text(m))}.</p>'
            + _table(HEADER, [[esc(c) for c in row] for row in rows]) + student + "</section>")


def rounds_section(m: dict) -> str:
    iterations = m.get("iterations") or []
    out = ['<section id="rounds"><h2>Rounds</h2>']
    if not iterations:
        return out[0] + "<p>No rounds were recorded.</p></section>"
    out.append(f'<img class=plot alt="per-round plots" src="{rounds_figure(iterations, m.get("best_iteration"))}">')
    out.append(_table(["round", "training images", "automatic labels", "estimate", "test (reported only)",
                       "taken after the round", "still unlabelled"], [
        [str(h["iteration"]) + (" (kept)" if h["iteration"] == m.get("best_iteration") else ""), h["train_images"],
         h["automatic_labels"], _fmt(h.get("estimate_accuracy")), _fmt(h.get("test_accuracy")),
         h.get("labelled", "-"), h.get("remaining_unlabelled", "-")] for h in iterations]))
    return "\n".join(out) + "</section>"


def calibration_section(m: dict) -> str:
    from .calibration_plot import calibration_plot, evidence

    sets = evidence(m)
    out = '<section id="calibration"><h2>Calibration</h2>'
    if not (m.get("calibration") or {}).get("held_out"):
        return out + "<p>This run has no held-out predictions to show calibration on.</p></section>"
    fig = calibration_plot(sets, m["calibration"].get("threshold"), _pyplot())
    return (out + "<p>Left: how often predictions are right against how confident they are (on the diagonal, "
            "confidence means what it says). Right: accuracy of the most confident share of the images; "
            'predictions below the unsure threshold are marked unsure.</p><img class=plot alt="calibration" '
            f'src="{_figure_png(fig)}"></section>')


def confusion_section(m: dict) -> str:
    from .markdown import top_confusions

    test = m.get("test") or {}
    matrix = test.get("confusion_matrix")
    out = ['<section id="confusion"><h2>Confusion matrix</h2>']
    if not matrix or not test.get("images"):
        return out[0] + "<p>No test images, so no confusion matrix.</p></section>"
    out.append("<p>Rows: true class; columns: predicted class; colour: share of the row's test images.</p>")
    # shown at its own size (scrolling when wide): shrunk to the page, dozens of class names would blur
    out.append(f'<div class=scroll><img class=full alt="confusion matrix" '
               f'src="{confusion_figure(m["classes"], matrix)}"></div>')
    worst = top_confusions(m["classes"], matrix)
    if worst:
        out.append("<h3>Largest confusions</h3>")
        out.append(_table(["true class", "predicted class", "test images"],
                          [[esc(a), esc(b), n] for a, b, n in worst]))
    return "\n".join(out) + "</section>"


SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
    var up = th.dataset.dir !== 'asc'; th.dataset.dir = up ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def classes_section(m: dict) -> str:
    per_class = (m.get("test") or {}).get("per_class") or []
    auto: dict[str, list[float]] = {}
    for a in m.get("auto_labelled") or []:
        auto.setdefault(a["class"], []).append(a["confidence"])
    rows = sorted(per_class, key=lambda r: (r["f1"], r["class"]))
    body = "".join(
        f"<tr><td>{esc(r['class'])}</td><td class=n>{r['precision']:.3f}</td><td class=n>{r['recall']:.3f}</td>"
        f"<td class=n>{r['f1']:.3f}</td><td class=n>{r['support']}</td>"
        f"<td class=n>{len(auto.get(r['class'], []))}</td>"
        f"<td class=n>{_fmt(float(np.mean(auto[r['class']])) if auto.get(r['class']) else None)}</td></tr>"
        for r in rows)
    head = "".join(f"<th title='click to sort'>{h}</th>" for h in (
        "class", "precision", "recall", "F1", "test images", "automatic labels", "their mean confidence"))
    return ('<section id="classes"><h2>Classes</h2><p>Worst F1 first; click a column to sort by it.</p>'
            f"<table class=sortable id=class-table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></section>")


def _tile(uri: str | None, caption: str, title: str) -> str:
    img = f'<img src="{uri}" alt="{esc(title)}">' if uri else "<div class=missing>image not found</div>"
    return f'<figure title="{esc(title)}">{img}<figcaption>{caption}</figcaption></figure>'


def gallery_section(m: dict, thumbs: Thumbnails) -> str:
    auto = m.get("auto_labelled") or []
    out = ['<section id="gallery"><h2>Automatic labels</h2>']
    if not auto:
        return out[0] + "<p>The saved model was trained on manual labels only.</p></section>"
    by_class: dict[str, list[dict]] = {c: [] for c in m["classes"]}
    for a in auto:
        by_class.setdefault(a["class"], []).append(a)
    labelled = [c for c, items in by_class.items() if items]
    lo, hi = GALLERY_PER_CLASS
    per_class = int(np.clip(GALLERY_BUDGET // max(len(labelled), 1), lo, hi))
    out.append(f"<p>The images the machine labelled and trained on, per class, lowest confidence first (up to "
               f"{per_class} per class; every one is in manifest.json). Confidence: mean probability of the class; "
               f"agreement: share of models x views that voted for it; round: when it was taken.</p>")
    for cls in labelled:
        items = sorted(by_class[cls], key=lambda a: (a["confidence"], a["path"]))
        tiles = "".join(_tile(thumbs(a["path"]),
                              f"conf {a['confidence']:.2f} &middot; agr {a.get('agreement', 0):.2f}<br>"
                              f"round {a.get('iteration', '-')}", a["path"]) for a in items[:per_class])
        more = f"<p class=more>{len(items) - per_class} more</p>" if len(items) > per_class else ""
        opened = " open" if len(labelled) <= 12 else ""
        out.append(f"<details class=cls{opened}><summary>{esc(cls)} <span class=dim>({len(items)} automatic "
                   f"labels, lowest confidence {items[0]['confidence']:.2f})</span></summary>"
                   f"<div class=grid>{tiles}</div>{more}</details>")
    return "\n".join(out) + "</section>"


def mistakes_section(m: dict, thumbs: Thumbnails) -> str:
    wrong = [p for p in m.get("test_predictions") or [] if p["true"] != p["predicted"]]
    out = ['<section id="mistakes"><h2>Misclassified test images</h2>']
    if not wrong:
        n = (m.get("test") or {}).get("images") or 0
        return out[0] + f"<p>None: every one of the {n} test images was classified right.</p></section>"
    wrong.sort(key=lambda p: (-p["confidence"], p["path"]))
    out.append(f"<p>{len(wrong)} of {len(m.get('test_predictions') or [])} test images, most confident mistakes "
               f"first.</p>")
    tiles = "".join(_tile(thumbs(p["path"]), f"true <b>{esc(p['true'])}</b><br>predicted <b>{esc(p['predicted'])}"
                                              f"</b> ({p['confidence']:.2f})", p["path"]) for p in wrong[:MISTAKES_MAX])
    out.append(f"<div class=grid>{tiles}</div>")
    if len(wrong) > MISTAKES_MAX:
        out.append(f"<p class=more>{len(wrong) - MISTAKES_MAX} more (all in manifest.json, test_predictions)</p>")
    return "\n".join(out) + "</section>"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222}
header{background:#20466b;color:white;padding:14px 24px}header h1{margin:0;font-size:22px}
nav{position:sticky;top:0;background:#eef2f6;padding:6px 24px;border-bottom:1px solid #ccd}
nav a{margin-right:16px;color:#20466b;text-decoration:none;font-weight:600}
main{max-width:1280px;padding:0 24px 40px}
h2{border-bottom:2px solid #20466b;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d5d9de;padding:3px 8px;text-align:left}
th{background:#f3f5f7}table.kv th{width:150px}td.n{text-align:right}
table.sortable th{cursor:pointer}table.sortable th:hover{background:#e0e8f0}
.dim{color:#777;font-weight:normal}.warn{color:#8a4b00;background:#fff4e0;padding:4px 8px;margin:4px 0}.bar{display:inline-block;height:10px;background:#4a7fb0}
img.plot{max-width:100%;border:1px solid #eee}.scroll{overflow-x:auto}img.full{max-width:none}
.grid{display:flex;flex-wrap:wrap;gap:6px}
figure{margin:0;width:112px;text-align:center;font-size:11px}
figure img,.missing{width:96px;height:96px;object-fit:contain;background:#111;image-rendering:pixelated}
.missing{display:flex;align-items:center;justify-content:center;color:#bbb;margin:auto}
details.cls{margin:6px 0}details.cls summary{cursor:pointer;font-weight:600}.more{color:#555;font-style:italic}
"""


def render(m: dict) -> str:
    """The whole page for run manifest ``m``; images are read from ``m["dataset"]``."""
    version = (m.get("versions") or {}).get("omniclas", "")  # the version that trained and wrote the run
    thumbs = Thumbnails(Path(str(m.get("dataset") or "")))
    title = f"OmniClas run: {Path(str(m.get('dataset'))).name}, process {m.get('process')}"
    parts = [summary_section(m), automl_section(m), rounds_section(m), calibration_section(m), confusion_section(m),
             classes_section(m),
             gallery_section(m, thumbs), mistakes_section(m, thumbs)]
    nav = "".join(f'<a href="#{i}">{esc(t)}</a>' for i, t in NAV)
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
            f"<style>{CSS}</style></head><body><header><h1>{esc(title)}</h1>"
            f"<div>{len(m['classes'])} classes &middot; written by OmniClas {esc(version)}</div></header>"
            f"<nav>{nav}</nav><main>{''.join(parts)}<p class=dim>Everything shown here, and more, is in "
            f"manifest.json beside this file.</p></main><script>{SORT_JS}</script></body></html>\n")


def write_report(out_dir: Path, manifest: dict) -> Path | None:
    """Write ``report.html`` into a run folder. A report that cannot be drawn is logged, never fatal: the run's
    model and manifest are already saved."""
    try:
        page = render(manifest)
    except Exception:
        log.exception("could not write %s", Path(out_dir) / REPORT_FILE)
        return None
    path = Path(out_dir) / REPORT_FILE
    write_atomic(path, page.encode("utf-8"))
    return path


def open_report(folder) -> tuple[Path, bool]:
    """Open a run or model folder's report in the browser; returns the file and whether a browser took it. A run
    from before reports existed gets one drawn into a temporary file: the folder itself is never written."""
    import json
    import webbrowser

    folder = Path(folder)
    path = folder / REPORT_FILE
    if not path.is_file():
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise OmniClasError(f"{folder}: no report.html and no readable manifest.json ({err})",
                                field="model") from None
        if "iterations" not in manifest or "test" not in manifest:
            raise OmniClasError(f"{folder}: not a model trained by OmniClas, so there is no training report",
                                field="model")
        path = Path(tempfile.mkdtemp(prefix="omniclas-report-")) / REPORT_FILE
        write_atomic(path, render(manifest).encode("utf-8"))
    return path, bool(webbrowser.open(path.resolve().as_uri()))
