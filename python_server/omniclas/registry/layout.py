"""The registry's folders on disk, and how every write leaves either the old state or the new one.

Layout::

    <root>/index.json             {"format": "omniclas-registry/2", "models": {"cells": {"folder": "cells"}}}
    <root>/<folder>/<version>/    one folder per version, never changed once in place
    <root>/.journal.json          the model folders a write is creating or retiring (only while it runs)
    <root>/.lock                  writers hold an exclusive flock on it
    <root>/.tmp-*  <root>/.trash-*   work in progress and retired folders, removed by the next writer

The index is the one place that names models: it is replaced in one ``os.replace``, so readers see the names
before a write or after it, never between. A version folder is built under ``.tmp-*`` and moved into place in
one ``os.rename``, so it is complete whenever it can be seen, and its files are never rewritten afterwards:
renaming builds a new model folder (weights hard-linked, manifests and cards written with the new name),
switches the index to it, and only then retires the old folder. Before a write creates or retires a model
folder it lists that folder in the journal; the next writer removes every journalled folder that the index
does not name (a crash before the switch leaves the old state, after it the new one). A reader that finds a
folder gone under it (retired by a rename or a delete) resolves the name again.

A registry written before the index existed (``<root>/<name>/<version>/``) reads as it is; the first write
records its names in an index.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import uuid
from pathlib import Path

from ..data.files import write_atomic
from .errors import ModelIntegrityError, ModelsFolderFull, ModelsFolderNotWritable

INDEX = "index.json"
JOURNAL = ".journal.json"
LOCK = ".lock"
INDEX_FORMAT = "omniclas-registry/2"
MANIFEST = "manifest.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # use fullmatch: "$" also matches before a final "\n"
CRASH_ENV = "OMNICLAS_CRASH_AT"  # test hook: the process kills itself (SIGKILL) at the named step of a write


def crash_point(step: str) -> None:
    """Die here, as in a power cut, when the crash-safety tests ask for this step."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_tree(folder: Path) -> None:
    """Flush every file of ``folder`` and the folder itself to disk."""
    for p in [*folder.rglob("*"), folder]:
        fsync_dir(p)


def fsync_dir(path: Path) -> None:
    """Flush one file or folder to disk (best effort: a file system that cannot is left as it is)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def link_or_copy(src: Path, dst: Path) -> None:
    """Share an immutable file between two version folders (a hard link), or copy it where links fail."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def is_version_folder(path: Path) -> bool:
    return path.name.isdigit() and (path / MANIFEST).is_file()


class Layout:
    """The index, the journal and the locks of one registry root."""

    def __init__(self, root: Path):
        self.root = root
        self._thread_lock = threading.RLock()
        self._cached: tuple[tuple, dict] | None = None

    # ------------------------------------------------------------------ locks
    @contextlib.contextmanager
    def _flock(self, exclusive: bool):
        try:
            import fcntl
        except ImportError:  # Windows: the thread lock only
            yield
            return
        try:
            fh = open(self.root / LOCK, "a+")
        except OSError:  # a read-only registry: nobody can be writing it through us
            yield
            return
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def writing(self):
        """Serialise writers (threads and processes), and finish or undo what a crashed writer left. A models
        folder that cannot be written (read-only, another user's, full) is said so, naming it."""
        with self._thread_lock:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                with self._flock(exclusive=True):
                    self._recover()
                    yield
            except OSError as err:
                self._not_writable(err)
                raise

    def _not_writable(self, err: OSError) -> None:
        """Raise the user's error for ``err`` when it is the models folder that cannot be written."""
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            return
        root = os.path.abspath(self.root)
        if err.filename is not None and not os.path.abspath(os.fsdecode(err.filename)).startswith(root):
            return  # another file (e.g. the run folder being registered): not the models folder's fault
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ModelsFolderFull(f"the models folder {root} is full ({err.strerror}); free some space there",
                                   field="models_root") from None
        raise ModelsFolderNotWritable(
            f"the models folder {root} cannot be written ({err.strerror}): it is read-only, or not this user's to "
            f"write; make it writable, or use another models folder (--models-root)", field="models_root") from None

    # ------------------------------------------------------------------ index
    def models(self) -> dict[str, str]:
        """Name -> folder of every indexed model (folders checked to stay inside the root)."""
        index_path = self.root / INDEX
        try:
            st = index_path.stat()
        except FileNotFoundError:
            if not self.root.is_dir():
                return {}
            with self._flock(exclusive=False):  # no writer is half-way through the first write
                if not index_path.exists():
                    return self._infer()
            st = index_path.stat()
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._cached
        if cached is not None and cached[0] == key:
            return dict(cached[1])
        try:
            data = json.loads(index_path.read_text(encoding="utf-8"))
            entries = data["models"]
            models = {n: e["folder"] for n, e in entries.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ModelIntegrityError(f"{index_path}: unreadable registry index ({err}); restore it from a "
                                      f"backup, or delete it to rebuild it from the model folders") from None
        models = {n: f for n, f in models.items()
                  if isinstance(n, str) and NAME_RE.fullmatch(n) and isinstance(f, str) and NAME_RE.fullmatch(f)}
        self._cached = (key, models)
        return dict(models)

    def _infer(self) -> dict[str, str]:
        """A registry from before the index: every ``<name>/<version>/`` folder is a model."""
        return {d.name: d.name for d in sorted(self.root.iterdir())
                if d.is_dir() and NAME_RE.fullmatch(d.name) and any(is_version_folder(v) for v in d.iterdir())}

    def write_index(self, models: dict[str, str], step: str | None = None) -> None:
        body = {"format": INDEX_FORMAT, "models": {n: {"folder": models[n]} for n in sorted(models)}}
        write_atomic(self.root / INDEX, json.dumps(body, indent=2) + "\n")
        fsync_dir(self.root)
        self._cached = None
        if step:
            crash_point(step)

    # ------------------------------------------------------------------ journal and recovery
    def journal(self, folders: list[str], step: str) -> None:
        write_atomic(self.root / JOURNAL, json.dumps({"folders": folders}) + "\n")
        fsync_dir(self.root)
        crash_point(step)

    def end_journal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.root / JOURNAL)

    def _recover(self) -> None:
        """Runs under the write lock: index a pre-index registry, retire journalled folders the index does not
        name, drop names whose folder has no version left, and sweep temporary and retired folders."""
        if not (self.root / INDEX).exists():
            self.write_index(self._infer())
        journal = self.root / JOURNAL
        if journal.exists():
            try:
                folders = json.loads(journal.read_text(encoding="utf-8")).get("folders", [])
            except (OSError, ValueError, AttributeError):
                folders = []
            named = set(self.models().values())
            for f in folders:
                if isinstance(f, str) and NAME_RE.fullmatch(f) and f not in named:
                    self.retire(self.root / f)
            self.end_journal()
        models = self.models()
        empty = [n for n, f in models.items() if not any(is_version_folder(v) for v in self._children(f))]
        if empty:
            self.write_index({n: f for n, f in models.items() if n not in empty})
            for n in empty:
                self.retire(self.root / models[n])
        for d in [*self.root.glob(".tmp-*"), *self.root.glob(".trash-*")]:
            shutil.rmtree(d, ignore_errors=True)

    def _children(self, folder: str) -> list[Path]:
        path = self.root / folder
        return list(path.iterdir()) if path.is_dir() else []

    # ------------------------------------------------------------------ folders
    def tmp_dir(self, what: str) -> Path:
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{what}-", dir=self.root))
        os.chmod(tmp, 0o755)
        return tmp

    def free_folder(self, name: str) -> str:
        """A folder name for a new model folder: the model's name where nothing has it yet."""
        folder = name
        while os.path.lexists(self.root / folder):
            folder = f"{name[:90]}.{uuid.uuid4().hex[:6]}"
        return folder

    def retire(self, path: Path) -> None:
        """Move a folder out of sight in one rename, then delete it."""
        if not os.path.lexists(path):
            return
        trash = self.root / f".trash-{uuid.uuid4().hex}"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
