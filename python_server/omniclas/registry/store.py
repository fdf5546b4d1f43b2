"""The model registry: one folder per model version, written atomically, verified by sha256 on load.

Layout::

    <root>/<name>/<version>/        version = 1, 2, ...
        manifest.json               name, version, framework, classes, input size, normalisation, backbone,
                                    metrics, training provenance, sha256 of every other file
        README.md                   the model card
        model.safetensors           (framework "omniclas") or model.onnx + classes.txt (framework "onnx")

Every write builds the new folder in ``<root>/.tmp-*`` and moves it into place with one ``os.rename``, so a
crash part-way leaves the registry as it was (a stray ``.tmp-*`` folder is ignored and swept later).
Nothing is ever unpickled: weights are safetensors or ONNX, metadata is JSON. A file whose sha256 differs from
the one recorded at registration is refused.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import OmniClasError
from ..files import sha256_file, write_atomic
from .errors import InvalidName, ModelExists, ModelIntegrityError, ModelNotFound
from .frameworks import get_framework, list_frameworks

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CARD = "README.md"
FORMAT = "omniclas-model/1"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
TOP_K = 5
PREDICT_CHUNK = 64
CACHE_MODELS = 8  # loaded models kept in memory, least recently used dropped first
_STALE_TMP_S = 3600


def default_root() -> Path:
    """``$OMNICLAS_MODELS``, else the repository's ``models/`` in a source checkout, else ``~/.omniclas/models``."""
    env = os.environ.get("OMNICLAS_MODELS")
    if env:
        return Path(env).expanduser()
    repo_models = Path(__file__).resolve().parents[3] / "models"
    if repo_models.is_dir():
        return repo_models
    return Path.home() / ".omniclas" / "models"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def check_name(name: str, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or name in (".", ".."):
        raise InvalidName(
            f"invalid model name {name!r}: use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit",
            field=field)
    return name


def parse_ref(ref: str, field: str = "model") -> tuple[str, int | None]:
    """``"name"`` (latest version) or ``"name@3"`` / ``"name@v3"``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidName("a model name is required", field=field)
    name, sep, ver = ref.partition("@")
    check_name(name, field)
    if not sep:
        return name, None
    ver = ver[1:] if ver[:1] in ("v", "V") else ver
    if not ver.isdigit() or int(ver) < 1:
        raise InvalidName(f"invalid model version in {ref!r}: use name@1, name@2, ...", field=field)
    return name, int(ver)


def _write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with contextlib.suppress(OSError):
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _softmax_top(classes: list[str], probs: np.ndarray) -> dict:
    order = np.argsort(-probs, kind="stable")
    best = int(order[0])
    return {
        "class": classes[best],
        "confidence": float(probs[best]),
        "probabilities": {c: float(p) for c, p in zip(classes, probs)},
        "top": [{"class": classes[int(i)], "probability": float(probs[int(i)])} for i in order[:TOP_K]],
    }


class Registry:
    """A folder of registered models. Thread-safe; loaded models are cached and re-verified when files change."""

    def __init__(self, root: str | os.PathLike | None = None, bf16: bool | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.bf16 = bf16
        self._lock = threading.RLock()
        self._cache: OrderedDict[Path, tuple[tuple, object]] = OrderedDict()

    # ------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def _write_lock(self):
        """Serialise writers in this process (thread lock) and across processes (flock where available)."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            lock_path = self.root / ".lock"
            try:
                import fcntl
            except ImportError:  # Windows: the thread lock only
                yield
                return
            with open(lock_path, "a+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir()
                      if d.is_dir() and not d.name.startswith(".") and NAME_RE.match(d.name) and self.versions(d.name))

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(int(d.name) for d in folder.iterdir()
                      if d.is_dir() and d.name.isdigit() and (d / MANIFEST).is_file())

    def resolve(self, ref: str, field: str = "model") -> tuple[str, int, Path]:
        name, version = parse_ref(ref, field)
        versions = self.versions(name)
        if not versions:
            raise ModelNotFound(f"no model named '{name}' in {self.root}", field=field)
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise ModelNotFound(f"model '{name}' has no version {version} (versions: {', '.join(map(str, versions))})",
                                field=field)
        return name, version, self.root / name / str(version)

    def read_manifest(self, folder: Path) -> dict:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ModelIntegrityError(f"{folder / MANIFEST}: unreadable manifest ({err})") from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict) or not data.get("classes"):
            raise ModelIntegrityError(f"{folder / MANIFEST}: not an OmniClas registry manifest (no files/classes)")
        return data

    def _summary(self, name: str, version: int, manifest: dict) -> dict:
        return {
            "name": name,
            "version": version,
            "framework": manifest.get("framework", "omniclas"),
            "classes": list(manifest.get("classes", [])),
            "backbone": manifest.get("backbone"),
            "input_size": manifest.get("input_size"),
            "metrics": manifest.get("metrics", {}),
            "created": manifest.get("created"),
            "versions": self.versions(name),
        }

    def list_models(self, framework: str | None = None) -> list[dict]:
        """One entry per model name (its latest version); optionally only one framework's."""
        if framework is not None:
            get_framework(framework)  # unknown framework -> clear error
        out = []
        for name in self.names():
            version = self.versions(name)[-1]
            try:
                manifest = self.read_manifest(self.root / name / str(version))
            except ModelIntegrityError as err:
                log.warning("skipping %s", err)
                continue
            if framework is None or manifest.get("framework", "omniclas") == framework:
                out.append(self._summary(name, version, manifest))
        return out

    def model_info(self, ref: str) -> dict:
        name, version, folder = self.resolve(ref)
        manifest = self.read_manifest(folder)
        info = self._summary(name, version, manifest)
        info["manifest"] = manifest
        info["path"] = str(folder)
        return info

    def verify(self, folder: Path, manifest: dict | None = None) -> dict:
        """Check every file's sha256 against the manifest; raise ModelIntegrityError naming the file."""
        manifest = manifest or self.read_manifest(folder)
        files = manifest["files"]
        if not files:
            raise ModelIntegrityError(f"{folder}: the manifest lists no files")
        for fname, digest in files.items():
            path = folder / fname
            if "/" in fname or "\\" in fname or fname.startswith(".") or not path.is_file():
                raise ModelIntegrityError(f"{folder}: file '{fname}' listed in the manifest is missing")
            if sha256_file(path) != digest:
                raise ModelIntegrityError(
                    f"{path}: sha256 does not match the one recorded at registration; the file was modified "
                    f"or is corrupt, so the model is refused. Re-register the model from its run folder.")
        return manifest

    # ------------------------------------------------------------------ loading and predicting
    def _stamp(self, folder: Path, manifest: dict) -> tuple:
        out = []
        for fname in [MANIFEST, *sorted(manifest["files"])]:
            try:
                st = (folder / fname).stat()
                out.append((fname, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((fname, None, None))
        return tuple(out)

    def load(self, ref: str, field: str = "model"):
        """Return ``(name, version, manifest, loaded_model)``; verified on first load and whenever files change."""
        name, version, folder = self.resolve(ref, field)
        manifest = self.read_manifest(folder)
        stamp = self._stamp(folder, manifest)
        with self._lock:
            hit = self._cache.get(folder)
            if hit is not None and hit[0] == stamp:
                self._cache.move_to_end(folder)
                return name, version, manifest, hit[1]
        self.verify(folder, manifest)
        framework = get_framework(manifest.get("framework", "omniclas"))
        model = framework.load(folder, manifest, bf16=self.bf16)
        with self._lock:
            self._cache[folder] = (stamp, model)
            self._cache.move_to_end(folder)
            while len(self._cache) > CACHE_MODELS:
                self._cache.popitem(last=False)
        return name, version, manifest, model

    def predict_arrays(self, ref: str, images: list[np.ndarray]) -> tuple[str, int, list[dict]]:
        """Classify decoded ``HxWx3`` uint8 images; returns (name, version, [RESULT without "image"])."""
        name, version, _, model = self.load(ref)
        out: list[dict] = []
        for start in range(0, len(images), PREDICT_CHUNK):
            probs = np.asarray(model.predict_proba(images[start:start + PREDICT_CHUNK]), dtype=np.float64)
            out += [_softmax_top(list(model.classes), p) for p in probs]
        return name, version, out

    def predict_batch(self, ref: str, images: list, all_pages: bool = True) -> list[dict]:
        """Classify images given as paths, bytes or arrays. A multi-page TIFF gives one result per page
        (with ``"slice"``: 1..n) unless ``all_pages`` is False."""
        from ..imageio import read_pages, to_rgb8

        arrays, owners = [], []
        for idx, item in enumerate(images):
            if isinstance(item, np.ndarray):
                pages = [to_rgb8(item)]
            else:
                pages = read_pages(item, name=str(item) if isinstance(item, (str, os.PathLike)) else None)
            if not all_pages:
                pages = pages[:1]
            for page_no, page in enumerate(pages, 1):
                arrays.append(page)
                owners.append((idx, page_no, len(pages)))
        if not arrays:
            return []
        _, _, results = self.predict_arrays(ref, arrays)
        out = []
        for (idx, page_no, n_pages), res in zip(owners, results):
            item = images[idx]
            label = str(item) if isinstance(item, (str, os.PathLike)) else f"image {idx + 1}"
            res = {"image": label, **res}
            if n_pages > 1:
                res["slice"] = page_no
            out.append(res)
        return out

    def predict(self, ref: str, image) -> dict:
        """Classify one image (its first page): ``{"image","class","confidence","probabilities","top"}``."""
        return self.predict_batch(ref, [image], all_pages=False)[0]

    # ------------------------------------------------------------------ writing
    def _sweep_tmp(self) -> None:
        now = time.time()
        for d in self.root.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if now - d.stat().st_mtime > _STALE_TMP_S:
                    shutil.rmtree(d, ignore_errors=True)
        for d in self.root.glob(".trash-*"):
            shutil.rmtree(d, ignore_errors=True)

    def register(self, source, name: str, framework: str = "omniclas", **options) -> dict:
        """Add ``source`` (a run folder for ``omniclas``; an .onnx file for ``onnx``) as a new version of ``name``."""
        from .card import model_card

        check_name(name)
        fw = get_framework(framework)
        with self._write_lock():
            self._sweep_tmp()
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-register-", dir=self.root))
            os.chmod(tmp, 0o755)
            try:
                manifest = fw.create(tmp, source, **options)
                taken = [int(d.name) for d in (self.root / name).iterdir() if d.name.isdigit()] \
                    if (self.root / name).is_dir() else []
                version = max(taken, default=0) + 1
                manifest.update({"format": FORMAT, "name": name, "version": version, "framework": fw.name,
                                 "created": now_iso()})
                files = {f: sha256_file(tmp / f) for f in manifest.pop("files")}
                (tmp / CARD).write_text(model_card(manifest, files), encoding="utf-8")
                files[CARD] = sha256_file(tmp / CARD)
                manifest["files"] = files
                _write_json_atomic(tmp / MANIFEST, manifest)
                _fsync_tree(tmp)
                (self.root / name).mkdir(exist_ok=True)
                os.rename(tmp, self.root / name / str(version))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        log.info("registered %s version %d (%s)", name, version, fw.name)
        return self._summary(name, version, manifest)

    def delete(self, ref: str) -> str:
        """Delete a model (every version) or one version (``name@3``). Returns what was deleted."""
        name, version = parse_ref(ref)
        with self._write_lock():
            name, resolved, folder = self.resolve(ref)
            target = folder if version is not None else self.root / name
            trash = self.root / f".trash-{uuid.uuid4().hex}"
            os.rename(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
            if version is not None and not self.versions(name):
                shutil.rmtree(self.root / name, ignore_errors=True)
            with self._lock:
                for key in [k for k in self._cache if k == target or target in k.parents]:
                    del self._cache[key]
        return f"{name}@{version}" if version is not None else name

    def rename(self, ref: str, new_name: str) -> dict:
        """Rename a model (all its versions). The folder move is atomic; manifests and cards follow."""
        from .card import model_card

        name, version = parse_ref(ref)
        if version is not None:
            raise InvalidName("rename a whole model ('name'), not one version ('name@v')", field="model")
        check_name(new_name, "new_name")
        with self._write_lock():
            self.resolve(name)
            if new_name == name:
                return self.model_info(name) | {}
            if (self.root / new_name).exists() and self.versions(new_name):
                raise ModelExists(f"a model named '{new_name}' already exists", field="new_name")
            if (self.root / new_name).exists():
                shutil.rmtree(self.root / new_name, ignore_errors=True)
            os.rename(self.root / name, self.root / new_name)
            with self._lock:
                self._cache.clear()
            for v in self.versions(new_name):
                folder = self.root / new_name / str(v)
                manifest = self.read_manifest(folder)
                manifest["name"] = new_name
                files = {k: d for k, d in manifest["files"].items() if k != CARD}
                write_atomic(folder / CARD, model_card(manifest, files))
                manifest["files"][CARD] = sha256_file(folder / CARD)
                _write_json_atomic(folder / MANIFEST, manifest)
        info = self.model_info(new_name)
        info.pop("manifest", None)
        info.pop("path", None)
        return info

    def export(self, ref: str, out: str | os.PathLike, format: str = "onnx", **options) -> Path:
        """Write the model as ONNX (for Java tools): input ``input`` NCHW float32, normalised; output logits.
        ``format="bioimageio"``: a BioImage Model Zoo package (.zip); ``options``: authors, license, ..."""
        if format == "bioimageio":
            return self._export_bioimageio(ref, out, **options)
        if format != "onnx":
            raise OmniClasError(f"unknown export format '{format}'; supported: onnx, bioimageio", field="format")
        name, version, manifest, _ = self.load(ref)  # verifies the files
        folder = self.root / name / str(version)
        out = Path(out).expanduser()
        if out.suffix.lower() != ".onnx":
            out = out.with_suffix(".onnx") if not out.is_dir() else out / f"{name}.onnx"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
        try:
            get_framework(manifest.get("framework", "omniclas")).export_onnx(folder, manifest, tmp)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return out

    def _export_bioimageio(self, ref: str, out, **options) -> Path:
        """The model as a BioImage Model Zoo package at ``out`` (.zip), written beside it and moved into place."""
        name, version, manifest, _ = self.load(ref)  # verifies the files
        out = Path(out).expanduser()
        out = out / f"{name}.zip" if out.is_dir() else out.with_suffix(".zip")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.tmp.zip")
        try:
            get_framework(manifest.get("framework", "omniclas")).export_bioimageio(
                self.root / name / str(version), manifest, tmp, **options)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return out

    def evaluate(self, dataset, measures: list[str] | None = None, predictors: list | None = None,
                 labels_file=None) -> dict:
        from .evaluate import evaluate

        return evaluate(self, dataset, measures, predictors, labels_file)

    def list_frameworks(self) -> list[str]:
        return list_frameworks()
