"""Dataset paths given over HTTP must lie under one of the server's dataset roots, and so must every file read.

A path is resolved first (``..`` collapsed, every symlink followed), then compared with each resolved root,
so neither ``../../etc`` nor a symlink inside a root that points outside it gets through. The check applies to
the dataset folder, and to every class folder and image beneath it (:func:`check_tree_under_roots`), so a
class folder that is a symlink to somewhere else is refused too; and a file read for a job is resolved again at
the moment it is opened (:func:`read_under_roots`), so a link made after the check is no way out either.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError, PathNotAllowed

MAX_PATH_CHARS = 1024  # a longer dataset path is refused (400); a shorter one the OS cannot hold is not found
TREE_DEPTH = 3  # <dataset>/test/<class>/<image>
TREE_ENTRIES = 1_000_000


def parse_roots(value: str | None) -> list[str]:
    """``OMNICLAS_DATASET_ROOTS``: paths separated by ``os.pathsep`` (``:`` on Linux/macOS, ``;`` on Windows)."""
    return [p for p in (value or "").split(os.pathsep) if p.strip()]


def _resolved_roots(roots) -> list[Path]:
    return [Path(r).expanduser().resolve() for r in roots]


def _under(real: Path, roots: list[Path]) -> bool:
    return any(real == root or root in real.parents for root in roots)


def _check_text(path, field: str) -> None:
    if not isinstance(path, str) or not path.strip():
        _bad(f"{field} must be a non-empty folder path", field)
    if "\x00" in path:
        _bad(f"{field} contains a NUL character", field)
    if len(path) > MAX_PATH_CHARS:
        _bad(f"{field} is too long ({len(path)} characters; at most {MAX_PATH_CHARS})", field)


def resolve_under_roots(path, roots, field: str = "dataset") -> Path:
    _check_text(path, field)
    if not roots:
        raise PathNotAllowed("this server has no dataset roots configured; start it with --dataset-root FOLDER "
                             "(or set OMNICLAS_DATASET_ROOTS)", field=field)
    resolved_roots = _resolved_roots(roots)
    try:
        p = Path(path).expanduser()
    except (RuntimeError, KeyError):  # "~name" of no such user: taken as it is written
        p = Path(path)
    candidates = [p] if p.is_absolute() else [r / p for r in resolved_roots]
    # a relative path is looked up in each root; the first one where it exists wins
    existing = [c for c in candidates if os.path.lexists(c)]
    for cand in (existing or candidates)[:1]:
        try:
            real = cand.resolve()
        except (OSError, RuntimeError, ValueError):  # e.g. names longer than the OS allows: cannot exist
            real = Path(os.path.abspath(cand))
        if _under(real, resolved_roots):
            return real
    raise PathNotAllowed(f"{field} '{path}' is outside the server's dataset roots "
                         f"({', '.join(str(r) for r in resolved_roots)})", field=field)


def ensure_under_roots(path: Path, roots, field: str = "dataset") -> Path:
    """The resolved ``path``, or PathNotAllowed (403) naming it when it resolves outside every root."""
    resolved_roots = _resolved_roots(roots)
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError, ValueError) as err:
        raise PathNotAllowed(f"{path}: cannot be resolved ({err})", field=field) from None
    if not _under(real, resolved_roots):
        raise PathNotAllowed(f"{path} leads to {real}, outside the server's dataset roots; a dataset's class "
                             f"folders and images must lie under a root too (no symlinks pointing out)", field=field)
    return real


def read_under_roots(path, roots, field: str = "folder") -> bytes:
    """The bytes of ``path``, resolved as it is opened: PathNotAllowed (403) where it leads outside every root.
    The resolved path is opened without following a link in its last part (one swapped in meanwhile fails)."""
    real = ensure_under_roots(Path(path), roots, field)
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        return f.read()


def check_tree_under_roots(folder: Path, roots, field: str = "dataset", depth: int | None = TREE_DEPTH) -> None:
    """Every folder and file within ``depth`` levels of ``folder`` (``TREE_DEPTH``: what training reads; None:
    all) resolves under a root; raise PathNotAllowed naming the first one that does not."""
    seen = 0
    stack = [(Path(folder), 0)]
    while stack:
        current, level = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > TREE_ENTRIES:
                _bad(f"{folder} holds more than {TREE_ENTRIES} files and folders", field)
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                ensure_under_roots(path, roots, field)
            # all levels: as images_under lists them, not into linked folders (a loop of links has no end)
            if (depth is None or level + 1 < depth) and entry.is_dir(follow_symlinks=depth is not None):
                stack.append((path, level + 1))


def _bad(message: str, field: str):
    raise ConfigError(message, field=field)
