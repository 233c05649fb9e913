"""The U-Net that nnU-Net v1's default trainer builds: ``Generic_UNet`` as configured by ``nnUNetTrainerV2``.

What the network looks like, for plans with ``num_pool = len(pool_op_kernel_sizes)`` poolings:

* **encoder** (``conv_blocks_context[0 .. num_pool-1]``): one stage per resolution level, each
  ``conv_per_stage`` times *conv -> InstanceNorm(affine) -> LeakyReLU(0.01)*. There is no max-pooling: the
  first conv of stage ``d > 0`` has ``stride = pool_op_kernel_sizes[d-1]`` (*convolutional pooling*).
  Channels start at ``base_num_features`` (32 in the
  default nnUNetPlansv2.1 plans) and double per level, capped at 320 (3D) or 480 (2D).
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

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError
from ..language import tr
from ..planning.vram import MAX_FILTERS_2D, MAX_NUM_FILTERS_3D, compute_approx_vram_consumption
from ..provenance import mirrors
from .segmentation_network import SegmentationNetwork, _identity

KernelSizes = Sequence[Sequence[int]]


@mirrors("nnunet.utilities.nd_softmax:softmax_helper")
def softmax_helper(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the channel axis of ``(b, c, ...)`` logits: v1's ``inference_apply_nonlin``."""
    return torch.softmax(x, 1)


@mirrors("nnunet.network_architecture.initialization:InitWeights_He")
class InitWeights_He:
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


def _default_nonlin_kwargs() -> dict[str, Any]:
    return {"negative_slope": 1e-2, "inplace": True}


def _default_dropout_kwargs() -> dict[str, Any]:
    return {"p": 0.5, "inplace": True}


def _default_norm_kwargs() -> dict[str, Any]:
    return {"eps": 1e-5, "affine": True, "momentum": 0.1}


def _default_conv_kwargs() -> dict[str, Any]:
    return {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "bias": True}


@mirrors("nnunet.network_architecture.generic_UNet:ConvDropoutNormNonlin")
class ConvDropoutNormNonlin(nn.Module):
    """One *conv -> (dropout) -> norm -> nonlinearity* unit, the brick every stage is made of.

    Takes v1's arguments in v1's order, with v1's defaults (BatchNorm, dropout p 0.5, LeakyReLU 0.01: not
    what the trainers pass, which is always explicit). Attribute names are v1's (``conv``, ``dropout``,
    ``instnorm``, ``lrelu``, whatever the norm and nonlinearity really are) because they are part of the
    state-dict keys (``...blocks.0.conv.weight``, ``...blocks.0.instnorm.bias``). A dropout module exists only
    when ``dropout_op_kwargs['p']`` is positive (``dropout`` is None otherwise, the case in every trainer).

    Args:
        input_channels, output_channels: channels in and out of the convolution.
        conv_op: ``nn.Conv2d`` or ``nn.Conv3d``; ``conv_kwargs`` go to it verbatim (``kernel_size``,
            ``stride``, ``padding``, ``dilation``, ``bias``).
        norm_op: called as ``norm_op(output_channels, **norm_op_kwargs)`` (InstanceNorm, BatchNorm, v1's
            ``MyGroupNorm``, ``FRN3D`` or ``Identity`` for none).
        dropout_op: e.g. ``nn.Dropout3d``, or None.
        nonlin: called as ``nonlin(**nonlin_kwargs)``.
    """

    def __init__(self, input_channels: int, output_channels: int, conv_op: type = nn.Conv2d,
                 conv_kwargs: Mapping[str, Any] | None = None, norm_op: Any = nn.BatchNorm2d,
                 norm_op_kwargs: Mapping[str, Any] | None = None, dropout_op: Any = nn.Dropout2d,
                 dropout_op_kwargs: Mapping[str, Any] | None = None, nonlin: Any = nn.LeakyReLU,
                 nonlin_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.nonlin_kwargs = _default_nonlin_kwargs() if nonlin_kwargs is None else nonlin_kwargs
        self.nonlin = nonlin
        self.dropout_op = dropout_op
        self.dropout_op_kwargs = _default_dropout_kwargs() if dropout_op_kwargs is None else dropout_op_kwargs
        self.norm_op_kwargs = _default_norm_kwargs() if norm_op_kwargs is None else norm_op_kwargs
        self.conv_kwargs = _default_conv_kwargs() if conv_kwargs is None else conv_kwargs
        self.conv_op = conv_op
        self.norm_op = norm_op

        # creation order conv -> dropout -> norm -> nonlin: the conv's default init draws random numbers
        self.conv = conv_op(input_channels, output_channels, **self.conv_kwargs)
        p = self.dropout_op_kwargs["p"]
        self.dropout = dropout_op(**self.dropout_op_kwargs) if dropout_op is not None and p is not None and p > 0 \
            else None
        self.instnorm = norm_op(output_channels, **self.norm_op_kwargs)
        self.lrelu = nonlin(**self.nonlin_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.lrelu(self.instnorm(x))


@mirrors("nnunet.network_architecture.generic_UNet:ConvDropoutNonlinNorm")
class ConvDropoutNonlinNorm(ConvDropoutNormNonlin):
    """The same unit with the nonlinearity *before* the normalization: *conv -> (dropout) -> nonlin -> norm*.

    v1's ``*_convReLUIN`` / ``*_convlReLUIN`` variants pass it as ``Generic_UNet(basic_block=...)``. Same
    modules and names as :class:`ConvDropoutNormNonlin`, so the weights are identical; only the forward differs.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.instnorm(self.lrelu(x))


@mirrors("nnunet.network_architecture.generic_UNet:StackedConvLayers")
class StackedConvLayers(nn.Module):
    """``num_convs`` ``basic_block`` units in ``self.blocks``; only the first one gets ``first_stride``.

    Takes v1's arguments in v1's order (see :class:`ConvDropoutNormNonlin` for the ops). ``input_channels`` /
    ``output_channels`` are kept as attributes because the decoder reads the skip's channel count from them,
    as in v1. ``num_convs`` 0 still builds one unit (v1's list always holds the first one).
    """

    def __init__(self, input_feature_channels: int, output_feature_channels: int, num_convs: int,
                 conv_op: type = nn.Conv2d, conv_kwargs: Mapping[str, Any] | None = None,
                 norm_op: Any = nn.BatchNorm2d, norm_op_kwargs: Mapping[str, Any] | None = None,
                 dropout_op: Any = nn.Dropout2d, dropout_op_kwargs: Mapping[str, Any] | None = None,
                 nonlin: Any = nn.LeakyReLU, nonlin_kwargs: Mapping[str, Any] | None = None,
                 first_stride: Sequence[int] | int | None = None, basic_block: type = ConvDropoutNormNonlin) -> None:
        super().__init__()
        self.input_channels = input_feature_channels
        self.output_channels = output_feature_channels
        self.nonlin_kwargs = _default_nonlin_kwargs() if nonlin_kwargs is None else nonlin_kwargs
        self.nonlin = nonlin
        self.dropout_op = dropout_op
        self.dropout_op_kwargs = _default_dropout_kwargs() if dropout_op_kwargs is None else dropout_op_kwargs
        self.norm_op_kwargs = _default_norm_kwargs() if norm_op_kwargs is None else norm_op_kwargs
        self.conv_kwargs = _default_conv_kwargs() if conv_kwargs is None else conv_kwargs
        self.conv_op = conv_op
        self.norm_op = norm_op
        if first_stride is not None:
            self.conv_kwargs_first_conv = dict(self.conv_kwargs, stride=first_stride)
        else:
            self.conv_kwargs_first_conv = self.conv_kwargs

        def unit(cin: int, kwargs: Mapping[str, Any]) -> nn.Module:
            return basic_block(cin, output_feature_channels, conv_op, kwargs, norm_op, self.norm_op_kwargs,
                               dropout_op, self.dropout_op_kwargs, nonlin, self.nonlin_kwargs)

        units = [unit(input_feature_channels, self.conv_kwargs_first_conv)]
        units += [unit(output_feature_channels, self.conv_kwargs) for _ in range(num_convs - 1)]
        self.blocks = nn.Sequential(*units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


@mirrors("nnunet.network_architecture.generic_UNet:Upsample")
class Upsample(nn.Module):
    """``F.interpolate`` as a module (no parameters): v1's upsampling when it does not use transposed convs.

    Used by ``Generic_UNet(convolutional_upsampling=False)`` in the decoder and by ``upscale_logits=True``
    for the deep-supervision outputs; mode ``'bilinear'`` (2D) or ``'trilinear'`` (3D) there.
    """

    def __init__(self, size: Sequence[int] | int | None = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = False) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.mode = mode
        self.scale_factor = scale_factor
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, size=self.size, scale_factor=self.scale_factor, mode=self.mode,
                                         align_corners=self.align_corners)


@mirrors("nnunet.network_architecture.generic_UNet:Generic_UNet")
class Generic_UNet(SegmentationNetwork):  # noqa: N801 - v1's name: it is what print(trainer.network) shows
    """nnU-Net v1's ``Generic_UNet``, with v1's arguments in v1's order and v1's defaults.

    Both trainers build it positionally, exactly as v1's ``initialize_network`` does (see
    :func:`build_network` for ``nnUNetTrainerV2``'s call with names): ``Generic_UNet(num_input_channels,
    base_num_features, num_classes, len(pool_op_kernel_sizes), conv_per_stage, 2, Conv3d, InstanceNorm3d,
    {'eps': 1e-5, 'affine': True}, Dropout3d, {'p': 0, 'inplace': True}, LeakyReLU, {'negative_slope': 1e-2,
    'inplace': True}, deep_supervision, False, lambda x: x, InitWeights_He(1e-2), pool_op_kernel_sizes,
    conv_kernel_sizes, False, True, True)``. The class's own defaults are *not* what the trainers use
    (BatchNorm, dropout p 0.5, softmax as final nonlinearity, max-pooling, interpolation upsampling): v1's
    variants reach them by passing other arguments.

    Args:
        input_channels: image modalities (``num_modalities`` in the plans).
        base_num_features: channels at full resolution (32 in v1's default nnUNetPlansv2.1 plans, 30 with the
            older nnUNetPlans planners).
        num_classes: output channels, *including* background (``plans['num_classes'] + 1``).
        num_pool: number of poolings; must be ``len(pool_op_kernel_sizes)`` (every trainer passes that).
        num_conv_per_stage: convolutions per encoder/decoder stage (``conv_per_stage`` of the plans, 2).
        feat_map_mul_on_downscale: channel growth per level (2).
        conv_op: ``nn.Conv3d`` or ``nn.Conv2d``; it decides 2D or 3D for everything else.
        norm_op, norm_op_kwargs, dropout_op, dropout_op_kwargs, nonlin, nonlin_kwargs: the ops of every conv
            unit (kwargs None means v1's defaults: eps 1e-5 affine momentum 0.1, p 0.5, slope 1e-2).
        deep_supervision: build with deep supervision (``_deep_supervision``); ``do_ds`` toggles it at run time.
        dropout_in_localization: keep the dropout p in the decoder too (else p 0 there).
        final_nonlin: applied to every head's output (the trainers pass ``lambda x: x``: the heads give logits).
        weightInitializer: applied with ``self.apply`` after building (None keeps torch's default init).
        pool_op_kernel_sizes: one pooling kernel per level, e.g. ``[[1, 2, 2], [2, 2, 2], ...]`` (None: 2s).
        conv_kernel_sizes: ``num_pool + 1`` conv kernels, the last for the bottleneck (None: 3s).
        upscale_logits: interpolate every lower-resolution deep-supervision output up to the patch size.
        convolutional_pooling: downsample with the stride of each stage's first conv (True, all trainers) or
            with max-pooling after each encoder stage (``td``).
        convolutional_upsampling: upsample with transposed convs (True, all trainers) or with
            (bi/tri)linear interpolation; then the decoder's last conv of each level also reduces the
            channels to the next skip's.
        max_num_features: channel cap; None gives v1's class constants, 320 (3D) or 480 (2D).
        basic_block: the unit class, :class:`ConvDropoutNormNonlin` or :class:`ConvDropoutNonlinNorm`, or any
            class taking v1's unit arguments.
        seg_output_use_bias: bias in the 1x1 heads (v1's ``*_biasInSegOutput`` variants).
    """

    # v1 class constants, so code that reads them off the network class keeps working
    MAX_NUM_FILTERS_3D = MAX_NUM_FILTERS_3D
    MAX_FILTERS_2D = MAX_FILTERS_2D
    compute_approx_vram_consumption = staticmethod(compute_approx_vram_consumption)

    def __init__(self, input_channels: int, base_num_features: int, num_classes: int, num_pool: int,
                 num_conv_per_stage: int = 2, feat_map_mul_on_downscale: float = 2, conv_op: type = nn.Conv2d,
                 norm_op: Any = nn.BatchNorm2d, norm_op_kwargs: Mapping[str, Any] | None = None,
                 dropout_op: Any = nn.Dropout2d, dropout_op_kwargs: Mapping[str, Any] | None = None,
                 nonlin: Any = nn.LeakyReLU, nonlin_kwargs: Mapping[str, Any] | None = None,
                 deep_supervision: bool = True, dropout_in_localization: bool = False,
                 final_nonlin: Callable[[torch.Tensor], torch.Tensor] = softmax_helper,
                 weightInitializer: Callable[[nn.Module], None] | None = InitWeights_He(1e-2),  # noqa: N803
                 pool_op_kernel_sizes: KernelSizes | None = None, conv_kernel_sizes: KernelSizes | None = None,
                 upscale_logits: bool = False, convolutional_pooling: bool = False,
                 convolutional_upsampling: bool = False, max_num_features: int | None = None,
                 basic_block: type = ConvDropoutNormNonlin, seg_output_use_bias: bool = False) -> None:
        super().__init__()
        if conv_op not in (nn.Conv2d, nn.Conv3d):
            raise ValueError(f"unknown convolution dimensionality, conv op: {conv_op}")  # v1's error
        threeD = conv_op is nn.Conv3d
        dim = 3 if threeD else 2
        if pool_op_kernel_sizes is None:
            pool_op_kernel_sizes = [(2,) * dim] * num_pool
        pool_op_kernel_sizes = [list(map(int, p)) for p in pool_op_kernel_sizes]
        if len(pool_op_kernel_sizes) != num_pool:
            given = len(pool_op_kernel_sizes)
            raise ConfigurationError(tr(f"Generic_UNet: num_pool={num_pool} with {given} "
                                        "pool_op_kernel_sizes is not implemented",
                                        f"Generic_UNet：num_pool={num_pool} 配 {given} 个 "
                                        "pool_op_kernel_sizes 的情况没有实现"),
                                     fix=tr("pass num_pool=len(pool_op_kernel_sizes), as every v1 trainer does",
                                            "请像 v1 的每个 trainer 那样传入 num_pool=len(pool_op_kernel_sizes)"))
        if conv_kernel_sizes is None:
            conv_kernel_sizes = [[3] * dim] * (num_pool + 1)
        conv_kernel_sizes = [list(map(int, k)) for k in conv_kernel_sizes]
        # differs from v1: in nnU-Net all three lists come from one stage of the plans, so a hand edit is what to
        # look at. v1 fails on a kernel of the wrong length in the convolution's own error, on a conv list too
        # short with an IndexError, and on one too long not at all: its decoder takes its kernels from the list's
        # end, so they no longer mirror the encoder's
        lengths = {len(k) for k in [*pool_op_kernel_sizes, *conv_kernel_sizes]}
        if lengths != {dim} and len(lengths) == 1:
            raise ConfigurationError(
                tr(f"a {dim}D Generic_UNet ({conv_op.__name__}) needs kernel sizes of {dim} entries each, got pool "
                   f"{pool_op_kernel_sizes}, conv {conv_kernel_sizes}: nnUNetTrainer builds a 2D network when the "
                   "plans' patch_size has 2 entries and a 3D one when it has 3",
                   f"{dim}D 的 Generic_UNet（{conv_op.__name__}）要求每个核大小都有 {dim} 项，实际是 pool "
                   f"{pool_op_kernel_sizes}、conv {conv_kernel_sizes}：plans 的 patch_size 有 2 项时 nnUNetTrainer "
                   "构建 2D 网络，有 3 项时构建 3D 网络"),
                fix=tr("give the plans' stage a patch_size with one entry per axis of its kernel sizes (an edited "
                       "copy of the plans, saved under a new identifier, -p)",
                       "让 plans 这个 stage 的 patch_size 与核大小的轴数一致（改在 plans 的副本中并以新的标识保存，-p）"))
        if lengths and lengths != {dim}:
            odd = [k for k in [*pool_op_kernel_sizes, *conv_kernel_sizes] if len(k) != dim]
            raise ConfigurationError(
                tr(f"a {dim}D Generic_UNet needs kernel sizes of {dim} entries each; {odd} of pool "
                   f"{pool_op_kernel_sizes}, conv {conv_kernel_sizes} have another number",
                   f"{dim}D 的 Generic_UNet 要求每个核大小都有 {dim} 项；pool {pool_op_kernel_sizes}、conv "
                   f"{conv_kernel_sizes} 中的 {odd} 项数不对"),
                fix=tr(f"give every entry of the plans' pool_op_kernel_sizes and conv_kernel_sizes {dim} numbers",
                       f"让 plans 中 pool_op_kernel_sizes 和 conv_kernel_sizes 的每一项都有 {dim} 个数"))
        if len(conv_kernel_sizes) != num_pool + 1:
            raise ConfigurationError(
                tr(f"Generic_UNet needs len(pool_op_kernel_sizes) + 1 = {num_pool + 1} conv kernel sizes (one per "
                   f"level plus the bottleneck), got {len(conv_kernel_sizes)}",
                   f"Generic_UNet 需要 len(pool_op_kernel_sizes) + 1 = {num_pool + 1} 个卷积核大小（每层一个，"
                   f"再加瓶颈一个），实际有 {len(conv_kernel_sizes)} 个"),
                fix=tr("edit pool_op_kernel_sizes and conv_kernel_sizes of the plans' stage together: v1's planner "
                       "writes one conv kernel per pooling plus one for the bottleneck",
                       "同时修改 plans 这个 stage 的 pool_op_kernel_sizes 和 conv_kernel_sizes：v1 的规划器为每次"
                       "池化写一个卷积核，再为瓶颈写一个"))
        norm_op_kwargs = _default_norm_kwargs() if norm_op_kwargs is None else norm_op_kwargs
        dropout_op_kwargs = _default_dropout_kwargs() if dropout_op_kwargs is None else dropout_op_kwargs
        nonlin_kwargs = _default_nonlin_kwargs() if nonlin_kwargs is None else nonlin_kwargs
        conv_per_stage = num_conv_per_stage

        self.threeD = threeD
        self.conv_op = nn.Conv3d if threeD else nn.Conv2d
        self.num_input_channels = input_channels
        self.base_num_features = base_num_features
        self.num_classes = num_classes
        self.conv_per_stage = conv_per_stage
        self.convolutional_pooling = convolutional_pooling
        self.convolutional_upsampling = convolutional_upsampling
        self.upscale_logits = upscale_logits
        self.pool_op_kernel_sizes = pool_op_kernel_sizes
        self.conv_kernel_sizes = conv_kernel_sizes
        self.conv_pad_sizes = [[1 if k == 3 else 0 for k in krnl] for krnl in conv_kernel_sizes]
        self.max_num_features = (max_num_features if max_num_features is not None
                                 else (MAX_NUM_FILTERS_3D if threeD else MAX_FILTERS_2D))
        # a patch must be divisible by the product of all poolings (sliding-window inference pads to it)
        self.input_shape_must_be_divisible_by = np.prod(pool_op_kernel_sizes, 0, dtype=np.int64)
        self._deep_supervision = deep_supervision
        self.do_ds = deep_supervision
        self.final_nonlin: Callable[[torch.Tensor], torch.Tensor] = final_nonlin
        # differs from v1: the softmax from the start (v1's class leaves SegmentationNetwork's identity until the
        # trainer sets inference_apply_nonlin right after building the network: softmax_helper in nnUNetTrainer, V2
        # and most variants, a sigmoid in the BraTS region trainers; a trainer's own assignment still wins here)
        self.inference_apply_nonlin: Callable[[torch.Tensor], torch.Tensor] = softmax_helper
        upsample_mode = "trilinear" if threeD else "bilinear"

        def stack(cin: int, cout: int, num_convs: int, level: int, first_stride: Sequence[int] | None = None,
                  dropout_kwargs: Mapping[str, Any] | None = dropout_op_kwargs) -> StackedConvLayers:
            # differs from v1: every stage gets its own conv_kwargs dict (v1 edits one shared dict in place, so
            # a unit's .conv_kwargs attribute shows the last stage's kernel, except a strided first unit, whose
            # dict v1 deep-copies; the convs are the same)
            conv_kwargs = {"stride": 1, "dilation": 1, "bias": True, "kernel_size": conv_kernel_sizes[level],
                           "padding": self.conv_pad_sizes[level]}
            return StackedConvLayers(cin, cout, num_convs, conv_op, conv_kwargs, norm_op, norm_op_kwargs, dropout_op,
                                     dropout_kwargs, nonlin, nonlin_kwargs, first_stride, basic_block=basic_block)

        # Modules are *created* in v1's order (encoder, bottleneck, then per decoder level tu before
        # localization, then heads) so that torch's default initializers draw the same random numbers, and
        # *registered* below in v1's order, which fixes the state_dict order and the order He init visits.
        context: list[nn.Module] = []
        td: list[nn.Module] = []
        pool_op = nn.MaxPool3d if threeD else nn.MaxPool2d
        out_features, in_features = base_num_features, input_channels
        for d in range(num_pool):
            first_stride = pool_op_kernel_sizes[d - 1] if d > 0 and convolutional_pooling else None
            context.append(stack(in_features, out_features, conv_per_stage, d, first_stride))
            if not convolutional_pooling:
                td.append(pool_op(pool_op_kernel_sizes[d]))
            in_features = out_features
            out_features = min(int(np.round(out_features * feat_map_mul_on_downscale)), self.max_num_features)
        # with convolutional upsampling the bottleneck keeps its own (capped, doubled) channel count; with
        # interpolation it must already have the last skip's channels (nothing else changes them)
        final_features = out_features if convolutional_upsampling else context[-1].output_channels
        context.append(nn.Sequential(
            stack(in_features, out_features, conv_per_stage - 1, num_pool,
                  pool_op_kernel_sizes[-1] if convolutional_pooling else None),
            stack(out_features, final_features, 1, num_pool)))

        # the decoder has no dropout unless asked for (v1 sets p to 0 while it builds the decoder)
        decoder_dropout = dropout_op_kwargs
        if not dropout_in_localization:
            decoder_dropout = dict(decoder_dropout, p=0.0)
        transposed_op = nn.ConvTranspose3d if threeD else nn.ConvTranspose2d
        tu: list[nn.Module] = []
        localization: list[nn.Module] = []
        for u in range(num_pool):
            features_from_down = final_features  # the bottleneck's for u == 0, then the previous level's output
            skip_features = context[-(2 + u)].output_channels
            # with interpolation, the last conv of a level already reduces to the next skip's channel count
            if u != num_pool - 1 and not convolutional_upsampling:
                final_features = context[-(3 + u)].output_channels
            else:
                final_features = skip_features
            up_kernel = pool_op_kernel_sizes[-(u + 1)]
            if convolutional_upsampling:
                tu.append(transposed_op(features_from_down, skip_features, up_kernel, up_kernel, bias=False))
            else:
                tu.append(Upsample(scale_factor=up_kernel, mode=upsample_mode))
            # kernel shift: decoder level u (coarsest first) uses conv_kernel_sizes[-(u + 1)]
            level = num_pool - u
            localization.append(nn.Sequential(
                stack(2 * skip_features, skip_features, conv_per_stage - 1, level, dropout_kwargs=decoder_dropout),
                stack(skip_features, final_features, 1, level, dropout_kwargs=decoder_dropout)))

        heads = [self.conv_op(block[-1].output_channels, num_classes, 1, 1, 0, 1, 1, bias=seg_output_use_bias)
                 for block in localization]

        # the lower-resolution deep-supervision outputs, optionally interpolated to the patch size: op k scales
        # by the product of all poolings above decoder level k + 1 (cumulative poolings, coarsest first)
        cum_upsample = np.cumprod(np.vstack(pool_op_kernel_sizes), axis=0)[::-1]
        upscale_ops: list[Callable[[torch.Tensor], torch.Tensor]] = [
            Upsample(scale_factor=tuple(int(i) for i in cum_upsample[k + 1]), mode=upsample_mode)
            if upscale_logits else _identity for k in range(num_pool - 1)]

        # registration order = v1's: conv_blocks_localization, conv_blocks_context, td, tu, seg_outputs
        self.conv_blocks_localization = nn.ModuleList(localization)
        self.conv_blocks_context = nn.ModuleList(context)
        self.td = nn.ModuleList(td)  # max-pool ops; empty with convolutional pooling
        self.tu = nn.ModuleList(tu)
        self.seg_outputs = nn.ModuleList(heads)
        # identity functions are no modules, so v1 registers the list only when it holds Upsample modules
        self.upscale_logits_ops = nn.ModuleList(upscale_ops) if upscale_logits else upscale_ops
        self.weightInitializer = weightInitializer
        if self.weightInitializer is not None:
            self.apply(self.weightInitializer)

    @property
    def num_pool(self) -> int:
        """Number of poolings (= decoder levels = deep-supervision outputs)."""
        return len(self.pool_op_kernel_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Run the U-Net on ``x`` of shape ``(b, c, z, y, x)`` (3D) or ``(b, c, y, x)`` (2D).

        Returns:
            With deep supervision on (``do_ds``): a tuple of ``num_pool`` logit tensors, highest resolution
            first, ``(b, num_classes, *patch)``, then each coarser level (all at patch size with
            ``upscale_logits``). Otherwise the full-resolution logits.
        """
        skips = []
        for d, stage in enumerate(self.conv_blocks_context[:-1]):
            x = stage(x)
            skips.append(x)
            if not self.convolutional_pooling:
                x = self.td[d](x)
        x = self.conv_blocks_context[-1](x)
        outputs = []
        for u in range(len(self.tu)):
            x = self.tu[u](x)
            x = torch.cat((x, skips[-(u + 1)]), dim=1)  # upsampled first, skip second: channel order matters
            x = self.conv_blocks_localization[u](x)
            outputs.append(self.final_nonlin(self.seg_outputs[u](x)))
        if self._deep_supervision and self.do_ds:
            # highest resolution first; the others through their upscale op (identity unless upscale_logits)
            lower = [op(out) for op, out in zip(list(self.upscale_logits_ops)[::-1], outputs[:-1][::-1])]
            return tuple([outputs[-1]] + lower)
        return outputs[-1]


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_network")
def build_network(num_input_channels: int, base_num_features: int, num_classes: int,
                  pool_op_kernel_sizes: KernelSizes, conv_kernel_sizes: KernelSizes | None = None,
                  conv_per_stage: int = 2, threeD: bool = True, deep_supervision: bool = True) -> Generic_UNet:
    """Build the network exactly as ``nnUNetTrainerV2.initialize_network`` does, with names for the arguments.

    Both trainers' ``initialize_network`` call it (with ``deep_supervision=False`` for the base trainer); the call
    below is v1's, argument for argument.

    The trainer takes everything from the plans stage (``num_modalities``, ``base_num_features``,
    ``pool_op_kernel_sizes``, ``conv_kernel_sizes``, ``conv_per_stage``) plus ``num_classes =
    plans['num_classes'] + 1`` (background included). It does *not* pass ``max_num_features``, so the cap is
    the class default: 320 in 3D, 480 in 2D — even though the 2D planner sized memory with 512.
    Deep supervision is on (``deep_supervision=False`` gives the base ``nnUNetTrainer``'s network);
    ``inference_apply_nonlin`` is the channel softmax.

    Returns:
        A :class:`Generic_UNet` on the CPU in training mode.
    """
    conv_op, dropout_op, norm_op = ((nn.Conv3d, nn.Dropout3d, nn.InstanceNorm3d) if threeD
                                    else (nn.Conv2d, nn.Dropout2d, nn.InstanceNorm2d))
    # inference_apply_nonlin is already the softmax (Generic_UNet.__init__), which v1's trainers set afterwards;
    # final_nonlin is the identity (v1 passes ``lambda x: x``): the heads give logits, the loss applies the softmax
    # differs from v1: v1 moves the network to CUDA when available; here the caller picks the device
    return Generic_UNet(num_input_channels, base_num_features, num_classes, len(pool_op_kernel_sizes), conv_per_stage,
                        2, conv_op, norm_op, {"eps": 1e-5, "affine": True}, dropout_op, {"p": 0, "inplace": True},
                        nn.LeakyReLU, {"negative_slope": 1e-2, "inplace": True}, deep_supervision, False, _identity,
                        InitWeights_He(1e-2), pool_op_kernel_sizes, conv_kernel_sizes, False, True, True)
