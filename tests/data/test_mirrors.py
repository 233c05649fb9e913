"""Every @mirrors reference in the data modules names an object that exists in nnU-Net v1.7.1."""
from __future__ import annotations

import importlib
import inspect

import pytest

from nnunet_explorer.provenance import v1_reference_of

MODULES = ["splits", "dataloading", "augmentation", "augmenter", "throughput", "sampling_map", "cascade_augmentation",
           "augmentation_variants"]


@pytest.mark.parity
def test_mirrors_references_resolve_in_v1(v1):
    seen = 0
    for name in MODULES:
        module = importlib.import_module(f"nnunet_explorer.training.{name}")
        for _, obj in inspect.getmembers(module):
            ref = v1_reference_of(obj)
            if ref is None or getattr(obj, "__module__", "") != module.__name__:
                continue
            target = importlib.import_module(ref.module)
            for part in ref.qualname.split("."):
                target = getattr(target, part)
            seen += 1
    assert seen >= 12
