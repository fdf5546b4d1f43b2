"""User-facing errors: each carries a message that names the file, folder or field at fault."""


class OmniClasError(Exception):
    """Base class. The CLI and the server show ``str(err)`` to the user, never a traceback."""

    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ImageReadError(OmniClasError):
    """An image file is missing, empty, corrupt or in an unsupported layout."""


class DatasetError(OmniClasError):
    """A dataset folder does not have the expected layout or enough images."""


class BackboneUnavailable(OmniClasError):
    """A backbone is unknown, or its pretrained weights cannot be found or downloaded."""


class ConfigError(OmniClasError):
    """A training option has an invalid value."""


class Cancelled(OmniClasError):
    """Training was cancelled by the user."""


class PathNotAllowed(OmniClasError):
    """A dataset path outside every configured dataset root."""

    http_status = 403
