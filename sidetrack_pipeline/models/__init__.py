"""Pretrained audio models: a local weight cache, fetchers that convert upstream releases into
it, and PyTorch implementations that run offline once the cache is filled.

    from sidetrack_pipeline.models import MODELS, load_model, fetch_model, models_dir
"""

from sidetrack_pipeline.models.cache import models_dir
from sidetrack_pipeline.models.registry import (
    MODELS, ModelNotAvailableError, ModelSpec, fetch_model, is_cached, load_model)

__all__ = ["MODELS", "ModelNotAvailableError", "ModelSpec", "fetch_model", "is_cached",
           "load_model", "models_dir"]
