"""The base class of every nnU-Net v1 network: what inference needs to know about a segmentation network.

v1's ``SegmentationNetwork`` is an ``nn.Module`` that carries four facts a trainer and the prediction read off
the network, whatever its architecture:

* ``conv_op`` (``nn.Conv2d`` or ``nn.Conv3d``): is it a 2D or a 3D network?
* ``num_classes``: how many output channels to pre-allocate for the whole-case probabilities;
* ``inference_apply_nonlin``: what turns the logits into probabilities (the trainers set the channel softmax;
  the class default is the identity);
* ``input_shape_must_be_divisible_by``: the product of all poolings (``None`` where a network does not say); only
  the whole-image prediction (no sliding window) reads it, to pad the input.

and it predicts a whole case with :meth:`SegmentationNetwork.predict_3D` / :meth:`~SegmentationNetwork.predict_2D`,
which here run the explorer's sliding window (:func:`nnunet_explorer.network_architecture.sliding_window.predict_sliding_window`).
``nnUNetTrainerV2`` and its subclasses assert ``isinstance(self.network, (SegmentationNetwork, nn.DataParallel))``
at the end of ``initialize``; the base ``nnUNetTrainer`` has that line commented out and checks the type only when
it predicts.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import mirrors


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@mirrors("nnunet.network_architecture.neural_network:NeuralNetwork")
class NeuralNetwork(nn.Module):
    """An ``nn.Module`` that can say and change which device its parameters are on (v1's helper base)."""

    @mirrors("nnunet.network_architecture.neural_network:NeuralNetwork.get_device")
    def get_device(self) -> str | int:
        """``"cpu"``, or the CUDA device index of the first parameter."""
        device = next(self.parameters()).device
        return "cpu" if device.type == "cpu" else device.index

    @mirrors("nnunet.network_architecture.neural_network:NeuralNetwork.set_device")
    def set_device(self, device: str | int) -> None:
        """Move to ``"cpu"`` or to CUDA device ``device``."""
        if device == "cpu":
            self.cpu()
        else:
            self.cuda(device)

    def forward(self, x: torch.Tensor) -> Any:
        raise NotImplementedError


@mirrors("nnunet.network_architecture.neural_network:SegmentationNetwork")
class SegmentationNetwork(NeuralNetwork):
    """Base class of v1's segmentation networks (``Generic_UNet``, ``FabiansUNet``); see the module docstring.

    A subclass sets ``conv_op``, ``num_classes`` and, if it has a fixed pooling pattern,
    ``input_shape_must_be_divisible_by`` in its ``__init__``, after calling this one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.input_shape_must_be_divisible_by: np.ndarray | None = None
        self.conv_op: type | None = None
        self.num_classes: int | None = None
        self.inference_apply_nonlin = _identity
        # v1 caches the Gaussian importance map on the network; the explorer caches it per patch size in
        # network_architecture/sliding_window.py (get_gaussian), so these stay None
        self._gaussian_3d = self._patch_size_for_gaussian_3d = None
        self._gaussian_2d = self._patch_size_for_gaussian_2d = None

    @mirrors("nnunet.network_architecture.neural_network:SegmentationNetwork.predict_3D")
    def predict_3D(self, x: np.ndarray, do_mirroring: bool, mirror_axes: Sequence[int] = (0, 1, 2),
                   use_sliding_window: bool = False, step_size: float = 0.5,
                   patch_size: Sequence[int] | None = None, regions_class_order: Sequence[int] | None = None,
                   use_gaussian: bool = False, pad_border_mode: str = "constant", pad_kwargs: dict | None = None,
                   all_in_gpu: bool = False, verbose: bool = True,
                   mixed_precision: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Predict a whole case ``x`` of shape ``(c, x, y, z)`` with v1's arguments; 2D networks go slice by slice.

        Returns:
            ``(segmentation, probabilities)``: ``(x, y, z)`` labels (the argmax, or with
            ``regions_class_order`` the label of the last region above 0.5) and ``(C, x, y, z)`` float32
            probabilities (after ``inference_apply_nonlin``).

        Raises:
            ConfigurationError: ``use_sliding_window=False`` (v1's whole-image prediction is not implemented:
                every v1 trainer and predictor passes True) or no ``patch_size``.
        """
        # differs from v1: predict_sliding_window puts the network in eval mode and switches deep supervision
        # off (do_ds) for the call and restores both; v1 leaves both to the caller (and warns in train mode)
        from ..network_architecture.sliding_window import predict_sliding_window

        if not use_sliding_window:
            raise ConfigurationError(tr("predict_3D(use_sliding_window=False) is not implemented by the explorer",
                                        "explorer 没有实现 predict_3D(use_sliding_window=False)"),
                                     fix=tr("pass use_sliding_window=True, as every v1 trainer and predictor does",
                                            "请传入 use_sliding_window=True，v1 的每个 trainer 和预测器都是这样做的"))
        if patch_size is None:
            raise ConfigurationError(tr("predict_3D needs patch_size (the training patch)",
                                        "predict_3D 需要 patch_size（训练时的 patch）"),
                                     fix=tr("pass patch_size=trainer.patch_size", "请传入 patch_size=trainer.patch_size"))
        result = predict_sliding_window(self, x, patch_size, do_mirroring=do_mirroring, mirror_axes=mirror_axes,
                                        step_size=step_size, use_gaussian=use_gaussian,
                                        pad_border_mode=pad_border_mode, pad_kwargs=pad_kwargs,
                                        mixed_precision=mixed_precision, all_in_gpu=all_in_gpu)
        return _segmentation(result.probabilities, regions_class_order), result.probabilities

    @mirrors("nnunet.network_architecture.neural_network:SegmentationNetwork.predict_2D")
    def predict_2D(self, x: np.ndarray, do_mirroring: bool, mirror_axes: Sequence[int] = (0, 1, 2),
                   use_sliding_window: bool = False, step_size: float = 0.5,
                   patch_size: Sequence[int] | None = None, regions_class_order: Sequence[int] | None = None,
                   use_gaussian: bool = False, pad_border_mode: str = "constant", pad_kwargs: dict | None = None,
                   all_in_gpu: bool = False, verbose: bool = True,
                   mixed_precision: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Predict one 2D image ``x`` of shape ``(c, x, y)`` with a 2D network.

        It is a one-slice case for :meth:`predict_3D` (v1 predicts a 3D case slice by slice with this very
        tiling). Returns ``(segmentation (x, y), probabilities (C, x, y))``.
        """
        if self.conv_op is not nn.Conv2d:
            raise ConfigurationError(tr("predict_2D needs a 2D network (conv_op nn.Conv2d)",
                                        "predict_2D 需要 2D 网络（conv_op 为 nn.Conv2d）"),
                                     fix=tr("use predict_3D for a 3D network", "3D 网络请使用 predict_3D"))
        if len(x.shape) != 3:
            raise ValueError(f"data must have shape (c, x, y), got {tuple(x.shape)}")
        # as in v1, the default mirror_axes (0, 1, 2) are refused for a 2D image (ValueError): pass (0, 1)
        seg, probabilities = self.predict_3D(x[:, None], do_mirroring, mirror_axes, use_sliding_window, step_size,
                                             patch_size, regions_class_order, use_gaussian, pad_border_mode,
                                             pad_kwargs, all_in_gpu, verbose, mixed_precision)
        return seg[0], probabilities[:, 0]


def _segmentation(probabilities: np.ndarray, regions_class_order: Sequence[int] | None) -> np.ndarray:
    """v1's labels from probabilities ``(C, ...)``: argmax, or for region training the last region above 0.5."""
    if regions_class_order is None:
        return probabilities.argmax(0)
    segmentation = np.zeros(probabilities.shape[1:], dtype=np.float32)
    for i, c in enumerate(regions_class_order):
        segmentation[probabilities[i] > 0.5] = c
    return segmentation


_V1_MODULE = "nnunet.network_architecture.neural_network"


def is_segmentation_network(network: Any) -> bool:
    """Whether v1's trainers accept ``network``: a ``SegmentationNetwork`` or an ``nn.DataParallel``.

    The explorer's :class:`SegmentationNetwork` (also reached as ``nnunet_explorer.v1.network_architecture.
    neural_network.SegmentationNetwork`` by ported v1 trainer files) and v1's own class both count.
    """
    if isinstance(network, (SegmentationNetwork, nn.DataParallel)):
        return True
    return any(c.__name__ == "SegmentationNetwork" and c.__module__ == _V1_MODULE for c in type(network).__mro__)


def network_type_problem(network: Any) -> str | None:
    """Why v1's ``assert isinstance(self.network, (SegmentationNetwork, nn.DataParallel))`` would fail, or None."""
    if is_segmentation_network(network):
        return None
    kind = type(network)
    return tr(f"the network is a {kind.__module__}.{kind.__qualname__}, not a SegmentationNetwork: v1's "
              "nnUNetTrainerV2.initialize ends with assert isinstance(self.network, (SegmentationNetwork, "
              "nn.DataParallel)), so v1 stops there (validation and nnUNet_predict call the network's own "
              "predict_3D)",
              f"网络是 {kind.__module__}.{kind.__qualname__},不是 SegmentationNetwork:v1 的 "
              "nnUNetTrainerV2.initialize 最后一句是 assert isinstance(self.network, (SegmentationNetwork, "
              "nn.DataParallel)),所以 v1 会停在那里(验证和 nnUNet_predict 调用的是网络自己的 predict_3D)")


def segmentation_network_fix(language: str | None = None) -> str:
    """How to make a network that v1's trainers accept, in the reader's language (or in ``language``)."""
    return tr("derive the network from SegmentationNetwork (from nnunet_explorer.training."
              "segmentation_network import SegmentationNetwork; in a ported v1 trainer file v1's "
              "nnunet.network_architecture.neural_network import does it), call its __init__ first "
              "and set conv_op, num_classes and do_ds, as Generic_UNet's __init__ does, and "
              "inference_apply_nonlin = softmax_helper, as V2's initialize_network does",
              "让网络派生自 SegmentationNetwork(from nnunet_explorer.training.segmentation_network import "
              "SegmentationNetwork;移植过来的 v1 训练器文件通过 v1 原有的 nnunet.network_architecture.neural_network "
              "import 就能找到它),先调用它的 __init__,再像 Generic_UNet 的 __init__ 那样设置 conv_op、num_classes "
              "和 do_ds,并像 V2 的 initialize_network 那样设置 inference_apply_nonlin = softmax_helper", language)


SEGMENTATION_NETWORK_FIX = segmentation_network_fix("en")  # the English text (messages call the function)


def check_segmentation_network(network: Any, trainer_name: str) -> None:
    """v1's last check in ``initialize``: the network ``initialize_network`` built must be a SegmentationNetwork.

    Raises:
        ConfigurationError: it is not (v1 raises a bare ``AssertionError`` at the same point).
    """
    problem = network_type_problem(network)
    if problem is not None:
        # differs from v1: a ConfigurationError naming the cause and the fix where v1 has a bare assert
        raise ConfigurationError(tr(f"{trainer_name}.initialize_network built a network v1 refuses: {problem}",
                                    f"{trainer_name}.initialize_network 构建了一个 v1 不接受的网络:{problem}"),
                                 fix=segmentation_network_fix())
