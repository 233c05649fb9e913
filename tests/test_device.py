"""The one device choice: auto picks CUDA only where it exists; CUDA asked for without it is an error."""
from __future__ import annotations

import pytest
import torch

from nnunet_explorer.device import resolve_device
from nnunet_explorer.errors import ConfigurationError


def test_auto_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_cuda_without_cuda_is_refused_with_a_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigurationError, match="--device cpu"):
        resolve_device("cuda")


def test_explicit_cpu_and_bad_names():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigurationError, match="unknown device"):
        resolve_device("gpu0")
