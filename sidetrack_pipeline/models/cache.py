"""Where converted model weights live: ``$SIDETRACK_MODELS_DIR`` or ``<SIDETRACK_HOME>/models``.

Layout (one sub-folder per model family)::

    <cache>/musicnn/msd-musicnn.pt     torch state dict + tags + provenance (see musicnn/fetch.py)
    <cache>/musicnn/mtt-musicnn.pt
    <cache>/musicnn/LICENSE.md         the upstream ISC licence the weights are distributed under
"""

from __future__ import annotations

import os
from pathlib import Path

from sidetrack_pipeline.settings import get_settings

MODELS_DIR_ENV = "SIDETRACK_MODELS_DIR"


def models_dir() -> Path:
    """The model cache directory (not created here)."""
    override = os.environ.get(MODELS_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser().resolve()
    return get_settings().home / "models"
