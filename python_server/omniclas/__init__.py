"""OmniClas: image classification for biologists with few labels, trained on a CPU."""
__version__ = "0.1.0"


def train(cfg, progress=None, cancel=None, resume=False):
    """Run a training process; see :func:`omniclas.engine.loop.train`."""
    from .engine import train as _train

    return _train(cfg, progress=progress, cancel=cancel, resume=resume)


def load_predictor(folder, bf16=None):
    """Load a run or registry model folder for prediction."""
    from .model.predictor import Predictor

    return Predictor.load(folder, bf16=bf16)
