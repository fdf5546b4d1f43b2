"""What a run trains on: the dataset split, as index arrays into one image bank, and the chains over it."""
from __future__ import annotations

import numpy as np

from ..config import get_process
from ..data import load_dataset, split_dataset
from ..data.preprocess import resize_batch
from ..errors import ConfigError, DatasetError
from .chains import Chain, make_folds
from .features import ImageBank
from .views import ViewPlan, candidate_views, choose_views, plan_views


def choose_image_size(typical_side: int) -> int:
    """Network input size from the images' typical side: a multiple of 32 between 128 and 224 px.

    Large images are not processed beyond 224 px, the backbones' ImageNet size. Small cells are enlarged to at
    least 128 px: ImageNet features at 64 px were clearly worse (5 labels per class, 3 seeds: BBBC013 0.70 vs
    0.72 test accuracy, Fashion-MNIST 0.68 vs 0.72), and self-training hurt at 64 px where it helped at 128 px.
    """
    return int(min(224, max(128, int(np.ceil(typical_side / 32.0)) * 32)))


class RunInputs:
    """The dataset as index arrays into the image bank, the chains (main, then one per fold) and the views."""

    def __init__(self, cfg, report, bank: ImageBank | None):
        self.cfg, self.report = cfg, report
        self.proc = get_process(cfg.process)
        self.linear = cfg.head == "linear"
        report(stage="loading", message=f"reading {cfg.dataset}")
        self.ds = load_dataset(cfg.dataset)
        self.split = split_dataset(self.ds, cfg.test_fraction, 0.0 if self.linear else cfg.valid_fraction, cfg.seed)
        if self.proc.distills and not self.split.unlabelled:
            raise DatasetError(f"process {self.proc.name} needs unlabelled images in {self.ds.root / 'unlabelled'}, "
                               f"and there are none; put them there or use process 'nd'", field="process")
        self.size = cfg.image_size or choose_image_size(self.ds.typical_size())
        self.n_classes = len(self.ds.classes)
        # One tensor holds every image, resized once; index arrays name the subsets.
        self.paths = [p for p, _ in self.split.train + self.split.valid + self.split.test] + list(self.split.unlabelled)
        self.index = {p: i for i, p in enumerate(self.paths)}
        if bank is None:
            bank = ImageBank(resize_batch([self.ds.images[p] for p in self.paths], self.size), bf16=cfg.bf16,
                             batch_size=max(cfg.batch_size, 64), runtime=cfg.runtime, report=report)
        elif len(bank) != len(self.paths) or bank.size != self.size:  # shared between runs (benchmarks)
            raise ConfigError("the shared image bank does not match this dataset split", field="bank")
        bank.report = report
        self.bank = bank
        self.train_idx, self.y_train = self._indices(self.split.train)
        valid_idx, y_valid = self._indices(self.split.valid)
        self.test_idx, self.y_test = self._indices(self.split.test)
        self.pool_idx = np.array([self.index[p] for p in self.split.unlabelled], dtype=int)
        self.main = Chain(self.train_idx, self.y_train, valid_idx, y_valid)
        self.folds = make_folds(self.train_idx, self.y_train, cfg.cv_folds, cfg.seed) if self.linear else []
        self.chains = [self.main] + [Chain(*fold) for fold in self.folds]
        self.estimate = ({"method": "cross-validation", "folds": len(self.folds)} if self.folds else
                         {"method": "validation split", "images": int(len(valid_idx))})

    def _indices(self, items) -> tuple[np.ndarray, np.ndarray]:
        return np.array([self.index[p] for p, _ in items], dtype=int), np.array([y for _, y in items], dtype=int)

    def plan_views(self, state: dict | None) -> ViewPlan:
        """Plan the work, then choose the views on held-out labels (or take them all)."""
        cfg, report, n_bodies = self.cfg, self.report, len(self.cfg.backbones)
        candidates = candidate_views(cfg.transforms, cfg.train_views, cfg.predict_views)
        pool = len(self.pool_idx) if self.proc.distills else 0
        report.plan("features", n_bodies * (len(self.train_idx) * (len(candidates) if self.linear else 1)
                                            + (pool + len(self.test_idx)) * len(candidates)))
        report.plan("fit", n_bodies * len(self.chains) * (cfg.max_iterations + 1))
        if state:
            views = ViewPlan(**state["views"])
        elif self.linear and cfg.auto_views and self.folds and len(candidates) > 1:
            report(stage="features", message=f"choosing views among {', '.join(candidates[1:])} on held-out labels")
            chosen, trials = choose_views(self.bank, cfg.backbones, self.folds, candidates, self.n_classes, cfg.seed)
            views = plan_views(cfg, chosen, self.linear, trials)
        else:
            views = plan_views(cfg, candidates, self.linear)
        # Now the plan knows which views the pool (labelling and training) and the test images need.
        pool_views = set(views.label) | set(views.train)
        report.planned["features"] = report.done.get("features", 0.0) + n_bodies * (
            pool * len(pool_views) + len(self.test_idx) * len(views.predict))
        return views
