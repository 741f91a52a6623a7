"""Where the shared real data lives: ``$SIGNSTREAM_DATA``, else ``../shared/data`` beside the repo.

Every reader of the shared data (the training CLI and recipe, the benches, the scripts and the
tests) asks this one function, so a checkout run from any working directory finds the same folder
and one environment variable moves all of them.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "SIGNSTREAM_DATA"
# engine/ sits in the repository root; the shared data sits beside the repository.
_BESIDE_REPO = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_root(given: str | Path | None = None) -> Path:
    """The shared data folder: ``given`` when set, else ``$SIGNSTREAM_DATA``, else beside the repo.

    The default is resolved from this file, not the working directory, so ``cd`` does not move it.
    """
    if given:
        return Path(given)
    env = os.environ.get(ENV)
    return Path(env) if env else _BESIDE_REPO
