"""Uploaded images: reject decompression bombs from the header, before any pixel is decoded."""
from __future__ import annotations

import io

from PIL import Image

from ..registry.errors import ImageTooLarge

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def check_pixels(data: bytes, name: str, max_pixels: int, max_pages: int) -> None:
    """Raise :class:`ImageTooLarge` (413) when a page has more than ``max_pixels`` pixels or a stack more than
    ``max_pages`` pages. Unreadable data passes through: the decoder then reports it as a 400."""
    if data[:4] in TIFF_MAGIC:
        try:
            import tifffile

            with tifffile.TiffFile(io.BytesIO(data)) as tif:
                n = 0
                for page in tif.pages:
                    n += 1
                    shape = getattr(page, "shape", ())
                    h, w = (int(shape[-3]), int(shape[-2])) if len(shape) >= 3 and shape[-1] <= 4 else \
                        (int(getattr(page, "imagelength", 0)), int(getattr(page, "imagewidth", 0)))
                    if h * w > max_pixels:
                        raise ImageTooLarge(f"{name}: {w} x {h} pixels is more than the limit of {max_pixels} "
                                            f"pixels per image", field="images")
                    if n > max_pages:
                        raise ImageTooLarge(f"{name}: more than {max_pages} pages; split the stack", field="images")
        except ImageTooLarge:
            raise
        except Exception:
            return
        return
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{name}: the image declares far more pixels than allowed (decompression bomb guard)",
                            field="images") from None
    except Exception:
        return
    if w * h > max_pixels:
        raise ImageTooLarge(f"{name}: {w} x {h} pixels is more than the limit of {max_pixels} pixels per image",
                            field="images")
