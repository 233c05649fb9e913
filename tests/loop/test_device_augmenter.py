"""DeviceAugmenter: v1's loader and draws in the workers, the arithmetic in the training process — the same batches.

On the CPU device the device transforms are exact (tests/device_augmentation), and the workers are
MultiProcessAugmenter's own (same seeds, same round-robin), so the two augmenters must yield the same batches bit for
bit: float32 data and every voxel of every deep-supervision target, with the same keys.
"""
from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
import torch
from batchgenerators.transforms.abstract_transforms import Compose

from nnunet_explorer.training import dataloading as dl
from nnunet_explorer.training.augmentation import build_train_transforms, build_val_transforms
from nnunet_explorer.training.augmenter import MultiProcessAugmenter
from nnunet_explorer.training.data_augmentation_params import setup_DA_params
from nnunet_explorer.training.device_augmenter import DeviceAugmenter

STAGE_3D = "nnUNetData_plans_v2.1_stage0"
STAGE_2D = "nnUNetData_plans_v2.1_2D_stage0"
SEEDS = [11, 12]
BATCHES = 20


@pytest.fixture(scope="module")
def stages(v1_ct_task, tmp_path_factory):
    """Unpacked copies of the CT task's 3D and 2D stage folders."""
    root = tmp_path_factory.mktemp("device_aug")
    out = {}
    for name in (STAGE_3D, STAGE_2D):
        dst = root / name
        shutil.copytree(v1_ct_task.preprocessed_dir / name, dst)
        dl.unpack_dataset(dst)
        out[name] = dl.load_dataset(dst)
    return out


def _case(stages, kind):
    if kind == "2d":
        setup = setup_DA_params((40, 48), do_dummy_2D_aug=False, use_mask_for_norm={0: False},
                                pool_op_kernel_sizes=[[2, 2], [2, 2]], v2=True)
        loader = dl.DataLoader2D(stages[STAGE_2D], setup.basic_generator_patch_size, setup.patch_size, 2,
                                 oversample_foreground_percent=0.33)
    else:
        setup = setup_DA_params((16, 40, 40), do_dummy_2D_aug=kind == "dummy-2d", use_mask_for_norm={0: False},
                                pool_op_kernel_sizes=[[1, 2, 2], [2, 2, 2]], v2=True)
        loader = dl.DataLoader3D(stages[STAGE_3D], setup.basic_generator_patch_size, setup.patch_size, 2,
                                 oversample_foreground_percent=0.33)
    return loader, setup


def _same(a, b, where: str) -> None:
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b.cpu()), f"{where}: {int((a != b.cpu()).sum())} values differ"
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, np.asarray(b)), where


def _batches(augmenter, n: int) -> list[dict]:
    with augmenter:
        return [next(augmenter) for _ in range(n)]


@pytest.mark.parametrize("kind", ["3d", "dummy-2d", "2d"])
def test_device_augmenter_yields_the_multiprocess_batches_bit_for_bit(stages, kind):
    loader, setup = _case(stages, kind)
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    expected = _batches(MultiProcessAugmenter(loader, Compose(transforms), 2, 2, seeds=SEEDS), BATCHES)
    device = DeviceAugmenter.from_augmenter(MultiProcessAugmenter(loader, Compose(transforms), 2, 2, seeds=SEEDS),
                                            "cpu")
    assert device.chain.device_steps, device.describe()
    got = _batches(device, BATCHES)
    assert device.shared_memory_note is None, device.shared_memory_note
    # data and targets travelled through shared memory, and so did the noise fields of the draws
    assert device.counts["arrays_in_slot"] == 2 * device.counts["batches"] and not device.counts.get("pickled")
    if kind != "2d":  # 2D noise fields (40 x 48 float64) are small enough to travel inside the pickle
        assert device.counts["draw_arrays_in_slot"] > 0
    for i, (e, g) in enumerate(zip(expected, got)):
        assert set(e) == set(g), f"batch {i}: keys {sorted(e)} vs {sorted(g)}"
        assert list(e["keys"]) == list(g["keys"]), f"batch {i}"
        _same(e["data"], g["data"], f"batch {i} data")
        _same(e["target"], g["target"], f"batch {i} target")
        assert g["data"].dtype == torch.float32 and g["data"].device.type == "cpu"


def test_validation_chain_and_pickled_path_agree(stages):
    """The validation list (no augmentation) and the path without shared memory give the same batches too."""
    loader, setup = _case(stages, "3d")
    transforms = build_val_transforms(setup.data_aug_params, setup.deep_supervision_scales)
    expected = _batches(MultiProcessAugmenter(loader, Compose(transforms), 2, 1, seeds=SEEDS), 6)
    got = _batches(DeviceAugmenter(loader, Compose(transforms), "cpu", 2, 1, seeds=SEEDS, shared=False), 6)
    for i, (e, g) in enumerate(zip(expected, got)):
        _same(e["data"], g["data"], f"batch {i} data")
        _same(e["target"], g["target"], f"batch {i} target")


def test_shutdown_stops_the_workers_and_frees_the_shared_memory(stages):
    import os

    import psutil

    loader, setup = _case(stages, "3d")
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    augmenter = DeviceAugmenter(loader, Compose(transforms), "cpu", 2, 2, seeds=SEEDS)
    next(augmenter)
    pids = augmenter.worker_pids
    names = [s.name for worker in augmenter._slots for s in worker]
    assert len(pids) == 2 and len(names) == 2 * 3
    augmenter.shutdown()
    augmenter.shutdown()  # idempotent
    assert not augmenter.running
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert not any(os.path.exists(f"/dev/shm/{n.lstrip('/')}") for n in names)


def test_the_exit_handler_stops_a_device_augmenter_nobody_shut_down(stages):
    """A notebook that never leaves its ``with`` block: at interpreter exit the handler stops the feeder (which
    may be inside torch, applying ahead) and the workers, and frees the shared memory, before the interpreter
    tears torch down."""
    import os

    from nnunet_explorer.training import augmenter as augmenter_module

    loader, setup = _case(stages, "3d")
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    augmenter = DeviceAugmenter(loader, Compose(transforms), "cpu", 2, 2, seeds=SEEDS)
    next(augmenter)
    feeder = augmenter._inner._feeder
    names = [s.name for worker in augmenter._slots for s in worker]
    assert feeder.is_alive() and names
    augmenter_module._shutdown_running()  # what atexit calls
    assert not augmenter.running and not feeder.is_alive()
    assert not any(os.path.exists(f"/dev/shm/{n.lstrip('/')}") for n in names)


def test_a_failing_draw_raises_the_workers_traceback(stages):
    from nnunet_explorer.training.augmenter import AugmenterWorkerError

    class Broken:
        def __call__(self, batch):
            raise ValueError("broken on purpose")

    loader, setup = _case(stages, "3d")
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    augmenter = DeviceAugmenter(loader, Compose(transforms), "cpu", 2, 2, seeds=SEEDS, timeout=60)
    augmenter.chain.draw_all = Broken()  # the chain travels to the workers with the fork
    with pytest.raises(AugmenterWorkerError, match="broken on purpose"):
        with augmenter:
            next(augmenter)


def test_next_and_a_training_iteration_on_device_batches_read_from_the_device_once(stages):
    """The sync budget with the device path: ``next()`` (apply_all on the device) reads nothing back, and the
    training iteration that consumes its batch still reads once (tests/network/test_sync_budget.py's rule)."""
    from nnunet_explorer.training.deep_supervision import ds_loss_weights
    from nnunet_explorer.training.generic_unet import build_network
    from nnunet_explorer.training.iteration import run_iteration
    from nnunet_explorer.training.loss import MultipleOutputLoss2, trainer_dc_and_ce_loss
    from nnunet_explorer.training.optim import v2_optimizer

    from ..network.sync_counter import SyncCounter

    pools = [[1, 2, 2], [2, 2, 2]]
    loader, setup = _case(stages, "3d")
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    torch.manual_seed(0)
    net = build_network(1, 8, 3, pools, [[1, 3, 3], [3, 3, 3], [3, 3, 3]])
    loss = MultipleOutputLoss2(trainer_dc_and_ce_loss(False), ds_loss_weights(pools))
    optimizer = v2_optimizer(net.parameters())
    augmenter = DeviceAugmenter(loader, Compose(transforms), "cpu", 2, 2, seeds=SEEDS)
    applied = _count_syncs_in_apply(augmenter)  # the feeder thread applies: count there (modes are per thread)
    with augmenter:
        batch = next(augmenter)
        run_iteration(net, loss, optimizer, batch["data"], batch["target"])  # warm-up outside the count
        for _ in range(3):
            with SyncCounter() as fetch:
                batch = next(augmenter)
            with SyncCounter() as iteration:
                run_iteration(net, loss, optimizer, batch["data"], batch["target"])
            assert fetch.total == 0, dict(fetch.calls)
            assert iteration.total == 1, dict(iteration.calls)
    assert len(applied) >= 4
    for calls in applied:
        # Tensor.numpy() raises on a CUDA tensor, so a numpy() call that also runs on CUDA is on a host tensor
        # (spatial.py asks a 0-d host tensor for its numpy dtype); reading the device needs .cpu()/item()/...,
        # which are counted
        assert {k: v for k, v in calls.items() if k not in ("numpy", "thread")} == {}, calls


def _count_syncs_in_apply(augmenter: DeviceAugmenter) -> list[dict]:
    """Wrap the chain's ``apply_all`` so that every call is counted by a SyncCounter in the thread that runs it;
    returns the list the counts (and the thread's name, under ``"thread"``) are appended to."""
    from ..network.sync_counter import SyncCounter

    seen: list[dict] = []
    original = augmenter.chain.apply_all

    def counted(*args, **kwargs):
        with SyncCounter() as counter:
            out = original(*args, **kwargs)
        seen.append({**counter.calls, "thread": threading.current_thread().name})
        return out

    augmenter.chain.apply_all = counted
    return seen


def test_the_feeder_thread_applies_ahead_and_next_only_takes_a_finished_batch(stages):
    """apply_all runs in the feeder thread (not in the training thread that calls next()), at most ``ahead``
    batches ahead; the batches stay the workers' own (the bit-for-bit tests above run this path too)."""
    loader, setup = _case(stages, "3d")
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    augmenter = DeviceAugmenter(loader, Compose(transforms), "cpu", 2, 2, seeds=SEEDS, ahead=1)
    assert augmenter.applies_ahead and "applies 1 batch(es) ahead" in augmenter.describe()
    applied = _count_syncs_in_apply(augmenter)
    with augmenter:
        for _ in range(3):
            next(augmenter)
        time.sleep(1.0)  # let the feeder fill what it may
        ready = augmenter._inner._ready.qsize()
    assert ready <= 1
    assert {a["thread"] for a in applied} == {"nnunet-explorer-feeder"}
    assert 3 <= len(applied) <= 3 + 1 + 1  # the three taken, one waiting in the queue, one held by the feeder


def test_a_chain_with_a_cpu_fallback_is_applied_in_next_and_still_equals_the_workers(stages):
    """A mid-chain CPU fallback sets and restores the global random streams, which belong to the training thread:
    such a chain is applied in next(), in the training thread, and the batches still equal MultiProcessAugmenter's."""
    from batchgenerators.transforms.noise_transforms import RicianNoiseTransform

    loader, setup = _case(stages, "3d")
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    transforms.insert(2, RicianNoiseTransform(noise_variance=(0, 0.1), p_per_sample=0.5))
    expected = _batches(MultiProcessAugmenter(loader, Compose(transforms), 2, 2, seeds=SEEDS), 6)
    augmenter = DeviceAugmenter(loader, Compose(transforms), "cpu", 2, 2, seeds=SEEDS)
    assert [name for name, _ in augmenter.chain.fallbacks if "Rician" in name] == ["RicianNoiseTransform"]
    assert not augmenter.applies_ahead and "in the training thread" in augmenter.describe()
    applied = _count_syncs_in_apply(augmenter)
    got = _batches(augmenter, 6)
    assert len(applied) == 6 and {a["thread"] for a in applied} == {threading.current_thread().name}
    for i, (e, g) in enumerate(zip(expected, got)):
        _same(e["data"], g["data"], f"batch {i} data")
        _same(e["target"], g["target"], f"batch {i} target")


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="CUDA check; its CPU counterpart is the bit-for-bit test above")
def test_on_cuda_the_batches_live_on_the_gpu_and_match_the_workers_in_shape(stages):
    loader, setup = _case(stages, "3d")
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    expected = _batches(MultiProcessAugmenter(loader, Compose(transforms), 2, 2, seeds=SEEDS), 4)
    device = DeviceAugmenter(loader, Compose(transforms), "cuda", 2, 2, seeds=SEEDS)
    got = _batches(device, 4)
    assert device.counts["arrays_in_slot"] == 2 * device.counts["batches"]
    for e, g in zip(expected, got):
        assert g["data"].device.type == "cuda" and g["data"].dtype == e["data"].dtype
        assert g["data"].shape == e["data"].shape and bool(torch.isfinite(g["data"]).all())
        assert [t.shape for t in g["target"]] == [t.shape for t in e["target"]]
        assert all(t.device.type == "cuda" for t in g["target"])
        assert list(g["keys"]) == list(e["keys"])  # the same cases: the loader's draws are the workers' own


def test_a_small_dev_shm_falls_back_to_pickles_and_says_so(stages, monkeypatch):
    import nnunet_explorer.training.device_augmenter as module

    monkeypatch.setattr(module, "shared_memory_free", lambda folder=module.SHM_FOLDER: 8 * 2**20)  # Docker: 64 MiB
    loader, setup = _case(stages, "3d")
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    expected = _batches(MultiProcessAugmenter(loader, Compose(transforms), 2, 2, seeds=SEEDS), 4)
    augmenter = DeviceAugmenter(loader, Compose(transforms), "cpu", 2, 2, seeds=SEEDS)
    assert "arrays pickled" in augmenter.describe() and "8 MiB free" in augmenter.describe()
    got = _batches(augmenter, 4)
    assert augmenter.counts["pickled"] == augmenter.counts["batches"] and "8 MiB free" in augmenter.shared_memory_note
    for i, (e, g) in enumerate(zip(expected, got)):
        _same(e["data"], g["data"], f"batch {i} data")
        _same(e["target"], g["target"], f"batch {i} target")
