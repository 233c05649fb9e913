"""The residual-encoder U-Net of v1's ``nnUNetTrainerV2_ResencUNet*`` variants: ``FabiansUNet``.

It differs from ``Generic_UNet`` in four ways a learner can see in the weights:

* **encoder** (``encoder.stages[s]``): every stage is a :class:`ResidualLayer` of ``num_blocks_encoder[s]``
  :class:`BasicResidualBlock` s (*conv -> norm -> nonlin -> conv -> norm, + skip, -> nonlin*). Stage ``s``
  downsamples with the stride ``pool_op_kernel_sizes[s]`` of its first block, so the plans of this network
  start with ``[1, 1, 1]`` (the full-resolution stage does not pool). Before stage 0 sits a plain 3x3(x3)
  conv (``initial_conv``, always kernel 3, whatever the plans say). Channels: ``base * 2**s``, capped.
* **skip path of a block**: where the block changes resolution or channels, a 1x1(x1) strided conv plus norm
  (``downsample_skip``) brings the input to the output's shape; otherwise the input is added unchanged.
* **decoder** (:class:`PlainConvUNetDecoder`): plain *conv -> norm -> nonlin* units, no residuals. Decoder
  level ``s`` uses the encoder's kernel of level ``s`` (no "kernel shift" as in ``Generic_UNet``).
* **heads**: with bias (``Generic_UNet``'s have none), one per decoder level and none at the bottleneck
  (``segmentation_output`` is the full-resolution one), so deep supervision returns
  ``len(pool_op_kernel_sizes) - 1`` outputs - one per downsampling, since these plans' list starts with
  ``[1, 1, 1]`` - as a *list*, highest resolution first.

Convs have no bias (``get_default_network_config``: ``bias=False``), because a norm follows each of them.
Module names, creation order and registration order are v1's, so the same torch seed gives the same weights
and the state dict loads into v1's network. Two of v1's quirks are part of that: every decoder unit registers
its conv, norm and nonlin twice (as ``conv`` ... and inside ``all``), so its weights appear twice in the state
dict and He initialization draws them twice; and the decoder's ``segmentation_output`` is registered before
its ``tus`` / ``stages`` lists, so it is initialized first.
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import mirrors
from .generic_unet import Upsample
from .network_modules import Identity
from .segmentation_network import SegmentationNetwork

Props = dict[str, Any]


@mirrors("nnunet.network_architecture.generic_modular_UNet:get_default_network_config")
def get_default_network_config(dim: int = 2, dropout_p: float | None = None, nonlin: str = "LeakyReLU",
                               norm_type: str = "bn") -> Props:
    """The ``props`` dict the modular networks are built from: ops and kwargs for conv, norm, dropout, nonlin.

    Args:
        dim: 2 or 3. Anything else raises ``NotImplementedError`` — including the ``1`` that v1's ResencUNet
            trainers pass for 2D, so those trainers cannot build a 2D network (in v1 as here).
        dropout_p: None for no dropout (``dropout_op`` None), else the dropout probability.
        nonlin: ``"LeakyReLU"`` (slope 0.01) or ``"ReLU"``.
        norm_type: ``"bn"`` (BatchNorm) or ``"in"`` (InstanceNorm), both eps 1e-5, affine.

    Returns:
        ``{'conv_op', 'dropout_op', 'norm_op', 'norm_op_kwargs', 'dropout_op_kwargs', 'conv_op_kwargs',
        'nonlin', 'nonlin_kwargs'}``; ``conv_op_kwargs`` is ``{'stride': 1, 'dilation': 1, 'bias': False}``
        (kernel sizes come from the plans).
    """
    props: Props = {}
    if dim == 2:
        props["conv_op"], props["dropout_op"] = nn.Conv2d, nn.Dropout2d
    elif dim == 3:
        props["conv_op"], props["dropout_op"] = nn.Conv3d, nn.Dropout3d
    else:
        raise NotImplementedError
    if norm_type == "bn":
        props["norm_op"] = nn.BatchNorm2d if dim == 2 else nn.BatchNorm3d
    elif norm_type == "in":
        props["norm_op"] = nn.InstanceNorm2d if dim == 2 else nn.InstanceNorm3d
    else:
        raise NotImplementedError
    props["norm_op_kwargs"] = {"eps": 1e-5, "affine": True}
    if dropout_p is None:
        props["dropout_op"] = None
        props["dropout_op_kwargs"] = {"p": 0, "inplace": True}
    else:
        props["dropout_op_kwargs"] = {"p": dropout_p, "inplace": True}
    props["conv_op_kwargs"] = {"stride": 1, "dilation": 1, "bias": False}
    if nonlin == "LeakyReLU":
        props["nonlin"], props["nonlin_kwargs"] = nn.LeakyReLU, {"negative_slope": 1e-2, "inplace": True}
    elif nonlin == "ReLU":
        props["nonlin"], props["nonlin_kwargs"] = nn.ReLU, {"inplace": True}
    else:
        raise ValueError
    return props


@mirrors("nnunet.network_architecture.custom_modules.conv_blocks:_maybe_convert_scalar_to_list")
def _maybe_convert_scalar_to_list(conv_op: type, scalar: Any) -> Any:
    """A kernel size or stride given as one number -> one entry per spatial axis of ``conv_op``."""
    if isinstance(scalar, (tuple, list, np.ndarray)):
        return scalar
    axes = {nn.Conv2d: 2, nn.Conv3d: 3, nn.Conv1d: 1}.get(conv_op)
    if axes is None:
        raise RuntimeError(f"Invalid conv op: {conv_op}")
    return [scalar] * axes


def _same_padding(kernel_size: Sequence[int]) -> list[int]:
    # (k - 1) // 2 per axis keeps the size for odd kernels (1 -> 0, 3 -> 1, 5 -> 2)
    return [(k - 1) // 2 for k in kernel_size]


def _unchanged(x: torch.Tensor) -> torch.Tensor:
    return x


@mirrors("nnunet.network_architecture.custom_modules.conv_blocks:ConvDropoutNormReLU")
class ConvDropoutNormReLU(nn.Module):
    """*conv -> dropout -> norm -> nonlin*, the decoder unit of ``FabiansUNet`` (whatever the nonlin is).

    ``dropout_op`` or ``norm_op`` None in ``network_props`` gives an :class:`Identity` in that place. The
    four modules are registered twice, as ``conv`` / ``do`` / ``norm`` / ``nonlin`` and as ``all.0`` ..
    ``all.3`` (v1's layout): the state dict lists every weight under both names.
    """

    def __init__(self, input_channels: int, output_channels: int, kernel_size: Sequence[int],
                 network_props: Props) -> None:
        super().__init__()
        props = deepcopy(network_props)  # never change the caller's dict
        self.conv = props["conv_op"](input_channels, output_channels, kernel_size,
                                     padding=_same_padding(kernel_size), **props["conv_op_kwargs"])
        self.do = props["dropout_op"](**props["dropout_op_kwargs"]) if props["dropout_op"] is not None \
            else Identity()
        self.norm = props["norm_op"](output_channels, **props["norm_op_kwargs"]) if props["norm_op"] is not None \
            else Identity()
        self.nonlin = props["nonlin"](**props["nonlin_kwargs"])
        self.all = nn.Sequential(self.conv, self.do, self.norm, self.nonlin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.all(x)


@mirrors("nnunet.network_architecture.custom_modules.conv_blocks:StackedConvLayers")
class StackedConvLayers(nn.Module):
    """``num_convs`` :class:`ConvDropoutNormReLU` units in ``convs``; the first one is strided by ``first_stride``.

    (The modular networks' version; ``Generic_UNet`` has its own, :class:`~nnunet_explorer.training.
    generic_unet.StackedConvLayers`, with other arguments and other module names.)
    """

    def __init__(self, input_channels: int, output_channels: int, kernel_size: Sequence[int],
                 network_props: Props, num_convs: int, first_stride: Sequence[int] | int | None = None) -> None:
        super().__init__()
        props = deepcopy(network_props)
        props_first = deepcopy(props)
        if first_stride is not None:
            props_first["conv_op_kwargs"]["stride"] = first_stride
        self.convs = nn.Sequential(
            ConvDropoutNormReLU(input_channels, output_channels, kernel_size, props_first),
            *[ConvDropoutNormReLU(output_channels, output_channels, kernel_size, props)
              for _ in range(num_convs - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


@mirrors("nnunet.network_architecture.custom_modules.conv_blocks:BasicResidualBlock")
class BasicResidualBlock(nn.Module):
    """A residual block: ``nonlin2(norm2(conv2(nonlin1(norm1(dropout(conv1(x)))))) + skip(x))``.

    ``conv1`` carries the block's stride (``stride``, default 1); ``conv2`` keeps the size. If the stride is
    not 1 anywhere or the channels change, the skip is ``downsample_skip``: a 1x1(x1) conv with that stride
    (no bias) and a norm; otherwise the input itself. Modules, in creation order: ``conv1``, ``norm1``,
    ``nonlin1``, ``dropout`` (an :class:`Identity` when p is 0), ``conv2``, ``norm2``, ``nonlin2``,
    ``downsample_skip``. ``norm2`` is what v1's ``ResencUNet_SimonsInit`` sets to zero, so that every block
    starts as the identity (plus nonlin).

    Args:
        in_planes, out_planes: channels in and out.
        kernel_size: conv kernel, a list per axis or one number.
        props: see :func:`get_default_network_config`; its ``conv_op_kwargs['stride']`` is ignored (and must
            be there: v1 deletes it).
        stride: stride of ``conv1`` and of the skip conv (None entries count as 1).
        use_avgpool_in_skip: skip through average pooling and an unstrided 1x1 conv instead of a strided 1x1
            conv. With a stride other than 1 this fails in v1 1.7.1 (``_get_matching_avgPool`` is not defined
            there), and is refused here.
    """

    def __init__(self, in_planes: int, out_planes: int, kernel_size: Sequence[int] | int, props: Props,
                 stride: Sequence[int | None] | int | None = None, use_avgpool_in_skip: bool = False) -> None:
        super().__init__()
        props = deepcopy(props)
        del props["conv_op_kwargs"]["stride"]  # the block decides its stride
        kernel_size = _maybe_convert_scalar_to_list(props["conv_op"], kernel_size)
        if stride is None:
            stride = _maybe_convert_scalar_to_list(props["conv_op"], 1)
        elif isinstance(stride, (tuple, list)):
            stride = [s if s is not None else 1 for s in stride]
        else:
            stride = _maybe_convert_scalar_to_list(props["conv_op"], stride)

        self.stride = stride
        self.kernel_size = kernel_size
        self.props = props
        self.out_planes = out_planes
        self.in_planes = in_planes

        conv_op, norm_op = props["conv_op"], props["norm_op"]
        self.conv1 = conv_op(in_planes, out_planes, kernel_size=kernel_size, padding=_same_padding(kernel_size),
                             stride=stride, **props["conv_op_kwargs"])
        self.norm1 = norm_op(out_planes, **props["norm_op_kwargs"])
        self.nonlin1 = props["nonlin"](**props["nonlin_kwargs"])
        self.dropout = props["dropout_op"](**props["dropout_op_kwargs"]) if props["dropout_op_kwargs"]["p"] != 0 \
            else Identity()
        self.conv2 = conv_op(out_planes, out_planes, kernel_size=kernel_size, padding=_same_padding(kernel_size),
                             stride=1, **props["conv_op_kwargs"])
        self.norm2 = norm_op(out_planes, **props["norm_op_kwargs"])
        self.nonlin2 = props["nonlin"](**props["nonlin_kwargs"])

        strided = any(s != 1 for s in stride)
        if strided or in_planes != out_planes:
            if use_avgpool_in_skip:
                if strided:
                    raise ConfigurationError(
                        tr("BasicResidualBlock(use_avgpool_in_skip=True) with a stride is not implemented (v1 1.7.1 "
                           "raises NameError there: its _get_matching_avgPool is not defined)",
                           "带 stride 的 BasicResidualBlock(use_avgpool_in_skip=True) 没有实现（v1 1.7.1 "
                           "在这里抛出 NameError：它的 _get_matching_avgPool 没有定义）"),
                        fix=tr("use use_avgpool_in_skip=False (the default, a strided 1x1 conv in the skip)",
                               "请使用 use_avgpool_in_skip=False（默认值：跳跃连接中用带 stride 的 1x1 卷积）"))
                self.downsample_skip = nn.Sequential(
                    conv_op(in_planes, out_planes, kernel_size=1, padding=0, stride=1, bias=False),
                    norm_op(out_planes, **props["norm_op_kwargs"]))
            else:
                self.downsample_skip = nn.Sequential(
                    conv_op(in_planes, out_planes, kernel_size=1, padding=0, stride=stride, bias=False),
                    norm_op(out_planes, **props["norm_op_kwargs"]))
        else:
            # differs from v1: a named function instead of a lambda (not a module either way), so it pickles
            self.downsample_skip = _unchanged

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv1(x))
        out = self.nonlin1(self.norm1(out))
        out = self.norm2(self.conv2(out))
        out += self.downsample_skip(x)
        return self.nonlin2(out)


@mirrors("nnunet.network_architecture.custom_modules.conv_blocks:ResidualLayer")
class ResidualLayer(nn.Module):
    """``num_blocks`` residual blocks in ``convs``; the first one gets ``first_stride`` and changes the channels.

    ``block`` is called as ``block(in, out, kernel_size, props, stride, **block_kwargs)``.
    v1 also has a branch for its ``ResidualBottleneckBlock`` (4x wider outputs); that block cannot be built
    through this layer in v1 1.7.1 (the layer passes it one argument too many) and is not mirrored.
    """

    def __init__(self, input_channels: int, output_channels: int, kernel_size: Sequence[int], network_props: Props,
                 num_blocks: int, first_stride: Sequence[int] | None = None, block: type = BasicResidualBlock,
                 block_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        block_kwargs = {} if block_kwargs is None else block_kwargs
        props = deepcopy(network_props)
        self.convs = nn.Sequential(
            block(input_channels, output_channels, kernel_size, props, first_stride, **block_kwargs),
            *[block(output_channels, output_channels, kernel_size, props, **block_kwargs)
              for _ in range(num_blocks - 1)])
        self.output_channels = output_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


@mirrors("nnunet.network_architecture.generic_modular_residual_UNet:ResidualUNetEncoder")
class ResidualUNetEncoder(nn.Module):
    """The residual encoder, bottleneck included: ``initial_conv/norm/nonlin``, then one :class:`ResidualLayer`
    per entry of ``conv_kernel_sizes``.

    Stage ``s`` has ``min(base_num_features * feat_map_mul_on_downscale**s, max_num_features)`` channels and
    is strided by ``pool_op_kernel_sizes[s]``. The forward returns every stage's output (the skips, bottleneck
    last) when ``default_return_skips``, else only the bottleneck's.

    Attributes read by the decoder: ``stages``, ``stage_output_features``, ``stage_pool_kernel_size``,
    ``stage_conv_op_kernel_size``, ``num_blocks_per_stage``, ``props``.
    """

    def __init__(self, input_channels: int, base_num_features: int, num_blocks_per_stage: int | Sequence[int],
                 feat_map_mul_on_downscale: int, pool_op_kernel_sizes: Sequence[Sequence[int]],
                 conv_kernel_sizes: Sequence[Sequence[int]], props: Props, default_return_skips: bool = True,
                 max_num_features: int = 480, block: type = BasicResidualBlock,
                 block_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        block_kwargs = {} if block_kwargs is None else block_kwargs
        self.default_return_skips = default_return_skips
        self.props = props
        self.stage_output_features: list[int] = []
        self.stage_pool_kernel_size: list[Sequence[int]] = []
        self.stage_conv_op_kernel_size: list[Sequence[int]] = []
        assert len(pool_op_kernel_sizes) == len(conv_kernel_sizes)
        num_stages = len(conv_kernel_sizes)
        if not isinstance(num_blocks_per_stage, (list, tuple)):
            num_blocks_per_stage = [num_blocks_per_stage] * num_stages
        else:
            assert len(num_blocks_per_stage) == num_stages
        self.num_blocks_per_stage = num_blocks_per_stage

        # v1's quirk: the first conv is 3x3(x3) whatever conv_kernel_sizes[0] says
        self.initial_conv = props["conv_op"](input_channels, base_num_features, 3, padding=1,
                                             **props["conv_op_kwargs"])
        self.initial_norm = props["norm_op"](base_num_features, **props["norm_op_kwargs"])
        self.initial_nonlin = props["nonlin"](**props["nonlin_kwargs"])

        stages = []
        current_input_features = base_num_features
        for stage in range(num_stages):
            current_output_features = min(base_num_features * feat_map_mul_on_downscale ** stage, max_num_features)
            layer = ResidualLayer(current_input_features, current_output_features, conv_kernel_sizes[stage], props,
                                  num_blocks_per_stage[stage], pool_op_kernel_sizes[stage], block, block_kwargs)
            stages.append(layer)
            self.stage_output_features.append(layer.output_channels)
            self.stage_conv_op_kernel_size.append(conv_kernel_sizes[stage])
            self.stage_pool_kernel_size.append(pool_op_kernel_sizes[stage])
            current_input_features = layer.output_channels
        self.output_features = current_input_features
        # registered after initial_conv/norm/nonlin, as in v1 (it fixes the state-dict and init order)
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor, return_skips: bool | None = None) -> list[torch.Tensor] | torch.Tensor:
        """``(b, c, *patch)`` -> the list of stage outputs (full resolution first) or the bottleneck output."""
        skips = []
        x = self.initial_nonlin(self.initial_norm(self.initial_conv(x)))
        for stage in self.stages:
            x = stage(x)
            if self.default_return_skips:
                skips.append(x)
        if return_skips is None:
            return_skips = self.default_return_skips
        return skips if return_skips else x

    @staticmethod
    @mirrors("nnunet.network_architecture.generic_modular_residual_UNet:ResidualUNetEncoder"
             ".compute_approx_vram_consumption")
    def compute_approx_vram_consumption(patch_size: Sequence[int], base_num_features: int, max_num_features: int,
                                        num_modalities: int, pool_op_kernel_sizes: Sequence[Sequence[int]],
                                        num_conv_per_stage_encoder: Sequence[int], feat_map_mul_on_downscale: int,
                                        batch_size: int) -> float:
        """v1's memory proxy of the encoder (feature-map voxels summed over its convs, times the batch)."""
        # differs from v1: no print of every stage
        npool = len(pool_op_kernel_sizes) - 1
        current_shape = np.array(patch_size)
        tmp = (num_conv_per_stage_encoder[0] * 2 + 1) * np.prod(current_shape) * base_num_features \
            + num_modalities * np.prod(current_shape)
        num_feat = base_num_features
        for p in range(1, npool + 1):
            current_shape = current_shape / np.array(pool_op_kernel_sizes[p])
            num_feat = min(num_feat * feat_map_mul_on_downscale, max_num_features)
            num_convs = num_conv_per_stage_encoder[p] * 2 + 1  # + 1 for the conv in the first block's skip
            tmp += num_convs * np.prod(current_shape) * num_feat
        return tmp * batch_size


@mirrors("nnunet.network_architecture.generic_modular_UNet:PlainConvUNetDecoder")
class PlainConvUNetDecoder(nn.Module):
    """The plain decoder of ``FabiansUNet``: per level, a transposed conv, the skip concatenated, conv units.

    Decoder level ``i`` (coarsest first) works at encoder stage ``s = num_stages - 2 - i``: ``tus[i]`` undoes
    the stride of stage ``s + 1`` (kernel = stride = ``pool_op_kernel_sizes[s + 1]``, no bias) to the skip's
    channels, then ``stages[i]`` (``num_blocks_per_stage[i]`` :class:`ConvDropoutNormReLU` units with the
    encoder's kernel of stage ``s``) reduces ``2 * skip`` channels to ``skip``. Heads (1x1(x1), bias):
    ``deep_supervision_outputs`` for every level but the last (built only with ``deep_supervision``) and
    ``segmentation_output`` at full resolution.

    Args:
        previous: the encoder (its stages' channels, kernels and strides are read off it).
        num_classes: output channels.
        num_blocks_per_stage: units per decoder level; None: the encoder's (without the bottleneck), reversed.
        network_props: the ops; None: the encoder's ``props``.
        deep_supervision: return all heads' outputs (a list, full resolution first) instead of one tensor;
            can be switched on and off later through the attribute of the same name.
        upscale_logits: interpolate each deep-supervision output to the patch size (inside its head).
    """

    def __init__(self, previous: ResidualUNetEncoder, num_classes: int,
                 num_blocks_per_stage: Sequence[int] | None = None, network_props: Props | None = None,
                 deep_supervision: bool = False, upscale_logits: bool = False) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.deep_supervision = deep_supervision
        self.props = previous.props if network_props is None else network_props
        if self.props["conv_op"] == nn.Conv2d:
            transpconv, upsample_mode = nn.ConvTranspose2d, "bilinear"
        elif self.props["conv_op"] == nn.Conv3d:
            transpconv, upsample_mode = nn.ConvTranspose3d, "trilinear"
        else:
            raise ValueError(f"unknown convolution dimensionality, conv op: {self.props['conv_op']}")
        if num_blocks_per_stage is None:
            num_blocks_per_stage = previous.num_blocks_per_stage[:-1][::-1]
        assert len(num_blocks_per_stage) == len(previous.num_blocks_per_stage) - 1

        self.stage_pool_kernel_size = previous.stage_pool_kernel_size
        self.stage_output_features = previous.stage_output_features
        self.stage_conv_op_kernel_size = previous.stage_conv_op_kernel_size
        num_stages = len(previous.stages) - 1  # the bottleneck is the encoder's last stage

        cum_upsample = np.cumprod(np.vstack(self.stage_pool_kernel_size), axis=0).astype(int)
        tus, stages, ds_outputs = [], [], []
        for i, s in enumerate(np.arange(num_stages)[::-1]):
            features_below = self.stage_output_features[s + 1]
            features_skip = self.stage_output_features[s]
            up = self.stage_pool_kernel_size[s + 1]
            tus.append(transpconv(features_below, features_skip, up, up, bias=False))
            stages.append(StackedConvLayers(2 * features_skip, features_skip, self.stage_conv_op_kernel_size[s],
                                            self.props, num_blocks_per_stage[i]))
            if deep_supervision and s != 0:
                seg_layer = self.props["conv_op"](features_skip, num_classes, 1, 1, 0, 1, 1, bias=True)
                if upscale_logits:
                    # v1 passes the numpy row as scale_factor (interpolate may not accept it)
                    seg_layer = nn.Sequential(seg_layer, Upsample(scale_factor=cum_upsample[s], mode=upsample_mode))
                ds_outputs.append(seg_layer)
        self.segmentation_output = self.props["conv_op"](features_skip, num_classes, 1, 1, 0, 1, 1, bias=True)
        # registered after segmentation_output, as in v1 (so He init draws segmentation_output's weights first)
        self.tus = nn.ModuleList(tus)
        self.stages = nn.ModuleList(stages)
        self.deep_supervision_outputs = nn.ModuleList(ds_outputs)

    def forward(self, skips: Sequence[torch.Tensor], gt: Any = None,
                loss: Callable[[torch.Tensor, Any], Any] | None = None) -> list[Any] | Any:
        """Skips (full resolution first, bottleneck last) -> logits.

        Returns:
            With ``deep_supervision``: a list, full-resolution logits ``(b, num_classes, *patch)`` first, then
            each coarser level down to the second-lowest. Otherwise the full-resolution logits. With ``gt``
            and ``loss`` given, each output is replaced by ``loss(output, gt)``.
        """
        skips = skips[::-1]
        seg_outputs = []
        x = skips[0]  # the bottleneck
        for i in range(len(self.tus)):
            x = self.tus[i](x)
            x = torch.cat((x, skips[i + 1]), dim=1)
            x = self.stages[i](x)
            if self.deep_supervision and i != len(self.tus) - 1:
                tmp = self.deep_supervision_outputs[i](x)
                seg_outputs.append(loss(tmp, gt) if gt is not None else tmp)
        segmentation = self.segmentation_output(x)
        if self.deep_supervision:
            seg_outputs.append(loss(segmentation, gt) if gt is not None else segmentation)
            return seg_outputs[::-1]
        return segmentation

    @staticmethod
    @mirrors("nnunet.network_architecture.generic_modular_UNet:PlainConvUNetDecoder.compute_approx_vram_consumption")
    def compute_approx_vram_consumption(patch_size: Sequence[int], base_num_features: int, max_num_features: int,
                                        num_classes: int, pool_op_kernel_sizes: Sequence[Sequence[int]],
                                        num_blocks_per_stage_decoder: Sequence[int], feat_map_mul_on_downscale: int,
                                        batch_size: int) -> float:
        """v1's memory proxy of the decoder."""
        # differs from v1: no print of every stage
        npool = len(pool_op_kernel_sizes) - 1
        current_shape = np.array(patch_size)
        tmp = (num_blocks_per_stage_decoder[-1] + 1) * np.prod(current_shape) * base_num_features \
            + num_classes * np.prod(current_shape)
        num_feat = base_num_features
        for p in range(1, npool):
            current_shape = current_shape / np.array(pool_op_kernel_sizes[p])
            num_feat = min(num_feat * feat_map_mul_on_downscale, max_num_features)
            num_convs = num_blocks_per_stage_decoder[-(p + 1)] + 1
            tmp += num_convs * np.prod(current_shape) * num_feat
        return tmp * batch_size


@mirrors("nnunet.network_architecture.generic_modular_residual_UNet:FabiansUNet")
class FabiansUNet(SegmentationNetwork):
    """Residual encoder + plain decoder (see the module docstring): the network of v1's ResencUNet trainers.

    ``nnUNetTrainerV2_ResencUNet`` builds it as ``FabiansUNet(num_input_channels, base_num_features,
    plans['num_blocks_encoder'], 2, pool_op_kernel_sizes, conv_kernel_sizes,
    get_default_network_config(3, None, norm_type="in"), num_classes, plans['num_blocks_decoder'], True,
    False, 320, InitWeights_He(1e-2))`` from plans of v1's ``ExperimentPlanner3DFabiansResUNet_v21``.

    Args:
        input_channels, base_num_features, num_classes: as for ``Generic_UNet``.
        num_blocks_per_stage_encoder: residual blocks per encoder stage (one per conv kernel).
        feat_map_mul_on_downscale: channel growth per stage (2).
        pool_op_kernel_sizes, conv_kernel_sizes: one per encoder stage; the first pool is usually all ones.
        props: :func:`get_default_network_config`. Its ``dropout_op_kwargs['p']`` is set to 0 after the
            encoder is built (v1 changes the caller's dict, so the decoder has no dropout).
        num_blocks_per_stage_decoder: units per decoder level, coarsest first (one fewer than the encoder).
        deep_supervision: the decoder returns all heads (see :class:`PlainConvUNetDecoder`).
        upscale_logits: interpolate the deep-supervision outputs to the patch size.
        max_features: channel cap (the trainers pass 320).
        initializer: applied with ``self.apply`` (e.g. He init), or None for torch's defaults.
        block, block_kwargs: the encoder's block class and extra arguments.
        props_decoder: other ops for the decoder (default ``props``).
    """

    use_this_for_2D_configuration = 1244233721.0
    use_this_for_3D_configuration = 1230348801.0
    default_blocks_per_stage_encoder = (1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4)
    default_blocks_per_stage_decoder = (1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    default_min_batch_size = 2

    def __init__(self, input_channels: int, base_num_features: int, num_blocks_per_stage_encoder: Sequence[int],
                 feat_map_mul_on_downscale: int, pool_op_kernel_sizes: Sequence[Sequence[int]],
                 conv_kernel_sizes: Sequence[Sequence[int]], props: Props, num_classes: int,
                 num_blocks_per_stage_decoder: Sequence[int], deep_supervision: bool = False,
                 upscale_logits: bool = False, max_features: int = 512,
                 initializer: Callable[[nn.Module], None] | None = None, block: type = BasicResidualBlock,
                 props_decoder: Props | None = None, block_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        block_kwargs = {} if block_kwargs is None else block_kwargs
        self.conv_op = props["conv_op"]
        self.num_classes = num_classes
        self.encoder = ResidualUNetEncoder(input_channels, base_num_features, num_blocks_per_stage_encoder,
                                           feat_map_mul_on_downscale, pool_op_kernel_sizes, conv_kernel_sizes,
                                           props, default_return_skips=True, max_num_features=max_features,
                                           block=block, block_kwargs=block_kwargs)
        props["dropout_op_kwargs"]["p"] = 0  # v1 edits the caller's dict: no dropout in the decoder
        self.decoder = PlainConvUNetDecoder(self.encoder, num_classes, num_blocks_per_stage_decoder,
                                            props if props_decoder is None else props_decoder, deep_supervision,
                                            upscale_logits)
        if initializer is not None:
            self.apply(initializer)

    # differs from v1: do_ds reads and sets decoder.deep_supervision. v1's FabiansUNet has no do_ds (v1's
    # ResencUNet trainers switch decoder.deep_supervision themselves and never set do_ds on it); the explorer's
    # loop and sliding window switch do_ds, as nnUNetTrainerV2 does for Generic_UNet.
    @property
    def do_ds(self) -> bool:
        """Deep supervision on (training) or off (validation, inference): ``decoder.deep_supervision``."""
        return bool(self.decoder.deep_supervision)

    @do_ds.setter
    def do_ds(self, value: bool) -> None:
        self.decoder.deep_supervision = value

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """``(b, c, *patch)`` -> logits (a list with deep supervision, see :class:`PlainConvUNetDecoder`)."""
        return self.decoder(self.encoder(x))

    @staticmethod
    @mirrors("nnunet.network_architecture.generic_modular_residual_UNet:FabiansUNet.compute_approx_vram_consumption")
    def compute_approx_vram_consumption(patch_size: Sequence[int], base_num_features: int, max_num_features: int,
                                        num_modalities: int, num_classes: int,
                                        pool_op_kernel_sizes: Sequence[Sequence[int]],
                                        num_conv_per_stage_encoder: Sequence[int],
                                        num_conv_per_stage_decoder: Sequence[int], feat_map_mul_on_downscale: int,
                                        batch_size: int) -> float:
        """v1's memory proxy of the whole network (encoder + decoder), which its planner compares to
        ``use_this_for_3D_configuration``."""
        enc = ResidualUNetEncoder.compute_approx_vram_consumption(
            patch_size, base_num_features, max_num_features, num_modalities, pool_op_kernel_sizes,
            num_conv_per_stage_encoder, feat_map_mul_on_downscale, batch_size)
        dec = PlainConvUNetDecoder.compute_approx_vram_consumption(
            patch_size, base_num_features, max_num_features, num_classes, pool_op_kernel_sizes,
            num_conv_per_stage_decoder, feat_map_mul_on_downscale, batch_size)
        return enc + dec
