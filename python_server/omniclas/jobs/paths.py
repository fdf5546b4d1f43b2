"""Dataset paths given over HTTP must lie under one of the server's dataset roots.

The path is resolved first (``..`` collapsed, every symlink followed), then compared with each resolved root,
so neither ``../../etc`` nor a symlink inside a root that points outside it gets through.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..registry.errors import PathNotAllowed


def parse_roots(value: str | None) -> list[str]:
    """``OMNICLAS_DATASET_ROOTS``: paths separated by ``os.pathsep`` (``:`` on Linux/macOS, ``;`` on Windows)."""
    return [p for p in (value or "").split(os.pathsep) if p.strip()]


def resolve_under_roots(path, roots, field: str = "dataset") -> Path:
    if not isinstance(path, str) or not path.strip():
        _bad(f"{field} must be a non-empty folder path", field)
    if "\x00" in path:
        _bad(f"{field} contains a NUL character", field)
    if not roots:
        raise PathNotAllowed("this server has no dataset roots configured; start it with --dataset-root FOLDER "
                             "(or set OMNICLAS_DATASET_ROOTS)", field=field)
    resolved_roots = [Path(r).expanduser().resolve() for r in roots]
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [r / p for r in resolved_roots]
    # a relative path is looked up in each root; the first one where it exists wins
    existing = [c for c in candidates if os.path.lexists(c)]
    for cand in (existing or candidates)[:1]:
        try:
            real = cand.resolve()
        except (OSError, RuntimeError, ValueError):
            break
        for root in resolved_roots:
            if real == root or root in real.parents:
                return real
    raise PathNotAllowed(f"{field} '{path}' is outside the server's dataset roots "
                         f"({', '.join(str(r) for r in resolved_roots)})", field=field)


def _bad(message: str, field: str):
    from ..errors import ConfigError

    raise ConfigError(message, field=field)
