"""Every image of a run, by path, and the frozen bodies' features per (backbone, view), each computed once.

Images are decoded and resized a batch at a time, when features are first needed, and each batch serves every
(backbone, view) pair asked for at once; nothing holds the run's pixels. Features go to the feature store on
disk (:mod:`.feature_store`), keyed by the image file's sha256, so another run on the same images, a resumed run,
or AutoML's candidates read them instead of computing them. The labelled and test images' features (the first
``resident`` images) also stay in memory, since every round reads them; the unlabelled pool's are read from the
store a chunk at a time. Bodies run on the fastest runtime installed (:mod:`omniclas.model.runtime`).
"""
from __future__ import annotations

import contextlib
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..data.imageio import read_image
from ..data.preprocess import normalise, resize_batch, to_unit
from ..errors import ImageReadError
from ..model.backbones import Classifier, create_classifier, get_backbone_cfg
from ..model.network import apply_view
from ..model.runtime import CONVERSION, CompiledBody, body_key, cache_dir, compile_body
from .feature_store import DTYPE, FeatureStore

CHUNK = 4096  # pool images whose features are read from the store at a time
# Most memory that pinned pool rows may hold (float16, as the store keeps them): a round's head fits of one backbone
# read them from memory, not once per fit from the store. 12,800 images under 4 views of 1,280 values; past that the
# rest are read per fit, so training memory stays flat as the pool grows (benchmarks/results/scale.md).
PIN_BYTES = 128 * 2**20


def default_store() -> FeatureStore:
    return FeatureStore(cache_dir() / "features")


class ImageBank:
    def __init__(self, paths, size: int, *, digest, bf16: bool | None, batch_size: int, runtime: str, report,
                 resident: int = 0, store: FeatureStore | None = None):
        """
        Args:
            paths: the run's images; index ``i`` names ``paths[i]``.
            digest: ``path -> sha256 hex`` of the file (the dataset's, which caches it).
            resident: images ``0 .. resident-1`` keep their features in memory (labelled and test images).
        """
        self.paths = [Path(p) for p in paths]
        self.size = int(size)
        self.digest = digest
        self.bf16 = bf16
        self.batch_size = max(1, batch_size)
        self.runtime = runtime
        self.report = report
        self.resident = int(resident)
        self.store = store if store is not None else default_store()
        self.failed: dict[int, str] = {}  # images that could not be read: index -> reason
        self._digests: dict[int, str] = {}
        self._bodies: dict[str, Classifier] = {}
        self._compiled: dict[str, CompiledBody] = {}
        self._tables: dict = {}
        self._ram: dict[tuple[str, str], np.ndarray] = {}
        self._have: dict[tuple[str, str], np.ndarray] = {}
        self._finetuned: dict[int, CompiledBody] = {}  # the last fine-tuned body, compiled
        self.passes: dict[str, int] = {}  # images through each body (each view counts): the bodies' own work
        self.forward_s = 0.0  # seconds inside the bodies' forward passes: what the feature stage is compared with
        self._pinned: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}  # (backbone, view) -> (row of, rows)

    def __len__(self) -> int:
        return len(self.paths)

    # ------------------------------------------------------------------ bodies
    def pretrained(self, backbone: str, num_classes: int, feature_norm: str | None = None) -> Classifier:
        """A fresh classifier whose body holds ImageNet weights (read from disk once per backbone)."""
        if backbone not in self._bodies:
            self._bodies[backbone] = create_classifier(backbone, num_classes, pretrained=True)
        model = create_classifier(backbone, num_classes, pretrained=False, feature_norm=feature_norm)
        model.body.load_state_dict(self._bodies[backbone].body.state_dict())
        return model

    def compiled(self, backbone: str) -> CompiledBody:
        if backbone not in self._compiled:
            with self.report.work("compile"):
                self._compiled[backbone] = compile_body(self.pretrained(backbone, 2).body, self.size, self.runtime,
                                                        self.bf16)
        return self._compiled[backbone]

    @property
    def runtime_info(self) -> dict | None:
        first = next(iter(self._compiled.values()), None)
        return first.describe() if first else None

    def _table(self, backbone: str, view: str):
        """The store's table for this body, input size, view and runtime (another runtime gives other values)."""
        if (backbone, view) not in self._tables:
            model, runtime = self.pretrained(backbone, 2), self.compiled(backbone).describe()
            key = hashlib.sha256("|".join([backbone, str(self.size), view, runtime["name"], runtime["version"],
                                           runtime["precision"], CONVERSION, body_key(model.body, self.size)]).encode())
            self._tables[(backbone, view)] = self.store.table(key.hexdigest()[:32], model.head.in_features)
        return self._tables[(backbone, view)]

    # ------------------------------------------------------------------ images
    def digest_of(self, i: int) -> str:
        if i not in self._digests:
            self._digests[i] = self.digest(self.paths[i])
        return self._digests[i]

    def pixels(self, indices) -> torch.Tensor:
        """Images ``indices`` decoded and resized: uint8 N x 3 x size x size (for fine-tuning)."""
        return resize_batch([read_image(self.paths[int(i)]) for i in indices], self.size)

    def check_readable(self, indices) -> None:
        """Record the images of ``indices`` that cannot be read in :attr:`failed`."""
        for i in indices:
            try:
                read_image(self.paths[int(i)])
            except ImageReadError as err:
                self.failed[int(i)] = str(err)

    # ------------------------------------------------------------------ features
    def missing(self, backbone: str, view: str, indices) -> np.ndarray:
        """Of ``indices``, those whose features are neither in memory nor in the store (nor unreadable)."""
        indices = np.asarray(indices, dtype=int)
        have = self._have.get((backbone, view))
        table = self._table(backbone, view)
        return np.array([i for i in indices if i not in self.failed and not (have is not None and i < self.resident
                                                                             and have[i])
                         and self.digest_of(int(i)) not in table], dtype=int)

    def ensure(self, indices, combos) -> None:
        """Compute the features of ``indices`` for every (backbone, view) in ``combos`` that the store lacks,
        decoding each image once. Images that cannot be read go to :attr:`failed`."""
        todo = {combo: self.missing(*combo, indices) for combo in combos}
        need = np.unique(np.concatenate(list(todo.values()))) if todo else np.zeros(0, dtype=int)
        batches = [need[start:start + self.batch_size] for start in range(0, len(need), self.batch_size)]
        # The next batch is decoded and resized (PIL and tifffile release the GIL) while the bodies run on this one.
        with ThreadPoolExecutor(1, thread_name_prefix="omniclas-decode") as decoder:
            pending = decoder.submit(self._decode, batches[0]) if batches else None
            for k, batch in enumerate(batches):
                units = sum(int(np.isin(batch, wanted).sum()) for wanted in todo.values())
                with self.report.work("features", units):
                    ok, x_unit, failures = pending.result()
                    pending = decoder.submit(self._decode, batches[k + 1]) if k + 1 < len(batches) else None
                    for i, err in failures:
                        if i < self.resident:
                            raise err
                        self.failed[i] = str(err)
                    if x_unit is None:  # no image of the batch could be read
                        continue
                    for view in dict.fromkeys(v for _, v in todo):
                        x_view = apply_view(x_unit, view)  # once for every body
                        for (backbone, v), wanted in todo.items():
                            rows = np.flatnonzero(np.isin(ok, wanted))
                            if v == view and len(rows):
                                self._compute(backbone, view, ok[rows].tolist(), x_view[rows])
        self.store.flush()

    def _decode(self, batch) -> tuple[np.ndarray, torch.Tensor | None, list]:
        """Images ``batch`` read and resized: (the indices read, their pixels in 0..1, (index, error) of the rest)."""
        images, ok, failures = [], [], []
        for i in batch:
            try:
                images.append(read_image(self.paths[int(i)]))
                ok.append(int(i))
            except ImageReadError as err:
                failures.append((int(i), err))
        return np.array(ok, dtype=int), to_unit(resize_batch(images, self.size)) if ok else None, failures

    def _compute(self, backbone: str, view: str, indices: list[int], x_view: torch.Tensor) -> None:
        """Features of images ``indices`` whose pixels under ``view`` (0..1) are ``x_view``."""
        cfg = get_backbone_cfg(backbone)
        x = normalise(x_view, cfg.mean, cfg.std)
        start = time.monotonic()
        feats = self.compiled(backbone)(x).numpy()
        self.forward_s += time.monotonic() - start
        self.passes[backbone] = self.passes.get(backbone, 0) + len(indices)
        # as the store keeps them: a run that computes a feature and one that reads it see the same value
        feats = feats.astype(DTYPE).astype(np.float32)
        self._table(backbone, view).append([self.digest_of(i) for i in indices], feats)
        self._keep(backbone, view, indices, feats)

    def _keep(self, backbone: str, view: str, indices, feats: np.ndarray) -> None:
        """Hold the resident images' rows in memory."""
        indices = np.asarray(indices, dtype=int)
        mine = indices < self.resident
        if not mine.any():
            return
        key = (backbone, view)
        if key not in self._ram:
            self._ram[key] = np.zeros((self.resident, feats.shape[1]), dtype=np.float32)
            self._have[key] = np.zeros(self.resident, dtype=bool)
        self._ram[key][indices[mine]] = feats[mine]
        self._have[key][indices[mine]] = True

    def features(self, backbone: str, indices, view: str = "original") -> np.ndarray:
        """Pooled body features (float32) of images ``indices`` under view ``view``."""
        indices = np.asarray(indices, dtype=int)
        bad = [int(i) for i in indices if int(i) in self.failed]
        if bad:
            raise ImageReadError(self.failed[bad[0]])
        pinned = self._pinned.get((backbone, view))
        if pinned is not None and (pinned[0][indices] >= 0).all():
            return pinned[1][pinned[0][indices]].astype(np.float32)
        table = self._table(backbone, view)
        if self.missing(backbone, view, indices).size:
            self.ensure(indices, [(backbone, view)])
        have = self._have.get((backbone, view))
        in_ram = np.array([have is not None and i < self.resident and bool(have[i]) for i in indices], dtype=bool)
        out = np.empty((len(indices), table.dim), dtype=np.float32)
        if in_ram.any():
            out[in_ram] = self._ram[(backbone, view)][indices[in_ram]]
        rest = indices[~in_ram]
        if rest.size:
            out[~in_ram] = table.read([self.digest_of(int(i)) for i in rest])
            self._keep(backbone, view, rest, out[~in_ram])
        return out

    @contextlib.contextmanager
    def pinned(self, backbone: str, views, indices):
        """Hold the features of ``indices`` under ``views`` in memory for the block (within :data:`PIN_BYTES`):
        the many head fits of a round read the same pool rows."""
        indices = np.unique(np.asarray(indices, dtype=int))
        indices = indices[indices >= self.resident]  # the resident images' rows are in memory already
        dim = self._table(backbone, views[0]).dim if len(views) else 0
        indices = indices[:PIN_BYTES // max(1, len(views) * dim * np.dtype(DTYPE).itemsize)]
        try:
            if len(indices):
                for view in views:
                    row_of = np.full(len(self.paths), -1, dtype=np.int64)
                    row_of[indices] = np.arange(len(indices))
                    self._pinned[(backbone, view)] = (row_of, self.features(backbone, indices, view).astype(DTYPE))
            yield
        finally:
            for view in views:
                self._pinned.pop((backbone, view), None)

    def finetuned_proba(self, classifier: Classifier, backbone: str, indices, view: str = "original") -> np.ndarray:
        """Class probabilities from a fine-tuned network (its body is not the frozen one, so nothing is cached)."""
        key = id(classifier)
        if key not in self._finetuned:
            self._finetuned = {key: compile_body(classifier.body, self.size, self.runtime, self.bf16, cache=False)}
        cfg = get_backbone_cfg(backbone)
        indices = np.asarray(indices, dtype=int)
        out = []
        for start in range(0, len(indices), self.batch_size):
            x = normalise(apply_view(to_unit(self.pixels(indices[start:start + self.batch_size])), view), cfg.mean,
                          cfg.std)
            with torch.inference_mode():
                out.append(torch.softmax(classifier.classify(self._finetuned[key](x)), dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, classifier.head.out_features), dtype=np.float32)
