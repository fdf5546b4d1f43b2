"""One small distillation run shared by tests/test_report.py and tests/test_bioimageio.py: I.M.D.D. with two
backbones (an ensemble), 64 px, two rounds, on the fixture set's bbbc013. Trained once per session (kept in
pytest's base temp folder), read-only afterwards."""
from __future__ import annotations

from pathlib import Path

from live_server import require_data

BACKBONES = ("efficientnet_lite0", "efficientnet_lite1")


def distilled_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.getbasetemp() / "distilled-run"
    if not (out / "manifest.json").is_file():
        from omniclas.config import TrainConfig
        from omniclas.engine import train

        cfg = TrainConfig(dataset=str(require_data("bbbc013")), out_dir=str(out), process="imdd",
                          backbones=BACKBONES, image_size=64, max_iterations=2)
        train(cfg)
    return out
