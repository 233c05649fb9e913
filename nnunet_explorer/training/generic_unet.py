"""The U-Net that nnU-Net v1's default trainer builds: ``Generic_UNet`` as configured by ``nnUNetTrainerV2``.

What the network looks like, for plans with ``num_pool = len(pool_op_kernel_sizes)`` poolings:

* **encoder** (``conv_blocks_context[0 .. num_pool-1]``): one stage per resolution level, each
  ``conv_per_stage`` times *conv -> InstanceNorm(affine) -> LeakyReLU(0.01)*. There is no max-pooling: the
  first conv of stage ``d > 0`` has ``stride = pool_op_kernel_sizes[d-1]`` (*convolutional pooling*).
  Channels start at ``base_num_features`` (32) and double per level, capped at 320 (3D) or 480 (2D).
* **bottleneck** (``conv_blocks_context[num_pool]``): the same, strided by ``pool_op_kernel_sizes[-1]``, split
  in two sub-blocks (``conv_per_stage - 1`` convs, then 1 conv).
* **decoder** (``tu[u]``, ``conv_blocks_localization[u]``, ``u = 0`` is the *coarsest* level): a transposed
  conv (kernel = stride = the pooling it undoes, no bias) brings the map up one level and to the skip's
  channel count; the skip is concatenated *after* it (``cat((up, skip), dim=1)``, so ``2 * skip`` channels);
  then ``conv_per_stage`` convs. Decoder convs use the kernel of the level *below* them (the "kernel shift":
  level ``k`` uses ``conv_kernel_sizes[k + 1]``) — a quirk of v1's indexing that is part of its weights.
* **deep-supervision heads** (``seg_outputs[u]``): a 1x1(x1) conv without bias after every decoder level,
  giving logits of shape ``(b, num_classes, *level_shape)``. With ``do_ds`` on, the forward returns all of
  them as a tuple, highest resolution first; with it off, only the full-resolution logits.

Module names, registration order and tensor shapes equal v1's, so a v1 ``state_dict`` loads with
``strict=True`` and a checkpoint written here opens in nnU-Net v1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..planning.vram import MAX_FILTERS_2D, MAX_NUM_FILTERS_3D, compute_approx_vram_consumption
from ..provenance import mirrors

KernelSizes = Sequence[Sequence[int]]


@mirrors("nnunet.utilities.nd_softmax:softmax_helper")
def softmax_helper(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the channel axis of ``(b, c, ...)`` logits: v1's ``inference_apply_nonlin``."""
    return torch.softmax(x, 1)


@mirrors("nnunet.network_architecture.initialization:InitWeights_He")
class InitWeightsHe:
    """He (Kaiming) normal initialization of every (transposed) convolution, biases set to zero.

    v1 calls ``nn.init.kaiming_normal_(weight, a=neg_slope)`` with torch's defaults (``mode='fan_in'``,
    ``nonlinearity='leaky_relu'``), so the standard deviation is ``sqrt(2 / (1 + a**2)) / sqrt(fan_in)``.
    InstanceNorm parameters keep torch's defaults (weight 1, bias 0). Applied with ``module.apply(...)``,
    which visits children before parents, in registration order — the order decides which random numbers
    each weight gets.
    """

    def __init__(self, neg_slope: float = 1e-2) -> None:
        self.neg_slope = neg_slope

    def __call__(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            nn.init.kaiming_normal_(module.weight, a=self.neg_slope)
            if module.bias is not None:
                nn.init.constant_(module.bias, 0)


@dataclass(frozen=True)
class UNetOps:
    """The operations of every conv unit: v1's ``conv_op``, ``norm_op``, ``dropout_op``, ``nonlin`` and kwargs.

    :meth:`v2` is what ``nnUNetTrainerV2.initialize_network`` passes (instance norm eps 1e-5 affine, dropout
    p 0, LeakyReLU 0.01). v1's variants pass others (ReLU, GroupNorm, BatchNorm, no normalization);
    ``norm_before_nonlin`` False is v1's ``ConvDropoutNonlinNorm`` block.
    """

    conv_op: type
    norm_op: Any
    norm_op_kwargs: Mapping[str, Any] | None
    dropout_op: Any
    dropout_op_kwargs: Mapping[str, Any] | None
    nonlin: Any
    nonlin_kwargs: Mapping[str, Any] | None
    norm_before_nonlin: bool = True

    @classmethod
    def v2(cls, threeD: bool, *, norm_eps: float = 1e-5, negative_slope: float = 1e-2) -> "UNetOps":
        return cls(nn.Conv3d if threeD else nn.Conv2d, nn.InstanceNorm3d if threeD else nn.InstanceNorm2d,
                   {"eps": norm_eps, "affine": True}, nn.Dropout3d if threeD else nn.Dropout2d,
                   {"p": 0, "inplace": True}, nn.LeakyReLU, {"negative_slope": negative_slope, "inplace": True})


@mirrors("nnunet.network_architecture.generic_UNet:ConvDropoutNormNonlin")
class ConvNormNonlin(nn.Module):
    """One *conv -> (dropout) -> InstanceNorm -> LeakyReLU* unit, the brick every stage is made of.

    Attribute names are v1's (``conv``, ``dropout``, ``instnorm``, ``lrelu``) because they are part of the
    state-dict keys (``...blocks.0.conv.weight``, ``...blocks.0.instnorm.bias``). v1's trainer sets dropout
    to p = 0, and with p = 0 no dropout module exists (``dropout`` is None).
    """

    def __init__(self, input_channels: int, output_channels: int, *, threeD: bool, kernel_size: Sequence[int],
                 stride: Sequence[int] | int = 1, norm_eps: float = 1e-5, negative_slope: float = 1e-2,
                 ops: "UNetOps | None" = None) -> None:
        super().__init__()
        ops = ops or UNetOps.v2(threeD, norm_eps=norm_eps, negative_slope=negative_slope)
        # v1 pads 1 where the kernel is 3 and 0 otherwise (kernels are 1 or 3 in every v1 plan)
        padding = [1 if k == 3 else 0 for k in kernel_size]
        self.conv = ops.conv_op(input_channels, output_channels, kernel_size=list(kernel_size), stride=stride,
                                padding=padding, dilation=1, bias=True)
        drop = ops.dropout_op_kwargs or {}
        # v1 builds a dropout module only when p is given and positive
        self.dropout = (ops.dropout_op(**drop) if ops.dropout_op is not None and drop.get("p") is not None
                        and drop["p"] > 0 else None)
        self.instnorm = ops.norm_op(output_channels, **(ops.norm_op_kwargs or {}))
        self.lrelu = ops.nonlin(**(ops.nonlin_kwargs or {}))
        self.norm_before_nonlin = ops.norm_before_nonlin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.dropout is not None:
            x = self.dropout(x)
        if self.norm_before_nonlin:
            return self.lrelu(self.instnorm(x))
        return self.instnorm(self.lrelu(x))  # v1's ConvDropoutNonlinNorm


@mirrors("nnunet.network_architecture.generic_UNet:StackedConvLayers")
class StackedConvs(nn.Module):
    """``num_convs`` :class:`ConvNormNonlin` units in ``self.blocks``; only the first one may be strided.

    ``input_channels`` / ``output_channels`` are kept as attributes because the decoder reads the skip's
    channel count from them, as in v1.
    """

    def __init__(self, input_channels: int, output_channels: int, num_convs: int, *, threeD: bool,
                 kernel_size: Sequence[int], first_stride: Sequence[int] | None = None,
                 ops: UNetOps | None = None) -> None:
        super().__init__()
        self.input_channels = input_channels
        self.output_channels = output_channels
        units = [ConvNormNonlin(input_channels, output_channels, threeD=threeD, kernel_size=kernel_size,
                                stride=list(first_stride) if first_stride is not None else 1, ops=ops)]
        units += [ConvNormNonlin(output_channels, output_channels, threeD=threeD, kernel_size=kernel_size, ops=ops)
                  for _ in range(num_convs - 1)]
        self.blocks = nn.Sequential(*units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


@mirrors("nnunet.network_architecture.generic_UNet:Generic_UNet")
class GenericUNet(nn.Module):
    """nnU-Net v1's ``Generic_UNet`` in the configuration ``nnUNetTrainerV2`` uses (see the module docstring).

    Only that configuration is built: convolutional pooling and upsampling, InstanceNorm(eps 1e-5, affine),
    LeakyReLU(0.01), no dropout, identity final nonlinearity (the heads output logits), no bias in heads and
    transposed convs, He initialization with a = 0.01.

    Args:
        input_channels: image modalities (``num_modalities`` in the plans).
        base_num_features: channels at full resolution (32 in every v1 plan).
        num_classes: output channels, *including* background (``plans['num_classes'] + 1``).
        pool_op_kernel_sizes: one pooling kernel per level, e.g. ``[[1, 2, 2], [2, 2, 2], ...]``.
        conv_kernel_sizes: ``len(pool_op_kernel_sizes) + 1`` conv kernels (last = bottleneck).
        conv_per_stage: convolutions per encoder/decoder stage (2).
        threeD: Conv3d/InstanceNorm3d when True, else the 2D ops.
        max_num_features: channel cap; None gives v1's class constants, 320 (3D) or 480 (2D).
        deep_supervision: build with deep supervision (``_deep_supervision``); ``do_ds`` toggles it at run time.
        feat_map_mul_on_downscale: channel growth per level (2).
        initialize: apply ``weight_initializer`` (default :class:`InitWeightsHe` (1e-2), as v1 does); False
            keeps torch's default init.
        ops, seg_output_use_bias, weight_initializer, final_nonlin: v1's ``conv_op`` / ``norm_op`` /
            ``dropout_op`` / ``nonlin`` (+ kwargs), ``seg_output_use_bias``, ``weightInitializer`` and
            ``final_nonlin``, which v1's variants change (``nnunet_explorer.v1...generic_UNet.Generic_UNet``
            takes them positionally, as v1 does).
    """

    # v1 class constants, so code that reads them off the network class keeps working
    MAX_NUM_FILTERS_3D = MAX_NUM_FILTERS_3D
    MAX_FILTERS_2D = MAX_FILTERS_2D
    compute_approx_vram_consumption = staticmethod(compute_approx_vram_consumption)

    def __init__(self, input_channels: int, base_num_features: int, num_classes: int,
                 pool_op_kernel_sizes: KernelSizes, conv_kernel_sizes: KernelSizes | None = None, *,
                 conv_per_stage: int = 2, threeD: bool = True, max_num_features: int | None = None,
                 deep_supervision: bool = True, feat_map_mul_on_downscale: float = 2,
                 initialize: bool = True, ops: UNetOps | None = None, seg_output_use_bias: bool = False,
                 weight_initializer: Callable[[nn.Module], None] | None = None,
                 final_nonlin: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        dim = 3 if threeD else 2
        pool_op_kernel_sizes = [list(map(int, p)) for p in pool_op_kernel_sizes]
        num_pool = len(pool_op_kernel_sizes)
        if conv_kernel_sizes is None:
            conv_kernel_sizes = [[3] * dim] * (num_pool + 1)
        conv_kernel_sizes = [list(map(int, k)) for k in conv_kernel_sizes]
        if any(len(p) != dim for p in pool_op_kernel_sizes) or any(len(k) != dim for k in conv_kernel_sizes):
            raise ValueError(f"kernel sizes must have {dim} entries each for threeD={threeD}: "
                             f"pool {pool_op_kernel_sizes}, conv {conv_kernel_sizes}")
        if len(conv_kernel_sizes) != num_pool + 1:
            raise ValueError(f"need len(pool_op_kernel_sizes) + 1 = {num_pool + 1} conv kernels "
                             f"(one per level plus the bottleneck), got {len(conv_kernel_sizes)}")

        self.threeD = threeD
        self.conv_op = nn.Conv3d if threeD else nn.Conv2d
        self.num_input_channels = input_channels
        self.base_num_features = base_num_features
        self.num_classes = num_classes
        self.conv_per_stage = conv_per_stage
        self.pool_op_kernel_sizes = pool_op_kernel_sizes
        self.conv_kernel_sizes = conv_kernel_sizes
        self.conv_pad_sizes = [[1 if k == 3 else 0 for k in krnl] for krnl in conv_kernel_sizes]
        self.max_num_features = (max_num_features if max_num_features is not None
                                 else (MAX_NUM_FILTERS_3D if threeD else MAX_FILTERS_2D))
        # a patch must be divisible by the product of all poolings (sliding-window inference pads to it)
        self.input_shape_must_be_divisible_by = np.prod(pool_op_kernel_sizes, 0, dtype=np.int64)
        self._deep_supervision = deep_supervision
        self.do_ds = deep_supervision
        self.final_nonlin: Callable[[torch.Tensor], torch.Tensor] = final_nonlin or _identity
        self.inference_apply_nonlin: Callable[[torch.Tensor], torch.Tensor] = softmax_helper

        # Modules are *created* in v1's order (encoder, bottleneck, then per decoder level tu before
        # localization, then heads) so that torch's default initializers draw the same random numbers, and
        # *registered* below in v1's order, which fixes the state_dict order and the order He init visits.
        context: list[nn.Module] = []
        out_features, in_features = base_num_features, input_channels
        for d in range(num_pool):
            context.append(StackedConvs(in_features, out_features, conv_per_stage, threeD=threeD,
                                        kernel_size=conv_kernel_sizes[d],
                                        first_stride=pool_op_kernel_sizes[d - 1] if d > 0 else None, ops=ops))
            in_features = out_features
            out_features = min(int(np.round(out_features * feat_map_mul_on_downscale)), self.max_num_features)
        # with convolutional upsampling the bottleneck keeps its own (capped, doubled) channel count
        bottleneck_features = out_features
        context.append(nn.Sequential(
            StackedConvs(in_features, out_features, conv_per_stage - 1, threeD=threeD,
                         kernel_size=conv_kernel_sizes[num_pool], first_stride=pool_op_kernel_sizes[-1], ops=ops),
            StackedConvs(out_features, bottleneck_features, 1, threeD=threeD,
                         kernel_size=conv_kernel_sizes[num_pool], ops=ops)))

        transposed_op = nn.ConvTranspose3d if threeD else nn.ConvTranspose2d
        tu: list[nn.Module] = []
        localization: list[nn.Module] = []
        features_from_down = bottleneck_features
        for u in range(num_pool):
            skip_features = context[-(2 + u)].output_channels
            up_kernel = pool_op_kernel_sizes[-(u + 1)]
            # input channels: the bottleneck's for u == 0, then the previous decoder level's output
            tu.append(transposed_op(features_from_down, skip_features, up_kernel, up_kernel, bias=False))
            # kernel shift: decoder level u (coarsest first) uses conv_kernel_sizes[-(u + 1)]
            kernel = conv_kernel_sizes[-(u + 1)]
            localization.append(nn.Sequential(
                StackedConvs(2 * skip_features, skip_features, conv_per_stage - 1, threeD=threeD,
                             kernel_size=kernel, ops=ops),
                StackedConvs(skip_features, skip_features, 1, threeD=threeD, kernel_size=kernel, ops=ops)))
            features_from_down = skip_features

        heads = [self.conv_op(block[-1].output_channels, num_classes, 1, 1, 0, 1, 1, bias=seg_output_use_bias)
                 for block in localization]

        # registration order = v1's: conv_blocks_localization, conv_blocks_context, td, tu, seg_outputs
        self.conv_blocks_localization = nn.ModuleList(localization)
        self.conv_blocks_context = nn.ModuleList(context)
        self.td = nn.ModuleList()  # max-pool ops; empty with convolutional pooling (kept: v1 has it)
        self.tu = nn.ModuleList(tu)
        self.seg_outputs = nn.ModuleList(heads)
        if initialize:
            self.apply(weight_initializer if weight_initializer is not None else InitWeightsHe(1e-2))

    @property
    def num_pool(self) -> int:
        """Number of poolings (= decoder levels = deep-supervision outputs)."""
        return len(self.pool_op_kernel_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Run the U-Net on ``x`` of shape ``(b, c, z, y, x)`` (3D) or ``(b, c, y, x)`` (2D).

        Returns:
            With deep supervision on (``do_ds``): a tuple of ``num_pool`` logit tensors, highest resolution
            first, ``(b, num_classes, *patch)``, then each coarser level. Otherwise the full-resolution logits.
        """
        skips = []
        for stage in self.conv_blocks_context[:-1]:
            x = stage(x)
            skips.append(x)
        x = self.conv_blocks_context[-1](x)
        outputs = []
        for u in range(len(self.tu)):
            x = self.tu[u](x)
            x = torch.cat((x, skips[-(u + 1)]), dim=1)  # upsampled first, skip second: channel order matters
            x = self.conv_blocks_localization[u](x)
            outputs.append(self.final_nonlin(self.seg_outputs[u](x)))
        if self._deep_supervision and self.do_ds:
            return tuple(outputs[::-1])
        return outputs[-1]


def _identity(x: torch.Tensor) -> torch.Tensor:
    # nnUNetTrainerV2 passes ``lambda x: x``: the loss applies softmax itself
    return x


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_network")
def build_network(num_input_channels: int, base_num_features: int, num_classes: int,
                  pool_op_kernel_sizes: KernelSizes, conv_kernel_sizes: KernelSizes, conv_per_stage: int = 2,
                  threeD: bool = True) -> GenericUNet:
    """Build the network exactly as ``nnUNetTrainerV2.initialize_network`` does.

    The trainer takes everything from the plans stage (``num_modalities``, ``base_num_features``,
    ``pool_op_kernel_sizes``, ``conv_kernel_sizes``, ``conv_per_stage``) plus ``num_classes =
    plans['num_classes'] + 1`` (background included). It does *not* pass ``max_num_features``, so the cap is
    the class default: 320 in 3D, 480 in 2D — even though the 2D planner sized memory with 512.
    Deep supervision is on; ``inference_apply_nonlin`` is the channel softmax.

    Returns:
        A :class:`GenericUNet` on the CPU in training mode.
    """
    # differs from v1: v1 moves the network to CUDA when available; here the caller picks the device
    return GenericUNet(num_input_channels, base_num_features, num_classes, pool_op_kernel_sizes,
                       conv_kernel_sizes, conv_per_stage=conv_per_stage, threeD=threeD, deep_supervision=True)
