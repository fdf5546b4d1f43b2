"""What a registered version's manifest holds, and how it is written: the model card beside it, and the sha256
of every file."""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from ..data.files import sha256_file
from .card import model_card
from .layout import MANIFEST

CARD = "README.md"
FORMAT = "omniclas-model/1"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def input_size(manifest: dict) -> tuple[int, int] | None:
    """The ``(h, w)`` every image is squashed to before the model sees it, where the manifest records one."""
    size = manifest.get("input_size")
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        return int(size[0]), int(size[1])
    return None


def write_manifest(folder: Path, manifest: dict, card_files: dict) -> None:
    """Write the card and the manifest (with the card's sha256) into a folder that is not yet in place."""
    (folder / CARD).write_text(model_card(manifest, card_files), encoding="utf-8")
    manifest["files"] = {**card_files, CARD: sha256_file(folder / CARD)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
