"""``apply`` never reads a tensor value back to the host: no op that makes the host wait for the device.

Every operation ``apply`` dispatches is recorded (``TorchDispatchMode``, on the CPU device: the same calls a CUDA
run makes); none may be one whose result size or value the host needs before it can go on (``.item()``/``bool()``
of a tensor, ``nonzero``, boolean-mask indexing, ``unique`` ...). Which samples, channels and axes are touched comes
from the draws, which are host values.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .transform_parity import real_batch

ROOT = Path(__file__).resolve().parents[2]
SYNCING = ("_local_scalar_dense", "nonzero", "masked_select", "unique", "masked_scatter")


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if name.startswith(("aten.index.", "aten.index_put")):  # a boolean mask index needs nonzero() on CUDA
            indices = args[1] if len(args) > 1 else []
            if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices or []):
                name += " with a boolean mask (nonzero)"
        self.ops.append(name)
        return func(*args, **(kwargs or {}))


def _transforms():
    import importlib.util

    spec = importlib.util.spec_from_file_location("device_transforms_check",
                                                  ROOT / "benchmarks" / "device_transforms_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.transforms()


@pytest.mark.parametrize("index", range(12))
def test_apply_has_no_host_sync(index):
    from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback

    from nnunet_explorer.training.device_augmentation import host_checks

    name, transform, _ = _transforms()[index]
    with host_checks.forced(**{check: True for check in host_checks.CHECKS}):  # the ops do not depend on them
        device, why = device_or_fallback(transform)
    assert device is not None, why
    data, seg = real_batch((2, 1, 16, 40, 40), 0)
    if name == "CascadeBinaryOperator":
        data = (seg > 0).astype(np.float32)
    np.random.seed(0)
    draws = device.draw(2, data.shape, seg.shape)
    recorder = _Recorder()
    with recorder:
        device.apply(torch.from_numpy(data), torch.from_numpy(seg), draws)
    assert recorder.ops, "nothing was recorded"
    syncing = [op for op in recorder.ops if any(word in op for word in SYNCING)]
    assert not syncing, f"{name}: {sorted(set(syncing))}"


def test_the_recorder_sees_a_sync():
    recorder = _Recorder()
    with recorder:
        x = torch.arange(4.0)
        bool(x.sum() > 1)
        x[x > 1]
    assert any("_local_scalar_dense" in op for op in recorder.ops) and any("nonzero" in op for op in recorder.ops)


@pytest.mark.parametrize("name", ["moreDA-3d", "moreDA-dummy-2d", "moreDA-2d", "moreDA-mask-2ch", "moreDA-regions",
                                  "moreDA-cascade", "moreDA-DA2", "insaneDA", "insaneDA2-DA3",
                                  "default-nnUNetTrainer", "noDA-train", "moreDA-val", "moreDA-val-cascade"])
def test_apply_all_has_no_host_sync(name):
    """The whole chain's ``apply_all``, every transform on the device (the host checks forced to hold: which ops run
    does not depend on them), over batches where the random transforms act: no op that makes the host wait."""
    from nnunet_explorer.training.device_augmentation import host_checks
    from nnunet_explorer.training.device_augmentation.chain import DeviceChain

    from .test_chain_matrix import LISTS, _batch

    build, batch_size, channels, seg_channels = LISTS[name]
    transforms, loader_patch = build()
    with host_checks.forced(**{check: True for check in host_checks.CHECKS}):
        chain = DeviceChain(transforms)
    assert all(s.where == "device" for s in chain.steps if s.name != "SpatialTransform_2" and
               s.name != "SegChannelSelectionTransform"), chain.describe()
    seen: set[str] = set()
    for seed in range(6):
        batch = _batch((batch_size, channels, *loader_patch), channels, seg_channels, seed)
        np.random.seed(seed)
        draws = chain.draw_all(batch)
        data = torch.from_numpy(batch["data"])
        seg = torch.from_numpy(batch[draws.label_key])
        recorder = _Recorder()
        with recorder:
            chain.apply_all(data, seg, draws, "cpu")
        seen.update(recorder.ops)
        syncing = [op for op in recorder.ops if any(word in op for word in SYNCING)]
        assert not syncing, f"{name}, seed {seed}: {sorted(set(syncing))}"
    assert seen, "nothing was recorded"
