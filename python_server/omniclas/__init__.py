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


def suggest(dataset, n=24, model=None):
    """Which images of ``dataset/unlabelled/`` to label next, best first; ``model``: a run folder, a loaded
    predictor, or None (a cold start). See :func:`omniclas.engine.suggest.suggest`."""
    from .engine.suggest import suggest as _suggest

    name = str(model) if model is not None and not hasattr(model, "classes") else None
    if name is not None:
        model = load_predictor(model)
    return _suggest(dataset, n, model, name)
