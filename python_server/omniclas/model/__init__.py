"""The model: ImageNet backbones, the saved network (members averaged over views), the runtimes that run bodies
forward, and the predictor that loads a model folder and classifies."""
