"""Training options: the one place where defaults live, and the seven processes as presets of one loop."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import ConfigError

TRANSFORMS = ("hflip", "vflip", "hvflip", "blur", "gamma")
HEADS = ("linear", "finetune", "auto")
SINGLE_BACKBONE = ("efficientnet_lite0",)
ENSEMBLE_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
PAPER_SINGLE_BACKBONE = ("resnet50",)
SUGGEST_N, SUGGEST_N_MAX = 24, 500  # images `suggest` names per batch by default, and at most
PAPER_ENSEMBLE_BACKBONES = ("resnet34", "resnet50", "resnet101", "densenet121")


@dataclass(frozen=True)
class Process:
    """A preset of the distillation loop (Table 1 of Inés et al.)."""

    id: str
    name: str
    description: str
    ensemble: bool  # several base models vote
    tta: bool  # test-time transforms when labelling
    iterative: bool  # repeat train -> label until a stop condition
    distills: bool = True  # uses unlabelled images at all
    automl: bool = False  # tries processes and rules side by side, keeps one (engine/automl.py)

    @property
    def needs_unlabelled(self) -> bool:
        return self.distills and not self.automl  # AutoML without unlabelled images tries N.D. alone


PROCESSES: dict[str, Process] = {p.id: p for p in (
    Process("auto", "AutoML", "Automatic (recommended): tries N.D. and the iterative processes with every selection "
            "rule on the same cross-validated labels, and keeps I.M.D.D. with the threshold rule unless another "
            "candidate's estimate beats it by more than paired noise (one standard error).", ensemble=True, tta=True, iterative=True, automl=True),
    Process("nd", "N.D.", "No distillation: train on the labelled images only; by default the saved model averages every base "
            "model (Saved model: ensemble).",
            ensemble=True, tta=False, iterative=False, distills=False),
    Process("dd", "D.D.", "Data distillation: one model labels every unlabelled image with test-time augmentation, once.",
            ensemble=False, tta=True, iterative=False),
    Process("idd", "I.D.D.", "Iterative data distillation: one model with test-time augmentation keeps only confident labels, and repeats.",
            ensemble=False, tta=True, iterative=True),
    Process("md", "M.D.", "Model distillation: an ensemble of models labels every unlabelled image, once.",
            ensemble=True, tta=False, iterative=False),
    Process("imd", "I.M.D.", "Iterative model distillation: an ensemble keeps only confident labels, and repeats.",
            ensemble=True, tta=False, iterative=True),
    Process("mdd", "M.D.D.", "Model + data distillation: an ensemble with test-time augmentation labels every unlabelled image, once.",
            ensemble=True, tta=True, iterative=False),
    Process("imdd", "I.M.D.D.", "Iterative model + data distillation: an ensemble with test-time augmentation keeps only confident labels, and repeats.",
            ensemble=True, tta=True, iterative=True),
)}

# Accept the paper's spellings too: "I.M.D.D.", "imdd", "IMDD".
def get_process(name: str) -> Process:
    key = name.lower().replace(".", "").replace("-", "").replace("_", "").strip()
    if key not in PROCESSES:
        raise ConfigError(f"unknown process '{name}'; choose one of: {', '.join(PROCESSES)}", field="process")
    return PROCESSES[key]


SELECTIONS = ("threshold", "balanced", "prior")
KEEPS = ("ensemble", "best", "best_on_test")
RUNTIMES = ("auto", "openvino", "onnxruntime", "torch")
STUDENTS = ("auto", "on", "off")


@dataclass(frozen=True)
class Option:
    """One training option as the CLI, the server and Fiji's wizard show it.

    ``applies`` holds conditions that must all hold for the option to matter: a process property (``distills``,
    ``iterative``, ``tta``, ``ensemble``) mapped to a bool, or another option mapped to the values it must take.
    """

    name: str
    label: str
    type: str  # choice | multichoice | number | integer | boolean
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    applies: dict = field(default_factory=dict)
    advanced: bool = False

    def applies_to(self, process: Process, values: dict) -> bool:
        """Whether the option matters for ``process`` with the other options at ``values`` (e.g. no epochs for a
        linear head): what the CLI, the job log and Fiji show, and the rest they leave out."""
        for key, wanted in self.applies.items():
            if key in ("distills", "iterative", "tta", "ensemble", "automl"):
                if getattr(process, key) != wanted:
                    return False
            elif values.get(key) not in wanted:
                return False
        return True

    def to_dict(self) -> dict:
        d = {"name": self.name, "label": self.label, "type": self.type, "help": self.help,
             "applies": dict(self.applies), "advanced": self.advanced}
        if self.choices:
            d["choices"] = list(self.choices)
        if self.minimum is not None:
            d["minimum"] = self.minimum
        if self.maximum is not None:
            d["maximum"] = self.maximum
        return d


_FINETUNE = {"head": ["finetune", "auto"]}
OPTIONS: tuple[Option, ...] = (
    Option("backbones", "Backbones", "multichoice",
           "ImageNet-pretrained networks; ensemble processes train one base model per backbone"),
    Option("head", "Head", "choice", "linear: frozen features + logistic regression (fast, best with few labels); "
           "finetune: the paper's 2+8 epochs of fine-tuning; auto: train both, validation picks", choices=HEADS),
    Option("keep", "Saved model", "choice", "ensemble: one model that averages every base model; best: the base "
           "model with the best cross-validated accuracy; best_on_test: the paper's choice, best on the test set "
           "(makes the reported test accuracy optimistic)", choices=KEEPS, applies={"ensemble": True}),
    Option("selection", "Selection rule", "choice", "threshold: the paper's rule, every image whose mean "
           "confidence reaches the threshold; balanced: per class, the most confident share of the images voted "
           "into it, growing each round, where models and views agree; prior: per class, the most confident images "
           "in proportion to the class's estimated share of the unlabelled images, growing each round",
           choices=SELECTIONS, applies={"distills": True, "iterative": True, "automl": False}),
    Option("threshold", "Confidence threshold", "number", "the paper's rule: keep automatic labels at or above this "
           "mean confidence (0 keeps all)", minimum=0.0, maximum=1.0,
           applies={"distills": True, "selection": ["threshold"]}),
    Option("time_budget", "Time budget (s, 0 = none)", "integer", "AutoML stops trying candidates after this "
           "many seconds and keeps the best so far", minimum=0, maximum=7 * 24 * 3600, applies={"automl": True}),
    Option("student", "Student", "choice", "after the rounds, fine-tune the top blocks of one body on the manual "
           "and automatic labels and add it to the saved ensemble; auto: only where a held-out estimate says it "
           "pays and it fits in the time budget; on: always; off: never", choices=STUDENTS,
           applies={"head": ["linear"], "distills": True}, advanced=True),
    Option("unsure_precision", "Unsure below precision", "number", "calibration: predictions less confident than "
           "the threshold at which the held-out predictions reach this precision are marked unsure",
           minimum=0.5, maximum=0.999, advanced=True),
    Option("max_iterations", "Maximum rounds", "integer", "stop after this many labelling rounds", minimum=0,
           maximum=50, applies={"iterative": True}),
    Option("transforms", "Test-time transforms", "multichoice", "views of each unlabelled image that vote on its "
           "label", choices=TRANSFORMS, applies={"tta": True}),
    Option("auto_views", "Choose views on the labels", "boolean", "drop test-time transforms that do not improve "
           "cross-validated accuracy on the labelled images", applies={"tta": True}, advanced=True),
    Option("train_views", "Train on flipped views", "boolean", "the flipped views also train the linear heads "
           "(feature-space augmentation)", applies={"head": ["linear", "auto"]}, advanced=True),
    Option("predict_views", "Average flipped views when classifying", "boolean", "the saved model averages its "
           "prediction over the image and its flips: more accurate, costs one pass per view",
           applies={"head": ["linear", "auto"]}, advanced=True),
    Option("frozen_epochs", "Frozen epochs", "integer", "fine-tuning epochs with the body frozen", minimum=0,
           maximum=100, applies=_FINETUNE),
    Option("unfrozen_epochs", "Unfrozen epochs", "integer", "fine-tuning epochs of the whole network", minimum=0,
           maximum=100, applies=_FINETUNE),
    Option("image_size", "Input size (px, 0 = automatic)", "integer", "network input size; 0 chooses from the "
           "images' size (128-224 px)", minimum=0, maximum=1024, advanced=True),
    Option("batch_size", "Batch size", "integer", "images per batch", minimum=1, maximum=1024, advanced=True),
    Option("seed", "Seed", "integer", "random seed: same seed, same result", minimum=0, maximum=2**31 - 1,
           advanced=True),
)


@dataclass
class TrainConfig:
    """Every knob of a training run. ``None`` means "the process's own default" (see :meth:`resolved`)."""

    dataset: str
    out_dir: str | None = None
    process: str = "auto"
    backbones: tuple[str, ...] | None = None
    head: str = "linear"  # linear: frozen features + logistic regression; finetune: the paper's 2+8 epochs; auto: validation picks
    keep: str = "ensemble"  # what a run with several backbones saves (see OPTIONS)
    selection: str = "threshold"  # the paper's rule won benchmarks/results/processes.md; one-shot processes use threshold 0
    transforms: tuple[str, ...] | None = None
    threshold: float | None = None
    max_iterations: int | None = None
    time_budget: int = 0  # seconds AutoML may spend on candidates (0: no limit)
    unsure_precision: float = 0.95  # the held-out precision the unsure threshold reaches (model/calibration.py)
    student: str = "auto"  # fine-tune a student after the rounds: auto (where it pays), on, off
    auto_views: bool = True
    train_views: bool = True
    predict_views: bool = True
    frozen_epochs: int = 2
    unfrozen_epochs: int = 8
    image_size: int | None = None  # None (or 0): chosen from the images' sizes
    batch_size: int = 32
    seed: int = 0
    test_fraction: float = 0.25
    valid_fraction: float = 0.2  # only for fine-tuned heads; linear heads are scored by cross-validation
    cv_folds: int = 5
    runtime: str = "auto"  # where frozen bodies run forward: the fastest available unless named
    bf16: bool | None = None  # None: use bf16 for inference where the CPU supports it
    workers: int = 0

    def resolved(self) -> "TrainConfig":
        """Fill the process's defaults and validate every field; the result is what the run records."""
        proc = get_process(self.process)
        cfg = dataclasses.replace(self, process=proc.id)
        if cfg.backbones is None:
            cfg.backbones = ENSEMBLE_BACKBONES if proc.ensemble else SINGLE_BACKBONE
        cfg.backbones = tuple(cfg.backbones)
        if not cfg.backbones:
            raise ConfigError("at least one backbone is needed", field="backbones")
        if len(set(cfg.backbones)) != len(cfg.backbones):
            raise ConfigError("a backbone is named twice", field="backbones")
        if not proc.ensemble and proc.distills and len(cfg.backbones) != 1:
            raise ConfigError(f"process {proc.name} uses exactly one backbone, got {len(cfg.backbones)}", field="backbones")
        if cfg.transforms is None:
            cfg.transforms = TRANSFORMS if proc.tta else ()
        cfg.transforms = tuple(cfg.transforms)
        for t in cfg.transforms:
            if t not in TRANSFORMS:
                raise ConfigError(f"unknown transform '{t}'; choose from {', '.join(TRANSFORMS)}", field="transforms")
        if cfg.selection not in SELECTIONS:
            raise ConfigError(f"unknown selection rule '{cfg.selection}'; choose from {', '.join(SELECTIONS)}",
                              field="selection")
        if cfg.threshold is None:
            cfg.threshold = 0.8 if proc.iterative else 0.0
        if not 0.0 <= cfg.threshold <= 1.0:
            raise ConfigError(f"threshold must be between 0 and 1, got {cfg.threshold}", field="threshold")
        if cfg.max_iterations is None:
            cfg.max_iterations = 5 if proc.iterative else (1 if proc.distills else 0)
        if not proc.distills:
            cfg.max_iterations = 0
        elif not proc.iterative:
            cfg.max_iterations = 1
        if cfg.time_budget < 0:
            raise ConfigError(f"time_budget must be >= 0 seconds, got {cfg.time_budget}", field="time_budget")
        if not 0.5 <= cfg.unsure_precision <= 0.999:
            raise ConfigError(f"unsure_precision must be between 0.5 and 0.999, got {cfg.unsure_precision}",
                              field="unsure_precision")
        if cfg.max_iterations < 0:
            raise ConfigError("max_iterations must be >= 0", field="max_iterations")
        for name, allowed in (("head", HEADS), ("keep", KEEPS), ("runtime", RUNTIMES), ("student", STUDENTS)):
            if getattr(cfg, name) not in allowed:
                raise ConfigError(f"unknown {name} '{getattr(cfg, name)}'; choose from {', '.join(allowed)}", field=name)
        if cfg.image_size == 0:
            cfg.image_size = None
        if cfg.image_size is not None and not 32 <= cfg.image_size <= 1024:
            raise ConfigError(f"image_size must be between 32 and 1024, got {cfg.image_size}", field="image_size")
        if cfg.batch_size < 1 or cfg.frozen_epochs < 0 or cfg.unfrozen_epochs < 0:
            raise ConfigError("batch_size must be >= 1 and epochs >= 0", field="batch_size")
        if not 2 <= cfg.cv_folds <= 20:
            raise ConfigError(f"cv_folds must be between 2 and 20, got {cfg.cv_folds}", field="cv_folds")
        if not 0.0 < cfg.test_fraction < 1.0 or not 0.0 < cfg.valid_fraction < 1.0:
            raise ConfigError("test_fraction and valid_fraction must be between 0 and 1", field="test_fraction")
        return cfg

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}", field=unknown[0])
        if "dataset" not in d:
            raise ConfigError("the dataset folder is required", field="dataset")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def describe_processes() -> dict:
    """The seven processes with their resolved defaults, and the options that apply to each: what the server
    serves at ``GET /api/v1/processes`` and Fiji's wizard renders."""
    from .model.backbones import list_backbones

    backbones = [b.name for b in list_backbones()]
    out = []
    for p in PROCESSES.values():
        cfg = TrainConfig(dataset="", process=p.id).resolved().to_dict()
        defaults = {o.name: cfg[o.name] for o in OPTIONS}
        defaults["image_size"] = defaults["image_size"] or 0
        out.append({"id": p.id, "name": p.name, "description": p.description,
                    "needs_unlabelled": p.needs_unlabelled, "ensemble": p.ensemble, "tta": p.tta,
                    "iterative": p.iterative, "distills": p.distills, "automl": p.automl,
                    "max_backbones": None if p.ensemble or not p.distills else 1, "defaults": defaults})
    options = []
    for o in OPTIONS:
        d = o.to_dict()
        if o.name == "backbones":
            d["choices"] = backbones
        options.append(d)
    return {"processes": out, "options": options}
