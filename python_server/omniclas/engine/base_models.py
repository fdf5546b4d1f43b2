"""Base models: an ImageNet-pretrained body plus a linear layer sized to the classes, trained one of two ways.

* ``linear``: the body stays frozen; a logistic regression is fitted on its unit-length pooled features and
  becomes the linear layer. Features come from the run's :class:`ImageBank`, so each round only refits the head.
* ``finetune``: the paper's protocol with fastai: head 2 epochs with the body frozen, unfreeze, learning-rate
  range test (lr at the lowest recorded loss; below 1e-5 use 1e-3), 8 epochs one-cycle with ``slice(lr/100, lr)``.
"""
from __future__ import annotations

import logging
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from threadpoolctl import threadpool_limits

from ..data.preprocess import normalise, to_unit
from ..model.backbones import Classifier, get_backbone_cfg
from .features import ImageBank

log = logging.getLogger(__name__)
# Inverse regularisation strength of the logistic regression on unit-length features. Fixed, not tuned on the
# labels (a handful per class): C=100 was the best or near-best choice on BCCD, BBBC013 and Fashion-MNIST at 5 and
# 20 labels per class, for test accuracy and for the accuracy of the automatic labels
# (benchmarks/results/linear_head.md).
LINEAR_C = 100.0
# Solver tolerance: sklearn's default. 1e-3 took 3-9x fewer L-BFGS steps on 13,000 rows but cost 0.01-0.03 test
# accuracy after self-training on flowers5 and the many-class set: the automatic labels need a converged fit.
LINEAR_TOL = 1e-4
ABSENT_CLASS_BIAS = -30.0  # a class absent from a fit gets ~zero probability


@dataclass
class BaseModel:
    """One trained base model. ``linear``: a head (``coef``, ``bias``) on the frozen body's unit-length features;
    ``finetune``: a whole fine-tuned :class:`Classifier`."""

    backbone: str
    kind: str
    coef: np.ndarray | None = None  # (classes, features)
    bias: np.ndarray | None = None
    classifier: Classifier | None = None
    valid_accuracy: float | None = None
    valid_loss: float | None = None

    def to_classifier(self, bank: ImageBank, num_classes: int) -> Classifier:
        if self.classifier is not None:
            return self.classifier
        model = bank.pretrained(self.backbone, num_classes, feature_norm="l2")
        with torch.no_grad():
            model.head.weight.copy_(torch.from_numpy(self.coef).float())
            model.head.bias.copy_(torch.from_numpy(self.bias).float())
        return model.eval()


def unit_rows(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def predict_proba(bank: ImageBank, model: BaseModel, indices, view: str = "original") -> np.ndarray:
    """Class probabilities of images ``indices`` under ``view``: from cached features for a linear head, by
    running the fine-tuned network otherwise."""
    if model.kind == "linear":
        feats = unit_rows(bank.features(model.backbone, indices, view).astype(np.float32))
        return softmax(feats @ model.coef.T.astype(np.float32) + model.bias.astype(np.float32))
    return bank.finetuned_proba(model.classifier, model.backbone, indices, view)


def fit_linear(bank: ImageBank, backbone: str, rows: list[tuple[np.ndarray, str, np.ndarray]], num_classes: int,
               seed: int, warm: BaseModel | None = None) -> BaseModel:
    """Logistic regression on unit-length frozen features.

    Args:
        rows: (image indices, view, labels) groups; each adds those images' features under that view.
        warm: a model of the same backbone to start from (the previous round's): same optimum, fewer steps.
    """
    x = np.concatenate([unit_rows(bank.features(backbone, idx, view)) for idx, view, _ in rows]).astype(np.float32)
    y = np.concatenate([labels for _, _, labels in rows])
    present = np.unique(y)
    lr = LogisticRegression(C=LINEAR_C, tol=LINEAR_TOL, max_iter=5000, class_weight="balanced", random_state=seed,
                            warm_start=warm is not None and len(present) > 2)
    if lr.warm_start:
        lr.coef_, lr.intercept_ = warm.coef[present].astype(np.float32), warm.bias[present].astype(np.float32)
    # One BLAS thread: these are skinny products, and a second OpenBLAS thread spin-waits for a core the other
    # process (a server, a second run) holds: 20x slower on 2 shared cores, measured.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr.fit(x, y)
    coef = np.zeros((num_classes, x.shape[1]), dtype=np.float32)
    bias = np.full(num_classes, ABSENT_CLASS_BIAS, dtype=np.float32)
    if len(lr.classes_) == 2:  # sklearn's binary model has one row: p(class 1) = sigmoid(w.x + b)
        coef[lr.classes_[1]], bias[lr.classes_[1]] = lr.coef_[0] / 2, lr.intercept_[0] / 2
        coef[lr.classes_[0]], bias[lr.classes_[0]] = -lr.coef_[0] / 2, -lr.intercept_[0] / 2
    else:
        coef[lr.classes_], bias[lr.classes_] = lr.coef_, lr.intercept_
    return BaseModel(backbone, "linear", coef=coef, bias=bias)


def scores(probs: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[float, float]:
    """Accuracy and log-loss of ``probs`` against labels ``y``."""
    if not len(y):
        return 0.0, 0.0
    acc = float((probs.argmax(1) == y).mean())
    probs = np.clip(probs, 1e-7, 1)
    loss = float(log_loss(y, probs / probs.sum(1, keepdims=True), labels=list(range(num_classes))))
    return acc, loss


class _TensorImages(torch.utils.data.Dataset):
    """uint8 images -> normalised float tensors, with random flips when training."""

    def __init__(self, x_uint8, y, mean, std, augment: bool):
        self.x, self.y, self.mean, self.std, self.augment = x_uint8, torch.as_tensor(y), mean, std, augment

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        img = to_unit(self.x[i])
        if self.augment:
            if torch.rand(1).item() < 0.5:
                img = img.flip(-1)
            if torch.rand(1).item() < 0.5:
                img = img.flip(-2)
        return normalise(img[None], self.mean, self.std)[0], self.y[i]


def lowest_loss_lr(lrs, losses, floor: float = 1e-5, fallback: float = 1e-3) -> float:
    """The paper's rule: the learning rate with the lowest recorded loss; if that is below ``floor``, use ``fallback``."""
    losses = [float(l) for l in losses]
    lr = float(lrs[int(np.argmin(losses))])
    return fallback if lr < floor else lr


def fit_finetune(bank: ImageBank, backbone: str, train_idx, y_train, valid_idx, y_valid, num_classes: int,
                 frozen_epochs: int, unfrozen_epochs: int, batch_size: int, seed: int, report) -> BaseModel:
    """The paper's two-stage fine-tuning, with fastai doing the training."""
    import fastai.callback.progress  # noqa: F401  (adds Learner.no_bar)
    import fastai.callback.schedule  # noqa: F401  (adds fit_one_cycle, lr_find)
    from fastai.callback.core import Callback
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.torch_core import params

    cfg = get_backbone_cfg(backbone)
    torch.manual_seed(seed)
    model = bank.pretrained(backbone, num_classes)
    train_ds = _TensorImages(bank.pixels(train_idx), y_train, cfg.mean, cfg.std, augment=True)
    valid_ds = _TensorImages(bank.pixels(valid_idx), y_valid, cfg.mean, cfg.std, augment=False)
    bs = min(batch_size, len(train_ds))
    dls = DataLoaders(DataLoader(train_ds, bs=bs, shuffle=True, drop_last=len(train_ds) > bs, seed=seed),
                      DataLoader(valid_ds, bs=batch_size), device="cpu")
    total_epochs = frozen_epochs + unfrozen_epochs

    class ReportProgress(Callback):
        order = 90

        def __init__(self):
            self.offset = 0
            self.batch_started = 0.0

        def before_batch(self):
            self.batch_started = time.monotonic()

        def after_batch(self):
            if self.training:
                report.credit("finetune", 1, time.monotonic() - self.batch_started)
            if self.training and not getattr(self.learn, "lr_finder", None):
                report(epoch=self.offset + self.epoch + 1, epochs=total_epochs, batch=self.iter + 1, batches=self.n_iter)
            elif self.training:
                report(message=f"{backbone}: learning-rate range test, step {self.train_iter}")

    progress_cb = ReportProgress()
    scratch = tempfile.TemporaryDirectory(prefix="omniclas-fastai-")  # lr_find saves and restores weights here
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), splitter=lambda m: [params(m.body), params(m.head)],
                    cbs=[progress_cb], path=scratch.name, model_dir=".")
    with scratch, learn.no_bar(), learn.no_logging():
        if frozen_epochs:
            learn.freeze()
            learn.fit_one_cycle(frozen_epochs)
        learn.unfreeze()
        if unfrozen_epochs:
            learn.lr_find(show_plot=False)
            lr = lowest_loss_lr(learn.recorder.lrs, learn.recorder.losses)
            log.info("%s: learning rate %.2e from the range test", backbone, lr)
            progress_cb.offset = frozen_epochs
            learn.fit_one_cycle(unfrozen_epochs, lr_max=slice(lr / 100, lr))
    return BaseModel(backbone, "finetune", classifier=learn.model.eval())
