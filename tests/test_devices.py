"""TORCH_DEVICE: auto picks CUDA when present, cuda falls back to the CPU when it is not."""

from __future__ import annotations

import pytest
import torch

from sidetrack_pipeline.devices import select_device


def test_cpu_is_honoured():
    assert select_device("cpu") == ("cpu", "TORCH_DEVICE=cpu")


@pytest.mark.parametrize("preference", ["auto", "cuda"])
def test_cuda_when_available_else_cpu_with_a_reason(preference):
    device, reason = select_device(preference)
    if torch.cuda.is_available():
        assert device == "cuda" and "CUDA available" in reason
    else:
        assert device == "cpu"
        assert ("falling back to CPU" in reason) if preference == "cuda" else ("no CUDA device" in reason)


def test_unknown_preference_is_an_error():
    with pytest.raises(ValueError, match="auto, cuda or cpu"):
        select_device("tpu")
