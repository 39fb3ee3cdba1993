"""Choosing where tensor work runs: CUDA when asked for or available, else the CPU — said out loud."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def select_device(preference: str = "auto") -> tuple[str, str]:
    """(device, reason). `preference` is auto | cuda | cpu (TORCH_DEVICE)."""
    preference = (preference or "auto").lower()
    if preference not in {"auto", "cuda", "cpu"}:
        raise ValueError(f"TORCH_DEVICE must be auto, cuda or cpu, not {preference!r}")
    if preference == "cpu":
        return "cpu", "TORCH_DEVICE=cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda", f"CUDA available ({torch.cuda.get_device_name(0)})"
    reason = "CUDA requested but not available; falling back to CPU" if preference == "cuda" \
        else "no CUDA device; using CPU"
    log.warning(reason) if preference == "cuda" else log.info(reason)
    return "cpu", reason
