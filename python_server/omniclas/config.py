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

    @property
    def needs_unlabelled(self) -> bool:
        return self.distills


PROCESSES: dict[str, Process] = {p.id: p for p in (
    Process("nd", "N.D.", "No distillation: train on the labelled images only; the best model on the test set is kept.",
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


@dataclass
class TrainConfig:
    """Every knob of a training run. ``None`` means "the process's own default" (see :meth:`resolved`)."""

    dataset: str
    out_dir: str | None = None
    process: str = "imdd"
    backbones: tuple[str, ...] | None = None
    head: str = "linear"  # linear: frozen features + logistic regression; finetune: the paper's 2+8 epochs; auto: validation picks
    transforms: tuple[str, ...] | None = None
    threshold: float | None = None
    max_iterations: int | None = None
    frozen_epochs: int = 2
    unfrozen_epochs: int = 8
    image_size: int | None = None  # None: chosen from the images' sizes
    batch_size: int = 32
    seed: int = 0
    test_fraction: float = 0.25
    valid_fraction: float = 0.2
    bf16: bool | None = None  # None: use bf16 autocast for inference where the CPU supports it
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
        if not proc.ensemble and proc.distills and len(cfg.backbones) != 1:
            raise ConfigError(f"process {proc.name} uses exactly one backbone, got {len(cfg.backbones)}", field="backbones")
        if cfg.transforms is None:
            cfg.transforms = TRANSFORMS if proc.tta else ()
        cfg.transforms = tuple(cfg.transforms)
        for t in cfg.transforms:
            if t not in TRANSFORMS:
                raise ConfigError(f"unknown transform '{t}'; choose from {', '.join(TRANSFORMS)}", field="transforms")
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
        if cfg.max_iterations < 0:
            raise ConfigError("max_iterations must be >= 0", field="max_iterations")
        if cfg.head not in HEADS:
            raise ConfigError(f"unknown head '{cfg.head}'; choose from {', '.join(HEADS)}", field="head")
        if cfg.image_size is not None and not 32 <= cfg.image_size <= 1024:
            raise ConfigError(f"image_size must be between 32 and 1024, got {cfg.image_size}", field="image_size")
        if cfg.batch_size < 1 or cfg.frozen_epochs < 0 or cfg.unfrozen_epochs < 0:
            raise ConfigError("batch_size must be >= 1 and epochs >= 0", field="batch_size")
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
