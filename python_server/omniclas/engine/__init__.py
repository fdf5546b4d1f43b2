"""The training engine: base models, test-time transforms, the ensemble vote and the distillation loop."""

__all__ = ["RunResult", "train"]


def __getattr__(name):  # lazy, so that light modules (vote, select) import without the whole loop
    if name in __all__:
        from . import loop

        return getattr(loop, name)
    raise AttributeError(name)
