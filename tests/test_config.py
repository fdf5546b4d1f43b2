"""Each process preset sets the right loop configuration; bad options give clear errors."""
import pytest

from omniclas.config import ENSEMBLE_BACKBONES, PROCESSES, SINGLE_BACKBONE, TRANSFORMS, TrainConfig, get_process
from omniclas.errors import ConfigError

EXPECTED = {  # process: (ensemble, tta, threshold, max_iterations, distills)
    "nd": (True, False, 0.0, 0, False),
    "dd": (False, True, 0.0, 1, True),
    "idd": (False, True, 0.8, 5, True),
    "md": (True, False, 0.0, 1, True),
    "imd": (True, False, 0.8, 5, True),
    "mdd": (True, True, 0.0, 1, True),
    "imdd": (True, True, 0.8, 5, True),
}


@pytest.mark.parametrize("process", sorted(EXPECTED))
def test_preset(process):
    ensemble, tta, threshold, max_iterations, distills = EXPECTED[process]
    cfg = TrainConfig(dataset="d", process=process).resolved()
    assert cfg.backbones == (ENSEMBLE_BACKBONES if ensemble else SINGLE_BACKBONE)
    assert cfg.transforms == (TRANSFORMS if tta else ())
    assert cfg.threshold == threshold
    assert cfg.max_iterations == max_iterations
    assert PROCESSES[process].distills is distills


def test_seven_processes_and_automl_and_paper_spellings():
    assert list(PROCESSES) == ["auto", "nd", "dd", "idd", "md", "imd", "mdd", "imdd"]
    assert TrainConfig(dataset="d").resolved().process == "auto"  # the default everywhere
    auto = TrainConfig(dataset="d", process="AUTO").resolved()
    assert auto.backbones == ENSEMBLE_BACKBONES and auto.transforms == TRANSFORMS and auto.max_iterations == 5
    assert PROCESSES["auto"].automl and not PROCESSES["auto"].needs_unlabelled
    assert get_process("I.M.D.D.").id == "imdd"
    assert get_process("N.D.").id == "nd"


def test_knobs_override_preset():
    cfg = TrainConfig(dataset="d", process="imdd", threshold=0.9, max_iterations=2, transforms=("hflip",),
                      backbones=("efficientnet_lite1",)).resolved()
    assert (cfg.threshold, cfg.max_iterations, cfg.transforms, cfg.backbones) == (0.9, 2, ("hflip",), ("efficientnet_lite1",))


def test_one_shot_processes_run_one_round_whatever_is_asked():
    assert TrainConfig(dataset="d", process="dd", max_iterations=7).resolved().max_iterations == 1


@pytest.mark.parametrize("changes, field", [
    ({"process": "xyz"}, "process"), ({"threshold": 1.5}, "threshold"), ({"transforms": ("rotate",)}, "transforms"),
    ({"process": "dd", "backbones": ("efficientnet_lite0", "efficientnet_lite1")}, "backbones"),
    ({"head": "mlp"}, "head"), ({"image_size": 8}, "image_size"),
])
def test_invalid_options_name_the_field(changes, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig(dataset="d", **changes).resolved()
    assert err.value.field == field


def test_dict_round_trip_and_unknown_keys():
    cfg = TrainConfig(dataset="d", backbones=("efficientnet_lite0",))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig.from_dict({"dataset": "d", "learning_rate": 1})


def test_the_plugins_junit_snapshot_is_what_the_server_describes():
    """fiji_plugin's JUnit tests read a snapshot of GET /processes; it must not drift from the engine's options."""
    import json
    from pathlib import Path

    from omniclas.config import describe_processes

    snapshot = Path(__file__).resolve().parents[1] / "fiji_plugin/src/test/resources/processes.json"
    assert json.loads(snapshot.read_text()) == describe_processes(), (
        "regenerate it: python -c \"import json; from omniclas.config import describe_processes; "
        "print(json.dumps(describe_processes(), indent=1))\" > fiji_plugin/src/test/resources/processes.json")


def test_process_descriptions_say_what_happens():
    """Issue 22 item 9: GET /processes and the wizard describe what the engine does with the defaults: AutoML keeps
    I.M.D.D. with the default rule unless another candidate beats it by more than paired noise (engine/automl.py),
    and N.D. saves what `keep` says by default, not "the best on the test set"."""
    from omniclas.config import PROCESSES, TrainConfig

    defaults = TrainConfig(dataset="d")
    auto, nd = PROCESSES["auto"].description, PROCESSES["nd"].description
    assert f"keeps {PROCESSES['imdd'].name} with the {defaults.selection} rule" in auto
    assert "paired noise" in auto and "simpler" not in auto
    assert defaults.keep == "ensemble" and "(Saved model: ensemble)" in nd and "test set" not in nd
