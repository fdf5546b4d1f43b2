"""How much memory the images of one request may take once decoded (see :class:`omniclas.data.imageio.Budget`)."""
from __future__ import annotations

from ..data.imageio import Budget
from .errors import MB


def budget_for(config) -> Budget:
    """A fresh budget for one request: pixels and memory per image, memory and pages per request."""
    return Budget(max_pixels=int(config["MAX_PIXELS"]), max_pages=int(config["MAX_PAGES"]),
                  image_bytes=int(config["MAX_IMAGE_MB"] * MB), request_bytes=int(config["MAX_DECODED_MB"] * MB))
