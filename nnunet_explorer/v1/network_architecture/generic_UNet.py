"""``nnunet.network_architecture.generic_UNet``: ``Generic_UNet`` with v1's positional arguments, and its units.

v1's variants build the network as ``Generic_UNet(self.num_input_channels, self.base_num_features,
self.num_classes, len(self.net_num_pool_op_kernel_sizes), self.conv_per_stage, 2, conv_op, norm_op,
norm_op_kwargs, dropout_op, dropout_op_kwargs, net_nonlin, net_nonlin_kwargs, True, False, lambda x: x,
InitWeights_He(1e-2), self.net_num_pool_op_kernel_sizes, self.net_conv_kernel_sizes, False, True, True)``.
This class takes exactly those arguments and builds the explorer's :class:`~nnunet_explorer.training.
generic_unet.GenericUNet` (same modules, names and random draws). Refused by name: a ``num_pool`` that is not
``len(pool_op_kernel_sizes)`` (v1 would build a broken network; no variant passes one).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.provenance import mirrors
from nnunet_explorer.training.generic_unet import (ConvNonlinNorm, ConvNormNonlin, GenericUNet, InitWeightsHe,
                                                   StackedConvs, UNetOps, Upsample, softmax_helper)

__all__ = ["ConvDropoutNonlinNorm", "ConvDropoutNormNonlin", "Generic_UNet", "StackedConvLayers", "Upsample"]

ConvDropoutNormNonlin = ConvNormNonlin
ConvDropoutNonlinNorm = ConvNonlinNorm
StackedConvLayers = StackedConvs


@mirrors("nnunet.network_architecture.generic_UNet:Generic_UNet")
class Generic_UNet(GenericUNet):  # noqa: N801 - v1's name
    """v1's ``Generic_UNet(input_channels, base_num_features, num_classes, num_pool, ...)`` (v1's argument order)."""

    def __init__(self, input_channels: int, base_num_features: int, num_classes: int, num_pool: int,
                 num_conv_per_stage: int = 2, feat_map_mul_on_downscale: float = 2, conv_op: type = nn.Conv2d,
                 norm_op: Any = nn.BatchNorm2d, norm_op_kwargs: dict | None = None, dropout_op: Any = nn.Dropout2d,
                 dropout_op_kwargs: dict | None = None, nonlin: Any = nn.LeakyReLU, nonlin_kwargs: dict | None = None,
                 deep_supervision: bool = True, dropout_in_localization: bool = False,
                 final_nonlin: Callable[[torch.Tensor], torch.Tensor] = softmax_helper,
                 weightInitializer: Callable[[nn.Module], None] | None = InitWeightsHe(1e-2),  # noqa: N803
                 pool_op_kernel_sizes: Sequence[Sequence[int]] | None = None,
                 conv_kernel_sizes: Sequence[Sequence[int]] | None = None, upscale_logits: bool = False,
                 convolutional_pooling: bool = False, convolutional_upsampling: bool = False,
                 max_num_features: int | None = None, basic_block: type = ConvDropoutNormNonlin,
                 seg_output_use_bias: bool = False) -> None:
        if conv_op not in (nn.Conv2d, nn.Conv3d):
            raise ValueError(f"unknown convolution dimensionality, conv op: {conv_op}")  # v1's error
        three_d = conv_op is nn.Conv3d
        dim = 3 if three_d else 2
        if pool_op_kernel_sizes is None:
            pool_op_kernel_sizes = [(2,) * dim] * num_pool
        if len(pool_op_kernel_sizes) != num_pool:
            raise ConfigurationError(f"nnunet_explorer.v1 Generic_UNet: num_pool={num_pool} with "
                                     f"{len(pool_op_kernel_sizes)} pool_op_kernel_sizes is not implemented",
                                     fix="pass num_pool=len(pool_op_kernel_sizes), as every v1 trainer does")
        ops = UNetOps(conv_op, norm_op,
                      {"eps": 1e-5, "affine": True, "momentum": 0.1} if norm_op_kwargs is None else norm_op_kwargs,
                      dropout_op, {"p": 0.5, "inplace": True} if dropout_op_kwargs is None else dropout_op_kwargs,
                      nonlin, {"negative_slope": 1e-2, "inplace": True} if nonlin_kwargs is None else nonlin_kwargs)
        super().__init__(input_channels, base_num_features, num_classes, pool_op_kernel_sizes, conv_kernel_sizes,
                         conv_per_stage=num_conv_per_stage, threeD=three_d, max_num_features=max_num_features,
                         deep_supervision=deep_supervision, feat_map_mul_on_downscale=feat_map_mul_on_downscale,
                         initialize=weightInitializer is not None, ops=ops, seg_output_use_bias=seg_output_use_bias,
                         weight_initializer=weightInitializer, final_nonlin=final_nonlin, basic_block=basic_block,
                         convolutional_pooling=convolutional_pooling,
                         convolutional_upsampling=convolutional_upsampling, upscale_logits=upscale_logits,
                         dropout_in_localization=dropout_in_localization)
