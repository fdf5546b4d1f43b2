"""``omniclas info`` without a model: this installation, where it keeps models and caches, what it runs on."""
from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path


def omniclas_executable() -> Path:
    """This environment's ``omniclas`` command (absolute; symlinks kept, so a venv stays a venv), else its Python,
    which runs ``python -m omniclas`` (how Fiji's Server Settings read either)."""
    name = "omniclas.exe" if os.name == "nt" else "omniclas"
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = Path(os.path.abspath(os.path.join(folder, name)))
        if candidate.is_file():
            return candidate
    return Path(os.path.abspath(sys.executable))


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def describe(models_root=None) -> list[tuple[str, str]]:
    """(what, value) rows: version, models folder and how it was chosen, cache folder, runtimes, executable."""
    from .. import __version__
    from ..model.runtime import available_runtimes, bf16_supported, cache_dir
    from ..registry import list_frameworks, models_root_choice

    root, how = models_root_choice(models_root)
    cache_how = "$OMNICLAS_CACHE" if os.environ.get("OMNICLAS_CACHE") else "the default; $OMNICLAS_CACHE chooses another"
    runtimes = ", ".join(f"{r} {_version(r)}" for r in available_runtimes())
    return [
        ("version", f"omniclas {__version__} (Python {sys.version.split()[0]}, {sys.executable})"),
        ("models folder", f"{root} ({how}){'' if root.is_dir() else '; not created yet'}"),
        ("cache folder", f"{cache_dir()} ({cache_how}): converted network bodies, error logs"),
        ("runtimes", f"{runtimes} (fastest first); bf16 {'supported' if bf16_supported() else 'not supported'} "
                     f"by this CPU"),
        ("frameworks", ", ".join(list_frameworks())),
        ("executable", f"{omniclas_executable()} (Fiji: Server Settings > Environment, or omniclas fiji install)"),
    ]


def print_environment(models_root=None, out=None) -> None:
    out = out or sys.stdout
    rows = describe(models_root)
    width = max(len(k) for k, _ in rows)
    print("OmniClas", file=out)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}", file=out)
