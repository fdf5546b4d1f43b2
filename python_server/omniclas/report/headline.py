"""The figures a run's summary leads with, worded once for the command line, report.md, report.html and the job
result: the cross-validated estimate with its 95% interval, the test accuracy with the number of test images it
rests on, and a plain warning when the test set is too small to judge a model (docs/report.md).

A test set is too small to judge when it has fewer than :data:`MIN_TEST_PER_CLASS` images per class on average,
or when one class has fewer than :data:`MIN_TEST_IN_A_CLASS`: at 10 images per class one image moves a class's
recall by 0.1, and below 5 a class's recall can take only a handful of values, so the figure says more about
which images were drawn than about the model.
"""
from __future__ import annotations

from .automl import choice_text
from .measures import wilson_interval

MIN_TEST_PER_CLASS = 10  # mean test images per class
MIN_TEST_IN_A_CLASS = 5  # test images of the class with the fewest
FIRM_HALF_WIDTH = 0.05  # a test accuracy whose 95% interval is this narrow or narrower judges the model overall


def interval(accuracy: float | None, n: int) -> tuple[float, float] | None:
    """The 95% Wilson interval of an accuracy measured on ``n`` images (None without images)."""
    if accuracy is None or not n:
        return None
    return wilson_interval(round(accuracy * n), n)


def kept_round(m: dict) -> dict:
    rounds = m.get("iterations") or []
    best = m.get("best_iteration")
    return next((r for r in rounds if r.get("iteration") == best), rounds[-1] if rounds else {})


def estimate(m: dict) -> dict:
    """``{"accuracy", "images", "interval", "method", "round"}`` of the round kept (``images``, ``interval``: None
    for a run that did not record how many held-out images its estimate rests on)."""
    r = kept_round(m)
    method = m.get("estimate") or {}
    n = r.get("estimate_images")
    name = (f"{method['folds']}-fold cross-validation" if method.get("folds")
            else method.get("method") or "the validation split")
    return {"accuracy": r.get("estimate_accuracy"), "images": n, "interval": interval(r.get("estimate_accuracy"), n),
            "method": name, "round": r.get("iteration")}


def estimate_text(m: dict) -> str:
    """'0.875 (95% interval 0.701 to 0.957) from 5-fold cross-validation on 24 held-out labelled images, round 2'."""
    e = estimate(m)
    if e["accuracy"] is None or e["images"] == 0:
        return "none (no labelled images were held out)"
    ci = f" (95% interval {e['interval'][0]:.3f} to {e['interval'][1]:.3f})" if e["interval"] else ""
    on = f" on {e['images']} held-out labelled images" if e["images"] else ""
    return f"{e['accuracy']:.3f}{ci} from {e['method']}{on}, round {e['round']} (the round kept)"


def test_text(m: dict) -> str:
    """'1.000 on 3 test images (95% interval 0.438 to 1.000)', or 'no test images'."""
    t = m.get("test") or {}
    n = t.get("images") or 0
    ci = interval(t.get("accuracy"), n)
    if ci is None:
        return "no test images"
    return f"{t['accuracy']:.3f} on {n} test image{'s' if n != 1 else ''} (95% interval {ci[0]:.3f} to {ci[1]:.3f})"


def small_test_set(m: dict) -> str | None:
    """Why the test set is too small to judge the model, in plain words; None when it is large enough."""
    t = m.get("test") or {}
    n = t.get("images") or 0
    per_class = t.get("per_class") or []
    n_classes = len(m.get("classes") or per_class) or 1
    if not n:
        return None
    reasons = []
    if n / n_classes < MIN_TEST_PER_CLASS:
        reasons.append(f"{n / n_classes:.1f} per class on average (fewer than {MIN_TEST_PER_CLASS})")
    least = min((c["support"] for c in per_class), default=MIN_TEST_IN_A_CLASS)
    if least < MIN_TEST_IN_A_CLASS:
        short = [c["class"] for c in per_class if c["support"] == least]
        who = ("each class has" if len(short) == len(per_class) else f"class {short[0]} has" if len(short) == 1
               else f"classes {', '.join(short[:3])}{' and more' if len(short) > 3 else ''} have")
        reasons.append(f"{who} {least} (fewer than {MIN_TEST_IN_A_CLASS})")
    if not reasons:
        return None
    low, high = interval(t.get("accuracy"), n) or (0.0, 1.0)
    if high - low <= 2 * FIRM_HALF_WIDTH:  # many images in all: the overall figure holds, the per-class ones do not
        return (f"The per-class test figures are weak: " + " and ".join(reasons) + f". The overall test accuracy "
                f"rests on {n} test images (95% interval {low:.3f} to {high:.3f}) and is the firmer figure.")
    return (f"The test set is too small to judge this model: {n} test image{'s' if n != 1 else ''}, "
            + " and ".join(reasons) + ". Its accuracy can be far from the model's; rely on the estimate.")


def selection_rule(m: dict) -> str | None:
    """'threshold 0.8', 'threshold 0 (every image)', 'balanced'; None for a process that uses no unlabelled image."""
    from ..config import PROCESSES

    process = PROCESSES.get(m.get("process"))
    if process is not None and not process.distills:
        return None
    rule, threshold = m.get("selection") or "threshold", (m.get("config") or {}).get("threshold")
    if rule == "threshold" and threshold is not None:
        rule += f" {threshold:g}" + (" (every image)" if not threshold else "")
    return rule


def automatic_labels_text(m: dict) -> str:
    """What the saved model trained on besides the manual labels: '95 in the saved model's training set, labelled
    at the end of rounds 0 to 1 (rule: threshold 0.8)'."""
    from ..config import PROCESSES

    rule = selection_rule(m)
    if rule is None:
        process = PROCESSES.get(m.get("process"))
        return f"none: {process.name if process else m.get('process')} trains on the labelled images only"
    auto = m.get("auto_labelled") or []
    taken = sorted({a.get("iteration") for a in auto if a.get("iteration") is not None})
    # a label taken at the end of round k is trained on from round k + 1: said so, or "taken in round 0" beside
    # "round 1 kept" reads as a contradiction
    when = "" if not taken else (f", labelled at the end of round {taken[0]}" if len(taken) == 1
                                 else f", labelled at the end of rounds {taken[0]} to {taken[-1]}")
    return f"{len(auto) or 'none'} in the saved model's training set{when} (rule: {rule})"


def rounds_text(m: dict) -> str:
    """'3 (rounds 0 to 2), round 2 kept; stopped after round 2: the selection rule 'threshold' took no image' (rounds
    count from 0, said so; the stop reason is about the last round, said as such)."""
    rounds = m.get("iterations") or []
    last = rounds[-1].get("iteration") if rounds else None
    stop = m.get("stop_reason") or "-"
    numbered = "" if last is None else f" (round {last})" if len(rounds) == 1 else f" (rounds {rounds[0].get('iteration')} to {last})"
    return (f"{len(rounds)}{numbered}, round {m.get('best_iteration')} kept; "
            + (f"stopped after round {last}: {stop}" if last is not None else f"stopped: {stop}"))


def job_figures(m: dict) -> dict:
    """What a job's result carries beside its test accuracy (docs/http-api.md, JOB)."""
    e = estimate(m)
    t = m.get("test") or {}
    return {"estimate": {"accuracy": e["accuracy"], "images": e["images"], "interval": e["interval"],
                         "method": e["method"], "round": e["round"]},
            "estimate_text": estimate_text(m),
            "test_images": t.get("images") or 0, "test_interval": interval(t.get("accuracy"), t.get("images") or 0),
            "test_too_small": small_test_set(m), "automl": choice_text(m) or None}


def student_text(m: dict) -> str:
    """Whether a student ran, its held-out estimate against the frozen ensemble's, its epochs and time (report.md,
    report.html, the CLI summary); "" for a run from before students."""
    s = m.get("student")
    if not s:
        return ""
    est = s.get("estimate")
    judged = (f"estimate {est['student']['accuracy']:.3f} with the student against {est['ensemble']['accuracy']:.3f} "
              f"for the frozen ensemble on {est['images']} held-out labels ({est['folds']} fold(s); noise "
              f"{est['student'].get('noise', 0):.3f})") if est else "no held-out estimate"
    if s.get("ran"):
        return (f"ran ({s['mode']}): {s['backbone']} from {s['cut']}, {s['epochs']} epoch(s) on {s['images']} images "
                f"({s['automatic_labels']} automatic), {s['seconds']:.0f} s; {judged}")
    return f"not run ({s['mode']}): {s.get('reason', '')}" + (f"; {judged}" if est else "")


def unsure_text(m: dict) -> str:
    """The run's calibration in a line: its temperature, the unsure threshold and what it gives on the held-out
    predictions (and the test set), or why nothing is marked unsure."""
    c = m.get("calibration")
    if not c:
        return "none (a run from before calibration): confidences as the model gives them, nothing marked unsure"
    if c.get("threshold") is None:
        return f"temperature {c['temperature']:.2f}; " + c.get("note", "nothing is marked unsure")
    text = (f"unsure below confidence {c['threshold']:.3f}: on the {c['held_out_images']} held-out predictions, "
            f"{c['coverage']:.0%} not unsure, right {c['precision']:.3f} of the time (target "
            f"{c['target_precision']}); temperature {c['temperature']:.2f}, held-out ECE {c['ece_before']:.3f} -> "
            f"{c['ece_after']:.3f}")
    t = c.get("test")
    if t:
        text += (f"; test set: ECE {t['ece_before']:.3f} -> {t['ece_after']:.3f}, {t['coverage']:.0%} not unsure"
                 + (f", right {t['precision']:.3f}" if t.get("precision") is not None else ""))
    return text + ("; " + c["note"] if c.get("note") else "")
