"""Which images of ``DATASET/unlabelled/`` to label next, best first (``omniclas suggest``, ``POST /suggest``).

Without a model, a cold start (:func:`.suggest_pick.typiclust`) on the default body's frozen features; with one,
the images it is least sure of, spread over the pool (:func:`.suggest_pick.uncertain_batch`). Features come from
the feature store (:mod:`.features`), so a pool seen before by a run or a suggestion costs seconds: a model's
frozen-feature members are applied to stored features, members with a fine-tuned body read the pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import SINGLE_BACKBONE, SUGGEST_N, SUGGEST_N_MAX
from ..data.dataset import RESERVED_DIRS, UNLABELLED_DIR, class_folders, list_images
from ..data.files import sha256_file
from ..data.imageio import read_image
from ..errors import ConfigError, DatasetError, ImageReadError, OmniClasError
from ..model import network as net
from ..model.runtime import body_key
from .features import ImageBank
from .inputs import choose_image_size
from .progress import Reporter
from .suggest_pick import Pick, typiclust, uncertain_batch

SIZE_SAMPLE = 32  # images whose sides choose the cold start's input size (as training does from labelled ones)


@dataclass
class Suggestion:
    rank: int
    image: str  # relative to the dataset folder, '/' separated
    reason: str
    guess: str | None = None
    confidence: float | None = None


@dataclass
class Suggestions:
    dataset: Path
    model: str | None
    strategy: str
    notes: list[str] = field(default_factory=list)
    rows: list[Suggestion] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"dataset": str(self.dataset), "model": self.model, "strategy": self.strategy, "notes": self.notes,
                "suggestions": [vars(r) for r in self.rows]}


@dataclass
class Pool:
    """A dataset folder as suggest sees it: the labelled images by class folder and the unlabelled ones, listed
    (not decoded; a labelled set too small to train on is fine here)."""

    root: Path
    labelled: dict[str, list[Path]]
    unlabelled: list[Path]

    @property
    def classes(self) -> list[str]:
        return sorted(self.labelled)


def read_pool(dataset) -> Pool:
    """List ``dataset``; raise :class:`DatasetError` (field ``dataset``) where there is nothing to suggest."""
    root = Path(dataset).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {dataset}" if not root.exists() else
                           f"dataset path is not a folder: {dataset}", field="dataset")
    root = root.resolve()
    labelled = {d.name: list_images(d) for d in class_folders(root, exclude=RESERVED_DIRS)}
    labelled = {name: files for name, files in labelled.items() if files}
    folder = root / UNLABELLED_DIR
    unlabelled = list_images(folder) if folder.is_dir() else []
    if not unlabelled:
        where = "is empty (no PNG, JPEG, TIFF or BMP images)" if folder.is_dir() else "does not exist"
        raise DatasetError(f"{folder} {where}: suggest picks images to label from {UNLABELLED_DIR}/; put the images "
                           f"nobody has labelled there", field="dataset")
    return Pool(root, labelled, unlabelled)


def check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= SUGGEST_N_MAX:
        raise ConfigError(f"n must be an integer from 1 to {SUGGEST_N_MAX}, got {n!r}", field="n")
    return n


def _input_size(pool: Pool) -> int:
    """The cold start's input size, chosen as training chooses it: from the labelled images' typical side, or
    the unlabelled ones' where nothing is labelled (an even sample of them)."""
    files = [p for ps in pool.labelled.values() for p in ps] or pool.unlabelled
    sample = [files[int(i)] for i in np.linspace(0, len(files) - 1, min(SIZE_SAMPLE, len(files)))]
    sides = []
    for path in sample:
        try:
            sides.append(max(read_image(path).shape[:2]))
        except ImageReadError:
            continue
    return choose_image_size(int(np.median(sides)) if sides else 224)


def _bank(paths, size: int, resident: int = 0) -> ImageBank:
    # the defaults a training run uses (runtime auto, bf16 auto): the same feature store tables
    return ImageBank(paths, size, digest=sha256_file, bf16=None, batch_size=64, runtime="auto", report=Reporter(),
                     resident=resident)


def _readable(bank: ImageBank, indices, notes: list[str], pool: Pool) -> np.ndarray:
    """``indices`` less the images the bank could not read, which a note names."""
    bad = [i for i in indices if int(i) in bank.failed]
    if bad:
        first = bank.failed[int(bad[0])]
        notes.append(f"{len(bad)} unreadable image{'s' if len(bad) > 1 else ''} in {UNLABELLED_DIR}/ left out "
                     f"(first: {first})")
    left = np.array([i for i in indices if int(i) not in bank.failed], dtype=int)
    if not len(left):
        raise DatasetError(f"none of the {len(indices)} images in {pool.root / UNLABELLED_DIR} can be read (first: "
                           f"{bank.failed[int(bad[0])]})", field="dataset")
    return left


def suggest(dataset, n: int = SUGGEST_N, model=None, model_name: str | None = None, seed: int = 0) -> Suggestions:
    """The ``n`` images of ``dataset/unlabelled/`` to label next, best first.

    Args:
        model: a loaded model (a :class:`~omniclas.model.predictor.Predictor`, or any with ``classes`` and
            ``predict_proba(images)``), or None for a cold start.
        model_name: how the answer names the model.
    """
    n = check_n(n)
    model = getattr(model, "predictor", model)  # the registry wraps OmniClas's own models
    pool = read_pool(dataset)
    notes: list[str] = []
    if len(pool.unlabelled) < n:
        notes.append(f"{UNLABELLED_DIR}/ holds {len(pool.unlabelled)} images, fewer than the {n} asked: all are "
                     f"suggested")
    if model is None:
        strategy, picks, classes = "cold-start", _cold_start(pool, n, notes, seed), None
    else:
        classes = list(model.classes)
        _check_classes(pool, classes, notes)
        strategy, picks = "uncertain", _with_model(pool, model, n, notes, seed)
    rows = [Suggestion(rank, pool.unlabelled[p.index].relative_to(pool.root).as_posix(), p.reason,
                       None if p.guess is None else classes[p.guess],
                       None if p.confidence is None else round(p.confidence, 4))
            for rank, p in enumerate(picks, start=1)]
    return Suggestions(pool.root, model_name, strategy, notes, rows)


def _check_classes(pool: Pool, classes: list[str], notes: list[str]) -> None:
    """A model for another dataset is refused; classes added since it was trained are normal in this loop."""
    if not pool.labelled:
        return
    common = set(pool.labelled) & set(classes)
    if not common:
        raise OmniClasError(f"the model's classes ({', '.join(classes)}) and the dataset's class folders "
                            f"({', '.join(pool.classes)}) have none in common: it was trained on another dataset. "
                            f"Choose a model trained on this one, or none (a cold start)", field="model")
    added = [c for c in pool.classes if c not in classes]
    if added:
        notes.append(f"class{'es' if len(added) > 1 else ''} added since the model was trained: {', '.join(added)}; "
                     f"it cannot guess {'them' if len(added) > 1 else 'it'}, retrain to include "
                     f"{'them' if len(added) > 1 else 'it'}")


def _cold_start(pool: Pool, n: int, notes: list[str], seed: int) -> list[Pick]:
    labelled = [p for ps in pool.labelled.values() for p in ps]
    bank = _bank(labelled + pool.unlabelled, _input_size(pool), resident=len(labelled))
    backbone = SINGLE_BACKBONE[0]
    everything = np.arange(len(bank))
    bank.ensure(everything, [(backbone, "original")])
    pool_idx = _readable(bank, everything[len(labelled):], notes, pool)
    known = np.array([i for i in everything[:len(labelled)] if int(i) not in bank.failed], dtype=int)
    picks = typiclust(bank.features(backbone, pool_idx), bank.features(backbone, known), n, seed)
    if labelled:
        notes.append(f"no model given: a cold start, typical images of groups of the pool that none of the "
                     f"{len(labelled)} labelled images covers; with a model trained on them, the suggestions are "
                     f"the images it is least sure of")
    return [Pick(int(pool_idx[p.index]) - len(labelled), p.reason) for p in picks]


def _with_model(pool: Pool, model, n: int, notes: list[str], seed: int) -> list[Pick]:
    manifest = getattr(model, "manifest", None)
    if manifest is None or not hasattr(model, "model"):  # another framework (ONNX, bioimage.io): its own forward
        return _generic_model(pool, model, n, notes, seed)
    size = int(model.input_size[0])
    bank = _bank(pool.unlabelled, size)
    members = net.members_of(manifest)
    views = list(model.model.views)
    frozen = [i for i, m in enumerate(members) if m.get("head") == "linear" and _is_frozen(bank, m, model, i, size)]
    combos = list(dict.fromkeys((members[i]["backbone"], v) for i in frozen for v in views))
    everything = np.arange(len(bank))
    if combos:
        bank.ensure(everything, combos)
    else:
        bank.check_readable(everything)
    idx = _readable(bank, everything, notes, pool)
    probs = []
    with torch.inference_mode():
        for i, (member, spec) in enumerate(zip(model.model.members, members)):
            for view in views:
                if i in frozen:
                    feats = torch.from_numpy(bank.features(spec["backbone"], idx, view))
                    probs.append(torch.softmax(member.classify(feats), dim=1).numpy())
                else:
                    probs.append(bank.finetuned_proba(member, spec["backbone"], idx, view))
    # features for the spread: the first member's body, as the model sees the images
    feats = bank.features(members[frozen[0]]["backbone"], idx) if frozen else np.concatenate(probs, axis=1)
    picks = uncertain_batch(np.stack(probs), feats, n, model.classes, seed)
    return [Pick(int(idx[p.index]), p.reason, p.guess, p.confidence) for p in picks]


def _is_frozen(bank: ImageBank, spec: dict, model, i: int, size: int) -> bool:
    """A linear member whose body is the pretrained one: its features are the store's."""
    body = model.model.members[i].body
    return body_key(body, size) == body_key(bank.pretrained(spec["backbone"], 2).body, size)


def _generic_model(pool: Pool, model, n: int, notes: list[str], seed: int) -> list[Pick]:
    """A model of another framework: its probabilities from the pixels, and the spread on them."""
    ok, probs = [], []
    for start in range(0, len(pool.unlabelled), 64):
        images = []
        for k, path in enumerate(pool.unlabelled[start:start + 64], start):
            try:
                images.append(read_image(path))
                ok.append(k)
            except ImageReadError as err:
                notes.append(f"unreadable image left out: {err}")
        if images:
            probs.append(np.asarray(model.predict_proba(images), dtype=np.float32))
    if not probs:
        raise DatasetError(f"none of the images in {pool.root / UNLABELLED_DIR} can be read", field="dataset")
    p = np.concatenate(probs)
    picks = uncertain_batch(p[None], p, n, model.classes, seed)
    return [Pick(ok[q.index], q.reason, q.guess, q.confidence) for q in picks]
