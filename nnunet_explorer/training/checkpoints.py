"""nnU-Net v1 checkpoints: ``<name>.model`` (torch) and ``<name>.model.pkl`` (how to rebuild the trainer).

A v1 fold folder holds ``model_final_checkpoint.model`` (and ``model_best``; ``model_latest`` only while training
or after an interrupted run), each with a
companion ``.model.pkl``:

* ``.model`` — ``torch.save`` of a dict: ``epoch``, ``state_dict`` (the network weights), ``optimizer_state_dict``,
  ``lr_scheduler_state_dict``, ``plot_stuff`` (loss curves as numpy float32 scalars), ``best_stuff`` and, with
  mixed precision, ``amp_grad_scaler``.
* ``.model.pkl`` — a pickled ``OrderedDict``: ``init`` (the trainer's positional constructor arguments: plans
  file, fold, output folder, dataset directory, batch_dice, stage, unpack_data, deterministic, fp16), ``name``
  (trainer class name), ``class`` and ``plans`` (the whole plans dict).

Both are pickles, and unpickling can run arbitrary code. The explorer never unpickles them freely:

* ``.model`` goes through ``torch.load(weights_only=True)`` plus an explicit allow-list of the numpy types v1
  stores (numpy scalars and dtypes) — not ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, which would switch the
  protection off for everything.
* ``.model.pkl`` goes through :func:`nnunet_explorer.fileio.load_pickle` (numpy data, builtins, OrderedDict).

A file that asks for anything else is refused with :class:`~nnunet_explorer.errors.UnsafeFileError`, naming
what it asked for, before any of it runs.
"""
from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

from ..errors import ExplorerError, UnsafeFileError
from ..fileio import load_pickle
from ..language import tr
from ..provenance import mirrors


def _numpy_safe_globals() -> list:
    """The numpy objects a v1 checkpoint may reference, under numpy 2 *and* numpy 1 module names."""
    import numpy as np
    import numpy.dtypes as npd

    scalar = np._core.multiarray.scalar
    reconstruct = np._core.multiarray._reconstruct
    allowed: list = [scalar, (scalar, "numpy.core.multiarray.scalar"), reconstruct,
                     (reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype]
    # numpy >= 1.25 pickles dtypes as numpy.dtypes.<Name>DType
    for name in dir(npd):
        if name.endswith("DType"):
            allowed.append(getattr(npd, name))
    return allowed


def _unsafe_error(path: Path, exc: BaseException) -> UnsafeFileError:
    text = str(exc)
    match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text) or re.search(r"GLOBAL ([\w.]+)", text)
    what = match.group(1) if match else tr("an object that is not tensors or plain data",
                                           "一个既不是张量也不是普通数据的对象")
    return UnsafeFileError(
        tr(f"{path} asks to load '{what}', which is not tensors, numbers or plain data; loading it could run code, "
           "so the checkpoint was refused (nothing from it was executed)",
           f"{path} 要求加载 '{what}'，它不是张量、数字或普通数据；加载它可能会执行代码，"
           "所以拒绝了这个检查点（其中的任何内容都没有被执行）"),
        fix=tr("only open checkpoints from sources you trust; a genuine nnU-Net v1 checkpoint contains only "
               "tensors, numpy numbers and plain Python values",
               "只打开来源可信的检查点；真正的 nnU-Net v1 检查点只包含张量、numpy 数字和普通的 Python 值"))


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_checkpoint")
def load_checkpoint_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a v1 (or explorer) ``.model`` checkpoint safely; returns its dict (tensors on the CPU).

    v1 itself calls ``torch.load(fname, map_location='cpu')``, which on torch >= 2.6 fails for every v1
    checkpoint (numpy scalars are not allowed by default). Here: ``weights_only=True`` plus an allow-list of
    numpy scalars, dtypes and arrays.

    Raises:
        ExplorerError: the file is missing or not a torch checkpoint.
        UnsafeFileError: the file references anything outside the allow-list (e.g. a function to call).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ExplorerError(tr(f"checkpoint {path} does not exist", f"检查点 {path} 不存在"),
                            fix=tr("train the fold first, or pick an existing checkpoint name with -chk "
                                   "(model_final_checkpoint, model_best, model_latest)",
                                   "先训练这个 fold，或用 -chk 选择一个已存在的检查点名称"
                                   "(model_final_checkpoint, model_best, model_latest)"))
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _unsafe_error(path, exc) from None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file fails in many ways inside torch/pickle
        raise ExplorerError(tr(f"{path} is not a readable torch checkpoint ({type(exc).__name__}: {exc})",
                               f"{path} 不是可读取的 torch 检查点({type(exc).__name__}: {exc})"),
                            fix=tr("the file is truncated or corrupt; use another checkpoint of the fold",
                                   "文件不完整或已损坏；请改用这个 fold 的另一个检查点")) from None
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        raise ExplorerError(tr(f"{path} is not an nnU-Net checkpoint (no 'state_dict' key)",
                               f"{path} 不是 nnU-Net 检查点（没有 'state_dict' 键）"),
                            fix=tr("point at a <name>.model file written by nnU-Net v1 or the explorer",
                                   "请指向由 nnU-Net v1 或 explorer 写出的 <name>.model 文件"))
    return dict(checkpoint)


@mirrors("nnunet.training.model_restore:restore_model")
def load_model_pkl(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``<name>.model.pkl`` with the restricted unpickler; returns ``init``, ``name``, ``class``, ``plans``.

    Raises:
        ExplorerError: missing file or a pickle without v1's keys.
        UnsafeFileError: the pickle asks for anything but plain data.
    """
    path = Path(path)
    info = load_pickle(path)
    missing = [k for k in ("init", "name", "plans") if not isinstance(info, Mapping) or k not in info]
    if missing:
        raise ExplorerError(tr(f"{path} lacks the key(s) {missing} of a v1 .model.pkl",
                               f"{path} 缺少 v1 .model.pkl 应有的键 {missing}"),
                            fix=tr("use the .model.pkl saved next to the .model checkpoint by nnU-Net v1",
                                   "请使用 nnU-Net v1 保存在 .model 检查点旁边的 .model.pkl"))
    return dict(info)


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_checkpoint_ram")
def load_state_dict_into(network, state_dict: Mapping[str, Any]) -> None:
    """Load weights like v1: strip a ``module.`` prefix (DataParallel) from keys the network lacks, strict load."""
    own = set(network.state_dict().keys())
    fixed = OrderedDict()
    for key, value in state_dict.items():
        if key not in own and key.startswith("module."):
            key = key[len("module."):]
        fixed[key] = value
    try:
        network.load_state_dict(fixed, strict=True)
    except RuntimeError as exc:
        raise ExplorerError(tr(f"the checkpoint's weights do not fit the network built from the plans: {exc}",
                               f"检查点的权重与按 plans 构建的网络不匹配：{exc}"),
                            fix=tr("use the plans.pkl / .model.pkl that belong to this checkpoint",
                                   "请使用属于这个检查点的 plans.pkl / .model.pkl")) from None
