"""A real server against its own OpenAPI document, checked by schemathesis: no server error, every answer as the
document says, schema-valid requests accepted and invalid ones refused, the token asked for where the document
says so. Skipped where schemathesis is not installed (it is no dependency of OmniClas: ``pip install
schemathesis``)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from live_server import DATA_ROOT, server_env, start_server, stop_server

from omniclas.registry import Registry

pytestmark = pytest.mark.skipif(importlib.util.find_spec("schemathesis") is None,
                                reason="schemathesis is not installed (pip install schemathesis)")

HOOKS = """
import io

import numpy as np
import schemathesis
import tifffile
from hypothesis import strategies as st
from PIL import Image

from omniclas.data.imageio import read_image

cell = read_image({image!r})


def encoded(fmt):
    buf = io.BytesIO()
    if fmt == "TIFF":
        tifffile.imwrite(buf, cell.astype(np.uint16) * 257, photometric="rgb")
    else:
        Image.fromarray(cell).save(buf, fmt)
    return buf.getvalue()


# an uploaded file in a valid request is an image of a format the server reads
schemathesis.openapi.format("binary", st.sampled_from([encoded(f) for f in ("PNG", "JPEG", "TIFF", "BMP")]))
"""


@pytest.mark.parametrize("token", [None, "a-token-of-thirty-two-characters"], ids=["loopback", "token"])
def test_server_keeps_to_its_openapi_document(live_server, tmp_path, token):
    models = tmp_path / "models"  # a registry of its own: the fuzzer renames and deletes
    Registry(models).register(live_server.run_dir, "cells")
    env = server_env(**({"OMNICLAS_TOKEN": token} if token else {}))
    proc, url = start_server(models, DATA_ROOT, tmp_path / "server.log", jobs_dir=tmp_path / "jobs", env=env)
    image = sorted((DATA_ROOT / "bbbc013" / "NoGFP").iterdir())[0]
    (tmp_path / "cell_images.py").write_text(HOOKS.format(image=str(image)))  # what an uploaded image is
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\nname = "cells"\n')  # reach a real model too, not only 404s
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
           f"{url}/api/v1/openapi.json", "--checks", "all", "--max-examples", "25", "--seed", "1"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    try:
        st_env = server_env(SCHEMATHESIS_HOOKS="cell_images")
        st_env["PYTHONPATH"] = f"{tmp_path}:{st_env['PYTHONPATH']}"
        out = subprocess.run(cmd, cwd=tmp_path, env=st_env, capture_output=True, text=True, timeout=600)
    finally:
        stop_server(proc)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "Traceback" not in (tmp_path / "server.log").read_text()
