"""Reading the ``.npy``/``.npz`` files a user gives SignStream, with messages about the file.

``np.load(path, allow_pickle=False)`` chooses the format from the first bytes, not the name:
whatever is neither a ``.npy`` header nor a zip archive it takes for a pickle and refuses with
"Cannot load file containing pickled data", which sends a user looking for pickles in a file
that is simply corrupt or of another format. Every reader of user files goes through here, so
each failure says once, naming the file, what is wrong; :class:`ArrayFileError` carries it.

Pickles stay refused (``allow_pickle=False``): loading one runs code from the file.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from engine.errors import ArrayFileError

__all__ = ["load_npy", "load_npz"]

NPY_MAGIC = b"\x93NUMPY"  # numpy.lib.format.MAGIC_PREFIX
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member; an empty zip (np.load's test)
MAGIC_SIZE = len(NPY_MAGIC)

NOT_NUMPY = "not a NumPy array file (corrupt or another format)"
# numpy says "Object arrays cannot be loaded when allow_pickle=False": the array is pickled
OBJECTS = (
    "holds Python objects (a pickled object array), which SignStream does not load because "
    "loading them runs code from the file; save plain numeric or string arrays"
)
# What numpy raises for a damaged file, depending on where the bytes stop: a header that does
# not parse or data cut short (ValueError, EOFError), a zip without its directory or with a bad
# CRC (BadZipFile), a cut compressed member (zlib.error, EOFError).
_DAMAGE: tuple[type[BaseException], ...] = (ValueError, EOFError, zipfile.BadZipFile, zlib.error)

PathLike = str | os.PathLike[str]


def _open(path: Path) -> IO[bytes]:
    """``path`` opened for reading, positioned at 0; raises ArrayFileError with the reason."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError as e:
        raise ArrayFileError(str(path), "no such file") from e
    except IsADirectoryError as e:
        raise ArrayFileError(str(path), "a folder, not a NumPy array file") from e
    except OSError as e:
        raise ArrayFileError(str(path), f"cannot read it ({e.strerror or e})") from e
    return f


def _kind(path: Path, f: IO[bytes]) -> str:
    """``"npy"`` or ``"npz"`` from the first bytes (rewinds ``f``); else ArrayFileError."""
    head = f.read(MAGIC_SIZE)
    f.seek(0)
    if head == NPY_MAGIC:
        return "npy"
    if head[: len(ZIP_MAGICS[0])] in ZIP_MAGICS:
        return "npz"
    if not head:
        raise ArrayFileError(str(path), f"empty file (0 bytes), {NOT_NUMPY}")
    raise ArrayFileError(str(path), NOT_NUMPY)


def _damaged(path: Path, e: BaseException) -> ArrayFileError:
    if isinstance(e, ValueError) and "allow_pickle" in str(e):
        return ArrayFileError(str(path), OBJECTS)
    return ArrayFileError(str(path), f"corrupt or truncated NumPy file ({type(e).__name__}: {e})")


def load_npy(path: PathLike) -> npt.NDArray[Any]:
    """The array of a ``.npy`` file.

    Raises:
        ArrayFileError: missing or unreadable file, not a NumPy file, an ``.npz`` archive
            instead of one array, a corrupt or truncated file, or pickled objects.
    """
    path = Path(path)
    with _open(path) as f:
        if _kind(path, f) != "npy":
            raise ArrayFileError(str(path), "an .npz archive of arrays, expected one .npy array")
        try:
            array: npt.NDArray[Any] = np.load(f, allow_pickle=False)
        except _DAMAGE as e:
            raise _damaged(path, e) from e
        except OSError as e:
            raise ArrayFileError(str(path), f"cannot read it ({e.strerror or e})") from e
    return array


def load_npz(path: PathLike, keys: Iterable[str] | None = None) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an ``.npz`` file, read now (all, or only ``keys``, in that order).

    Reading every member inside this call is what lets a cut or corrupt member fail here,
    with the file's name, instead of later where a lazy ``NpzFile`` is indexed.

    Raises:
        ArrayFileError: as :func:`load_npy`, plus a single ``.npy`` array instead of an
            archive and a member of ``keys`` that the archive lacks (naming those it has).
    """
    path = Path(path)
    with _open(path) as f:
        if _kind(path, f) != "npz":
            raise ArrayFileError(str(path), "a single .npy array, expected an .npz archive")
        try:
            with np.load(f, allow_pickle=False) as z:
                names = list(z.files) if keys is None else list(keys)
                missing = [k for k in names if k not in z.files]
                if missing:
                    raise ArrayFileError(
                        str(path), f"no {' / '.join(missing)} array (holds {sorted(z.files)})"
                    )
                return {k: z[k] for k in names}
        except _DAMAGE as e:
            raise _damaged(path, e) from e
        except OSError as e:
            raise ArrayFileError(str(path), f"cannot read it ({e.strerror or e})") from e
