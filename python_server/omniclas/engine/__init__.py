"""The training engine: base models, test-time transforms, the ensemble vote and the distillation loop."""
from .loop import RunResult, train

__all__ = ["RunResult", "train"]
