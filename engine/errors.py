"""One exception type per failure a user can meet, each with a message a person can act on."""

from __future__ import annotations

__all__ = [
    "ArrayFileError",
    "DatasetError",
    "DecoderError",
    "ExtractorError",
    "FeatureSpecMismatch",
    "ImportProblem",
    "LMVocabularyMismatch",
    "LanguageModelError",
    "ModelLoadError",
    "PreviewError",
    "SignStreamError",
    "SourceError",
]


class SignStreamError(Exception):
    """Base of every error SignStream raises on purpose."""


class ArrayFileError(SignStreamError):
    """A ``.npy``/``.npz`` file is missing, unreadable, corrupt, or not a NumPy file at all."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


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


class ModelLoadError(SignStreamError):
    """A model file is missing, corrupt, not a SignStream model, or does not fit the engine."""


class PreviewError(SignStreamError):
    """A model's sign previews file is damaged, of another format, or does not match the
    models index; the model itself still works without it."""


class DecoderError(SignStreamError):
    """The CTC decoder cannot decode this input (wrong shape or class count, NaN posteriors) or
    cannot be built for this vocabulary."""


class LanguageModelError(SignStreamError):
    """A language model file is missing, unreadable or not a KenLM model (ARPA or binary)."""


MAX_LISTED = 20  # missing glosses named in a mismatch message


class LMVocabularyMismatch(LanguageModelError):
    """The language model does not know some of the model's glosses (another vocabulary)."""

    def __init__(self, lm_path: str, missing: tuple[str, ...], total: int, hint: str = "") -> None:
        shown = ", ".join(missing[:MAX_LISTED])
        if len(missing) > MAX_LISTED:
            shown += f", ... ({len(missing) - MAX_LISTED} more)"
        super().__init__(
            f"{lm_path}: the language model does not know {len(missing)} of the model's {total} "
            f"glosses: {shown}. Build the LM from sentences in the model's vocabulary "
            f"(signstream train lm) or load the LM made for this model.{hint}"
        )
        self.lm_path = lm_path
        self.missing = missing
