"""``-pretrained_weights``: copy matching weights from a v1 checkpoint into the network, and say what matched.

v1's ``load_pretrained_weights(network, fname)`` (``nnunet/run/load_pretrained_weights.py``):

1. read ``fname`` and take its ``state_dict``; strip a leading ``module.`` (DataParallel) from every key;
2. compatibility rule: every key of the *current* network whose name contains ``conv_blocks`` (the encoder
   and decoder convolutions, not the transposed convolutions ``tu.*`` nor the heads ``seg_outputs.*``) must
   be in the file **with the same shape**, else ``RuntimeError("Pretrained weights are not compatible with
   the current network architecture")``;
3. then *every* file key that exists in the network with the same shape is copied — so the segmentation
   heads are transferred too whenever their shapes match (the class count is the same), despite v1's
   docstring "THIS DOES NOT TRANSFER SEGMENTATION HEADS!".

:func:`load_pretrained_weights` applies exactly that rule and returns a :class:`PretrainedReport` listing
the keys copied, the keys of the network left at their initial values, the file keys with another shape
and the file keys the network does not have.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..errors import TrainingError, UnsafeFileError
from ..language import tr
from ..provenance import mirrors


def _numpy_safe_globals() -> list:
    """Numpy objects v1 checkpoints contain (loss lists are numpy scalars), for ``torch.load(weights_only=True)``."""
    out: list = [np.dtype]
    core = getattr(np, "_core", None) or getattr(np, "core")
    out.append(core.multiarray.scalar)
    out.append((core.multiarray.scalar, "numpy.core.multiarray.scalar"))  # pickles written under numpy 1
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        for name in ("Float32DType", "Float64DType", "Int64DType", "Int32DType", "BoolDType"):
            if hasattr(dtypes, name):
                out.append(getattr(dtypes, name))
    out.append((core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"))
    out.append(core.multiarray._reconstruct)
    out.append(np.ndarray)
    return out


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.model`` checkpoint safely (tensors, plain containers and numpy scalars only).

    Uses :func:`nnunet_explorer.training.checkpoints.load_checkpoint_file` when that module is present,
    else ``torch.load(map_location='cpu', weights_only=True)`` with a numpy allow-list. Anything else in the
    file is refused (:class:`UnsafeFileError`) instead of executed.
    """
    try:
        from .checkpoints import load_checkpoint_file  # the loading side (helper module), when available
    except ImportError:
        load_checkpoint_file = None
    if load_checkpoint_file is not None:
        return load_checkpoint_file(path)
    path = Path(path)
    if not path.is_file():
        raise TrainingError(tr(f"checkpoint {path} does not exist", f"检查点 {path} 不存在"),
                            fix=tr("check the path (a v1 '.model' file)", "请检查路径（应是 v1 的 '.model' 文件）"))
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError/RuntimeError variants
        if "Weights only load failed" in str(exc) or "Unsupported global" in str(exc):
            reason = str(exc).splitlines()[-1][:200]
            raise UnsafeFileError(tr(f"{path} contains objects outside the allow-list ({reason})",
                                     f"{path} 含有允许列表之外的对象({reason})"),
                                  fix=tr("only load checkpoints you trust; re-save it with tensors and numpy values "
                                         "only",
                                         "只加载可信的检查点；请只用张量和 numpy 值重新保存它")) from None
        raise TrainingError(tr(f"could not read checkpoint {path}: {exc}", f"无法读取检查点 {path}：{exc}"),
                            fix=tr("the file is truncated or not a torch checkpoint; use another checkpoint",
                                   "文件不完整或不是 torch 检查点；请改用另一个检查点")) from exc
    if not isinstance(data, dict) or "state_dict" not in data:
        raise TrainingError(tr(f"{path} is not an nnU-Net checkpoint (no 'state_dict' key)",
                               f"{path} 不是 nnU-Net 检查点（没有 'state_dict' 键）"),
                            fix=tr("give a model_*.model file written by nnU-Net v1 or the explorer",
                                   "请给出由 nnU-Net v1 或 explorer 写出的 model_*.model 文件"))
    return data


@dataclass(frozen=True)
class PretrainedReport:
    """What :func:`load_pretrained_weights` copied and what it did not.

    Attributes:
        source: the checkpoint file.
        copied: network keys whose values now come from the file (same name, same shape).
        kept: network keys not in the file, left at their initial values.
        shape_mismatch: ``(key, shape in network, shape in file)`` for keys in both with different shapes.
        unused: file keys the network does not have.
        compatible: v1's rule: every ``conv_blocks`` key of the network is in the file with its shape.
    """

    source: str
    copied: tuple[str, ...]
    kept: tuple[str, ...]
    shape_mismatch: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    unused: tuple[str, ...]
    compatible: bool

    def summary(self) -> str:
        lines = [f"pretrained weights from {self.source}: {len(self.copied)} tensors copied, "
                 f"{len(self.kept)} kept at initial values, {len(self.shape_mismatch)} shape mismatches, "
                 f"{len(self.unused)} unused file keys ({'compatible' if self.compatible else 'NOT compatible'} "
                 "by v1's conv_blocks rule)"]
        for key, mine, theirs in self.shape_mismatch[:20]:
            lines.append(f"  shape mismatch {key}: network {list(mine)} vs file {list(theirs)}")
        for key in self.kept[:20]:
            lines.append(f"  kept (not in file) {key}")
        return "\n".join(lines)


def compatibility_report(network_state: Mapping[str, torch.Tensor], file_state: Mapping[str, torch.Tensor],
                         source: str = "<state_dict>") -> PretrainedReport:
    """Compare a network's state dict with a checkpoint's (``module.`` prefixes already stripped)."""
    copied, kept, mismatch = [], [], []
    for key, value in network_state.items():
        if key not in file_state:
            kept.append(key)
        elif tuple(file_state[key].shape) != tuple(value.shape):
            mismatch.append((key, tuple(value.shape), tuple(file_state[key].shape)))
        else:
            copied.append(key)
    unused = [k for k in file_state if k not in network_state]
    bad = {k for k in kept} | {m[0] for m in mismatch}
    compatible = not any("conv_blocks" in k for k in bad)
    return PretrainedReport(source, tuple(copied), tuple(kept), tuple(mismatch), tuple(unused), compatible)


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove a leading ``module.`` from every key (checkpoints of ``nn.DataParallel`` models)."""
    return {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}


@mirrors("nnunet.run.load_pretrained_weights:load_pretrained_weights")
def load_pretrained_weights(network: torch.nn.Module, fname: str | os.PathLike) -> PretrainedReport:
    """Copy every same-name, same-shape tensor of checkpoint ``fname`` into ``network`` (v1's rule).

    Raises:
        TrainingError: a ``conv_blocks`` tensor of the network is missing from the file or has another
            shape (v1 raises ``RuntimeError`` here); the message lists the offending keys.
    """
    checkpoint = read_checkpoint(fname)
    file_state = strip_module_prefix(checkpoint["state_dict"])
    model_state = network.state_dict()
    report = compatibility_report(model_state, file_state, str(fname))
    if not report.compatible:
        offenders = [k for k in report.kept if "conv_blocks" in k][:5] + \
            [tr(f"{k} (network {list(a)} vs file {list(b)})", f"{k}（网络中为 {list(a)}，文件中为 {list(b)}）")
             for k, a, b in report.shape_mismatch if "conv_blocks" in k][:5]
        raise TrainingError(tr("Pretrained weights are not compatible with the current network architecture: ",
                               "预训练权重与当前网络结构不兼容(v1 的报错:Pretrained weights are not compatible "
                               "with the current network architecture):")
                            + tr("; ", "；").join(offenders),
                            fix=tr("pretrain with the same plans (patch size, pooling, features, modalities); v1 "
                                   "requires every conv_blocks tensor to match in name and shape",
                                   "请用相同的 plans（patch 大小、池化、特征数、模态）做预训练；v1 "
                                   "要求每个 conv_blocks 张量的名称和形状都一致"))
    for key in report.copied:
        model_state[key] = file_state[key]
    network.load_state_dict(model_state)
    return report


__all__ = ["PretrainedReport", "compatibility_report", "load_pretrained_weights", "read_checkpoint",
           "strip_module_prefix"]
