"""One exception type per failure a user can meet, each with a message a person can act on."""

from __future__ import annotations

__all__ = [
    "DatasetError",
    "ExtractorError",
    "FeatureSpecMismatch",
    "ImportProblem",
    "SignStreamError",
    "SourceError",
]


class SignStreamError(Exception):
    """Base of every error SignStream raises on purpose."""


class DatasetError(SignStreamError):
    """A dataset folder or file is missing, corrupt or of another format version."""


class ImportProblem(SignStreamError):
    """One input file of an import could not be read; the import goes on with the others."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class FeatureSpecMismatch(SignStreamError):
    """Features were built with another feature spec than the model expects."""


class ExtractorError(SignStreamError):
    """The landmark extractor (MediaPipe) cannot be created or fails on a frame."""


class SourceError(SignStreamError):
    """A camera, video file or landmark recording cannot be opened or stops delivering frames."""
