"""Registry errors. Each carries the HTTP status the server answers with (``http_status``)."""
from __future__ import annotations

from ..data.imageio import ImageTooLarge  # noqa: F401  (413; raised while decoding, re-exported here)
from ..errors import OmniClasError, PathNotAllowed  # noqa: F401  (403; raised by data.roots, re-exported here)


class ModelNotFound(OmniClasError):
    """No model (or no such version of it) in the registry."""

    http_status = 404


class ModelExists(OmniClasError):
    """A model of that name already exists (rename target)."""

    http_status = 409


class ModelIntegrityError(OmniClasError):
    """A registered file does not match the sha256 recorded at registration: tampered or corrupt."""

    http_status = 409


class FrameworkUnavailable(OmniClasError):
    """No framework plug-in of that name, or it cannot be loaded."""

    http_status = 404


class InvalidName(OmniClasError):
    """A model name that could escape the registry folder or is otherwise unusable."""

    http_status = 400


class RunFolderError(OmniClasError):
    """A run folder to register lacks its weights or manifest, or they are unreadable."""

    http_status = 400


class ModelsFolderNotWritable(OmniClasError):
    """The models folder cannot be written: read-only or not the server's to write (403), or full (507)."""

    http_status = 403


class ModelsFolderFull(ModelsFolderNotWritable):
    http_status = 507
