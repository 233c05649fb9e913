"""Shared helpers for the device-augmentation parity tests: realistic synthetic batches and v1's moreDA objects."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nnunet_explorer.training.augmentation import build_train_transforms
from nnunet_explorer.training.data_augmentation_params import setup_DA_params

POOL_3D = [[1, 2, 2], [2, 2, 2]]

SIMULATE_FAILED_HOST_CHECKS = "NNUNET_EXPLORER_FAIL_HOST_CHECKS"
"""Run these tests as on another machine: ``NNUNET_EXPLORER_FAIL_HOST_CHECKS=numpy_float32_power`` (comma-separated
check names, or ``all``) makes those host checks fail for the whole session, as they would where numpy, scipy or
the BLAS compute otherwise. Every test must still pass: the transforms concerned become named CPU fallbacks."""


def _simulate_other_host() -> None:
    import os
    from dataclasses import replace

    from nnunet_explorer.training.device_augmentation import host_checks

    names = os.environ.get(SIMULATE_FAILED_HOST_CHECKS, "").strip()
    if not names:
        return
    chosen = list(host_checks.CHECKS) if names == "all" else [n.strip() for n in names.split(",") if n.strip()]
    for name in chosen:
        host_checks.CHECKS[name] = replace(host_checks.CHECKS[name], run=lambda: False)


_simulate_other_host()
POOL_2D = [[2, 2], [2, 2]]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The parity does not depend on threads; two shared cores run faster without oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def moreda(patch, *, dummy_2d=False, v2=True, mask=False):
    """v1's moreDA transform list for a patch (``setup_DA_params`` + ``build_train_transforms``) and the setup."""
    setup = setup_DA_params(patch, do_dummy_2D_aug=dummy_2d, use_mask_for_norm={0: mask},
                            pool_op_kernel_sizes=POOL_3D if len(patch) == 3 else POOL_2D, v2=v2)
    return build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales), setup


def synthetic_batch(rng: np.random.Generator, batch_size: int, shape, channels: int = 1) -> dict:
    """A loader-like batch: smooth image data, label blobs (0, 1, 2) inside a nonzero region (-1 outside).

    Drawn from ``rng`` only (numpy's global stream stays untouched). The labels have the boundaries real cases
    have, plus a sprinkle of isolated voxels, so that ties of the order-1 label scores occur.
    """
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    data = np.empty((batch_size, channels, *shape), dtype=np.float32)
    seg = np.empty((batch_size, 1, *shape), dtype=np.float32)
    for b in range(batch_size):
        centre = rng.uniform(-0.3, 0.3, len(shape))
        radius = np.sqrt(sum((g - c) ** 2 for g, c in zip(grids, centre)))
        labels = np.where(radius < rng.uniform(0.25, 0.4), 1.0, 0.0)
        labels[radius < rng.uniform(0.08, 0.2)] = 2.0
        labels[rng.random(shape) < 0.01] = rng.integers(0, 3)
        labels[radius > rng.uniform(0.85, 1.0)] = -1.0
        seg[b, 0] = labels
        for c in range(channels):
            image = 100.0 * labels + 20.0 * np.sin(5 * grids[0] + c) + rng.standard_normal(shape) * 15.0
            data[b, c] = ((image - image.mean()) / image.std()).astype(np.float32)
    return {"data": data, "seg": seg, "keys": [f"case_{b}" for b in range(batch_size)],
            "properties": [{"case": b} for b in range(batch_size)]}


def seed_all(seed: int) -> None:
    np.random.seed(seed)
    random.seed(seed)


def streams():
    return np.random.get_state(), random.getstate()


def same_streams(a, b) -> bool:
    (na, pa), (nb, pb) = a, b
    return na[0] == nb[0] and np.array_equal(na[1], nb[1]) and tuple(na[2:]) == tuple(nb[2:]) and pa == pb


# --- host checks: what a test expects where this machine's libraries compute otherwise -----------------------

def device_or_named_fallback(transform):
    """The device transform for ``transform``; or None, but only where it declined because a host check failed on
    this machine, and its reason names that check (then the test checks the CPU fallback instead: the chain keeps
    batchgenerators' transform, and the result is still exact)."""
    from nnunet_explorer.training.device_augmentation import host_checks
    from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback

    device, why = device_or_fallback(transform)
    if device is None:
        failed = host_checks.failed()
        assert any(f"host check {name!r} failed" in why for name in failed), \
            f"{type(transform).__name__} declined without a failed host check (failed here: {failed}): {why}"
    return device


def dependents(check: str) -> list:
    """One transform object per device transform that declines without the host check ``check``."""
    from batchgenerators.transforms.color_transforms import ContrastAugmentationTransform, GammaTransform
    from batchgenerators.transforms.noise_transforms import GaussianBlurTransform
    from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
    from batchgenerators.transforms.spatial_transforms import SpatialTransform

    from nnunet_explorer.training.augmentation import DownsampleSegForDSTransform2

    return {
        "numpy_float32_sums": [ContrastAugmentationTransform(), GammaTransform()],
        "scipy_gaussian_filter": [GaussianBlurTransform()],
        "skimage_resize": [SimulateLowResolutionTransform(order_downsample=0, order_upsample=3),
                           DownsampleSegForDSTransform2(((1, 1, 1), (0.5, 0.5, 0.5)))],
        "numpy_float32_power": [GammaTransform()],
        "numpy_dot_rotation": [SpatialTransform((8, 16, 16), do_rotation=True, border_mode_data="constant")],
    }[check]


def simulated(check: str) -> bool:
    """Whether ``check`` fails only because ``NNUNET_EXPLORER_FAIL_HOST_CHECKS`` says so (this host's library may
    well compute what the device reproduces)."""
    import os

    names = os.environ.get(SIMULATE_FAILED_HOST_CHECKS, "").strip()
    return names == "all" or check in [n.strip() for n in names.split(",")]


def host_check_holds(check: str) -> bool:
    """True where the host check holds on this machine. Where it fails, first asserts what must then be true: every
    transform that depends on it declines the device with a reason naming the check (so the chain keeps
    batchgenerators' transform and stays exact). A test of the premise itself (the device algorithm equals this
    host's library) then has nothing left to check and returns."""
    from nnunet_explorer.training.device_augmentation import host_checks
    from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback

    if host_checks.passes(check):
        return True
    for transform in dependents(check):
        device, why = device_or_fallback(transform)
        assert device is None and f"host check {check!r} failed" in why and "CPU" in why, why
    return False


def equal(a, b) -> bool:
    """Tensors / arrays equal in dtype and bits (NaN patterns included), lists and dicts element by element."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a = a.cpu() if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a))
        b = b.cpu() if isinstance(b, torch.Tensor) else torch.from_numpy(np.asarray(b))
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == torch.float32:
            return torch.equal(a.view(torch.int32), b.view(torch.int32))
        return torch.equal(a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype == b.dtype == np.float32:
            return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return a == b


def chain_problems(transforms, batch: dict, seed: int, *, label_key: str = "seg", only=None,
                   chain=None) -> tuple[list, object, object]:
    """Compose vs :class:`DeviceChain` (``draw_all``, pickled draws, ``apply_all`` on the CPU) from one seed:
    ``(what differs, the chain, its draws)``; empty when the outputs are equal bit for bit (every key, every
    deep-supervision target) and both random streams end in the same state. ``chain``: one built beforehand
    (e.g. under forced host checks) from the same ``transforms``."""
    import copy
    import pickle

    from batchgenerators.transforms.abstract_transforms import Compose

    from nnunet_explorer.training.device_augmentation.chain import DeviceChain

    seed_all(seed)
    expected = Compose(copy.deepcopy(list(transforms)))(**copy.deepcopy(batch))
    after_compose = streams()
    chain = chain or DeviceChain(transforms, only=only, label_key=label_key)
    seed_all(seed)
    work = copy.deepcopy(batch)
    draws = chain.draw_all(work)
    after_draws = streams()
    draws = pickle.loads(pickle.dumps(draws))  # they travel from the worker to the training process
    out = chain.apply_all(work["data"], work.get(draws.label_key), draws, "cpu")
    problems = []
    if not same_streams(after_compose, after_draws):
        problems.append("the worker's random streams end elsewhere than Compose's")
    if not same_streams(after_draws, streams()):
        problems.append("apply_all touched the random streams")
    if out.keys() != expected.keys():
        problems.append(f"keys {sorted(out)} != {sorted(expected)}")
    for key in expected:
        if key in out and not equal(out[key], expected[key]):
            problems.append(_difference(key, out[key], expected[key]))
    return problems, chain, draws


def _difference(key, got, expected) -> str:
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        parts = [_difference(f"{key}[{i}]", g, e) for i, (g, e) in enumerate(zip(got, expected)) if not equal(g, e)]
        return "; ".join(parts) or f"{key}: {len(got)} != {len(expected)} items"
    try:
        g = got.cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
        e = expected.cpu().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
        if g.shape != e.shape or g.dtype != e.dtype:
            return f"{key}: {g.dtype}{g.shape} != {e.dtype}{e.shape}"
        return f"{key}: {int((g != e).sum())} values differ, max |diff| {np.abs(g.astype(np.float64) - e).max()}"
    except Exception:  # noqa: BLE001 - a description only
        return f"{key}: {got!r} != {expected!r}"


@pytest.fixture(scope="module")
def triton_interpreter():
    """The device augmentation's Triton kernels on the CPU, in Triton's interpreter (``TRITON_INTERPRET=1``), for a
    whole test module (each kernel family's check on the device, a few seconds in the interpreter, runs once);
    the per-device decisions forgotten before and after."""
    pytest.importorskip("triton", reason="Triton is a test dependency on Linux x86-64 (pyproject's test extra)")
    from nnunet_explorer.training.device_augmentation import triton_gate

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRITON_INTERPRET", "1")
        patch.setenv(triton_gate.ENV, "triton")
        triton_gate.reset()
        yield triton_gate
        triton_gate.reset()


@pytest.fixture
def kernel_launches(triton_interpreter, monkeypatch):
    """The names of the Triton kernels a test launches, in order (the kernels still run, in the interpreter)."""
    names = []
    launch = triton_interpreter.launch

    def counting(kernel, *args, **kwargs):
        names.append(kernel_name(kernel))
        return launch(kernel, *args, **kwargs)

    monkeypatch.setattr(triton_interpreter, "launch", counting)
    return names


def launches_after_check(family: str):
    """A fixture for a kernel family's tests: the names of the kernels a test launches, in order, after the
    family's check held in the interpreter (the check's own launches, if it ran just then, not counted)."""
    @pytest.fixture
    def launches(triton_interpreter, kernel_launches):
        assert triton_interpreter.status("cpu", family) is None, triton_interpreter.describe("cpu")
        kernel_launches.clear()
        return kernel_launches

    return launches


def kernel_name(kernel) -> str:
    """The name of a Triton kernel (compiled or interpreted)."""
    return getattr(getattr(kernel, "fn", None), "__name__", None) or kernel.__name__


def decision_after_tampering(gate, monkeypatch, family: str, tamper) -> tuple[str | None, str]:
    """A kernel family's check taken again with every launch followed by ``tamper(kernel name, launch arguments)``
    (which changes a result in place), and the log line then: (why the eager path runs or None, describe line).
    Everything patched is undone and the decisions forgotten afterwards."""
    launch = gate.launch

    def tampered(kernel, grid, device, *args, **kwargs):
        launch(kernel, grid, device, *args, **kwargs)
        tamper(kernel_name(kernel), args)

    gate.reset()
    monkeypatch.setattr(gate, "launch", tampered)
    try:
        return gate.status("cpu", family), gate.describe("cpu")
    finally:
        monkeypatch.undo()
        gate.reset()

