"""The model registry: named models, each with numbered versions, verified by sha256 on load.

A version folder holds::

    manifest.json       name, version, framework, classes, input size, normalisation, backbone, metrics,
                        training provenance, sha256 of every other file
    README.md           the model card
    model.safetensors   (framework "omniclas") or model.onnx + classes.txt (framework "onnx")

Where the folders live and how writes stay crash-safe: :mod:`.layout`. Nothing is ever unpickled: weights are
safetensors or ONNX, metadata is JSON. A file whose sha256 differs from the one recorded at registration is
refused.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..data.files import sha256_file
from ..data.imageio import RequestTooLarge
from ..errors import ImageReadError, OmniClasError
from .errors import InvalidName, ModelExists, ModelIntegrityError, ModelNotFound
from .frameworks import get_framework, list_frameworks
from .layout import MANIFEST, NAME_RE, Layout, crash_point, fsync_dir, fsync_tree, is_version_folder, link_or_copy
from .manifest import CARD, FORMAT, input_size, now_iso, write_manifest

log = logging.getLogger(__name__)

TOP_K = 5
PREDICT_CHUNK = 64
CACHE_MODELS = 8  # loaded models kept in memory, least recently used dropped first
LOAD_TRIES = 3  # a name whose folder is retired while it loads is looked up again


MODELS_ENV = "OMNICLAS_MODELS"


def user_models_root() -> Path:
    """The per-user models folder: ``~/OmniClas/models``, the folder Fiji's Server Settings default to."""
    return Path.home() / "OmniClas" / "models"


def models_root_choice(given=None) -> tuple[Path, str]:
    """The models folder and how it was chosen: ``given`` (``--models-root``), else ``$OMNICLAS_MODELS``, else the
    per-user default. One folder for the CLI, the server, the DeepClas4Bio commands and Fiji; never the checkout."""
    if given:
        return Path(given).expanduser(), "--models-root"
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser(), f"${MODELS_ENV}"
    return user_models_root(), f"the per-user default; ${MODELS_ENV} or --models-root choose another"


def default_root() -> Path:
    """``$OMNICLAS_MODELS``, else ``~/OmniClas/models``."""
    return models_root_choice()[0]


def check_name(name: str, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        shown = name if not isinstance(name, str) or len(name) <= 120 else name[:117] + "..."
        raise InvalidName(
            f"invalid model name {shown!r}: use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit",
            field=field)
    return name


MAX_VERSION_DIGITS = 9


def parse_ref(ref: str, field: str = "model") -> tuple[str, int | None]:
    """``"name"`` (latest version) or ``"name@3"`` / ``"name@v3"``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidName("a model name is required", field=field)
    name, sep, ver = ref.partition("@")
    check_name(name, field)
    if not sep:
        return name, None
    ver = ver[1:] if ver[:1] in ("v", "V") else ver
    digits = ver.lstrip("0")  # checked before int(): Python refuses to convert more than 4300 digits
    if not (ver.isascii() and ver.isdigit()) or not digits or len(digits) > MAX_VERSION_DIGITS:
        shown = ref if len(ref) <= 120 else ref[:117] + "..."
        raise InvalidName(f"invalid model version in {shown!r}: use name@1, name@2, ... (at most "
                          f"{MAX_VERSION_DIGITS} digits)", field=field)
    return name, int(digits)


def _softmax_top(model, probs: np.ndarray, unsure_threshold: float | None = None) -> dict:
    """A result (calibrated, with ``unsure`` and the runner-up: :func:`~omniclas.model.predictor.describe_for`)
    plus the ``TOP_K`` most probable classes."""
    from ..model.predictor import describe_for

    result = describe_for(model, probs, unsure_threshold)
    ranked = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])[:TOP_K]
    return {**result, "top": [{"class": c, "probability": p} for c, p in ranked]}


class Registry:
    """A folder of registered models. Thread-safe; loaded models are cached and re-verified when files change."""

    def __init__(self, root: str | os.PathLike | None = None, bf16: bool | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.bf16 = bf16
        self.layout = Layout(self.root)
        self._lock = threading.RLock()
        self._cache: OrderedDict[Path, tuple[tuple, object]] = OrderedDict()

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        return sorted(n for n in self.layout.models() if self.versions(n))

    def _folder(self, name: str) -> Path | None:
        folder = self.layout.models().get(name)
        return self.root / folder if folder else None

    def versions(self, name: str) -> list[int]:
        return self._versions_in(self._folder(name))

    @staticmethod
    def _versions_in(folder: Path | None) -> list[int]:
        try:
            return sorted(int(d.name) for d in folder.iterdir() if is_version_folder(d)) if folder else []
        except (FileNotFoundError, NotADirectoryError):  # retired meanwhile
            return []

    def resolve(self, ref: str, field: str = "model") -> tuple[str, int, Path]:
        name, version = parse_ref(ref, field)
        folder = self._folder(name)  # looked up once: a rename or delete may switch the index meanwhile
        versions = self._versions_in(folder)
        if not versions:
            raise ModelNotFound(f"no model named '{name}' in {self.root}", field=field)
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise ModelNotFound(f"model '{name}' has no version {version} (versions: {', '.join(map(str, versions))})",
                                field=field)
        return name, version, folder / str(version)

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
            try:
                name, version, folder = self.resolve(name)
                manifest = self.read_manifest(folder)
            except (ModelIntegrityError, ModelNotFound) as err:  # broken, or deleted meanwhile
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
                out.append((fname, st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((fname, None, None, None))
        return tuple(out)

    def load(self, ref: str, field: str = "model"):
        """Return ``(name, version, manifest, loaded_model)``; verified on first load and whenever files change.
        A folder retired by a rename or delete while it loads makes the name be looked up again."""
        for attempt in range(LOAD_TRIES):
            name, version, folder = self.resolve(ref, field)
            try:
                return (name, version, *self._load_folder(folder))
            except (OmniClasError, OSError) as err:
                if attempt + 1 < LOAD_TRIES and not folder.is_dir():
                    continue
                if isinstance(err, OSError):
                    raise ModelIntegrityError(f"{folder}: cannot read the model ({err.strerror or err})") from None
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _load_folder(self, folder: Path) -> tuple[dict, object]:
        manifest = self.read_manifest(folder)
        stamp = self._stamp(folder, manifest)
        with self._lock:
            hit = self._cache.get(folder)
            if hit is not None and hit[0] == stamp:
                self._cache.move_to_end(folder)
                return manifest, hit[1]
        self.verify(folder, manifest)
        framework = get_framework(manifest.get("framework", "omniclas"))
        model = framework.load(folder, manifest, bf16=self.bf16)
        with self._lock:
            self._cache[folder] = (stamp, model)
            self._cache.move_to_end(folder)
            while len(self._cache) > CACHE_MODELS:
                self._cache.popitem(last=False)
        return manifest, model

    def _forget(self, folder: Path) -> None:
        with self._lock:
            for key in [k for k in self._cache if k == folder or folder in k.parents]:
                del self._cache[key]

    @staticmethod
    def classify(model, images: list[np.ndarray], unsure_threshold: float | None = None) -> list[dict]:
        """Results (without ``"image"``) for decoded ``HxWx3`` uint8 images, in chunks; ``unsure_threshold``
        instead of the model's own."""
        out: list[dict] = []
        for start in range(0, len(images), PREDICT_CHUNK):
            probs = np.asarray(model.predict_proba(images[start:start + PREDICT_CHUNK]), dtype=np.float64)
            out += [_softmax_top(model, p, unsure_threshold) for p in probs]
        return out

    def predict_arrays(self, ref: str, images: list[np.ndarray]) -> tuple[str, int, list[dict]]:
        """Classify decoded ``HxWx3`` uint8 images; returns (name, version, [RESULT without "image"])."""
        name, version, _, model = self.load(ref)
        return name, version, self.classify(model, images)

    def classify_files(self, ref: str, images: list, labels: list[str] | None = None, all_pages: bool = True,
                       budget=None, skip_unreadable: bool = False, field: str | None = None,
                       unsure_threshold: float | None = None):
        """Classify images given as paths, bytes or arrays; returns ``(name, version, results)``.

        A stack gives one result per page (``"slice"``: 1..n) unless ``all_pages`` is False. Each page is squashed
        to the model's input size as soon as it is decoded. ``budget`` (:class:`omniclas.data.imageio.Budget`) bounds
        the memory decoding may take. With ``skip_unreadable``, a file that cannot be read (corrupt, truncated, an
        unsupported format, over the per-image limits) gives ``{"image", "error": "<label>: <reason>"}`` in its
        place and the others are classified; only the request's own limits (pages, decoded bytes) still raise.
        ``unsure_threshold``: the confidence below which a result is ``unsure``, instead of the model's own.
        """
        from ..data.imageio import iter_pages, to_rgb8

        name, version, manifest, model = self.load(ref)
        size = input_size(manifest)
        arrays, owners, failed = [], [], {}
        for idx, item in enumerate(images):
            label = labels[idx] if labels else str(item) if isinstance(item, (str, os.PathLike)) else f"image {idx + 1}"
            try:
                if isinstance(item, np.ndarray):
                    pages = [to_rgb8(item, label)]
                else:
                    pages = list(iter_pages(item, label, budget, size=size, first_only=not all_pages, field=field))
            except ImageReadError as err:
                if not skip_unreadable or isinstance(err, RequestTooLarge):
                    raise
                failed[idx] = str(err)
                owners.append((idx, label, None, 0))
                continue
            for page_no, page in enumerate(pages, 1):
                arrays.append(page)
                owners.append((idx, label, page_no, len(pages)))
        results = iter(self.classify(model, arrays, unsure_threshold) if arrays else [])
        out = []
        for idx, label, page_no, n_pages in owners:
            if page_no is None:
                out.append({"image": label, "error": failed[idx]})
                continue
            res = {"image": label, **next(results)}
            if n_pages > 1:
                res["slice"] = page_no
            out.append(res)
        return name, version, out

    def predict_batch(self, ref: str, images: list, all_pages: bool = True, skip_unreadable: bool = True,
                      **kw) -> list[dict]:
        """Classify images given as paths, bytes or arrays (see :meth:`classify_files`): an unreadable one gives
        ``{"image", "error"}`` and never sinks the batch."""
        return self.classify_files(ref, images, all_pages=all_pages, skip_unreadable=skip_unreadable, **kw)[2]

    def predict(self, ref: str, image) -> dict:
        """Classify one image (its first page): ``{"image","class","confidence","probabilities","top"}``; an
        unreadable image raises :class:`~omniclas.errors.ImageReadError`."""
        return self.predict_batch(ref, [image], all_pages=False, skip_unreadable=False)[0]

    # ------------------------------------------------------------------ writing
    def register(self, source, name: str, framework: str = "omniclas", **options) -> dict:
        """Add ``source`` (a run folder for ``omniclas``; an .onnx file for ``onnx``) as a new version of ``name``."""
        check_name(name)
        fw = get_framework(framework)
        with self.layout.writing():
            models = self.layout.models()
            folder = models.get(name)
            tmp = self.layout.tmp_dir("register")
            try:
                built = tmp / "model" / "version"
                built.mkdir(parents=True)
                manifest = fw.create(built, source, **options)
                taken = [int(d.name) for d in (self.root / folder).iterdir() if d.name.isdigit()] if folder else []
                version = max(taken, default=0) + 1
                manifest.update({"format": FORMAT, "name": name, "version": version, "framework": fw.name,
                                 "created": now_iso()})
                write_manifest(built, manifest, {f: sha256_file(built / f) for f in manifest.pop("files")})
                fsync_tree(tmp)
                crash_point("register:built")
                if folder:  # a new version of a known model: it appears in one rename
                    os.rename(built, self.root / folder / str(version))
                    fsync_dir(self.root / folder)
                else:  # a new model: its folder, then its name in the index
                    os.rename(built, built.with_name(str(version)))
                    folder = self.layout.free_folder(name)
                    self.layout.journal([folder], "register:journal")
                    os.rename(tmp / "model", self.root / folder)
                    fsync_dir(self.root)
                    crash_point("register:folder")
                    self.layout.write_index({**models, name: folder}, "register:index")
                    self.layout.end_journal()
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        log.info("registered %s version %d (%s)", name, version, fw.name)
        return self._summary(name, version, manifest)

    def delete(self, ref: str) -> str:
        """Delete a model (every version) or one version (``name@3``). Returns what was deleted."""
        name, version = parse_ref(ref)
        with self.layout.writing():
            name, _, version_folder = self.resolve(ref)
            models = self.layout.models()
            folder = self.root / models[name]
            if version is not None and len(self.versions(name)) > 1:
                self.layout.retire(version_folder)
            else:
                self.layout.journal([models[name]], "delete:journal")
                self.layout.write_index({n: f for n, f in models.items() if n != name}, "delete:index")
                self.layout.retire(folder)
                self.layout.end_journal()
            self._forget(version_folder if version is not None else folder)
        return f"{name}@{version}" if version is not None else name

    def rename(self, ref: str, new_name: str) -> dict:
        """Rename a model (all its versions): a new folder with the new name in every manifest and card, then
        one switch of the index; the old folder is retired only after the switch."""
        name, version = parse_ref(ref)
        if version is not None:
            raise InvalidName("rename a whole model ('name'), not one version ('name@v')", field="model")
        check_name(new_name, "new_name")
        with self.layout.writing():
            self.resolve(name)
            if new_name != name:
                models = self.layout.models()
                if new_name in models and self.versions(new_name):
                    raise ModelExists(f"a model named '{new_name}' already exists", field="new_name")
                old = models[name]
                tmp = self.layout.tmp_dir("rename")
                try:
                    for v in self.versions(name):
                        src, dst = self.root / old / str(v), tmp / "model" / str(v)
                        dst.mkdir(parents=True)
                        manifest = self.read_manifest(src)
                        files = {f: d for f, d in manifest["files"].items() if f != CARD}
                        for f in files:
                            link_or_copy(src / f, dst / f)
                        manifest["name"] = new_name
                        write_manifest(dst, manifest, files)
                    fsync_tree(tmp)
                    crash_point("rename:built")
                    folder = self.layout.free_folder(new_name)
                    self.layout.journal([folder, old], "rename:journal")
                    os.rename(tmp / "model", self.root / folder)
                    fsync_dir(self.root)
                    crash_point("rename:folder")
                    models.pop(name)
                    self.layout.write_index({**models, new_name: folder}, "rename:index")
                    self.layout.retire(self.root / old)
                    crash_point("rename:retired")
                    self.layout.end_journal()
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                self._forget(self.root / old)
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
        name, version, folder = self.resolve(ref)
        manifest = self._load_folder(folder)[0]  # verifies the files
        out = Path(out).expanduser()
        if out.suffix.lower() != ".onnx":
            out = out.with_suffix(".onnx") if not out.is_dir() else out / f"{name}.onnx"
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            get_framework(manifest.get("framework", "omniclas")).export_onnx(folder, manifest, tmp)
            os.replace(tmp, out)
        except OSError as err:  # name the file the user asked for, not the temporary one
            raise OmniClasError(f"cannot write {out}: {err.strerror or err}", field="out") from None
        finally:
            with contextlib.suppress(OSError):  # cleanup only; where out could not be written, neither could tmp
                tmp.unlink()
        return out

    def _export_bioimageio(self, ref: str, out, **options) -> Path:
        """The model as a BioImage Model Zoo package at ``out`` (.zip), written beside it and moved into place."""
        name, version, folder = self.resolve(ref)
        manifest = self._load_folder(folder)[0]  # verifies the files
        out = Path(out).expanduser()
        out = out / f"{name}.zip" if out.is_dir() else out.with_suffix(".zip")
        tmp = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.tmp.zip")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            get_framework(manifest.get("framework", "omniclas")).export_bioimageio(folder, manifest, tmp, **options)
            os.replace(tmp, out)
        except OSError as err:
            raise OmniClasError(f"cannot write {out}: {err.strerror or err}", field="out") from None
        finally:
            with contextlib.suppress(OSError):  # cleanup only; where out could not be written, neither could tmp
                tmp.unlink()
        return out

    def evaluate(self, dataset, measures: list[str] | None = None, predictors: list | None = None,
                 labels_file=None, **kw) -> dict:
        from .evaluate import evaluate

        return evaluate(self, dataset, measures, predictors, labels_file, **kw)

    def list_frameworks(self) -> list[str]:
        return list_frameworks()
