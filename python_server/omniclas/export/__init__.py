"""A trained model for other tools: one ONNX graph, or a BioImage Model Zoo package."""
