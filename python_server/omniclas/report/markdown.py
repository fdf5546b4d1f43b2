"""report.md: the run's report in plain text, for reading anywhere (report.html has the pictures)."""
from __future__ import annotations

from pathlib import Path

from . import headline
from .automl import HEADER, candidate_rows, choice_text

MATRIX_MAX_CLASSES = 15  # above this a confusion matrix in text is unreadable: list the largest confusions


def top_confusions(classes, matrix, limit: int = 15) -> list[tuple[str, str, int]]:
    """(true class, predicted class, count) of the off-diagonal cells, largest first."""
    cells = [(classes[i], classes[j], int(v)) for i, row in enumerate(matrix) for j, v in enumerate(row)
             if i != j and v]
    return sorted(cells, key=lambda c: -c[2])[:limit]


def render_report(m: dict) -> str:
    t = m["test"]
    est = m.get("estimate") or {}
    warning = headline.small_test_set(m)
    lines = [f"# OmniClas run: {Path(m['dataset']).name}, process {m['process']}", "",
             f"- **Estimated accuracy: {headline.estimate_text(m)}**",
             f"- Test accuracy: {headline.test_text(m)}" + (f". **{warning}**" if warning else ""),
             f"- Model: {m['backbone']} ({m['head']} head), input {m['input_size'][0]} px, "
             f"views averaged: {', '.join(m.get('views', ['original']))}; "
             f"{len(m['classes'])} classes (listed below)",
             f"- Rounds judged by: {est.get('method', '-')}"
             + (f" ({est['folds']} folds of the manual labels)" if est.get("folds") else ""),
             f"- Rounds: {headline.rounds_text(m)}",
             f"- Automatic labels: {headline.automatic_labels_text(m)}",
             *([f"- Student: {headline.student_text(m)}"] if m.get("student") else []),
             f"- Calibration: {headline.unsure_text(m)}",
             f"- Images: {m['counts']['train']} train, {m['counts']['valid']} validation, {m['counts']['test']} test, "
             f"{m['counts']['unlabelled']} unlabelled, {m['counts']['skipped']} unreadable (skipped)",
             f"- Runtime: {(m.get('runtime') or {}).get('name', '-')} {(m.get('runtime') or {}).get('precision', '')}; "
             f"wall time {m['wall_time_s']} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in m["stage_seconds"].items())
             + f"); seed {m['seed']}", "",
             "| round | train images | automatic labels | estimated accuracy | newly labelled |", "|---|---|---|---|---|"]
    for h in m["iterations"]:
        lines.append(f"| {h['iteration']} | {h['train_images']} | {h['automatic_labels']} | "
                     f"{h.get('estimate_accuracy', 0):.3f} | {h.get('labelled', '-')} |")
    rows = candidate_rows(m)
    if rows:
        lines += ["", choice_text(m) + ".", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "| class | precision | recall | f1 | test images |", "|---|---|---|---|---|"]
    for c in t["per_class"]:
        lines.append(f"| {c['class']} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    if len(m["classes"]) <= MATRIX_MAX_CLASSES:
        lines += ["", "Confusion matrix (rows: true class, columns: predicted), in the class order above:", ""]
        lines += ["    " + " ".join(f"{v:4d}" for v in row) for row in t["confusion_matrix"]]
    else:
        lines += ["", "Largest confusions (true class -> predicted class: images):", ""]
        lines += [f"- {a} -> {b}: {n}" for a, b, n in top_confusions(m["classes"], t["confusion_matrix"])]
    if m["skipped_files"]:
        lines += ["", "Unreadable files (skipped):", ""] + [f"- {s['reason']}" for s in m["skipped_files"]]
    return "\n".join(lines) + "\n"
