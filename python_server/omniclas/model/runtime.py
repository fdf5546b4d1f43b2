"""Run network bodies forward on the fastest CPU runtime installed: OpenVINO, then onnxruntime, then torch.

Frozen bodies are only ever run forward, so they need no autograd. Measured on this project's 2-core AVX-512
machine (``benchmarks/results/runtimes.md``), OpenVINO in bf16 ran EfficientNet-Lite bodies several times faster
than torch in bf16, and onnxruntime in float32 sat between the two. A body is converted once per process
(about 2 s) and kept; the result is the same function whichever runtime runs it: normalised float32
``N x 3 x S x S`` in, float32 ``N x F`` features out.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import ConfigError

log = logging.getLogger(__name__)

RUNTIMES = ("openvino", "onnxruntime", "torch")  # fastest first
# How a body reaches OpenVINO, in every key of what it computes (the converted body, the feature store's tables):
# the TorchScript frontend and ONNX give slightly different values, and a store must not mix them (a run on
# features cached before the route changed differed from a cold run: 0.598 against 0.591 on flowers5).
CONVERSION = "onnx-opset17"


@dataclass
class CompiledBody:
    """A body ready to run: ``run(x)`` maps a normalised float32 NCHW array to float32 features."""

    runtime: str
    precision: str  # "bf16" or "fp32"
    version: str
    run: Callable[[np.ndarray], np.ndarray]

    def describe(self) -> dict:
        return {"name": self.runtime, "version": self.version, "precision": self.precision}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.run(x.float().contiguous().numpy()), dtype=np.float32))


def bf16_supported() -> bool:
    """True where the CPU has native bf16 (AVX-512 BF16 or AMX); elsewhere bf16 would be emulated and slow."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def available_runtimes() -> list[str]:
    """The runtimes importable here, fastest first."""
    out = []
    for name, module in (("openvino", "openvino"), ("onnxruntime", "onnxruntime")):
        try:
            __import__(module)
        except ImportError:
            continue
        out.append(name)
    return out + ["torch"]


def _threads() -> int:
    return max(1, torch.get_num_threads())


def cache_dir() -> Path:
    """Where converted bodies are kept between runs: ``$OMNICLAS_CACHE``, else ``$XDG_CACHE_HOME/omniclas``."""
    env = os.environ.get("OMNICLAS_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "omniclas"
    return base.expanduser()


def body_key(body, size: int, *parts) -> str:
    """A digest of the body's weights and the input size: a converted copy is reused only for the same body."""
    digest = hashlib.sha256(f"{size}|{'|'.join(map(str, parts))}|{type(body).__name__}".encode())
    for name, tensor in body.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


def _openvino_model(body, size: int, cache: bool):
    """The body as an OpenVINO model with a dynamic batch: converted from torch (seconds), or read from the cache
    (a fraction of a second) where ``cache`` allows."""
    import openvino as ov

    path = cache_dir() / "openvino" / f"{body_key(body, size, ov.__version__, CONVERSION)}.xml" if cache else None
    core = ov.Core()
    if path is not None and path.is_file():
        try:
            return core.read_model(str(path))
        except RuntimeError as err:  # a damaged cache entry: convert again
            log.warning("ignoring cached %s: %s", path, err)
    # Through ONNX: 2-3x faster than OpenVINO's TorchScript frontend on these bodies (3.4 against 7.1 s for
    # Lite0, 5.4 against 12.2 s for Lite2, measured here), and a first run pays it for every body.
    model = ov.convert_model(io.BytesIO(_onnx_bytes(body, size)))
    model.reshape([-1, 3, size, size])
    if path is None:
        return model
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}-{os.getpid()}-{threading.get_ident()}.xml")
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        tmp.with_suffix(".bin").replace(path.with_suffix(".bin"))
        tmp.replace(path)
    except OSError as err:  # a read-only home: work without the cache
        log.info("cannot cache the converted body in %s: %s", path.parent, err)
    return model


def _compile_openvino(body, size: int, bf16: bool, cache: bool) -> CompiledBody:
    import openvino as ov

    model = _openvino_model(body, size, cache)
    precision = "bf16" if bf16 else "f32"
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                      "INFERENCE_NUM_THREADS": str(_threads())})
    request = compiled.create_infer_request()
    lock = threading.Lock()  # one infer request serves every caller; server threads take turns

    def run(x: np.ndarray) -> np.ndarray:
        with lock:
            return request.infer({0: x})[0].copy()

    return CompiledBody("openvino", "bf16" if bf16 else "fp32", ov.__version__.split("-")[0], run)


def _onnx_bytes(body, size: int) -> bytes:
    """The body as an ONNX graph with a dynamic batch."""
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(body, (torch.zeros(1, 3, size, size),), buffer, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["features"], dynamic_axes={"x": {0: "n"}, "features": {0: "n"}})
    return buffer.getvalue()


def _compile_onnxruntime(body, size: int) -> CompiledBody:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = _threads()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(_onnx_bytes(body, size), options, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"x": x})[0]

    return CompiledBody("onnxruntime", "fp32", ort.__version__, run)


def _compile_torch(body, bf16: bool) -> CompiledBody:
    body = body.eval().to(memory_format=torch.channels_last)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return body(torch.from_numpy(x).contiguous(memory_format=torch.channels_last)).float().numpy()

    return CompiledBody("torch", "bf16" if bf16 else "fp32", torch.__version__.split("+")[0], run)


def compile_body(body: torch.nn.Module, size: int, runtime: str = "auto", bf16: bool | None = None,
                 cache: bool = True) -> CompiledBody:
    """Compile ``body`` (``N x 3 x size x size`` -> ``N x F``) for forward passes.

    Args:
        runtime: ``auto`` takes the fastest one installed; a named one must be installed.
        bf16: compute in bfloat16 (``None``: where the CPU has native bf16). onnxruntime always runs float32.
        cache: keep the converted body on disk for next time (for bodies that recur: the frozen pretrained ones).
    """
    if bf16 is None:
        bf16 = bf16_supported()
    installed = available_runtimes()
    if runtime == "auto":
        candidates = installed
    elif runtime in RUNTIMES:
        if runtime not in installed:
            raise ConfigError(f"runtime '{runtime}' is not installed here; installed: {', '.join(installed)}",
                              field="runtime")
        candidates = [runtime]
    else:
        raise ConfigError(f"unknown runtime '{runtime}'; choose from auto, {', '.join(RUNTIMES)}", field="runtime")
    body = body.eval()
    for name in candidates:
        try:
            if name == "openvino":
                return _compile_openvino(body, size, bf16, cache)
            if name == "onnxruntime":
                return _compile_onnxruntime(body, size)
            return _compile_torch(body, bf16)
        except Exception as err:  # a runtime that cannot take this body: fall back to the next one
            if runtime != "auto" or name == "torch":
                raise
            log.warning("runtime %s failed for this body (%s); falling back", name, err)
    raise AssertionError("unreachable: torch always compiles")
