"""Small wording: what the summary's automatic labels and stop reason mean, no empty progress fields, and job
logs that list only the options that apply."""
from __future__ import annotations

import io

from live_server import DATA_ROOT, small_dataset

from omniclas.cli.output import ProgressPrinter
from omniclas.engine.progress import ProgressEvent
from omniclas.jobs import JobManager
from omniclas.jobs.store import SQLiteJobStore
from omniclas.report import headline


def distilled_manifest(**extra) -> dict:
    auto = [{"path": f"u/{i}.png", "class": "A", "iteration": i % 2} for i in range(95)]
    m = {"process": "imdd", "selection": "threshold", "config": {"threshold": 0.8}, "auto_labelled": auto,
         "best_iteration": 2, "stop_reason": "the selection rule 'threshold' took no image",
         "iterations": [{"iteration": i} for i in range(3)]}
    return {**m, **extra}


def test_automatic_labels_and_the_stop_reason_say_what_they_mean():
    m = distilled_manifest()
    assert headline.automatic_labels_text(m) == ("95 in the saved model's training set, labelled at the end of "
                                                 "rounds 0 to 1 (rule: threshold 0.8)")
    assert headline.rounds_text(m) == ("3 (rounds 0 to 2), round 2 kept; stopped after round 2: the selection rule "
                                       "'threshold' took no image")
    one = distilled_manifest(auto_labelled=[{"path": "u/1.png", "class": "A", "iteration": 0}], best_iteration=1,
                             iterations=[{"iteration": 0}, {"iteration": 1}])
    assert headline.automatic_labels_text(one).startswith("1 in the saved model's training set, labelled at the end "
                                                          "of round 0 (")
    nd = distilled_manifest(process="nd", auto_labelled=[], iterations=[{"iteration": 0}], best_iteration=0)
    assert headline.automatic_labels_text(nd) == "none: N.D. trains on the labelled images only"
    assert headline.selection_rule(nd) is None  # the rule does not apply, so it is not shown as if it did
    one_shot = distilled_manifest(process="dd", config={"threshold": 0.0})
    assert headline.automatic_labels_text(one_shot).endswith("(rule: threshold 0 (every image))")


def test_progress_line_has_no_empty_fields():
    out = io.StringIO()
    printer = ProgressPrinter(out)
    printer(ProgressEvent(stage="features", iteration=0, max_iterations=5, fraction=0.1))
    printer(ProgressEvent(stage="training", iteration=1, max_iterations=5, fraction=0.5, message="round 1"))
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("round 0/5 | features") and " | features |" not in lines[0]
    assert lines[1].endswith("round 1/5 | training | round 1")


def test_job_log_lists_only_the_options_that_apply(tmp_path):
    jobs = JobManager(tmp_path / "jobs", dataset_roots=[str(DATA_ROOT)])
    jobs.dispatcher.submit = lambda job: None  # no worker: the job stays queued
    try:
        base = {"dataset": "bbbc013", "process": "nd", "frozen_epochs": 2, "unfrozen_epochs": 8, "threshold": 0.8,
                "seed": 3}
        linear = jobs.submit({**base, "head": "linear"})
        (line,) = jobs.log(linear["id"])
        assert "head=linear" in line and "seed=3" in line
        assert "epochs" not in line and "threshold" not in line  # no fine-tuning, no selection for N.D.
        finetune = jobs.submit({**base, "head": "finetune"})
        assert "frozen_epochs=2, unfrozen_epochs=8" in jobs.log(finetune["id"])[0]
    finally:
        jobs.close()


class RecordingStore(SQLiteJobStore):
    """Keeps every progress record the runner writes."""

    def __init__(self, path):
        super().__init__(path)
        self.progress = []

    def update(self, job_id, fn):
        job = super().update(job_id, fn)
        if job and job.get("progress"):
            self.progress.append(dict(job["progress"]))
        return job


def test_job_progress_names_no_model_while_none_is_at_work(tmp_path):
    """Between models (features, labelling) the job says model null, not "" (which read 'features , iteration')."""
    from omniclas.jobs.runner import claim, execute, runner_token

    dataset = small_dataset(tmp_path / "cells", per_class=6)
    store = RecordingStore(tmp_path / "jobs.sqlite")
    store.create({"id": "c" * 12, "state": "queued", "attempts": 0, "run_dir": str(tmp_path / "run"),
                  "spec": {"dataset": str(dataset), "process": "nd", "backbones": ["efficientnet_lite0"],
                           "image_size": 64}})
    token = runner_token()
    assert execute(store, store.claim_next(lambda j: claim(j, token)), token)["state"] == "finished"
    assert store.progress and all(p["model"] != "" for p in store.progress)
    assert any(p["model"] is None for p in store.progress)


def test_a_large_test_set_with_few_images_per_class_says_which_figures_are_weak():
    """Issue 22 item 16: 649 test images over 73 classes (8.9 per class): the overall test accuracy is firm (its
    interval is about +-0.025), only the per-class figures are weak; a test set small in all is still said so."""
    per_class = [{"class": f"c{i}", "support": 9 if i < 65 else 8} for i in range(73)]
    m = {"classes": [c["class"] for c in per_class],
         "test": {"images": sum(c["support"] for c in per_class), "accuracy": 0.85, "per_class": per_class}}
    assert m["test"]["images"] == 649
    text = headline.small_test_set(m)
    assert text.startswith("The per-class test figures are weak: 8.9 per class on average (fewer than 10).")
    assert "The overall test accuracy rests on 649 test images (95% interval 0.821 to 0.876) and is the firmer" in text
    assert "too small to judge this model" not in text and "rely on the estimate" not in text
    small = {"classes": ["a", "b", "c"], "test": {"images": 3, "accuracy": 1.0,
                                                  "per_class": [{"class": k, "support": 1} for k in "abc"]}}
    assert headline.small_test_set(small).startswith("The test set is too small to judge this model: 3 test images")
