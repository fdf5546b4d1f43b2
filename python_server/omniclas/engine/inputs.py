"""What a run trains on: the dataset split, as index arrays into one image bank, the chains over it, and the
views; and the features each needs, computed (or read from the feature store) before the rounds."""
from __future__ import annotations

import numpy as np

from ..config import get_process
from ..data import load_dataset, split_dataset
from ..errors import DatasetError
from .chains import Chain, make_folds
from .features import ImageBank
from .progress import features_prior
from .views import ViewPlan, candidate_views, choose_views, plan_views

# Until the views are chosen on held-out labels, the plan counts each optional view's test and pool features at
# this share: the views kept on average over the fast-AutoML benchmark's runs (benchmarks/results/automl.md: 2 to 6
# of 6, 4.6 on average). Counting them all made the first ETA up to 3x too long where two views were kept.
EXPECTED_VIEW_SHARE = 0.75


def choose_image_size(typical_side: int) -> int:
    """Network input size from the images' typical side: a multiple of 32 between 128 and 224 px.

    Large images are not processed beyond 224 px, the backbones' ImageNet size. Small cells are enlarged to at
    least 128 px: ImageNet features at 64 px were clearly worse (5 labels per class, 3 seeds: BBBC013 0.70 vs
    0.72 test accuracy, Fashion-MNIST 0.68 vs 0.72), and self-training hurt at 64 px where it helped at 128 px.
    """
    return int(min(224, max(128, int(np.ceil(typical_side / 32.0)) * 32)))


class RunInputs:
    """The dataset as index arrays into the image bank, and the chains' manual labels (main, then one per fold).

    The bank's images are the labelled and test images first (their features stay in memory), then the unlabelled
    pool (read from the feature store a chunk at a time, and never touched by a process that does not distill).
    """

    def __init__(self, cfg, report):
        self.cfg, self.report = cfg, report
        self.proc = get_process(cfg.process)
        self.linear = cfg.head == "linear"
        report(stage="loading", message=f"reading {cfg.dataset}")
        self.ds = load_dataset(cfg.dataset)
        self.split = split_dataset(self.ds, cfg.test_fraction, 0.0 if self.linear else cfg.valid_fraction, cfg.seed)
        if self.proc.needs_unlabelled and not self.split.unlabelled:
            raise DatasetError(f"process {self.proc.name} needs unlabelled images in {self.ds.root / 'unlabelled'}, "
                               f"and there are none; put them there or use process 'nd'", field="process")
        self.size = cfg.image_size or choose_image_size(self.ds.typical_size())
        report.priors.update(features_prior(self.size))
        self.n_classes = len(self.ds.classes)
        labelled = [p for p, _ in self.split.train + self.split.valid + self.split.test]
        pool = list(self.split.unlabelled) if self.proc.distills else []
        self.paths = labelled + pool
        self.index = {p: i for i, p in enumerate(self.paths)}
        self.bank = ImageBank(self.paths, self.size, digest=self.ds.digest, bf16=cfg.bf16,
                              batch_size=max(cfg.batch_size, 64), runtime=cfg.runtime, report=report,
                              resident=len(labelled))
        self.train_idx, self.y_train = self._indices(self.split.train)
        valid_idx, y_valid = self._indices(self.split.valid)
        self.test_idx, self.y_test = self._indices(self.split.test)
        self.pool_idx = np.arange(len(labelled), len(self.paths))
        n = len(self.paths)
        self.folds = make_folds(self.train_idx, self.y_train, cfg.cv_folds, cfg.seed) if self.linear else []
        self.chains = [Chain(self.train_idx, self.y_train, valid_idx, y_valid, n)] + \
            [Chain(*fold, n) for fold in self.folds]
        self.estimate = ({"method": "cross-validation", "folds": len(self.folds)} if self.folds else
                         {"method": "validation split", "images": int(len(valid_idx))})

    def _indices(self, items) -> tuple[np.ndarray, np.ndarray]:
        return np.array([self.index[p] for p, _ in items], dtype=int), np.array([y for _, y in items], dtype=int)

    def provisional_views(self) -> ViewPlan:
        """The views as if every candidate were kept: what the plan assumes until they are chosen."""
        return plan_views(self.cfg, candidate_views(self.cfg.transforms, self.cfg.train_views, self.cfg.predict_views),
                          self.linear)

    def expect_features(self, views: ViewPlan | None = None, lookup: bool = True) -> None:
        """Plan every feature the run still needs (:mod:`.plan`): the labelled images under the views that train and
        predict (every candidate view until they are chosen), the test images under those that predict, the pool
        under those that label or train. With ``lookup``, what the feature store holds already is left out (that
        needs the bodies converted)."""
        if not self.linear:
            return self.report.expect("features", 0)  # fine-tuned heads read pixels
        share = 1.0 if views or not self._views_to_choose() else EXPECTED_VIEW_SHARE
        views = views or self.provisional_views()
        # every candidate view of the labelled images is computed to choose among them
        parts = [(self.train_idx, set(views.train) | set(views.predict), 1.0), (self.test_idx, set(views.predict), share),
                 (self.pool_idx, set(views.label) | set(views.train), share)]
        self.report.expect("features", sum((len(self.bank.missing(b, v, idx)) if lookup else len(idx))
                                           * (1.0 if v == "original" else weight)
                                           for idx, vs, weight in parts for v in sorted(vs) for b in self.cfg.backbones))

    def _views_to_choose(self) -> bool:
        cfg = self.cfg
        return bool(self.linear and cfg.auto_views and self.folds
                    and len(candidate_views(cfg.transforms, cfg.train_views, cfg.predict_views)) > 1)

    def plan_views(self, state: dict | None) -> ViewPlan:
        """Compute the labelled images' features, choose the views on held-out labels (or take them all), then
        compute the test images' features for the views the saved model averages."""
        cfg, report, backbones = self.cfg, self.report, self.cfg.backbones
        candidates = candidate_views(cfg.transforms, cfg.train_views, cfg.predict_views)
        if self.linear:
            report(stage="features", message=f"preparing {', '.join(backbones)}")
            for b in backbones:
                self.bank.compiled(b)
            self.expect_features(ViewPlan(**state["views"]) if state and state.get("views") else None)
        if state and state.get("views"):
            views = ViewPlan(**state["views"])
        elif self._views_to_choose():
            report(stage="features", message=f"features of {len(self.train_idx)} labelled images, {len(candidates)} "
                   f"views")
            self.bank.ensure(self.train_idx, [(b, v) for b in backbones for v in candidates])
            report(message=f"choosing views among {', '.join(candidates[1:])} on held-out labels")
            chosen, trials = choose_views(self.bank, backbones, self.folds, candidates, self.n_classes, cfg.seed,
                                          train_flips=cfg.train_views, report=report)
            views = plan_views(cfg, chosen, self.linear, trials)
        else:
            views = plan_views(cfg, candidates, self.linear)
        if self.linear:
            self.expect_features(views)
            report(stage="features", message=f"features of {len(self.train_idx)} labelled and "
                   f"{len(self.test_idx)} test images")
            self.bank.ensure(self.train_idx, [(b, v) for b in backbones for v in dict.fromkeys(views.train + views.predict)])
            self.bank.ensure(self.test_idx, [(b, v) for b in backbones for v in views.predict])
        return views

    def prepare_pool(self, views: ViewPlan, distills: bool) -> None:
        """Compute the pool's features for every view that labels or trains, decoding each image once; drop the
        images that cannot be read (named in the run's skipped files)."""
        if not distills or not len(self.pool_idx):
            return
        if self.linear:
            needed = sorted(set(views.label) | set(views.train))
            combos = [(b, v) for b in self.cfg.backbones for v in needed]
            self.report(stage="features", message=f"features of {len(self.pool_idx)} unlabelled images")
            self.bank.ensure(self.pool_idx, combos)
        else:  # fine-tuned bodies label from pixels: only check that each image reads
            self.bank.check_readable(self.pool_idx)
        if self.bank.failed:
            for i, reason in sorted(self.bank.failed.items()):
                self.ds.skip(self.paths[i], reason)
            self.pool_idx = np.array([i for i in self.pool_idx if int(i) not in self.bank.failed], dtype=int)
