"""Base models: an ImageNet-pretrained body plus a linear layer sized to the classes, trained one of two ways.

* ``linear``: the body stays frozen; a logistic regression is fitted on its pooled features and becomes the
  linear layer. Features are computed once per run and cached, so each iteration only refits the head.
* ``finetune``: the paper's protocol with fastai: head 2 epochs with the body frozen, unfreeze, learning-rate
  range test (lr at the lowest recorded loss; below 1e-5 use 1e-3), 8 epochs one-cycle with ``slice(lr/100, lr)``.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from ..backbones import Classifier, create_classifier, get_backbone_cfg
from ..config import TRANSFORMS
from ..preprocess import normalise, run_batches, to_unit
from .tta import tta_views

log = logging.getLogger(__name__)
# Inverse regularisation strength of the logistic regression on unit-length features. Fixed, not tuned on the
# validation split (one or two images per class with few labels): C=100 was the best or near-best choice on
# BCCD, BBBC013 and Fashion-MNIST at 5 and 20 labels per class, for test accuracy and for the accuracy of the
# automatic labels above a 0.8 confidence (benchmarks/results/linear_head.md).
LINEAR_C = 100.0


@dataclass
class BaseModel:
    backbone: str
    kind: str
    classifier: Classifier
    valid_accuracy: float
    valid_loss: float


_VIEW_FUNCTIONS = dict(tta_views(TRANSFORMS))


class ImageBank:
    """Every image of a run, resized once, with frozen-body features cached per (backbone, view)."""

    def __init__(self, x_uint8: torch.Tensor, bf16: bool, batch_size: int, report):
        self.x = x_uint8
        self.bf16 = bf16
        self.batch_size = batch_size
        self.report = report
        self._bodies: dict[str, Classifier] = {}
        self._features: dict[tuple[str, str], dict[int, np.ndarray]] = {}

    def pretrained(self, backbone: str, num_classes: int, feature_norm: str | None = None) -> Classifier:
        """A fresh classifier whose body holds ImageNet weights (loaded from disk once per backbone)."""
        if backbone not in self._bodies:
            self._bodies[backbone] = create_classifier(backbone, num_classes, pretrained=True)
        template = self._bodies[backbone]
        model = create_classifier(backbone, num_classes, pretrained=False, feature_norm=feature_norm)
        model.body.load_state_dict(template.body.state_dict())
        return model

    def features(self, backbone: str, indices: np.ndarray, view: str = "original") -> np.ndarray:
        """Pooled body features of images ``indices`` under test-time transform ``view``."""
        store = self._features.setdefault((backbone, view), {})
        missing = [int(i) for i in indices if int(i) not in store]
        if missing:
            cfg = get_backbone_cfg(backbone)
            body = self.pretrained(backbone, 2).body.to(memory_format=torch.channels_last)
            transform = _VIEW_FUNCTIONS[view]
            self.report(stage="features", message=f"{backbone}: features of {len(missing)} images ({view})")
            feats = run_batches(body, to_unit(self.x[missing]), cfg.mean, cfg.std, self.bf16, self.batch_size,
                                transform=transform,
                                on_batch=lambda b, n: self.report(batch=b, batches=n))
            for i, f in zip(missing, feats.numpy()):
                store[i] = f
        return np.stack([store[int(i)] for i in indices])

    def predict_proba(self, model: BaseModel, indices: np.ndarray, view: str = "original") -> np.ndarray:
        if model.kind == "linear":  # the body is frozen: reuse the cached features
            feats = torch.from_numpy(self.features(model.backbone, indices, view))
        else:
            cfg = get_backbone_cfg(model.backbone)
            body = model.classifier.body.to(memory_format=torch.channels_last)
            feats = run_batches(body, to_unit(self.x[indices]), cfg.mean, cfg.std, self.bf16, self.batch_size,
                                transform=_VIEW_FUNCTIONS[view])
        with torch.inference_mode():
            return torch.softmax(model.classifier.classify(feats), dim=1).numpy()


def _scores(probs: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[float, float]:
    acc = float((probs.argmax(1) == y).mean()) if len(y) else 0.0
    probs = np.clip(probs, 1e-7, 1)
    loss = float(log_loss(y, probs / probs.sum(1, keepdims=True), labels=list(range(num_classes)))) if len(y) else 0.0
    return acc, loss


def fit_linear(bank: ImageBank, backbone: str, train_idx, y_train, valid_idx, y_valid, num_classes: int,
               seed: int) -> BaseModel:
    """Logistic regression on unit-length frozen features; its coefficients become the linear layer."""
    f_train = bank.features(backbone, train_idx).astype(np.float64)
    f_train /= np.linalg.norm(f_train, axis=1, keepdims=True)
    lr = LogisticRegression(C=LINEAR_C, max_iter=5000, class_weight="balanced", random_state=seed)
    lr.fit(f_train, y_train)
    coef = np.zeros((num_classes, f_train.shape[1]))
    bias = np.full(num_classes, -30.0)  # a class absent from training gets ~zero probability
    if len(lr.classes_) == 2:  # sklearn's binary model has one row: p(class 1) = sigmoid(w.x + b)
        coef[lr.classes_[1]], bias[lr.classes_[1]] = lr.coef_[0] / 2, lr.intercept_[0] / 2
        coef[lr.classes_[0]], bias[lr.classes_[0]] = -lr.coef_[0] / 2, -lr.intercept_[0] / 2
    else:
        coef[lr.classes_], bias[lr.classes_] = lr.coef_, lr.intercept_
    model = bank.pretrained(backbone, num_classes, feature_norm="l2")
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(coef).float())
        model.head.bias.copy_(torch.from_numpy(bias).float())
    fitted = BaseModel(backbone, "linear", model.eval(), 0.0, 0.0)
    fitted.valid_accuracy, fitted.valid_loss = _scores(bank.predict_proba(fitted, valid_idx), y_valid, num_classes)
    return fitted


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
    train_ds = _TensorImages(bank.x[train_idx], y_train, cfg.mean, cfg.std, augment=True)
    valid_ds = _TensorImages(bank.x[valid_idx], y_valid, cfg.mean, cfg.std, augment=False)
    bs = min(batch_size, len(train_ds))
    dls = DataLoaders(DataLoader(train_ds, bs=bs, shuffle=True, drop_last=len(train_ds) > bs, seed=seed),
                      DataLoader(valid_ds, bs=batch_size), device="cpu")
    total_epochs = frozen_epochs + unfrozen_epochs

    class ReportProgress(Callback):
        order = 90

        def __init__(self):
            self.offset = 0

        def after_batch(self):
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
    model = learn.model.eval()
    fitted = BaseModel(backbone, "finetune", model, 0.0, 0.0)
    acc, loss = _scores(bank.predict_proba(fitted, valid_idx), y_valid, num_classes)
    fitted.valid_accuracy, fitted.valid_loss = acc, loss
    return fitted
