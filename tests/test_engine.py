"""The training loop on real images: the run folder, the ensemble, the estimate, views, stop conditions,
determinism, reload identity, 16-bit TIFFs, resume, bad datasets."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from omniclas.config import TrainConfig
from omniclas.engine import chains as chains_module
from omniclas.engine import train
from omniclas.engine.base_models import lowest_loss_lr
from omniclas.errors import Cancelled, ConfigError, DatasetError
from omniclas.data.imageio import read_image
from omniclas.model.predictor import Predictor

FAST = dict(backbones=("efficientnet_lite0",), image_size=64)
TWO = ("efficientnet_lite0", "efficientnet_lite1")


def _cfg(dataset, out, **kw):
    return TrainConfig(dataset=str(dataset), out_dir=str(out), **{**FAST, **kw})


def test_run_folder_is_complete(nd_run):
    m = nd_run.manifest
    files = {p.name for p in nd_run.run_dir.iterdir()}
    assert {"model.safetensors", "manifest.json", "report.md"} <= files
    assert "checkpoint" not in files
    assert m["classes"] == ["CytoplasmicGFP", "NoGFP", "NuclearGFP"]
    assert m["backbone"] == "efficientnet_lite0" and m["input_size"] == [64, 64]
    assert m["members"] == [{"backbone": "efficientnet_lite0", "head": "linear", "feature_norm": "l2",
                             "mean": [0.5] * 3, "std": [0.5] * 3}]
    assert m["views"][0] == "original" and set(m["views"]) <= {"original", "hflip", "vflip", "hvflip"}
    assert 0.0 <= m["test"]["accuracy"] <= 1.0 and len(m["test"]["per_class"]) == 3
    assert np.array(m["test"]["confusion_matrix"]).sum() == m["test"]["images"] == m["counts"]["test"]
    assert set(m["splits"].values()) == {"train", "test", "unlabelled"}  # linear heads: no validation split
    assert m["estimate"] == {"method": "cross-validation", "folds": 5}
    assert m["iterations"][0]["estimate_images"] == m["counts"]["train"]  # every manual label held out once
    assert m["runtime"]["name"] in ("openvino", "onnxruntime", "torch") and m["runtime"]["version"]
    assert len(m["data_hashes"]["dataset"]) == 64 and m["versions"]["torch"].startswith("2.14")
    assert "Test accuracy" in (nd_run.run_dir / "report.md").read_text()
    assert m["test"]["accuracy"] > 0.6  # three classes: well above chance with 15 labels per class


def test_reload_gives_identical_predictions(nd_run, small_bbbc013):
    images = sorted((small_bbbc013 / "unlabelled").iterdir())
    reloaded = Predictor.load(nd_run.run_dir)
    assert np.array_equal(reloaded.predict_proba(images), nd_run.predictor.predict_proba(images))
    result = reloaded.predict_images(images[:1])[0]
    assert set(result) == {"class", "confidence", "unsure", "runner_up", "probabilities"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    second = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])[1]
    assert isinstance(result["unsure"], bool) and result["runner_up"]["class"] == second[0]


def test_fast_runtime_agrees_with_torch_float32(nd_run, small_bbbc013):
    """The runtime that ran the bodies gives the same classes as plain torch float32 on real images."""
    images = sorted((small_bbbc013 / "unlabelled").iterdir())
    fast = Predictor.load(nd_run.run_dir).predict_proba(images)
    reference = Predictor.load(nd_run.run_dir, bf16=False, runtime="torch").predict_proba(images)
    assert (fast.argmax(1) == reference.argmax(1)).mean() >= 0.9
    assert np.abs(fast - reference).max() < 0.25


def test_test_accuracy_is_computed_from_the_saved_model(nd_run, bbbc013):
    """The manifest's test accuracy is what the saved model gives on the test images."""
    m = nd_run.manifest
    test = [bbbc013 / p for p, where in m["splits"].items() if where == "test"]
    classes = [p.parent.name for p in test]
    probs = Predictor.load(nd_run.run_dir).predict_proba(test)
    accuracy = np.mean([m["classes"][i] == c for i, c in zip(probs.argmax(1), classes)])
    assert accuracy == pytest.approx(m["test"]["accuracy"], abs=0.07)  # one image may flip between bf16 batches


def test_same_seed_same_result(small_bbbc013, nd_run, tmp_path):
    again = train(_cfg(small_bbbc013, tmp_path / "again", process="nd"))
    assert again.manifest["data_hashes"] == nd_run.manifest["data_hashes"]
    assert again.manifest["test"] == nd_run.manifest["test"]
    assert again.manifest["iterations"] == nd_run.manifest["iterations"]


@pytest.fixture(scope="module")
def imd_two(small_bbbc013, tmp_path_factory):
    """An iterative two-backbone run that saves the ensemble."""
    out = tmp_path_factory.mktemp("imd") / "r"
    return train(_cfg(small_bbbc013, out, process="imd", backbones=TWO, max_iterations=2, selection="balanced"))


def test_ensemble_is_one_model_that_averages_its_members(imd_two, small_bbbc013):
    m = imd_two.manifest
    assert [x["backbone"] for x in m["members"]] == list(TWO) and m["combine"] == "mean_probability"
    assert m["backbone"] == "efficientnet_lite0+efficientnet_lite1" and m["keep"] == "ensemble"
    assert all(c["kept"] for c in m["candidates"])
    predictor = Predictor.load(imd_two.run_dir, bf16=False, runtime="torch")
    images = [read_image(p) for p in sorted((small_bbbc013 / "unlabelled").iterdir())[:6]]
    x = predictor.preprocess(images)
    net = predictor.model
    by_member = []
    for i, member in enumerate(net.members):
        probs = 0
        for view in net.views:
            from omniclas.model.network import apply_view

            xv = (apply_view(x, view) - net.mean[i]) / net.std[i]
            probs = probs + member(xv).softmax(1).detach()
        by_member.append(probs / len(net.views))
    expected = (by_member[0] + by_member[1]).numpy() / 2
    assert np.allclose(predictor.probabilities(x).numpy(), expected, atol=1e-5)
    assert m["cost"]["body_passes_per_image"] == 2 * len(m["views"])


def test_rounds_record_what_the_rule_took(imd_two):
    m = imd_two.manifest
    assert m["selection"] == "balanced" and m["config"]["selection"] == "balanced"  # chosen; threshold is the default
    first = m["iterations"][0]
    assert first["labelled"] == sum(row["taken"] for row in first["selection"])
    assert {row["class"] for row in first["selection"]} == set(m["classes"])
    for row in first["selection"]:
        assert row["taken"] <= row["voted"]
        if row["taken"]:
            assert row["mean_agreement"] == 1.0 and 0 < row["min_confidence"] <= row["mean_confidence"] <= 1
    taken_round0 = [a for a in m["auto_labelled"] if a["iteration"] == 0]
    if m["best_iteration"] > 0:
        assert len(taken_round0) == first["labelled"]
    assert all(0 <= h["estimate_accuracy"] <= 1 and h["estimate_images"] == m["counts"]["train"]
               for h in m["iterations"])
    assert set(m["iterations"][0]["estimate_by_backbone"]) == set(TWO)


def test_fold_chains_never_start_from_a_model_that_saw_their_held_out_labels(small_bbbc013, tmp_path, monkeypatch):
    """A fold chain's fits start from that chain's own earlier heads only: the main chain has seen the labels a fold
    chain is scored on, and a warm start from it leaked them (the estimate rose while test accuracy fell)."""
    real = chains_module.fit_model
    made_by_chain, leaks, warm_starts = {}, [], []

    def recording(cfg, bank, chain, m, backbone, views, n_classes, report, warm):
        if warm is not None:
            warm_starts.append(1)
            if id(warm) not in made_by_chain.get(id(chain), set()):
                leaks.append((id(chain), backbone))
        model = real(cfg, bank, chain, m, backbone, views, n_classes, report, warm)
        made_by_chain.setdefault(id(chain), set()).add(id(model))
        return model

    monkeypatch.setattr(chains_module, "fit_model", recording)
    train(_cfg(small_bbbc013, tmp_path / "r", process="idd", transforms=(), max_iterations=2))
    assert warm_starts and not leaks


def test_the_latest_round_within_one_standard_error_is_kept(small_bbbc013, tmp_path, monkeypatch):
    """Estimates 0.90, 0.85, 0.80 on 27 held-out labels (standard error 0.058): round 1 is within reach of the
    best, round 2 is not; so round 1 is kept."""
    real = chains_module.estimate
    estimates = iter([0.9, 0.85, 0.8, 0.8])

    def scripted(*args):
        out = real(*args)
        out["estimate_accuracy"] = next(estimates)
        return out

    monkeypatch.setattr(chains_module, "estimate", scripted)
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", transforms=(), max_iterations=3))
    m = r.manifest
    assert [h["estimate_images"] for h in m["iterations"]] == [27] * len(m["iterations"])
    assert m["best_iteration"] == 1
    assert m["iterations"][1]["tolerance"] == pytest.approx((0.9 * 0.1 / 27) ** 0.5, abs=1e-4)
    assert len(m["auto_labelled"]) == m["iterations"][0]["labelled"]


@pytest.mark.parametrize("keep", ["best", "best_on_test"])
def test_keep_a_single_base_model(small_bbbc013, tmp_path, keep):
    r = train(_cfg(small_bbbc013, tmp_path / keep, process="nd", backbones=TWO, keep=keep))
    m = r.manifest
    kept = [c for c in m["candidates"] if c["kept"]]
    assert len(m["members"]) == 1 and len(kept) == 1 and m["backbone"] == kept[0]["backbone"]
    if keep == "best_on_test":
        assert kept[0]["test_accuracy"] == max(c["test_accuracy"] for c in m["candidates"])
    else:
        scores = m["iterations"][0]["estimate_by_backbone"]
        assert scores[kept[0]["backbone"]]["accuracy"] == max(s["accuracy"] for s in scores.values())


def test_views_are_chosen_on_held_out_labels(small_bbbc013, tmp_path):
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", max_iterations=1))
    plan = r.manifest["view_plan"]
    tried = [t["view"] for t in plan["trials"]]
    assert tried == ["hflip", "vflip", "hvflip", "blur", "gamma"]
    kept = {t["view"] for t in plan["trials"] if t["kept"]}
    assert set(plan["label"]) == {"original"} | kept
    assert set(plan["train"]) == set(plan["predict"]) == {"original"} | (kept & {"hflip", "vflip", "hvflip"})
    for t in plan["trials"]:  # judged by accuracy: kept unless it costs more than noise; log-loss breaks ties
        if t["accuracy_with"] == t["accuracy_without"]:
            assert t["kept"] == (t["log_loss_with"] <= t["log_loss_without"])
        else:
            assert t["kept"] == (t["accuracy_with"] >= t["accuracy_without"] - t["noise"]), t
        assert 0 <= t["noise"] < 1
    fixed = train(_cfg(small_bbbc013, tmp_path / "fixed", process="idd", max_iterations=1, auto_views=False,
                       predict_views=False))
    assert fixed.manifest["view_plan"]["label"] == ["original", "hflip", "vflip", "hvflip", "blur", "gamma"]
    assert fixed.manifest["views"] == ["original"]


def test_the_iterative_processes_select_by_the_papers_threshold_by_default(small_bbbc013, tmp_path):
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", max_iterations=1))
    m = r.manifest
    assert m["selection"] == "threshold" and m["config"]["threshold"] == 0.8
    first = m["iterations"][0]
    assert all(row["min_confidence"] >= 0.8 for row in first["selection"] if row["taken"])
    assert first["labelled"] == sum(row["taken"] for row in first["selection"])


def test_paper_threshold_rule_and_stop_when_nothing_selected(small_bbbc013, tmp_path):
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="imd", backbones=TWO, selection="threshold", threshold=1.0))
    assert r.manifest["stop_reason"] == "the selection rule 'threshold' took no image in round 0"
    assert r.manifest["auto_labelled"] == []


def test_stop_when_no_unlabelled_image_left(small_bbbc013, tmp_path):
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", selection="threshold", threshold=0.0,
                   transforms=("vflip",)))
    m = r.manifest
    assert m["stop_reason"] == "no unlabelled image left"
    assert m["iterations"][0]["labelled"] == 30
    assert all(a["iteration"] == 0 and 0 <= a["confidence"] <= 1 for a in m["auto_labelled"])


def test_stop_when_the_estimate_falls(small_bbbc013, tmp_path, monkeypatch):
    """The real loop, with the estimate made to fall after round 0: it stops after two rounds below it."""
    real = chains_module.estimate
    calls = []

    def falling(*args):
        out = real(*args)
        calls.append(1)
        out["estimate_accuracy"] = 1.0 if len(calls) == 1 else 0.5  # far beyond one standard error
        return out

    monkeypatch.setattr(chains_module, "estimate", falling)
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", transforms=()))
    m = r.manifest
    assert m["stop_reason"].startswith("estimated accuracy fell more than one standard error") and \
        m["best_iteration"] == 0
    assert len(m["iterations"]) == 3
    assert m["auto_labelled"] == []  # the kept round trained on manual labels only


def test_progress_covers_the_whole_run(small_bbbc013, tmp_path, monkeypatch):
    monkeypatch.setenv("OMNICLAS_CACHE", str(tmp_path / "cache"))  # a cold run: every feature is computed
    events = []
    train(_cfg(small_bbbc013, tmp_path / "r", process="idd", max_iterations=1), progress=events.append)
    assert {e.stage for e in events} >= {"loading", "features", "training", "labelling", "evaluating", "done"}
    assert all(0.0 <= e.fraction <= 1.0 for e in events) and events[-1].fraction == 1.0
    assert max(e.fraction for e in events[:-1]) < 1.0
    assert any(e.eta_s is not None for e in events if e.stage == "features")


def test_automl_halves_its_candidates_and_its_progress_never_runs_backwards(small_bbbc013, tmp_path, monkeypatch):
    """A cold AutoML run (every body converted, every feature computed): from round 1 on, each round stops the
    lower half of the candidates beside the default. One plan made at the start and revised as the run learns;
    the fraction it reports never decreases, and the ETA is there from the first measured work on."""
    monkeypatch.setenv("OMNICLAS_CACHE", str(tmp_path / "cache"))
    events = []
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="auto", max_iterations=3), progress=events.append)
    fractions = [e.fraction for e in events]
    assert all(b >= a for a, b in zip(fractions, fractions[1:])), fractions
    assert fractions[-1] == 1.0 and len(set(fractions)) > 20
    measured = [e for e in events if e.fraction > 0]
    assert measured[0].stage == "features" and all(e.eta_s is not None for e in measured)
    candidates = r.manifest["automl"]["candidates"]
    ran = [sum(len(c["estimates"]) > rnd for c in candidates if c["name"] != "nd") for rnd in range(4)]
    assert ran[1] <= 9 and ran[2] <= 5 and ran[3] <= 3, ran
    halved = [c for c in candidates if c["stop_reason"].startswith("successive halving")]
    assert halved and not any(c["default"] for c in halved)
    work = r.manifest["work"]  # where the time went, by kind of work
    assert {"compile", "features", "fit", "vote"} <= set(work) and all(w["seconds"] >= 0 for w in work.values())


def test_distilling_process_without_unlabelled_images(small_bbbc013, tmp_path):
    root = shutil.copytree(small_bbbc013, tmp_path / "ds")
    shutil.rmtree(root / "unlabelled")
    (root / "unlabelled").mkdir()  # present but empty
    with pytest.raises(DatasetError, match="needs unlabelled images"):
        train(_cfg(root, tmp_path / "r", process="dd"))


def test_a_class_with_one_image_is_refused_by_name(small_bbbc013, tmp_path):
    root = shutil.copytree(small_bbbc013, tmp_path / "ds")
    (root / "Rare").mkdir()
    shutil.copy(next((root / "NoGFP").iterdir()), root / "Rare" / "only.png")
    with pytest.raises(DatasetError, match="class 'Rare' has 1 readable image"):
        train(_cfg(root, tmp_path / "r", process="nd"))


def test_a_pool_of_one_class_gives_a_sane_run(small_bbbc013, tmp_path):
    root = shutil.copytree(small_bbbc013, tmp_path / "ds", ignore=shutil.ignore_patterns("unlabelled"))
    (root / "unlabelled").mkdir()
    for f in sorted((small_bbbc013 / "NuclearGFP").iterdir())[:8]:  # a pool of NuclearGFP cells only
        shutil.copy(f, root / "unlabelled" / f"pool_{f.name}")
        f_in_class = root / "NuclearGFP" / f.name
        f_in_class.unlink()
    r = train(_cfg(root, tmp_path / "r", process="idd", max_iterations=2))
    assert r.manifest["test"]["accuracy"] > 0.5
    assert {a["class"] for a in r.manifest["auto_labelled"]} <= {"NuclearGFP", "CytoplasmicGFP", "NoGFP"}


def test_16bit_single_channel_tiffs_train_and_predict(small_bbbc013, tmp_path):
    """BBBC013's GFP channel saved as 16-bit, single-channel TIFFs, the way a camera writes them."""
    root = tmp_path / "tiff16"
    for class_dir in sorted(p for p in small_bbbc013.iterdir() if p.name != "unlabelled"):
        (root / class_dir.name).mkdir(parents=True)
        for f in sorted(class_dir.iterdir()):
            gfp = read_image(f)[:, :, 1].astype(np.uint16) * 64 + 100
            tifffile.imwrite(root / class_dir.name / (f.stem + ".tif"), gfp)
    r = train(_cfg(root, tmp_path / "r", process="nd"))
    probe = next((root / "NuclearGFP").iterdir())
    assert tifffile.imread(probe).dtype == np.uint16
    out = Predictor.load(r.run_dir).predict_images([probe])[0]
    assert out["class"] in r.manifest["classes"]
    assert r.manifest["test"]["accuracy"] > 0.5


def test_cancel_then_resume_gives_the_uninterrupted_result(small_bbbc013, tmp_path):
    kw = dict(process="idd", max_iterations=2, transforms=("hflip",))
    whole = train(_cfg(small_bbbc013, tmp_path / "whole", **kw))
    out = tmp_path / "r"
    state = {"round": 0}

    def progress(e):
        state["round"] = e.iteration

    with pytest.raises(Cancelled):
        train(_cfg(small_bbbc013, out, **kw), progress=progress, cancel=lambda: state["round"] >= 1)
    checkpoint = json.loads((out / "checkpoint" / "state.json").read_text())
    assert checkpoint["candidates"][0]["next_round"] == 1
    resumed = train(_cfg(small_bbbc013, out, **kw), resume=True)
    for key in ("iterations", "test", "auto_labelled", "best_iteration", "view_plan", "calibration"):
        assert resumed.manifest[key] == whole.manifest[key], key
    with pytest.raises(ConfigError, match="already holds a finished run"):
        train(_cfg(small_bbbc013, out, process="nd"))


def test_nd_never_reads_the_unlabelled_images(small_bbbc013, tmp_path, monkeypatch):
    """N.D. decodes, hashes and computes features of no unlabelled image (memory and time stay those of the labels)."""
    import omniclas.data.dataset as dataset_module
    import omniclas.engine.features as features_module

    touched = []
    for module, name in ((features_module, "read_image"), (dataset_module, "read_image"),
                         (dataset_module, "sha256_file")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda path, *a, _real=real, **k: touched.append(Path(path)) or _real(path, *a, **k))
    m = train(_cfg(small_bbbc013, tmp_path / "r", process="nd")).manifest
    assert touched and not [p for p in touched if p.parent.name == "unlabelled"]
    assert m["counts"]["unlabelled"] == 30 and m["auto_labelled"] == []


def test_a_run_stopped_while_computing_features_resumes_without_computing_them_again(small_bbbc013, tmp_path,
                                                                                    monkeypatch):
    """Ctrl-C before the first round: resume computes only the features that were not computed yet."""
    import omniclas.engine.features as features_module

    monkeypatch.setenv("OMNICLAS_CACHE", str(tmp_path / "cache"))  # cold: the first run computes every feature
    computed = []
    real = features_module.ImageBank._compute

    def counting(bank, backbone, view, indices, x_unit):
        computed.extend((backbone, view, bank.digest_of(i)) for i in indices)
        return real(bank, backbone, view, indices, x_unit)

    monkeypatch.setattr(features_module.ImageBank, "_compute", counting)
    kw = dict(process="idd", max_iterations=1, transforms=("hflip",))
    out = tmp_path / "r"

    def interrupt(e):
        if e.stage == "features" and "unlabelled" in e.message:
            raise KeyboardInterrupt  # while the pool's features are computed, before any round

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(small_bbbc013, out, **kw), progress=interrupt)
    assert (out / "checkpoint" / "state.json").is_file() and not (out / "manifest.json").exists()
    before, computed[:] = list(computed), []
    resumed = train(_cfg(small_bbbc013, out, **kw), resume=True)
    after = list(computed)
    assert before and after and not set(before) & set(after)  # nothing computed twice
    monkeypatch.setenv("OMNICLAS_CACHE", str(tmp_path / "cold"))
    computed[:] = []
    whole = train(_cfg(small_bbbc013, tmp_path / "whole", **kw))
    assert set(before) | set(after) == set(computed)  # together: what an uninterrupted cold run computes
    for key in ("iterations", "test", "auto_labelled", "view_plan"):
        assert resumed.manifest[key] == whole.manifest[key], key


def test_automl_tries_every_candidate_and_keeps_the_default_unless_beaten_beyond_noise(small_bbbc013, tmp_path):
    from omniclas.engine.views import paired_noise

    r = train(_cfg(small_bbbc013, tmp_path / "auto", backbones=TWO, max_iterations=2))
    m = r.manifest
    auto = m["automl"]
    names = [c["name"] for c in auto["candidates"]]
    assert names == ["nd"] + [f"{p}/{rule}" for p in ("idd", "imd", "imdd") for rule in ("threshold", "balanced",
                                                                                         "prior")]
    assert [c["name"] for c in auto["candidates"] if c["default"]] == ["imdd/threshold"]
    assert m["config"]["process"] == "auto" and m["process"] == auto["process"]
    assert all(len(c["estimates"]) >= 1 and c["stop_reason"] for c in auto["candidates"])
    default = next(c for c in auto["candidates"] if c["default"])
    best = max(auto["candidates"], key=lambda c: (c["estimate"], c["default"]))
    right = {c["name"]: np.array([ch == "1" for ch in c["held_out_right"]]) for c in auto["candidates"]}
    best_of_default = max(default["estimates"])  # its best round, not its kept one: round 0 is N.D. itself
    beaten = best["estimate"] > best_of_default + paired_noise(right[best["name"]], right[default["name"]])
    assert auto["chosen"] == (best["name"] if beaten else default["name"]), auto["reason"]
    chosen = next(c for c in auto["candidates"] if c["name"] == auto["chosen"])
    assert m["iterations"][m["best_iteration"]]["estimate_accuracy"] == chosen["estimate"]
    assert len(m["auto_labelled"]) == chosen["automatic_labels"]


def test_automl_resumes_where_it_stopped(small_bbbc013, tmp_path):
    kw = dict(backbones=("efficientnet_lite0",), max_iterations=2)
    whole = train(_cfg(small_bbbc013, tmp_path / "whole", **kw))
    out = tmp_path / "r"
    state = {"round": 0}
    with pytest.raises(Cancelled):
        train(_cfg(small_bbbc013, out, **kw), progress=lambda e: state.update(round=e.iteration),
              cancel=lambda: state["round"] >= 1)
    resumed = train(_cfg(small_bbbc013, out, **kw), resume=True)
    for key in ("automl", "iterations", "test", "auto_labelled", "view_plan"):
        assert resumed.manifest[key] == whole.manifest[key], key


def test_lr_rule_uses_lowest_loss_and_falls_back():
    assert lowest_loss_lr([1e-4, 1e-3, 1e-2], [1.0, 0.5, 2.0]) == 1e-3
    assert lowest_loss_lr([1e-7, 1e-6, 1e-2], [0.3, 0.2, 2.0]) == 1e-3  # lowest at 1e-6 < 1e-5


def test_paper_finetune_protocol_runs_with_fastai(small_bbbc013, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    events = []
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="nd", head="finetune", frozen_epochs=1, unfrozen_epochs=1,
                   batch_size=16), progress=events.append)
    m = r.manifest
    assert m["head"] == "finetune" and m["estimate"]["method"] == "validation split"
    assert "valid" in set(m["splits"].values())
    epochs = {(e.epoch, e.epochs) for e in events if e.stage == "training" and e.epochs}
    assert epochs == {(1, 2), (2, 2)}
    assert any("learning-rate range test" in e.message for e in events)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # fastai's scratch files went elsewhere
    images = sorted((small_bbbc013 / "unlabelled").iterdir())[:8]
    assert np.array_equal(Predictor.load(r.run_dir).predict_proba(images), r.predictor.predict_proba(images))


@pytest.mark.slow
def test_end_to_end_imdd_on_bbbc013_with_real_unlabelled_images(shared_data, tmp_path):
    bbbc013 = shared_data / "bbbc013"  # all 198 labelled and 596 unlabelled crops, more than the fixture set
    events = []
    r = train(TrainConfig(dataset=str(bbbc013), out_dir=str(tmp_path / "imdd"), process="imdd"), progress=events.append)
    m = r.manifest
    assert m["config"]["backbones"] == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert m["config"]["transforms"] == ["hflip", "vflip", "hvflip", "blur", "gamma"]
    assert len(m["members"]) == 3 and m["counts"]["unlabelled"] == 596
    # the saved model trained on the automatic labels of the rounds before the kept one
    assert len(m["auto_labelled"]) == sum(h["labelled"] for h in m["iterations"][:m["best_iteration"]])
    assert m["test"]["accuracy"] >= 0.8
    assert {e.stage for e in events} >= {"loading", "features", "training", "labelling", "evaluating", "done"}
    assert events[-1].fraction == 1.0


def test_pinned_pool_rows_are_the_stores_and_are_let_go(small_bbbc013, tmp_path):
    """A round's fits read the pool's rows from memory (ImageBank.pinned): the same values the store gives, and
    nothing held after the block."""
    r = train(_cfg(small_bbbc013, tmp_path / "r", process="idd", max_iterations=1))
    bank, backbone = r.bank, r.manifest["members"][0]["backbone"]
    pool = np.arange(bank.resident, len(bank))
    assert len(pool)
    from_store = bank.features(backbone, pool, "hflip")
    with bank.pinned(backbone, ["original", "hflip"], pool):
        assert set(bank._pinned) == {(backbone, "original"), (backbone, "hflip")}
        pinned = bank.features(backbone, pool[::-1], "hflip")
    assert np.array_equal(pinned, from_store[::-1]) and pinned.dtype == np.float32 and not bank._pinned
