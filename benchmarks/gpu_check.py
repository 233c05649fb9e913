"""GPU check: nnU-Net v1 1.7.1 and the explorer side by side in one run (training, sliding window, data, DDP).

One script, at most about 5 minutes on one GPU, that prints a table and writes a JSON (``--out``, default
``gpu_check.json``). ``training`` and ``sliding_window`` run v1 and the explorer on the *same* weights and inputs in
the *same* process, ``augmentation`` the device chain and batchgenerators on the same batches, and ``run`` v1's and
the explorer's training commands one after the other on the same data and machine, so the ratios are free of
machine-to-machine noise; ``data``, ``ddp`` and ``monitor`` measure the explorer alone:

* ``training``  — fp16 training iterations (fp32 on the CPU) at a realistic patch (the blog's KiTS19 patch 80x160x160
  with batch 2, 5 poolings, base 32): loss and weight parity after one step, ms per iteration explorer/v1, host-device
  syncs per iteration (counted with ``TorchFunctionMode``: ``item``/``float``/``bool``/``int``/
  ``tolist``/``cpu()``/``to("cpu")`` of a device tensor, plus ``torch.cuda.synchronize``), and the share of the
  iteration the GPU is busy (sum of CUDA kernel times from ``torch.profiler`` over the wall time; CUDA events give the
  GPU span per iteration).
* ``sliding_window`` — v1's ``predict_3D`` vs the explorer's ``predict_sliding_window`` on one synthetic case,
  fp16 and fp32, tile batch 1 and 4, with and without ``all_in_gpu`` (passed to the explorer only when its
  signature has it): max |p difference|, seconds explorer/v1, peak GPU memory above the baseline.
* ``data`` — the explorer's augmenter (``MultiProcessAugmenter``, ``nnUNetTrainerV2``'s moreDA transforms and
  parameters on synthetic crops of V2's generator patch) with v1's recommended worker count (12;
  ``nnUNet_n_proc_DA`` when set): ``next()`` latency in the training thread, and whether the training loop waits
  for data (wait share of real explorer iterations).
* ``ddp`` — the explorer's ``run_iteration`` under ``DistributedDataParallel``: one NCCL process per GPU (with one
  GPU: one NCCL process, plus two gloo processes exchanging CUDA tensors on that GPU); on the CPU two gloo
  processes. Weight checksums equal on every rank after two steps; ms per step.
* ``monitor`` — the live ``TrainingMonitor``'s cost per iteration (and the syncs it adds: should be 0) as a share
  of an explorer iteration.
* ``augmentation`` — the device augmentation chain (``DeviceChain``: ``draw_all`` in the worker, ``apply_all`` on
  the device) against batchgenerators' ``Compose`` of the same v1 transform list, on the same batch from the same
  seeds, for 20 seeds and the paths moreDA 3D, dummy 2D, 2D and the cascade: max |image difference|, segmentation
  voxels that differ, the random streams, ms per batch each way; where anything differs, which transform it comes
  from (each device step fed batchgenerators' own input to that step), so that a GPU run measures what fused
  multiply-adds or another summation order change.

* ``run`` — the blog's ``train 3d_fullres nnUNetTrainerV2 40 1`` on the KiTS19 sample (blog plans), a short
  schedule, three ways on the same preprocessed data: the explorer with ``--augment_on device`` and with
  ``--augment_on workers``, and v1 1.7.1's own ``run_training`` through a variant trainer that only shortens the
  schedule: seconds per epoch, seconds to the end of the first epoch, GPU busy share (NVML). On the CPU: task 901.

``--sections augmentation,data`` runs only those sections (the JSON is rewritten after every section). A whole GPU
session (this script, notebook 05, the Colin27 learning check) is ``benchmarks/gpu_pack.sh`` here, then
``benchmarks/gpu_session.sh`` there.

Performance goals (issues 13 and 21): iteration explorer/v1 <= 0.9 with the GPU busy >= 90 %; sliding window <= 0.5
of v1's time in the explorer's default mode (tile batching on CUDA) and <= 1.0 at one tile per pass
(probabilities equal to 1e-6 in fp32, 1e-3 in fp16); no data wait with v1's worker count; monitor <= 1 % of an
iteration.

On this project's machines (CPU, in CI)::

    python benchmarks/gpu_check.py --device cpu            # smaller shapes, fp32, gloo; < 5 min on 2 cores
    python benchmarks/gpu_check.py --device cpu --quick    # tiny shapes (the CI test), < 1 min

On a GPU machine that has torch with CUDA and numpy/scipy/scikit-image but no registry: carry the pure-Python
packages the script needs in the working tree, in a ``.gpucheck/site`` folder put on ``PYTHONPATH`` (about 9 MB;
enough for every section but ``run``, whose inputs are synthetic arrays: ``run`` writes the KiTS19 sample with
SimpleITK and starts v1's ``nnUNet_train``, which imports SimpleITK and medpy, so for it use
``benchmarks/gpu_pack.sh`` and ``benchmarks/gpu_session.sh``, or leave it out with ``--sections``)::

    echo /.gpucheck/ >> .git/info/exclude; mkdir -p .gpucheck/site
    S=.venv/lib/python3.11/site-packages
    cp -r $S/{nnunet,nnunet-1.7.1.dist-info,batchgenerators,batchgenerators-0.25.5.dist-info} .gpucheck/site/
    cp -r $S/{torchinfo,threadpoolctl.py} .gpucheck/site/ 2>/dev/null   # optional
    # then, on the GPU machine, from the repository root:
    PYTHONPATH=$PWD:$PWD/.gpucheck/site python3 benchmarks/gpu_check.py --device cuda --out $OUT/gpu_check.json

(the live-monitor section also needs ipywidgets; without it that section says so and the others still run).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# v1 reads its three folders at import; give it empty ones so that it does not print warnings or look elsewhere
_TMP = Path(tempfile.mkdtemp(prefix="gpu_check_"))
for _var in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER"):
    (_TMP / _var).mkdir(exist_ok=True)
    os.environ.setdefault(_var, str(_TMP / _var))

# nnunet's trainer module imports packages a bare GPU machine lacks (for export, splits, evaluation and progress
# bars) although run_iteration and predict_3D use none of them: where one is missing, a placeholder module is
# registered so that v1's own code can be imported; any use of a placeholder raises. Listed in the JSON.
V1_IMPORT_ONLY = ("SimpleITK", "sklearn", "pandas", "medpy", "tqdm", "nibabel")
STUBBED: list[str] = []


class _Placeholder:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> "_Placeholder":
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Placeholder(f"{self._name}.{attr}")

    def __call__(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError(f"{self._name} is a gpu_check placeholder (the package is not installed here)")

    def __mro_entries__(self, bases: tuple) -> tuple:  # `class X(placeholder.Base)` at import time
        return (object,)


class _PlaceholderFinder:
    """Import hook: any module under a stubbed top-level package becomes a placeholder package."""

    def find_spec(self, name: str, path: Any = None, target: Any = None):
        import importlib.machinery

        if name.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        import types

        module = types.ModuleType(spec.name)
        module.__path__ = []
        def attribute(attr: str) -> _Placeholder:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return _Placeholder(f"{spec.name}.{attr}")

        module.__getattr__ = attribute  # type: ignore[method-assign]
        return module

    def exec_module(self, module) -> None:
        pass


def stub_missing_v1_imports() -> list[str]:
    import importlib

    for name in V1_IMPORT_ONLY:
        try:
            importlib.import_module(name)
        except ImportError:
            STUBBED.append(name)
            sys.modules.pop(name, None)
    if STUBBED:
        sys.meta_path.insert(0, _PlaceholderFinder())
    return list(STUBBED)


# shapes per mode: patch, pools, convs, base, batch, classes, sliding-window case shape
SHAPES = {
    "gpu": dict(patch=(80, 160, 160), pools=[[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
                convs=[[1, 3, 3]] + [[3, 3, 3]] * 5, base=32, batch=2, classes=3, case=(1, 160, 320, 320),
                mirror=True, steps=10, data_batches=30),
    "cpu": dict(patch=(16, 40, 40), pools=[[1, 2, 2], [2, 2, 2], [2, 2, 2]], convs=[[1, 3, 3]] + [[3, 3, 3]] * 3,
                base=16, batch=2, classes=3, case=(1, 32, 80, 80), mirror=False, steps=4, data_batches=12),
    "quick": dict(patch=(8, 16, 16), pools=[[1, 2, 2], [2, 2, 2]], convs=[[1, 3, 3]] + [[3, 3, 3]] * 2,
                  base=4, batch=2, classes=3, case=(1, 12, 24, 24), mirror=False, steps=2, data_batches=6),
}


# ------------------------------------------------------------------------------------------------ helpers
class SyncCounter(torch.overrides.TorchFunctionMode):
    """Counts the calls that make the host wait for the device: reading a tensor's value, copying it to the host
    (``.cpu()``; ``.to("cpu")`` of a device tensor), and ``torch.cuda.synchronize``. On the CPU the same calls are
    counted: they are the ones that would block on a GPU."""

    READS = {torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__float__, torch.Tensor.__int__,
             torch.Tensor.tolist, torch.Tensor.cpu}

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self._sync = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.READS:
            self.count += 1
        elif func is torch.Tensor.to and isinstance(args[0], torch.Tensor) and args[0].device.type != "cpu":
            target = kwargs.get("device") if kwargs else None
            target = target if target is not None else (args[1] if len(args) > 1 else None)
            if isinstance(target, (str, torch.device)) and torch.device(target).type == "cpu":
                self.count += 1
        return func(*args, **(kwargs or {}))

    def __enter__(self):
        self._sync = torch.cuda.synchronize

        def counted(*a, **k):
            self.count += 1
            return self._sync(*a, **k)

        torch.cuda.synchronize = counted
        return super().__enter__()

    def __exit__(self, *exc):
        torch.cuda.synchronize = self._sync
        return super().__exit__(*exc)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device: torch.device) -> int:
    if device.type != "cuda":
        return 0
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    return int(torch.cuda.memory_allocated(device))


def _peak_mib(device: torch.device, baseline: int) -> float | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - baseline) / 2 ** 20


def v1_network(s: dict, device: torch.device):
    """v1's Generic_UNet as nnUNetTrainerV2.initialize_network builds it (3D)."""
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.utilities.nd_softmax import softmax_helper

    nn = torch.nn
    net = Generic_UNet(1, s["base"], s["classes"], len(s["pools"]), 2, 2, nn.Conv3d, nn.InstanceNorm3d,
                       {"eps": 1e-5, "affine": True}, nn.Dropout3d, {"p": 0, "inplace": True}, nn.LeakyReLU,
                       {"negative_slope": 1e-2, "inplace": True}, True, False, lambda x: x, InitWeights_He(1e-2),
                       s["pools"], s["convs"], False, True, True)
    net.inference_apply_nonlin = softmax_helper
    return net.to(device)


def explorer_network(s: dict, state: dict, device: torch.device):
    from nnunet_explorer.training.generic_unet import build_network

    net = build_network(1, s["base"], s["classes"], s["pools"], s["convs"])
    net.load_state_dict(state)
    return net.to(device)


def synthetic_batch(s: dict, seed: int = 0):
    from nnunet_explorer.training.deep_supervision import ds_target_shapes

    rng = np.random.default_rng(seed)
    data = rng.normal(size=(s["batch"], 1, *s["patch"])).astype(np.float32)
    target = [rng.integers(0, s["classes"], size=(s["batch"], 1, *shape)).astype(np.float32)
              for shape in ds_target_shapes(s["patch"], s["pools"])]
    return data, target


# ------------------------------------------------------------------------------------------------ training
def section_training(s: dict, device: torch.device, fp16: bool) -> dict:
    import types

    from nnunet.training.loss_functions.deep_supervision import MultipleOutputLoss2 as V1MultipleOutputLoss2
    from nnunet.training.loss_functions.dice_loss import DC_and_CE_loss
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2

    from nnunet_explorer.training.deep_supervision import ds_loss_weights
    from nnunet_explorer.training.iteration import make_grad_scaler, run_iteration
    from nnunet_explorer.training.loss import MultipleOutputLoss2, trainer_dc_and_ce_loss
    from nnunet_explorer.training.optim import v2_optimizer

    torch.manual_seed(0)
    v1 = v1_network(s, device)
    state = {k: v.detach().clone() for k, v in v1.state_dict().items()}
    ours = explorer_network(s, state, device)
    weights = ds_loss_weights(s["pools"])
    data, target = synthetic_batch(s)

    t = types.SimpleNamespace(network=v1, fp16=fp16, online_eval_tp=[], online_eval_fp=[], online_eval_fn=[],
                              online_eval_foreground_dc=[],
                              loss=V1MultipleOutputLoss2(DC_and_CE_loss({"batch_dice": False, "smooth": 1e-5,
                                                                         "do_bg": False}, {}), weights))
    t.amp_grad_scaler = torch.cuda.amp.GradScaler() if fp16 else None
    t.optimizer = torch.optim.SGD(v1.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99, nesterov=True)
    # v1 moves the batch to CUDA whenever CUDA is available: on a CPU run of a GPU machine, hide it
    v1_step = lambda: float(nnUNetTrainerV2.run_iteration(t, iter([{"data": data, "target": target}]), True, False))

    loss = MultipleOutputLoss2(trainer_dc_and_ce_loss(False), weights)
    opt = v2_optimizer(ours.parameters())
    scaler = make_grad_scaler(fp16, device) if fp16 else None
    ours_step = lambda: run_iteration(ours, loss, opt, data, target, fp16=fp16, grad_scaler=scaler).loss

    # parity: one step from the same weights on the same batch
    l_v1, l_ours = v1_step(), float(ours_step())
    sd_v1, sd_ours = v1.state_dict(), ours.state_dict()
    weight_diff = max(float((sd_v1[k].float() - sd_ours[k].float()).abs().max()) for k in sd_v1)

    def timed(step: Callable[[], Any], n: int) -> tuple[float, float | None]:
        _sync(device)
        times, spans = [], []
        for _ in range(n):
            if device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
            t0 = time.perf_counter()
            step()
            if device.type == "cuda":
                end.record()
            _sync(device)
            times.append(time.perf_counter() - t0)
            if device.type == "cuda":
                spans.append(start.elapsed_time(end) / 1e3)
        return statistics.median(times), (statistics.median(spans) if spans else None)

    def syncs(step: Callable[[], Any]) -> int:
        with SyncCounter() as counter:
            step()
        return counter.count

    def busy(step: Callable[[], Any], n: int = 3) -> float | None:
        if device.type != "cuda":
            return None
        from torch.profiler import ProfilerActivity, profile

        _sync(device)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            _sync(device)
            wall = time.perf_counter() - t0
        kernel_us = sum(getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)
                        for e in prof.key_averages() if "cuda" in str(getattr(e, "device_type", "")).lower())
        return float(kernel_us / 1e6 / wall)

    v1_step(); ours_step()  # warm-up (cudnn.benchmark off: both see the same kernels)
    ms_v1, span_v1 = timed(v1_step, s["steps"])
    ms_ours, span_ours = timed(ours_step, s["steps"])
    return {
        "patch": list(s["patch"]), "batch": s["batch"], "fp16": fp16,
        "loss_v1": l_v1, "loss_explorer": l_ours, "loss_abs_diff": abs(l_v1 - l_ours),
        "weights_max_abs_diff_after_1_step": weight_diff,
        "ms_per_iteration_v1": ms_v1 * 1e3, "ms_per_iteration_explorer": ms_ours * 1e3,
        "ratio_explorer_v1": ms_ours / ms_v1,
        "syncs_per_iteration_v1": syncs(v1_step), "syncs_per_iteration_explorer": syncs(ours_step),
        "gpu_span_share_v1": None if span_v1 is None else span_v1 / ms_v1,
        "gpu_span_share_explorer": None if span_ours is None else span_ours / ms_ours,
        "gpu_busy_share_v1": busy(v1_step), "gpu_busy_share_explorer": busy(ours_step),
        "_iteration_s": ms_ours,
    }


# ------------------------------------------------------------------------------------------ sliding window
def section_sliding_window(s: dict, device: torch.device, precisions: list[bool],
                           on_progress: Callable[[dict], None] | None = None) -> dict:
    """v1's ``predict_3D`` against the explorer's sliding window in each way of keeping the whole-case sums.

    Per precision, v1 runs in its two modes (default: float32 sums in CPU memory; ``all_in_gpu``: float16 sums on
    the GPU, CUDA only) and the explorer in each ``sums_on`` mode (``cpu``, ``device_fp32``, and on CUDA
    ``device_fp16``) at 1 and 4 tiles per forward pass. Each row compares the explorer with the v1 mode it mirrors
    (``all_in_gpu``: ``prob_max_abs_diff``, ``ratio_explorer_v1``) and with v1's default mode
    (``max_abs_diff_vs_v1_default``, ``ratio_to_v1_default``, ``argmax_differs_vs_v1_default``). ``goals`` checks
    the explorer's default mode on this device (``sums_on="auto"``, ``tile_batch_size=None``) against the issue's
    targets: at most 0.5x v1's default time, probabilities within 1e-3 (fp16 network) / 1e-6 (fp32) of v1's default.
    """
    from nnunet_explorer.network_architecture.sliding_window import predict_sliding_window

    torch.manual_seed(1)
    v1 = v1_network(s, device)
    v1.do_ds = False
    v1.eval()
    ours = explorer_network(s, {k: v.detach().clone() for k, v in v1.state_dict().items()}, device).eval()
    x = np.random.RandomState(0).randn(*s["case"]).astype(np.float32)
    parameters = inspect.signature(predict_sliding_window).parameters
    has_sums_on = "sums_on" in parameters
    cuda = device.type == "cuda"
    if has_sums_on:
        from nnunet_explorer.network_architecture.sliding_window import resolve_sums_on, resolve_tile_batch_size

        modes = ["cpu", "device_fp32", "device_fp16"] if cuda else ["cpu", "device_fp32"]
        auto = resolve_sums_on("auto", device)
        default_mode = {"sums_on": auto, "tile_batch": resolve_tile_batch_size(None, device, auto)}
    else:  # an explorer version before sums_on: its all_in_gpu flag only
        modes = ["cpu", "device_fp16"] if cuda and "all_in_gpu" in parameters else ["cpu"]
        default_mode = {"sums_on": "cpu", "tile_batch": 1}

    def v1_predict(case: np.ndarray, all_in_gpu: bool, fp16: bool) -> np.ndarray:
        with torch.no_grad():
            return v1.predict_3D(case, s["mirror"], (0, 1, 2), True, 0.5, s["patch"], None, True, "constant", None,
                                 all_in_gpu, False, fp16)[1]

    def ours_predict(case: np.ndarray, sums_on: str, tile_batch: int, fp16: bool):
        kwargs = dict(do_mirroring=s["mirror"], mirror_axes=(0, 1, 2), mixed_precision=fp16, device=device,
                      tile_batch_size=tile_batch)
        if has_sums_on:
            kwargs["sums_on"] = sums_on
        elif sums_on == "device_fp16":
            kwargs["all_in_gpu"] = True
        return predict_sliding_window(ours, case, s["patch"], **kwargs)

    # warm-up outside the timing (CUDA context, kernels, allocator): one patch-sized case through each side
    one_tile = np.zeros((s["case"][0], *s["patch"]), np.float32)
    for fp16 in precisions:
        v1_predict(one_tile, False, fp16)
        ours_predict(one_tile, "cpu", 1, fp16)
    rows, v1_all_in_gpu = [], []
    t_v1: dict = {}
    p_v1: dict = {}
    mem_v1: dict = {}

    def run_v1(fp16: bool, all_in_gpu: bool) -> None:
        base = _peak_reset(device)
        t0 = time.perf_counter()
        p_v1[fp16, all_in_gpu] = np.asarray(v1_predict(x, all_in_gpu, fp16), np.float32)
        t_v1[fp16, all_in_gpu], mem_v1[fp16, all_in_gpu] = time.perf_counter() - t0, _peak_mib(device, base)
        if all_in_gpu:  # v1's own all_in_gpu against its default: the float16 border cost in v1 itself
            v1_all_in_gpu.append({"fp16": fp16, "seconds": t_v1[fp16, True],
                                  "ratio_to_v1_default": t_v1[fp16, True] / t_v1[fp16, False],
                                  "max_abs_diff_vs_v1_default": float(np.abs(p_v1[fp16, True]
                                                                             - p_v1[fp16, False]).max())})

    def run_ours(fp16: bool, sums_on: str, tile_batch: int) -> None:
        v1_mode = sums_on == "device_fp16"  # the v1 mode it mirrors: all_in_gpu (fp16 sums) or the default
        key, default = (fp16, v1_mode), p_v1[fp16, False]
        base = _peak_reset(device)
        t0 = time.perf_counter()
        result = ours_predict(x, sums_on, tile_batch, fp16)
        t_ours, mem_ours = time.perf_counter() - t0, _peak_mib(device, base)
        p_ours = result.probabilities
        p_ours = (p_ours.float().cpu().numpy() if isinstance(p_ours, torch.Tensor)
                  else np.asarray(p_ours, dtype=np.float32))
        rows.append({"fp16": fp16, "sums_on": sums_on, "all_in_gpu": v1_mode, "tile_batch": tile_batch,
                     "tiles": int(result.num_tiles), "seconds_v1": t_v1[key], "seconds_explorer": t_ours,
                     "ratio_explorer_v1": t_ours / t_v1[key],
                     "prob_max_abs_diff": float(np.abs(p_ours - p_v1[key]).max()),
                     "seconds_v1_default": t_v1[fp16, False], "ratio_to_v1_default": t_ours / t_v1[fp16, False],
                     "max_abs_diff_vs_v1_default": float(np.abs(p_ours - default).max()),
                     "argmax_differs_vs_v1_default": float((p_ours.argmax(0) != default.argmax(0)).mean()),
                     "peak_mib_v1": mem_v1[key], "peak_mib_explorer": mem_ours})

    def report() -> dict:
        return {"case": list(s["case"]), "patch": list(s["patch"]), "mirroring": s["mirror"],
                "explorer_has_all_in_gpu": "all_in_gpu" in parameters, "explorer_has_sums_on": has_sums_on,
                "explorer_default_mode": default_mode, "runs": list(rows), "v1_all_in_gpu": list(v1_all_in_gpu),
                "goals": _sliding_window_goals(rows, precisions, default_mode)}

    # first what the issue's goals need (v1's default, the explorer's default mode at its tile batch and at v1's
    # one tile), for each precision; then the other modes. Every row is handed to on_progress as it is measured,
    # so a GPU session that hits its time cap keeps the rows done.
    essential = [(default_mode["sums_on"], t) for t in sorted({default_mode["tile_batch"], 1}, reverse=True)]
    for fp16 in precisions:
        run_v1(fp16, False)
        for sums_on, tile_batch in essential:
            run_ours(fp16, sums_on, tile_batch)
            if on_progress is not None:
                on_progress(report())
    for fp16 in precisions:
        if cuda:
            run_v1(fp16, True)
        for sums_on in modes:
            for tile_batch in (1, 4):
                if (sums_on, tile_batch) not in essential:
                    run_ours(fp16, sums_on, tile_batch)
                    if on_progress is not None:
                        on_progress(report())
    return report()


def _sliding_window_goals(rows: list[dict], precisions: list[bool], default_mode: dict) -> list[dict]:
    """The issues' targets for the explorer's default mode (<= 0.5 of v1's time), and for the same sums at v1's one
    tile per pass (<= 1.0; tile batching alone changes the convolutions' last bits: that part of a difference is not
    the sums'). Probabilities within 1e-3 (fp16 network) / 1e-6 (fp32) of v1's default mode for both."""
    goals = []
    for fp16 in precisions:
        for tile_batch in sorted({default_mode["tile_batch"], 1}):
            row = next((r for r in rows if r["fp16"] == fp16 and r["sums_on"] == default_mode["sums_on"]
                        and r["tile_batch"] == tile_batch), None)
            if row is None:  # not measured (yet)
                continue
            time_goal = 0.5 if tile_batch == default_mode["tile_batch"] else 1.0
            prob_goal = 1e-3 if fp16 else 1e-6
            goals.append({"fp16": fp16, "sums_on": default_mode["sums_on"], "tile_batch": tile_batch,
                          "is_default": tile_batch == default_mode["tile_batch"],
                          "ratio_to_v1_default": row["ratio_to_v1_default"],
                          "max_abs_diff_vs_v1_default": row["max_abs_diff_vs_v1_default"], "time_goal": time_goal,
                          "prob_goal": prob_goal, "time_met": row["ratio_to_v1_default"] <= time_goal,
                          "prob_met": row["max_abs_diff_vs_v1_default"] <= prob_goal})
    return goals



# -------------------------------------------------------------------------------------------------- data
class SyntheticLoader:
    """A stand-in for DataLoader3D: random CT-like crops at the generator patch (no files, no SimpleITK)."""

    def __init__(self, s: dict, size: tuple[int, ...]) -> None:
        self.s, self.size, self.rng = s, size, np.random.default_rng(0)

    def set_thread_id(self, i: int) -> None:
        self.rng = np.random.default_rng(i)

    def __next__(self) -> dict:
        b = self.s["batch"]
        data = self.rng.normal(size=(b, 1, *self.size)).astype(np.float32)
        seg = self.rng.integers(0, self.s["classes"], size=(b, 1, *self.size)).astype(np.float32)
        return {"data": data, "seg": seg, "keys": [f"case_{i}" for i in range(b)], "properties": [{}] * b}


def section_data(s: dict, device: torch.device, fp16: bool, workers: int) -> dict:
    from nnunet_explorer.training.augmentation import build_train_transforms
    from nnunet_explorer.training.augmenter import MultiProcessAugmenter
    from nnunet_explorer.training.data_augmentation_params import setup_DA_params
    from nnunet_explorer.training.deep_supervision import ds_loss_weights
    from nnunet_explorer.training.iteration import make_grad_scaler, run_iteration
    from nnunet_explorer.training.loss import MultipleOutputLoss2, trainer_dc_and_ce_loss
    from nnunet_explorer.training.optim import v2_optimizer
    from batchgenerators.transforms.abstract_transforms import Compose

    # nnUNetTrainerV2's workload: its parameters (±30°, scale 0.7-1.4, no elastic) and its generator patch
    setup = setup_DA_params(s["patch"], do_dummy_2D_aug=False, use_mask_for_norm={0: False},
                            pool_op_kernel_sizes=s["pools"])
    scales = [list(x) for x in setup.deep_supervision_scales]
    compose = Compose(build_train_transforms(s["patch"], dict(setup.data_aug_params), scales))
    size = setup.basic_generator_patch_size
    torch.manual_seed(2)
    v1 = v1_network(s, device)
    net = explorer_network(s, v1.state_dict(), device)
    del v1
    loss = MultipleOutputLoss2(trainer_dc_and_ce_loss(False), ds_loss_weights(s["pools"]))
    opt = v2_optimizer(net.parameters())
    scaler = make_grad_scaler(fp16, device) if fp16 else None
    latencies, waits, computes = [], [], []
    augmenter = MultiProcessAugmenter(SyntheticLoader(s, size), compose, workers, 2,
                                      pin_memory=device.type == "cuda")
    try:
        augmenter.start()
        for i in range(s["data_batches"] + 2):
            t0 = time.perf_counter()
            batch = next(augmenter)
            t1 = time.perf_counter()
            run_iteration(net, loss, opt, batch["data"], list(batch["target"]), fp16=fp16, grad_scaler=scaler)
            _sync(device)
            t2 = time.perf_counter()
            if i >= 2:  # the first batches include the workers' start
                waits.append(t1 - t0)
                computes.append(t2 - t1)
        # next() latency when batches are ready (the feeder has filled its queue): the training thread's own cost
        deadline = time.monotonic() + 30
        while augmenter._ready is not None and not augmenter._ready.full() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(min(3, augmenter.num_ready)):
            t0 = time.perf_counter()
            next(augmenter)
            latencies.append(time.perf_counter() - t0)
    finally:
        augmenter.shutdown()
    wait_share = sum(waits) / (sum(waits) + sum(computes))
    return {"workers": workers, "batch_shape": [s["batch"], 1, *s["patch"]], "generator_patch": list(size),
            "next_latency_ms_when_ready": 1e3 * statistics.median(latencies),
            "mean_wait_ms": 1e3 * statistics.mean(waits), "mean_iteration_ms": 1e3 * statistics.mean(computes),
            "wait_share": wait_share, "data_bound": bool(wait_share > 0.05)}


# --------------------------------------------------------------------------------------------------- DDP
def _ddp_worker(rank: int, world: int, backend: str, device_kind: str, port: int, s: dict, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from nnunet_explorer.training.deep_supervision import ds_loss_weights
    from nnunet_explorer.training.iteration import run_iteration
    from nnunet_explorer.training.loss import MultipleOutputLoss2, trainer_dc_and_ce_loss
    from nnunet_explorer.training.optim import v2_optimizer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    if device_kind == "cuda":
        local = rank % torch.cuda.device_count() if backend == "nccl" else 0
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    import datetime

    dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    try:
        torch.manual_seed(0)
        from nnunet_explorer.training.generic_unet import build_network

        net = build_network(1, s["base"], s["classes"], s["pools"], s["convs"]).to(device)
        # the weight-0 deep-supervision head gets no gradient: as the explorer's DDP run, find unused parameters
        ddp = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None,
                                      find_unused_parameters=True)
        loss = MultipleOutputLoss2(trainer_dc_and_ce_loss(False), ds_loss_weights(s["pools"]))
        opt = v2_optimizer(ddp.parameters())
        data, target = synthetic_batch(s, seed=rank)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            run_iteration(ddp, loss, opt, data, target)
            _sync(device)
            times.append(time.perf_counter() - t0)
        checksum = torch.stack([p.detach().double().sum() for p in net.parameters()]).sum().reshape(1)
        gathered = [torch.zeros_like(checksum) for _ in range(world)]
        dist.all_gather(gathered, checksum)
        if rank == 0:
            sums = [float(g) for g in gathered]
            Path(out).write_text(json.dumps({"checksums": sums, "ms_per_step": 1e3 * statistics.median(times)}))
    finally:
        dist.destroy_process_group()


def _run_group(world: int, backend: str, device_kind: str, s: dict) -> dict:
    import socket

    import torch.multiprocessing as tmp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = _TMP / f"ddp_{backend}_{world}.json"
    method = "spawn" if device_kind == "cuda" else "fork"
    t0 = time.perf_counter()
    tmp.start_processes(_ddp_worker, args=(world, backend, device_kind, port, s, str(out)), nprocs=world,
                        join=True, start_method=method)
    result = json.loads(out.read_text())
    sums = result["checksums"]
    return {"backend": backend, "processes": world, "tensors_on": device_kind,
            "ms_per_step": result["ms_per_step"], "seconds_total": time.perf_counter() - t0,
            "checksums_equal": bool(max(sums) - min(sums) <= 1e-9 * max(1.0, abs(sums[0]))),
            "checksum_spread": max(sums) - min(sums)}


def section_ddp(s: dict, device: torch.device) -> dict:
    groups = []
    if device.type == "cuda":
        n = torch.cuda.device_count()
        groups.append(_run_group(n, "nccl", "cuda", s))  # NCCL refuses two ranks on one GPU
        if n == 1:
            groups.append(_run_group(2, "gloo", "cuda", s))
    else:
        groups.append(_run_group(2, "gloo", "cpu", s))
    return {"groups": groups}


# ----------------------------------------------------------------------------------------------- monitor
def section_monitor(iteration_s: float) -> dict:
    from nnunet_explorer.training.hooks import IterationEnd

    try:
        from nnunet_explorer.views.monitor import TrainingMonitor

        monitor = TrainingMonitor(None, show_plots=False)
    except Exception as exc:  # noqa: BLE001 - ipywidgets missing on the GPU machine
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    n = 2000
    events = [IterationEnd(0, i, 1.0 - i * 1e-4, 0.5, -0.2, 1e-2, 3.0, 0.001, iteration_s) for i in range(n)]
    with SyncCounter() as counter:
        t0 = time.perf_counter()
        for e in events:
            monitor.on_iteration_end(e)
        per_call = (time.perf_counter() - t0) / n
    return {"available": True, "us_per_iteration": per_call * 1e6, "share_of_iteration": per_call / iteration_s,
            "syncs_added": counter.count}


# ------------------------------------------------------------------------------------------ augmentation
# v1's transform paths the device chain must reproduce: (name, builder kwargs). Shapes per mode: the network
# patch in 3D and 2D, and the batch sizes. 'gpu' is far below the blog's 80x160x160 so that 20 seeds x 4 paths of
# batchgenerators' single-threaded Compose fit in under a minute (the parity does not depend on the size);
# bench_device_augmentation.py times the blog's patch.
AUGMENTATION_PATHS = ("moreDA-3d", "moreDA-dummy-2d", "moreDA-2d", "moreDA-cascade")
AUGMENTATION_SHAPES = {
    "gpu": dict(patch_3d=(24, 96, 96), patch_2d=(160, 160), batch_3d=2, batch_2d=8, seeds=20, augmenter_batches=8),
    "cpu": dict(patch_3d=(16, 48, 48), patch_2d=(64, 64), batch_3d=2, batch_2d=4, seeds=20, augmenter_batches=6),
    "quick": dict(patch_3d=(12, 32, 32), patch_2d=(32, 32), batch_3d=2, batch_2d=4, seeds=20, augmenter_batches=6),
}
AUGMENTATION_POOLS = {3: [[1, 2, 2], [2, 2, 2], [2, 2, 2]], 2: [[2, 2], [2, 2], [2, 2]]}
AUGMENTATION_CLASSES = 3  # the synthetic labels 0, 1, 2 (and -1 outside the case)


def augmentation_path(name: str, a: dict) -> tuple[list, tuple[int, ...], int, int]:
    """v1's training transforms for one path, as ``nnUNetTrainerV2`` (and its cascade) build them:
    ``(transforms, loader patch size, batch size, segmentation channels)``."""
    from nnunet_explorer.training.augmentation import build_train_transforms
    from nnunet_explorer.training.cascade_augmentation import cascade_da_params
    from nnunet_explorer.training.data_augmentation_params import setup_DA_params

    patch = a["patch_2d"] if name == "moreDA-2d" else a["patch_3d"]
    setup = setup_DA_params(patch, do_dummy_2D_aug=name == "moreDA-dummy-2d", use_mask_for_norm={0: False},
                            pool_op_kernel_sizes=AUGMENTATION_POOLS[len(patch)], v2=True)
    params = dict(setup.data_aug_params)
    if name == "moreDA-cascade":
        params.update(cascade_da_params(AUGMENTATION_CLASSES))
    transforms = build_train_transforms(setup.patch_size, params, setup.deep_supervision_scales)
    batch = a["batch_2d"] if len(patch) == 2 else a["batch_3d"]
    return transforms, tuple(setup.basic_generator_patch_size), batch, 2 if name == "moreDA-cascade" else 1


def augmentation_batch(shape: tuple[int, ...], seg_channels: int, seed: int) -> dict:
    """A loader-like batch: ``device_transforms_check.synthetic_batch`` (a z-scored smooth image with noise, labels
    0-2 and a band of -1); for the cascade a second segmentation channel, the previous stage's prediction (the
    labels with a few voxels dropped), as v1's cascade loader delivers it."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    from device_transforms_check import synthetic_batch as smooth_batch

    data, seg = smooth_batch(shape, seed)
    if seg_channels == 2:
        prior = np.where(seg[:, 0] > 0, seg[:, 0], 0)
        prior[np.random.default_rng(seed).random(prior.shape) < 0.02] = 0
        seg = np.concatenate([seg, prior[:, None].astype(np.float32)], axis=1)
    b = shape[0]
    return {"data": data, "seg": seg, "keys": np.array([f"case_{seed}_{i}" for i in range(b)]),
            "properties": [{"case": i} for i in range(b)]}


def _seed_all(seed: int) -> None:
    import random

    np.random.seed(seed)
    random.seed(seed)


def _acted(draws: Any) -> int | None:
    """1 if a random device step changed this batch (its draws say so), 0 if not, None for non-random steps."""
    from nnunet_explorer.training.device_augmentation.spatial import SpatialDraws

    if isinstance(draws, SpatialDraws):
        return int(any(s.resampled for s in draws.samples))
    return int(bool(draws)) if isinstance(draws, list) else None


class SmoothLoader:
    """A stand-in for DataLoader3D/2D that announces its shapes (so the device augmenter's arrays travel through
    shared memory, as in a run): batch ``n`` of worker ``i`` is :func:`augmentation_batch` of seed
    ``1000 * (i + 1) + n``, so two augmenters with the same workers see the same batches."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.data_shape = self.seg_shape = tuple(shape)
        self.worker, self.count = 0, 0

    def set_thread_id(self, i: int) -> None:
        self.worker, self.count = i, 0

    def __next__(self) -> dict:
        self.count += 1
        return augmentation_batch(self.data_shape, 1, 1000 * (self.worker + 1) + self.count)


def augmenter_end_to_end(a: dict, device: torch.device, batches: int) -> dict:
    """The whole device path as a run takes it, against v1's: ``DeviceAugmenter`` (2 workers draw, the arrays
    through shared memory, page-locked and copied to ``device``, the feeder thread applying ahead of ``next()``)
    and ``MultiProcessAugmenter`` (batchgenerators' ``Compose`` in 2 workers), the same loader, seeds and moreDA 3D
    list, ``batches`` batches each. The chain's parity above is one thread on one batch; this adds the threads,
    the slots and the copies. Keys: ``batches``, ``max_abs_diff_data``, ``differing_data_values``,
    ``mismatched_seg_voxels`` (every deep-supervision target), ``keys_equal``, ``through_shared_memory``,
    ``applied_ahead``, ``on_device`` (where the batches ``next()`` returned live)."""
    from batchgenerators.transforms.abstract_transforms import Compose

    from nnunet_explorer.training.augmenter import MultiProcessAugmenter
    from nnunet_explorer.training.device_augmentation.parity import data_difference, seg_mismatches
    from nnunet_explorer.training.device_augmenter import DeviceAugmenter

    transforms, loader_patch, batch_size, _ = augmentation_path("moreDA-3d", a)
    loader = SmoothLoader((batch_size, 1, *loader_patch))
    seeds = [11, 12]
    with MultiProcessAugmenter(loader, Compose(transforms), 2, 2, seeds=seeds, timeout=120) as workers:
        expected = [next(workers) for _ in range(batches)]
    augmenter = DeviceAugmenter(loader, Compose(transforms), device, 2, 2, seeds=seeds, timeout=120)
    with augmenter:
        got = [next(augmenter) for _ in range(batches)]
    _sync(device)
    diff, differing, seg, on_device = 0.0, 0, 0, set()
    for e, g in zip(expected, got):
        d, n = data_difference(g["data"], e["data"])
        diff, differing = max(diff, d), differing + n
        seg += seg_mismatches(g["target"], e["target"])
        on_device.add(g["data"].device.type)
    return {"batches": len(got), "max_abs_diff_data": diff, "differing_data_values": differing,
            "mismatched_seg_voxels": seg,
            "keys_equal": all(list(e["keys"]) == list(g["keys"]) for e, g in zip(expected, got)),
            "through_shared_memory": (augmenter.counts.get("arrays_in_slot", 0)
                                      == 2 * augmenter.counts.get("batches", -1)),
            "applied_ahead": augmenter.applies_ahead, "on_device": sorted(on_device)}


def per_transform_differences(transforms: list, batch: dict, seed: int, device: torch.device) -> dict:
    """Where a whole-chain difference comes from: every device step run on *batchgenerators' own input* to that
    step (``Compose`` replayed transform by transform from ``seed``), with the draws ``draw_all`` made, and
    compared with batchgenerators' output of that step. A difference here is that transform's alone (on a GPU:
    fused multiply-adds, another summation order, another interpolation kernel), not one carried from an earlier
    step. ``{"<index> <name>": {"max_abs_diff_data", "differing_data_values", "mismatched_seg_voxels"}}``."""
    import copy

    from nnunet_explorer.training.device_augmentation.base import to_device
    from nnunet_explorer.training.device_augmentation.chain import DeviceChain, label_key_after
    from nnunet_explorer.training.device_augmentation.parity import data_difference, seg_mismatches

    chain = DeviceChain(transforms)
    _seed_all(seed)
    draws = chain.draw_all(copy.deepcopy(batch))
    _seed_all(seed)
    state, pairs = copy.deepcopy(batch), []  # (input, output) of every transform, as Compose runs them
    for step in chain.steps:
        given = copy.deepcopy(state)
        state = step.transform(**state)
        pairs.append((given, copy.deepcopy(state)))
    out: dict = {}
    for step, d in chain.steps_with_draws(draws):
        if step.where != "device":
            continue
        given, expected = pairs[step.index]
        x, s = step.device.apply(to_device(given[chain.data_key], device), to_device(given.get(step.label_key), device),
                                 d)
        diff, differing = data_difference(x, expected[chain.data_key])
        out_key = label_key_after(step.transform, step.label_key)
        out[f"{step.index} {step.name}"] = {
            "max_abs_diff_data": diff, "differing_data_values": differing,
            "mismatched_seg_voxels": 0 if s is None else seg_mismatches(s, expected[out_key])}
    return out


def _attribute(transforms: list, shape: tuple, seg_channels: int, seeds: list[int], device: torch.device) -> dict:
    """:func:`per_transform_differences` over ``seeds``: per step the largest difference and the summed counts."""
    merged: dict = {}
    for seed in seeds:
        for step, d in per_transform_differences(transforms, augmentation_batch(shape, seg_channels, seed), seed,
                                                 device).items():
            m = merged.setdefault(step, {"max_abs_diff_data": 0.0, "differing_data_values": 0,
                                         "mismatched_seg_voxels": 0})
            m["max_abs_diff_data"] = max(m["max_abs_diff_data"], d["max_abs_diff_data"])
            m["differing_data_values"] += d["differing_data_values"]
            m["mismatched_seg_voxels"] += d["mismatched_seg_voxels"]
    return merged


def section_augmentation(mode: str, device: torch.device, on_progress: Callable[[dict], None] | None = None) -> dict:
    """The device augmentation chain vs batchgenerators' ``Compose``, whole transform lists, ≥ 20 seeds.

    For every path (moreDA 3D, dummy 2D, 2D, the cascade's extras) and seed: the same loader-like batch and the
    same numpy / Python ``random`` seed; ``Compose(list)`` on numpy arrays (the CPU worker's cost, one thread) and
    ``DeviceChain(list)``: ``draw_all`` (the worker's part) then ``apply_all`` on ``device`` (synchronised). Then
    the image's max |difference| and differing values, the segmentation voxels (every deep-supervision target)
    that differ, and whether both random streams ended in the same state. Where anything differs, the
    differences are attributed transform by transform (:func:`per_transform_differences`)."""
    import copy
    import random

    from batchgenerators.transforms.abstract_transforms import Compose

    from nnunet_explorer.training.device_augmentation import host_checks, triton_gate
    from nnunet_explorer.training.device_augmentation.chain import DeviceChain
    from nnunet_explorer.training.device_augmentation.parity import data_difference, seg_mismatches

    a = AUGMENTATION_SHAPES[mode]
    seeds = range(a["seeds"])
    paths: dict = {}
    covered: set[str] = set()
    totals = {"cpu": [], "device": []}
    # Triton kernels or the eager path, per kernel family (the prefilters' recursions, the interpolation, the
    # resize, the float32 power and sums), and why (triton_gate.status); asked first, so that the kernels' check on
    # the device is not in the timings
    kernels = triton_gate.describe(device)
    for name in AUGMENTATION_PATHS:
        transforms, loader_patch, batch_size, seg_channels = augmentation_path(name, a)
        chain = DeviceChain(transforms)
        covered.update(type(t).__name__ for t in transforms)
        rows, fired = [], {}
        for seed in seeds:
            batch = augmentation_batch((batch_size, 1, *loader_patch), seg_channels, seed)
            _seed_all(seed)
            t0 = time.perf_counter()
            expected = Compose(copy.deepcopy(transforms))(**copy.deepcopy(batch))
            cpu_ms = 1e3 * (time.perf_counter() - t0)
            after_compose = (np.random.get_state()[1].copy(), random.getstate())
            _seed_all(seed)
            work = copy.deepcopy(batch)
            t0 = time.perf_counter()
            draws = chain.draw_all(work)
            draw_ms = 1e3 * (time.perf_counter() - t0)
            streams_equal = bool(np.array_equal(np.random.get_state()[1], after_compose[0])
                                 and random.getstate() == after_compose[1])
            _sync(device)
            t0 = time.perf_counter()
            got = chain.apply_all(work["data"], work.get(draws.label_key), draws, device)
            launch_ms = 1e3 * (time.perf_counter() - t0)  # the launching thread's own time (no wait on CUDA)
            _sync(device)
            apply_ms = 1e3 * (time.perf_counter() - t0)
            for step, d in chain.steps_with_draws(draws):
                acted = _acted(d)
                if acted is not None:
                    label = f"{step.index} {step.name}"
                    fired[label] = fired.get(label, 0) + acted
            diff, differing = data_difference(got["data"], expected["data"])
            seg_key = chain.final_label_key
            rows.append({"seed": seed, "max_abs_diff_data": diff, "differing_data_values": differing,
                         "mismatched_seg_voxels": seg_mismatches(got.get(seg_key), expected.get(seg_key)),
                         "keys_equal": sorted(got) == sorted(expected), "streams_equal": streams_equal,
                         "cpu_ms": cpu_ms, "draw_ms": draw_ms, "apply_ms": apply_ms, "launch_ms": launch_ms})
        timed = rows[1:] or rows  # the first seed pays for lazy imports and (on CUDA) kernel loading
        ms_cpu = statistics.median(r["cpu_ms"] for r in timed)
        ms_device = statistics.median(r["draw_ms"] + r["apply_ms"] for r in timed)
        totals["cpu"].append(ms_cpu)
        totals["device"].append(ms_device)
        bad = [r["seed"] for r in rows if r["max_abs_diff_data"] > 0 or r["mismatched_seg_voxels"]]
        paths[name] = {
            "data_shape": [batch_size, 1, *loader_patch], "seg_channels": seg_channels, "seeds": len(rows),
            "max_abs_diff_data": max(r["max_abs_diff_data"] for r in rows),
            "differing_data_values": sum(r["differing_data_values"] for r in rows),
            "mismatched_seg_voxels": sum(r["mismatched_seg_voxels"] for r in rows),
            "streams_equal": all(r["streams_equal"] for r in rows),
            "keys_equal": all(r["keys_equal"] for r in rows),
            "seeds_differing": bad,
            "ms_per_batch_cpu": ms_cpu, "ms_per_batch_device": ms_device,
            "ms_draw_in_worker": statistics.median(r["draw_ms"] for r in timed),
            "ms_apply_on_device": statistics.median(r["apply_ms"] for r in timed),
            # of which the launching thread (the feeder, in a run) is busy: kernel launches are not free
            "ms_launch_on_device": statistics.median(r["launch_ms"] for r in timed),
            "on_device": chain.device_steps,
            # batches (of the seeds) in which each random device transform changed something: parity is not vacuous
            "fired": fired,
            "fallbacks": [f"{n}: {why}" for n, why in chain.fallbacks],
            # where the differences come from, transform by transform (over the first 3 differing seeds)
            "per_transform": _attribute(transforms, (batch_size, 1, *loader_patch), seg_channels, bad[:3], device),
        }
    result = {
        "seeds": len(seeds), "paths": paths,
        "max_abs_diff_data": max(p["max_abs_diff_data"] for p in paths.values()),
        "mismatched_seg_voxels": sum(p["mismatched_seg_voxels"] for p in paths.values()),
        "streams_equal": all(p["streams_equal"] for p in paths.values()),
        "transforms_covered": sorted(covered),
        "ms_per_batch_cpu": statistics.mean(totals["cpu"]), "ms_per_batch_device": statistics.mean(totals["device"]),
        "host_checks_failed": host_checks.failed(),
        "triton_kernels": kernels,
    }
    if on_progress is not None:  # written now: a time cap that kills the end-to-end check keeps these figures
        on_progress(result)
    # the same on the path a run takes: workers, shared memory, the copy to the device, the feeder thread
    try:
        result["augmenter"] = augmenter_end_to_end(a, device, a["augmenter_batches"])
    except Exception as e:  # noqa: BLE001 - the chain's figures above stand on their own
        result["augmenter"] = {"error": f"{type(e).__name__}: {e}"}
    return result


# ------------------------------------------------------------------------------------ augmentation timing
# Where the device's milliseconds go at the blog's plans, transform by transform: if the blog's run is not
# GPU-bound, this says whether the device augmentation is why. Timing only (the parity is the section above, at
# smaller sizes: batchgenerators at this size costs seconds of CPU per batch).
AUGMENTATION_TIMING = {
    "gpu": dict(patch=(80, 160, 160), pools=SHAPES["gpu"]["pools"], batch=3, seeds=5),  # the blog's plans
    "cpu": dict(patch=(16, 48, 48), pools=SHAPES["cpu"]["pools"], batch=2, seeds=3),
    "quick": dict(patch=(12, 32, 32), pools=SHAPES["quick"]["pools"], batch=2, seeds=2),
}


def _time_steps(chain: Any, draws: Any, data: np.ndarray, seg: np.ndarray, device: torch.device) -> dict:
    """One batch through the chain's device steps, each synchronised before and after: ``{"<index> <name>":
    [launch ms, device ms]}`` (launch: the launching thread's own time, before the wait). CPU fallbacks are
    skipped (the section reports them; moreDA 3D has none)."""
    from nnunet_explorer.training.device_augmentation.base import to_device

    x, y = to_device(data, device), to_device(seg, device)
    out = {}
    for step, d in chain.steps_with_draws(draws):
        if step.where != "device":
            continue
        _sync(device)
        t0 = time.perf_counter()
        x, y = step.device.apply(x, y, d)
        launched = time.perf_counter()
        _sync(device)
        out[f"{step.index} {step.name}"] = [1e3 * (launched - t0), 1e3 * (time.perf_counter() - t0)]
    return out


def section_augmentation_timing(mode: str, device: torch.device) -> dict:
    """moreDA 3D on ``device`` at the blog's plans (on a GPU: patch 80x160x160, batch 3, the loader's 175x257x210
    patch): per device transform the median milliseconds over the seeds, with moreDA's own probabilities and
    with every sample rotated, scaled and lowered in resolution (the most expensive batch), and the draw's
    milliseconds on the CPU (a worker's part). The first batch of each case is not timed (kernel loading)."""
    import copy

    from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
    from batchgenerators.transforms.spatial_transforms import SpatialTransform

    from nnunet_explorer.training.augmentation import build_train_transforms
    from nnunet_explorer.training.data_augmentation_params import setup_DA_params
    from nnunet_explorer.training.device_augmentation import triton_gate
    from nnunet_explorer.training.device_augmentation.chain import DeviceChain

    a = AUGMENTATION_TIMING[mode]
    setup = setup_DA_params(a["patch"], do_dummy_2D_aug=False, use_mask_for_norm={0: False},
                            pool_op_kernel_sizes=a["pools"], v2=True)
    loader_patch = tuple(int(n) for n in setup.basic_generator_patch_size)
    result: dict = {"patch": list(a["patch"]), "batch": a["batch"], "loader_patch": list(loader_patch),
                    "seeds": a["seeds"], "triton_kernels": triton_gate.describe(device)}
    batch = augmentation_batch((a["batch"], 1, *loader_patch), 1, 0)  # one image (seconds to make at this size);
    # each seed draws its own transforms for it
    for case in ("moreDA", "all_resampled"):
        transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
        if case == "all_resampled":
            for t in transforms:
                if isinstance(t, SpatialTransform):
                    t.p_rot_per_sample = t.p_scale_per_sample = 1.0
                if isinstance(t, SimulateLowResolutionTransform):
                    t.p_per_sample = 1.0
        chain = DeviceChain(transforms)
        per_step: dict[str, list] = {}
        draw_ms = []
        for seed in range(a["seeds"] + 1):
            _seed_all(seed)
            work = copy.deepcopy(batch)
            t0 = time.perf_counter()
            draws = chain.draw_all(work)
            draw = 1e3 * (time.perf_counter() - t0)
            timed = _time_steps(chain, draws, work["data"], work.get(draws.label_key), device)
            if seed == 0:
                continue  # loads the kernels
            draw_ms.append(draw)
            for name, ms in timed.items():
                per_step.setdefault(name, []).append(ms)
        steps = {name: {"launch_ms": statistics.median(v[0] for v in values),
                        "device_ms": statistics.median(v[1] for v in values)} for name, values in per_step.items()}
        result[case] = {"ms_per_batch_device": sum(v["device_ms"] for v in steps.values()),
                        "ms_launching": sum(v["launch_ms"] for v in steps.values()),
                        "ms_draw_in_worker": statistics.median(draw_ms), "per_transform": steps,
                        "fallbacks": [f"{n}: {why}" for n, why in chain.fallbacks]}
    return result


# ---------------------------------------------------------------------------------------------------- run
# The blog's command on the KiTS19 sample, three ways on the same preprocessed data: the explorer with the
# augmentation in worker processes (as v1) and on the device, and v1 1.7.1's own run_training. Schedules per mode.
RUN_SCHEDULES = {
    "gpu": dict(sample="kits19", task=40, fold=1, epochs=3, iterations=20, val_iterations=4),
    "cpu": dict(sample="synthetic-ct", task=901, fold=0, epochs=2, iterations=4, val_iterations=1),
    "quick": dict(sample="synthetic-ct", task=901, fold=0, epochs=1, iterations=2, val_iterations=1),
}


class _GpuSampler:
    """NVML utilisation samples every 0.2 s in a thread (``(time, util %)``), or why there are none."""

    def __init__(self, device: torch.device) -> None:
        self.samples: list[tuple[float, float]] = []
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = None
        if device.type != "cuda":
            self.reason = "not a CUDA run"
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            index = device.index if device.index is not None else torch.cuda.current_device()
            self._handle, self._nvml = pynvml.nvmlDeviceGetHandleByIndex(index), pynvml
        except Exception as exc:  # noqa: BLE001 - pynvml missing or no driver
            self.reason = f"no NVML: {type(exc).__name__}: {exc}"
            return
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.samples.append((time.time(), float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)))

    def busy_share(self, start: float, end: float) -> float | None:
        return self.busy_share_in([(start, end)])

    def busy_share_in(self, windows: list[tuple[float, float]]) -> float | None:
        """Mean utilisation of the samples inside any of ``windows`` (None: no sample there)."""
        inside = [u for t, u in self.samples if any(start <= t <= end for start, end in windows)]
        return None if not inside else sum(inside) / len(inside) / 100.0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def _timed_lines(cmd: list[str], env: dict, log: Path, timeout: float) -> tuple[int, list[tuple[float, str]], float]:
    """Runs ``cmd``, each output line stamped with the wall time it arrived; ``(exit code, lines, start time)``."""
    import subprocess

    start = time.time()
    lines: list[tuple[float, str]] = []
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=str(log.parent))
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                lines.append((time.time(), line.rstrip("\n")))
                f.write(line)
        finally:
            timer.cancel()
            code = proc.wait()
    return code, lines, start


def epoch_timings(lines: list[tuple[float, str]], start: float) -> dict:
    """From a training log on the console (v1's and the explorer's print the same lines): the epochs' durations
    (``This epoch took X s``), the seconds from the command's start to the end of the first epoch, and two
    windows for the GPU utilisation: ``window`` (the first ``epoch:`` line to the last epoch's end) and
    ``steady_window`` (the end of epoch 0 to the last epoch's end: the epochs ``epoch_seconds`` is the median of,
    without the first one's start-up: workers' first batches, cuDNN's autotuning; None with a single epoch), and
    ``training_windows``: per epoch after the first, its ``epoch:`` line to its ``train loss`` line — the training
    iterations alone, without validation and the epoch's end (progress plot, checkpoints), whose fixed cost weighs
    12x more in a 20-iteration epoch than in v1's 250."""
    import re

    took = [(t, float(m.group(1))) for t, line in lines if (m := re.search(r"This epoch took ([0-9.]+) s", line))]
    first_epoch = next((t for t, line in lines if re.match(r"^(\S+ \S+: )?\s*epoch:\s+0\b", line)), None)
    if not took:
        return {"epochs": 0, "epoch_seconds": None, "seconds_to_first_epoch": None, "window": None,
                "steady_window": None, "training_windows": []}
    seconds = [s for _, s in took]
    steady = seconds[1:] or seconds  # the first epoch includes the workers' start and lazy initialisation
    return {"epochs": len(took), "epoch_seconds": statistics.median(steady), "epoch_seconds_all": seconds,
            "seconds_to_first_epoch": took[0][0] - start,
            "window": (first_epoch if first_epoch is not None else start, took[-1][0]),
            "steady_window": (took[0][0], took[-1][0]) if len(took) > 1 else None,
            "training_windows": _training_windows(lines)[1:]}


def _training_windows(lines: list[tuple[float, str]]) -> list[tuple[float, float]]:
    """``(epoch: line, train loss line)`` arrival times of every epoch, in order."""
    import re

    windows, opened = [], None
    for t, line in lines:
        if re.match(r"^(\S+ \S+: )?\s*epoch:\s+\d+\s*$", line):
            opened = t
        elif opened is not None and "train loss :" in line:
            windows.append((opened, t))
            opened = None
    return windows


def _explorer_supports_augment_on(env: dict) -> bool:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "nnunet_explorer.cli", "train", "--help"], env=env,
                          capture_output=True, text=True, timeout=120)
    return "--augment_on" in done.stdout


def section_run(mode: str, device: torch.device, on_progress: Callable[[dict], None] | None = None) -> dict:
    """The blog's ``train 3d_fullres nnUNetTrainerV2 40 1`` on the KiTS19 sample (blog plans) on a GPU, with the
    explorer (``--augment_on workers``: batchgenerators in worker processes, as v1; ``--augment_on device``: the
    workers only draw, the arithmetic runs on the GPU) and with v1 1.7.1's own ``run_training`` through a
    variant trainer that only shortens the schedule, all on the same preprocessed data and schedule, validation
    inference off. On ``--quick`` / the CPU: the synthetic task 901 with a one- or two-epoch schedule.

    Keys: ``epoch_seconds_*`` (median of the epochs after the first), ``seconds_to_first_epoch_*`` (command start
    to the end of epoch 0: imports, unpacking, workers' start, the first epoch), ``gpu_busy_share_*`` (mean NVML
    utilisation over the epochs after the first, as ``epoch_seconds_*``; ``gpu_busy_share_all_epochs_*`` includes
    epoch 0; null with ``gpu_busy_share_reason`` where NVML is not available), with ``explorer`` =
    ``--augment_on device``, ``explorer_cpu_augmentation`` = ``--augment_on workers``, ``v1``. The runs go in that
    order of importance (the device path, v1, the workers path); ``on_progress`` gets the result after each run, so
    that a run killed at its time cap keeps the runs done."""
    import shutil
    import subprocess

    sch = RUN_SCHEDULES[mode]
    keep = os.environ.get("GPU_CHECK_RUN_WORKSPACE")
    root = Path(keep) if keep else _TMP / "run"
    shutil.rmtree(root, ignore_errors=True)
    (root / "raw").mkdir(parents=True)
    (root / "preprocessed").mkdir()
    base_env = dict(os.environ, nnUNet_raw_data_base=str(root / "raw"), nnUNet_preprocessed=str(root / "preprocessed"),
                    PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                    MPLBACKEND="Agg", TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    base_env.pop("NNUNET_EXPLORER_WORKSPACE", None)
    if device.type != "cuda":
        base_env.setdefault("nnUNet_n_proc_DA", "2")
        base_env["CUDA_VISIBLE_DEVICES"] = ""  # v1 moves to CUDA whenever it sees one
    explorer = [sys.executable, "-m", "nnunet_explorer.cli"]
    t0 = time.time()
    prep = [explorer + ["sample", sch["sample"], "--exist_ok"]]
    if sch["sample"] != "kits19":  # the KiTS19 sample comes planned and preprocessed (the blog's plans)
        prep.append(explorer + ["plan_and_preprocess", "-t", str(sch["task"]), "-tl", "2", "-tf", "2"])
    for cmd in prep:
        done = subprocess.run(cmd, env=base_env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[2:])} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    result: dict[str, Any] = {"task": sch["task"], "fold": sch["fold"], "sample": sch["sample"],
                              "schedule": {k: sch[k] for k in ("epochs", "iterations", "val_iterations")},
                              "seconds_preparing_data": time.time() - t0, "workspace": str(root)}
    schedule = ["--max_num_epochs", str(sch["epochs"]), "--num_batches_per_epoch", str(sch["iterations"]),
                "--num_val_batches_per_epoch", str(sch["val_iterations"])]
    common = ["3d_fullres", "nnUNetTrainerV2", str(sch["task"]), str(sch["fold"]), "--disable_validation_inference"]
    precision = [] if device.type == "cuda" else ["--fp32"]
    supported = _explorer_supports_augment_on(base_env)
    runs = {
        "explorer": explorer + ["train", *common, *schedule, *precision, "--overwrite_training",
                                "--device", device.type] + (["--augment_on", "device"] if supported else []),
        "v1": [sys.executable, str(ROOT / "benchmarks" / "gpu_session" / "v1_run_training.py"), "3d_fullres",
               "nnUNetTrainerV2_gpuCheck", str(sch["task"]), str(sch["fold"]), "--disable_validation_inference",
               *precision],
        "explorer_cpu_augmentation": explorer + ["train", *common, *schedule, *precision, "--overwrite_training",
                                                 "--device", device.type, "--augment_on", "workers"],
    }
    if not supported:
        result["note"] = ("this explorer's train has no --augment_on: 'explorer' ran with its default augmentation "
                          "and 'explorer_cpu_augmentation' was not run")
        runs.pop("explorer_cpu_augmentation")
    sampler = _GpuSampler(device)
    try:
        for name, cmd in runs.items():
            env = dict(base_env, RESULTS_FOLDER=str(root / f"results_{name}"), GPU_CHECK_EPOCHS=str(sch["epochs"]),
                       GPU_CHECK_ITERATIONS=str(sch["iterations"]), GPU_CHECK_VAL_ITERATIONS=str(sch["val_iterations"]))
            Path(env["RESULTS_FOLDER"]).mkdir(exist_ok=True)
            code, lines, start = _timed_lines(cmd, env, root / f"{name}.log", timeout=900)
            timing = epoch_timings(lines, start)
            if code != 0 or timing["epochs"] != sch["epochs"]:
                # recorded, and the next run still goes: one GPU session must not lose v1's figures to our bug
                tail = "\n".join(line for _, line in lines[-25:])
                result[f"error_{name}"] = f"{name} exited {code} after {timing['epochs']} epoch(s):\n{tail}"
                result[f"command_{name}"] = " ".join(cmd[2:] if cmd[1] == "-m" else cmd[1:])
                if on_progress is not None:
                    on_progress(result)
                continue
            window, steady, training = timing.pop("window"), timing.pop("steady_window"), timing.pop("training_windows")
            result[f"epoch_seconds_{name}"] = timing["epoch_seconds"]
            result[f"epoch_seconds_all_{name}"] = timing["epoch_seconds_all"]
            result[f"seconds_to_first_epoch_{name}"] = timing["seconds_to_first_epoch"]
            result[f"seconds_total_{name}"] = time.time() - start
            result[f"gpu_busy_share_{name}"] = sampler.busy_share(*(steady or window))
            result[f"gpu_busy_share_all_epochs_{name}"] = sampler.busy_share(*window)
            result[f"gpu_busy_share_training_iterations_{name}"] = sampler.busy_share_in(training)
            result[f"command_{name}"] = " ".join(cmd[2:] if cmd[1] == "-m" else cmd[1:])
            if name != "v1":  # the explorer's log says where the augmentation ran
                said = next((line.split("augmentation:", 1)[1].strip() for _, line in lines
                             if "augmentation:" in line), None)
                result[f"augmentation_{name}"] = said
            if on_progress is not None:
                on_progress(result)
    finally:
        sampler.stop()
    for side in runs.keys() | {"explorer_cpu_augmentation"}:
        for key in ("epoch_seconds", "seconds_to_first_epoch", "gpu_busy_share", "gpu_busy_share_training_iterations"):
            result.setdefault(f"{key}_{side}", None)
    result["gpu_busy_share_reason"] = sampler.reason
    ours, theirs = result["epoch_seconds_explorer"], result["epoch_seconds_v1"]
    result["ratio_epoch_explorer_v1"] = ours / theirs if ours and theirs else None
    failed = [side for side in runs if f"error_{side}" in result]
    if failed:  # the figures of the runs that went through are kept (through on_progress); the section fails
        if on_progress is not None:
            on_progress(result)
        raise RuntimeError("; ".join(result[f"error_{side}"] for side in failed))
    return result


# ------------------------------------------------------------------------------------------------ output
SECTIONS = ("training", "sliding_window", "data", "ddp", "monitor", "augmentation", "augmentation_timing", "run")


def section_order(device: torch.device) -> list[str]:
    """The order the sections run in. On CUDA, what a short GPU session must not lose first (the new device
    paths: augmentation, sliding window), the figures of the first GPU round last (DDP spawns its processes);
    on the CPU, DDP first: its processes are forked before this process starts threads. ``training`` always
    comes before ``monitor``, which sizes itself by the training iteration; ``run`` is last (the longest)."""
    if device.type == "cuda":
        return ["augmentation", "sliding_window", "augmentation_timing", "training", "data", "monitor", "ddp", "run"]
    return ["ddp", "training", "sliding_window", "data", "monitor", "augmentation", "augmentation_timing", "run"]


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def table(report: dict) -> str:
    lines = [f"gpu_check on {report['device_name']} (torch {report['torch']}, mode {report['mode']})", ""]
    tr = report.get("training")
    if tr and "error" not in tr:
        lines += [f"training ({'fp16' if tr['fp16'] else 'fp32'}, patch {tr['patch']}, batch {tr['batch']}):",
                  f"  loss v1 {tr['loss_v1']:.6f} explorer {tr['loss_explorer']:.6f} "
                  f"(|diff| {_fmt(tr['loss_abs_diff'])}), weights after 1 step max |diff| "
                  f"{_fmt(tr['weights_max_abs_diff_after_1_step'])}",
                  f"  ms/iteration v1 {tr['ms_per_iteration_v1']:.1f}  explorer {tr['ms_per_iteration_explorer']:.1f}"
                  f"  ratio {tr['ratio_explorer_v1']:.2f}",
                  f"  syncs/iteration v1 {tr['syncs_per_iteration_v1']}  "
                  f"explorer {tr['syncs_per_iteration_explorer']}",
                  f"  GPU busy share v1 {_fmt(tr['gpu_busy_share_v1'])}  "
                  f"explorer {_fmt(tr['gpu_busy_share_explorer'])}"]
    sw = report.get("sliding_window")
    if sw and "error" not in sw:
        lines += ["", f"sliding window (case {sw['case']}, patch {sw['patch']}, mirroring {_fmt(sw['mirroring'])}):",
                  "  precision sums_on     tile_batch  s_v1    s_explorer ratio  max|dp|   peakMiB_v1 peakMiB_explorer"]
        for r in sw["runs"]:
            sums_on = r.get("sums_on") or ("device_fp16" if r["all_in_gpu"] else "cpu")
            lines.append(f"  {'fp16' if r['fp16'] else 'fp32':<9} {sums_on:<11} {r['tile_batch']:<11}"
                         f" {r['seconds_v1']:<7.2f} {r['seconds_explorer']:<10.2f} {r['ratio_explorer_v1']:<6.2f}"
                         f" {r['prob_max_abs_diff']:<9.1e} {_fmt(r['peak_mib_v1']):<10} {_fmt(r['peak_mib_explorer'])}")
    da = report.get("data")
    if da and "error" not in da:
        lines += ["", f"data ({da['workers']} workers, batch {da['batch_shape']}): next() when ready "
                      f"{da['next_latency_ms_when_ready']:.2f} ms; mean wait {da['mean_wait_ms']:.1f} ms per "
                      f"{da['mean_iteration_ms']:.1f} ms iteration = {100 * da['wait_share']:.1f} % "
                      f"({'data-bound' if da['data_bound'] else 'no data wait'})"]
    dd = report.get("ddp")
    if dd and "error" not in dd:
        lines.append("")
        for g in dd["groups"]:
            lines.append(f"ddp {g['backend']} x{g['processes']} ({g['tensors_on']} tensors): {g['ms_per_step']:.1f} "
                         f"ms/step, weight checksums equal: {_fmt(g['checksums_equal'])}")
    mo = report.get("monitor", {})
    lines.append("")
    if mo.get("available"):
        lines.append(f"live monitor: {mo['us_per_iteration']:.1f} us/iteration = "
                     f"{100 * mo['share_of_iteration']:.3f} % of an iteration, syncs added {mo['syncs_added']}")
    elif mo and "error" not in mo:
        lines.append(f"live monitor: not measured ({mo['reason']})")
    au = report.get("augmentation")
    if au and "error" not in au:
        lines += ["", f"augmentation ({au['seeds']} seeds per path; device chain vs batchgenerators' Compose):",
                  "  path              max|ddata|  seg voxels  streams  ms/batch Compose  ms/batch device"]
        for name, p in au["paths"].items():
            lines.append(f"  {name:<17} {p['max_abs_diff_data']:<11.3g} {p['mismatched_seg_voxels']:<11} "
                         f"{_fmt(p['streams_equal']):<8} {p['ms_per_batch_cpu']:<17.1f} {p['ms_per_batch_device']:.1f}")
            for step, d in p["per_transform"].items():
                lines.append(f"    {step}: max|ddata| {d['max_abs_diff_data']:.3g}, {d['differing_data_values']} "
                             f"values, seg voxels {d['mismatched_seg_voxels']}")
        ag = au.get("augmenter")
        if ag and "error" in ag:
            lines.append(f"  end to end (DeviceAugmenter vs MultiProcessAugmenter): {ag['error']}")
        elif ag:
            lines.append(f"  end to end (DeviceAugmenter vs MultiProcessAugmenter, {ag['batches']} batches, "
                         f"moreDA 3D): max|ddata| {ag['max_abs_diff_data']:.3g}, seg voxels "
                         f"{ag['mismatched_seg_voxels']}, shared memory {_fmt(ag['through_shared_memory'])}, "
                         f"feeder thread {_fmt(ag['applied_ahead'])}")
    at = report.get("augmentation_timing")
    if at and "error" not in at:
        lines += ["", f"augmentation timing (moreDA 3D on the device, patch {at['patch']}, batch {at['batch']}, "
                      f"loader patch {at['loader_patch']}; median of {at['seeds']} batches):",
                  f"  {at['triton_kernels']}"]
        for case in ("moreDA", "all_resampled"):
            c = at[case]
            lines.append(f"  {case}: {c['ms_per_batch_device']:.1f} ms on the device (launching "
                         f"{c['ms_launching']:.1f} ms), draws in the worker {c['ms_draw_in_worker']:.1f} ms")
            for step, v in c["per_transform"].items():
                lines.append(f"    {step:<40} {v['device_ms']:8.2f} ms (launching {v['launch_ms']:.2f})")
    ru = report.get("run")
    if ru and "schedule" in ru:  # also when one of its runs failed: the others' figures stand
        sc = ru["schedule"]
        lines += ["", f"run (task {ru['task']} fold {ru['fold']}, {sc['epochs']} epochs x {sc['iterations']} "
                      "iterations, validation inference off):",
                  "  side                          s/epoch  s to 1st epoch  GPU busy: epochs  training iterations",
                  "  (GPU busy over the epochs after the first; 'training iterations' leaves out their validation "
                  "and epoch end)"]
        for side, label in (("explorer", "explorer --augment_on device"),
                            ("explorer_cpu_augmentation", "explorer --augment_on workers"), ("v1", "v1 1.7.1")):
            lines.append(f"  {label:<29} {_fmt(ru.get(f'epoch_seconds_{side}')):<8} "
                         f"{_fmt(ru.get(f'seconds_to_first_epoch_{side}')):<15} "
                         f"{_fmt(ru.get(f'gpu_busy_share_{side}')):<16} "
                         f"{_fmt(ru.get(f'gpu_busy_share_training_iterations_{side}'))}")
        if ru.get("note"):
            lines.append(f"  ({ru['note']})")
        if ru.get("gpu_busy_share_reason"):
            lines.append(f"  (GPU busy share: {ru['gpu_busy_share_reason']})")
    for name in SECTIONS:
        if "error" in report.get(name, {}):
            lines.append(f"{name}: FAILED {report[name]['error']}")
    lines.append(f"\ntotal {report['seconds_total']:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA where available), cuda or cpu")
    parser.add_argument("--quick", action="store_true", help="tiny shapes (CI)")
    parser.add_argument("--out", default="gpu_check.json", help="where to write the JSON")
    parser.add_argument("--merge", action="store_true",
                        help="keep the sections an earlier run wrote into --out (a GPU session runs the sections as "
                             "separately capped parts into one file)")
    parser.add_argument("--workers", type=int, default=None,
                        help="augmentation workers for the data section (default: v1's: nnUNet_n_proc_DA or 12; "
                             "2 on the CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on the CPU")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.sections.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    warnings.filterwarnings("ignore")
    from nnunet_explorer.device import resolve_device

    device = resolve_device(args.device)
    mode = "quick" if args.quick else ("gpu" if device.type == "cuda" else "cpu")
    s = SHAPES[mode]
    if args.threads:
        torch.set_num_threads(args.threads)
    fp16 = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False  # same kernels for both sides; each side's own choice is not timed
    workers = args.workers or (int(os.environ.get("nnUNet_n_proc_DA") or 12) if device.type == "cuda" else 2)
    stubbed = stub_missing_v1_imports()
    report: dict[str, Any] = {"device": str(device), "mode": mode, "torch": torch.__version__,
                              "placeholder_modules": stubbed,
                              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    if args.merge and Path(args.out).is_file():
        earlier = json.loads(Path(args.out).read_text())
        report = {**{k: v for k, v in earlier.items() if k in SECTIONS and k not in chosen}, **report}
    started = time.perf_counter()

    def guarded(name: str, fn: Callable[[], dict]) -> None:
        if name not in chosen:
            return
        t0 = time.perf_counter()
        try:
            report[name] = fn()
        except Exception as exc:  # noqa: BLE001 - one failed section must not hide the others
            import traceback

            # what the section recorded before it failed (the run section's runs that went through) is kept
            done = report.get(name) if isinstance(report.get(name), dict) else {}
            report[name] = {**done, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
        report[name]["seconds"] = time.perf_counter() - t0
        print(f"[gpu_check] {name} done in {report[name]['seconds']:.1f} s", file=sys.stderr, flush=True)
        # written after every section: a run killed at its time cap keeps what it measured
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))

    def partial(name: str) -> Callable[[dict], None]:
        """For a long section: write what it measured so far, in case a time cap kills the rest."""
        def write(result: dict) -> None:
            report[name] = {**result, "partial": True}
            Path(args.out).write_text(json.dumps(report, indent=1, default=str))
        return write

    iteration_s = [0.1]  # the training section's iteration time, which sizes the monitor section

    def training() -> dict:
        result = section_training(s, device, fp16)
        iteration_s[0] = result.pop("_iteration_s", None) or 0.1
        return result

    sections: dict[str, Callable[[], dict]] = {
        "ddp": lambda: section_ddp(s, device),
        "training": training,
        "sliding_window": lambda: section_sliding_window(s, device, [True, False] if fp16 else [False],
                                                         partial("sliding_window")),
        "data": lambda: section_data(s, device, fp16, workers),
        "monitor": lambda: section_monitor(iteration_s[0]),
        "augmentation": lambda: section_augmentation(mode, device, partial("augmentation")),
        "augmentation_timing": lambda: section_augmentation_timing(mode, device),
        "run": lambda: section_run(mode, device, partial("run")),
    }
    for name in section_order(device):
        guarded(name, sections[name])
    report["seconds_total"] = time.perf_counter() - started
    text = table(report)
    print(text)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    return 0 if not any("error" in report.get(k, {}) for k in chosen) else 1


if __name__ == "__main__":
    raise SystemExit(main())
