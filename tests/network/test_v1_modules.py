"""Every network piece and optimizer v1's ``nnUNet_variants`` use, against v1 1.7.1's own, in-process.

For each module: the same torch seed before building v1's and the explorer's (through the explorer's v1 module
paths, ``nnunet_explorer.v1...``) must give the same state-dict keys in the same order, the same shapes and
bit-identical values (same modules, same creation order, same random draws); the same input must give
bit-identical outputs (``torch.equal`` on CPU float32) and bit-identical gradients. Ranger must move the same
parameters with the same gradients to bit-identical values. Finally every architectural variant file of v1 is
ported by the one import rule and its ``initialize_network`` must build what v1's builds.
"""
from __future__ import annotations

import ast
import copy
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

pytestmark = pytest.mark.parity

nnunet = pytest.importorskip("nnunet", reason="parity tests need nnunet==1.7.1")

import nnunet.network_architecture.custom_modules.conv_blocks as v1_blocks  # noqa: E402
import nnunet.network_architecture.custom_modules.feature_response_normalization as v1_frn  # noqa: E402
import nnunet.network_architecture.custom_modules.helperModules as v1_helpers  # noqa: E402
import nnunet.network_architecture.custom_modules.mish as v1_mish  # noqa: E402
import nnunet.network_architecture.generic_modular_residual_UNet as v1_res  # noqa: E402
import nnunet.network_architecture.generic_UNet as v1_gu  # noqa: E402
import nnunet.network_architecture.initialization as v1_init  # noqa: E402
import nnunet.network_architecture.neural_network as v1_nn  # noqa: E402
import nnunet.training.optimizer.ranger as v1_ranger  # noqa: E402

import nnunet_explorer.v1.network_architecture.custom_modules.conv_blocks as ex_blocks  # noqa: E402
import nnunet_explorer.v1.network_architecture.custom_modules.feature_response_normalization as ex_frn  # noqa: E402
import nnunet_explorer.v1.network_architecture.custom_modules.helperModules as ex_helpers  # noqa: E402
import nnunet_explorer.v1.network_architecture.custom_modules.mish as ex_mish  # noqa: E402
import nnunet_explorer.v1.network_architecture.generic_modular_residual_UNet as ex_res  # noqa: E402
import nnunet_explorer.v1.network_architecture.generic_UNet as ex_gu  # noqa: E402
import nnunet_explorer.v1.network_architecture.initialization as ex_init  # noqa: E402
import nnunet_explorer.v1.network_architecture.neural_network as ex_nn  # noqa: E402
import nnunet_explorer.v1.training.optimizer.ranger as ex_ranger  # noqa: E402

V1 = types.SimpleNamespace(gu=v1_gu, res=v1_res, blocks=v1_blocks, helpers=v1_helpers, mish=v1_mish, frn=v1_frn,
                           init=v1_init, nn=v1_nn)
EX = types.SimpleNamespace(gu=ex_gu, res=ex_res, blocks=ex_blocks, helpers=ex_helpers, mish=ex_mish, frn=ex_frn,
                           init=ex_init, nn=ex_nn)


# ---------------------------------------------------------------------------------------------- helpers

def _outputs(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_same_state(ref: nn.Module, ours: nn.Module) -> None:
    """Same state-dict keys in the same order, same shapes, bit-identical values (buffers included)."""
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert list(our_sd) == list(ref_sd)
    for key, value in ref_sd.items():
        assert our_sd[key].shape == value.shape, key
        assert our_sd[key].dtype == value.dtype, key
        assert torch.equal(our_sd[key], value), key


def assert_same_forward_backward(ref: nn.Module, ours: nn.Module, x: torch.Tensor, seed: int = 0) -> list:
    """Same input -> bit-identical outputs, parameter gradients and input gradients (train mode).

    The loss weights every output with a fixed random tensor, so that every gradient entry is exercised.
    The seed is reset before each forward pass, for dropout.
    """
    results = []
    for net in (ref, ours):
        xin = x.clone().requires_grad_(True)
        torch.manual_seed(seed)
        outs = _outputs(net(xin))
        gen = torch.Generator().manual_seed(123)
        loss = sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        results.append((outs, grads, xin.grad.clone()))
    (ref_out, ref_grads, ref_xgrad), (our_out, our_grads, our_xgrad) = results
    assert len(our_out) == len(ref_out)
    for a, b in zip(our_out, ref_out):
        assert a.shape == b.shape and torch.equal(a, b)
    assert list(our_grads) == list(ref_grads)
    for name in ref_grads:
        assert torch.equal(our_grads[name], ref_grads[name]), name
    assert torch.equal(our_xgrad, ref_xgrad)
    return our_out


def build_pair(make: Callable[[types.SimpleNamespace], nn.Module], seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """``make(namespace)`` with v1's modules and with the explorer's, each after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    ref = make(V1)
    torch.manual_seed(seed)
    ours = make(EX)
    return ref, ours


# ---------------------------------------------------------------------------------------------- small modules

def test_shim_names_are_the_core_classes():
    from nnunet_explorer.training import generic_unet, network_modules, ranger, residual_unet, segmentation_network

    assert ex_helpers.Identity is network_modules.Identity and ex_helpers.MyGroupNorm is network_modules.MyGroupNorm
    assert ex_mish.Mish is network_modules.Mish and ex_frn.FRN3D is network_modules.FRN3D
    assert ex_blocks.BasicResidualBlock is residual_unet.BasicResidualBlock
    assert ex_res.FabiansUNet is residual_unet.FabiansUNet
    assert ex_nn.SegmentationNetwork is segmentation_network.SegmentationNetwork
    assert ex_ranger.Ranger is ranger.Ranger
    assert ex_gu.ConvDropoutNormNonlin is generic_unet.ConvDropoutNormNonlin
    assert ex_gu.ConvDropoutNonlinNorm is generic_unet.ConvDropoutNonlinNorm
    assert ex_gu.StackedConvLayers is generic_unet.StackedConvLayers
    assert ex_gu.Generic_UNet is generic_unet.Generic_UNet
    assert issubclass(ex_gu.Generic_UNet, ex_nn.SegmentationNetwork)


@pytest.mark.parametrize("name", ["identity", "groupnorm", "groupnorm4", "mish", "frn", "frn_unit"])
def test_small_modules_equal_v1(name):
    x = torch.randn(2, 16, 4, 6, 5)
    makers = {
        "identity": lambda m: m.helpers.Identity(16, eps=1),
        "groupnorm": lambda m: m.helpers.MyGroupNorm(16, eps=1e-5, affine=True),
        "groupnorm4": lambda m: m.helpers.MyGroupNorm(16, 1e-3, True, num_groups=4),
        "mish": lambda m: m.mish.Mish(),
        "frn": lambda m: m.frn.FRN3D(16, eps=1e-6, unused=3),
        "frn_unit": lambda m: m.gu.ConvDropoutNormNonlin(16, 8, nn.Conv3d, None, m.frn.FRN3D, {"eps": 1e-6},
                                                            None, None, m.helpers.Identity, {}),
    }
    ref, ours = build_pair(makers[name])
    assert_same_state(ref, ours)
    if name == "frn":  # learnable scale, shift and threshold: give them values that matter
        with torch.no_grad():
            for net in (ref, ours):
                net.weight.copy_(torch.linspace(0.5, 2, 16).view(1, 16, 1, 1, 1))
                net.tau.fill_(-0.1)
    if name == "identity":  # no parameters: the output is the input itself
        assert ours(x) is x and ref(x) is x
        return
    assert_same_forward_backward(ref, ours, x)


@pytest.mark.parametrize("neg_slope", [1e-2, 0])
def test_init_weights_he_equal_v1(neg_slope):
    def make(m):
        net = nn.Sequential(nn.Conv3d(3, 8, 3, bias=True), nn.ConvTranspose3d(8, 4, 2, 2, bias=False),
                            nn.Conv2d(2, 5, 1), nn.InstanceNorm3d(4, affine=True))
        net.apply(m.init.InitWeights_He(neg_slope))
        return net

    ref, ours = build_pair(make, seed=3)
    assert_same_state(ref, ours)
    assert float(ours[0].bias.abs().max()) == 0.0


# ---------------------------------------------------------------------------------------------- Generic_UNet units

UNIT_CASES = {
    # (name, v1 args after the channels, as the variants pass them through StackedConvLayers)
    "in_lrelu": (nn.Conv3d, nn.InstanceNorm3d, {"eps": 1e-5, "affine": True}, nn.Dropout3d, {"p": 0, "inplace": True},
                 nn.LeakyReLU, {"negative_slope": 1e-2, "inplace": True}),
    "bn_relu_dropout": (nn.Conv3d, nn.BatchNorm3d, {"eps": 1e-5, "affine": True}, nn.Dropout3d,
                        {"p": 0.3, "inplace": True}, nn.ReLU, {"inplace": True}),
    "v1_defaults_2d": (nn.Conv2d, nn.BatchNorm2d, None, nn.Dropout2d, None, nn.LeakyReLU, None),
}


@pytest.mark.parametrize("case", list(UNIT_CASES))
@pytest.mark.parametrize("block", ["ConvDropoutNormNonlin", "ConvDropoutNonlinNorm"])
def test_generic_unet_units_equal_v1(case, block):
    conv_op, norm_op, norm_kw, drop_op, drop_kw, nonlin, nonlin_kw = UNIT_CASES[case]
    three_d = conv_op is nn.Conv3d
    conv_kwargs = {"stride": 1, "dilation": 1, "bias": True, "kernel_size": [1, 3, 3] if three_d else [3, 3],
                   "padding": [0, 1, 1] if three_d else [1, 1]}

    def make(m):
        return m.gu.StackedConvLayers(4, 8, 3, conv_op, copy.deepcopy(conv_kwargs), norm_op, copy.deepcopy(norm_kw),
                                      drop_op, copy.deepcopy(drop_kw), nonlin, copy.deepcopy(nonlin_kw),
                                      [1, 2, 2] if three_d else [2, 2], basic_block=getattr(m.gu, block))

    ref, ours = build_pair(make)
    assert_same_state(ref, ours)
    assert ours.blocks[0].conv.stride == ref.blocks[0].conv.stride and ours.blocks[1].conv.stride == (1,) * (
        3 if three_d else 2)
    assert (ours.blocks[0].dropout is None) == (ref.blocks[0].dropout is None)
    x = torch.randn(2, 4, *((4, 8, 8) if three_d else (8, 8)))
    assert_same_forward_backward(ref, ours, x)
    assert_same_state(ref, ours)  # BatchNorm's running statistics moved alike


# ---------------------------------------------------------------------------------------------- Generic_UNet

POOLS_3D, CONVS_3D = [[1, 2, 2], [2, 2, 2], [2, 2, 2]], [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
POOLS_2D, CONVS_2D = [[2, 2], [2, 2], [2, 1]], [[3, 3], [3, 3], [3, 3], [1, 3]]


def _ops(three_d: bool, norm: str = "in", nonlin: str = "lrelu", p: float = 0) -> dict:
    def by_dim(a, b):
        return a if three_d else b

    norms = {"in": (by_dim(nn.InstanceNorm3d, nn.InstanceNorm2d), {"eps": 1e-5, "affine": True}),
             "bn": (by_dim(nn.BatchNorm3d, nn.BatchNorm2d), {"eps": 1e-5, "affine": True}),
             "gn": ("MyGroupNorm", {"eps": 1e-5, "affine": True, "num_groups": 8}),
             "none": ("Identity", {}), "frn": ("FRN3D", {"eps": 1e-6})}
    nonlins = {"lrelu": (nn.LeakyReLU, {"negative_slope": 1e-2, "inplace": True}),
               "lrelu2": (nn.LeakyReLU, {"inplace": True, "negative_slope": 2e-1}),
               "relu": (nn.ReLU, {"inplace": True}), "gelu": (nn.GELU, {}), "mish": ("Mish", {}),
               "identity": ("Identity", {})}
    return {"conv_op": by_dim(nn.Conv3d, nn.Conv2d), "norm": norms[norm],
            "dropout_op": by_dim(nn.Dropout3d, nn.Dropout2d), "dropout_kwargs": {"p": p, "inplace": True},
            "nonlin": nonlins[nonlin]}


def _resolve(m: types.SimpleNamespace, op: Any) -> Any:
    """Names stand for v1's custom modules: each side gets its own (v1's or the explorer's)."""
    if not isinstance(op, str):
        return op
    return {"MyGroupNorm": m.helpers.MyGroupNorm, "Identity": m.helpers.Identity, "FRN3D": m.frn.FRN3D,
            "Mish": m.mish.Mish}[op]


# id -> (threeD, ops kwargs of _ops, Generic_UNet keyword changes)
UNET_CASES = {
    "v2_3d": (True, {}, {}),
    "relu_he0": (True, {"nonlin": "relu"}, {"weightInitializer": 0}),
    "lrelu_slope_2en1": (True, {"nonlin": "lrelu2"}, {"weightInitializer": 0}),
    "gelu_he_default": (True, {"nonlin": "gelu"}, {"weightInitializer": None}),
    "mish": (True, {"nonlin": "mish"}, {"weightInitializer": 0}),
    "no_normalization": (True, {"norm": "none"}, {}),
    "group_norm": (True, {"norm": "gn"}, {}),
    "batch_norm": (True, {"norm": "bn"}, {}),
    "frn_identity_nonlin": (True, {"norm": "frn", "nonlin": "identity"}, {}),
    "conv_relu_in": (True, {"nonlin": "relu"}, {"basic_block": "ConvDropoutNonlinNorm", "weightInitializer": 0}),
    "bias_in_seg_output": (True, {"nonlin": "relu"}, {"seg_output_use_bias": True, "weightInitializer": 0}),
    "no_deep_supervision": (True, {}, {"deep_supervision": False}),
    "three_conv_per_stage": (True, {}, {"num_conv_per_stage": 3, "base_num_features": 6}),
    "max_num_features": (True, {}, {"max_num_features": 20, "feat_map_mul_on_downscale": 1.5}),
    "upscale_logits": (True, {}, {"upscale_logits": True}),
    "max_pool_interp_upsampling": (True, {}, {"convolutional_pooling": False, "convolutional_upsampling": False}),
    "max_pool_transposed_conv": (True, {}, {"convolutional_pooling": False}),
    "strided_conv_interp_upsampling": (True, {}, {"convolutional_upsampling": False, "upscale_logits": True}),
    "dropout_encoder_only": (True, {"p": 0.3}, {}),
    "dropout_in_localization": (True, {"p": 0.3}, {"dropout_in_localization": True}),
    "v2_2d": (False, {}, {}),
    "gn_2d_no_ds": (False, {"norm": "gn", "nonlin": "relu"}, {"deep_supervision": False}),
    "conv_lrelu_in_2d_upscale": (False, {}, {"basic_block": "ConvDropoutNonlinNorm", "upscale_logits": True}),
    "bn_2d_max_pool": (False, {"norm": "bn"}, {"convolutional_pooling": False, "convolutional_upsampling": False}),
}


def _make_generic_unet(three_d: bool, ops_kw: dict, changes: dict) -> Callable[[types.SimpleNamespace], nn.Module]:
    ops = _ops(three_d, **ops_kw)
    pools, convs = (POOLS_3D, CONVS_3D) if three_d else (POOLS_2D, CONVS_2D)

    def make(m):
        args = dict(input_channels=2, base_num_features=8, num_classes=3, num_pool=len(pools),
                    num_conv_per_stage=2, feat_map_mul_on_downscale=2, conv_op=ops["conv_op"],
                    norm_op=_resolve(m, ops["norm"][0]), norm_op_kwargs=copy.deepcopy(ops["norm"][1]),
                    dropout_op=ops["dropout_op"], dropout_op_kwargs=copy.deepcopy(ops["dropout_kwargs"]),
                    nonlin=_resolve(m, ops["nonlin"][0]), nonlin_kwargs=copy.deepcopy(ops["nonlin"][1]),
                    deep_supervision=True, dropout_in_localization=False, final_nonlin=lambda x: x,
                    weightInitializer=m.init.InitWeights_He(1e-2), pool_op_kernel_sizes=copy.deepcopy(pools),
                    conv_kernel_sizes=copy.deepcopy(convs), upscale_logits=False, convolutional_pooling=True,
                    convolutional_upsampling=True)
        for key, value in changes.items():
            if key == "weightInitializer":
                value = m.init.InitWeights_He() if value is None else m.init.InitWeights_He(value)
            elif key == "basic_block":
                value = getattr(m.gu, value)
            args[key] = value
        # v1's positional order, as the variants call it
        order = ["input_channels", "base_num_features", "num_classes", "num_pool", "num_conv_per_stage",
                 "feat_map_mul_on_downscale", "conv_op", "norm_op", "norm_op_kwargs", "dropout_op",
                 "dropout_op_kwargs", "nonlin", "nonlin_kwargs", "deep_supervision", "dropout_in_localization",
                 "final_nonlin", "weightInitializer", "pool_op_kernel_sizes", "conv_kernel_sizes", "upscale_logits",
                 "convolutional_pooling", "convolutional_upsampling"]
        keywords = {k: v for k, v in args.items() if k not in order}
        return m.gu.Generic_UNet(*[args[k] for k in order], **keywords)

    return make


@pytest.mark.parametrize("case", list(UNET_CASES))
def test_generic_unet_equals_v1(case):
    three_d, ops_kw, changes = UNET_CASES[case]
    ref, ours = build_pair(_make_generic_unet(three_d, ops_kw, changes), seed=7)
    assert_same_state(ref, ours)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert repr(ours) == repr(ref)  # class names, attribute names and every module's arguments
    for (name, a), (_, b) in zip(ours.named_modules(), ref.named_modules()):
        for attr in ("kernel_size", "stride", "padding", "scale_factor", "mode", "p", "eps", "negative_slope"):
            if hasattr(b, attr):
                assert getattr(a, attr) == getattr(b, attr), (name, attr)
    assert np.array_equal(ours.input_shape_must_be_divisible_by, ref.input_shape_must_be_divisible_by)
    assert ours.max_num_features == ref.max_num_features and ours.conv_op is ref.conv_op
    x = torch.randn(2, 2, *((8, 16, 16) if three_d else (16, 16)))
    outs = assert_same_forward_backward(ref, ours, x, seed=11)
    assert_same_state(ref, ours)  # BatchNorm running statistics after the forward pass
    if changes.get("deep_supervision") is False:
        assert len(outs) == 1 and outs[0].shape == (2, 3, *x.shape[2:])
    else:
        assert len(outs) == len(POOLS_3D if three_d else POOLS_2D)
        if changes.get("upscale_logits"):
            assert all(o.shape[2:] == x.shape[2:] for o in outs)
    # validation mode: deep supervision off at run time, eval mode
    ref.do_ds = ours.do_ds = False
    ref.eval(), ours.eval()
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))


def test_generic_unet_refuses_num_pool_that_is_not_the_pool_count():
    from nnunet_explorer.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="num_pool"):
        ex_gu.Generic_UNet(1, 4, 2, 2, pool_op_kernel_sizes=[[2, 2]] * 3, conv_op=nn.Conv2d)
    with pytest.raises(ValueError, match="unknown convolution dimensionality"):
        ex_gu.Generic_UNet(1, 4, 2, 2, conv_op=nn.Conv1d)
    with pytest.raises(ValueError, match="unknown convolution dimensionality"):
        v1_gu.Generic_UNet(1, 4, 2, 2, conv_op=nn.Conv1d)


def test_generic_unet_with_all_v1_defaults_equals_v1():
    """v1's defaults: BatchNorm2d, dropout p 0.5 (encoder only), max-pooling, bilinear upsampling, softmax heads."""
    ref, ours = build_pair(lambda m: m.gu.Generic_UNet(1, 4, 2, 2), seed=2)
    assert_same_state(ref, ours)
    assert any(isinstance(mod, nn.Dropout2d) for mod in ours.modules())
    assert_same_forward_backward(ref, ours, torch.randn(2, 1, 16, 16), seed=5)


# ---------------------------------------------------------------------------------------------- FabiansUNet

RES_POOLS = [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]]
RES_CONVS = [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]


def _make_fabians(dim: int = 3, norm_type: str = "in", deep_supervision: bool = True, dropout_p: float | None = None,
                  nonlin: str = "LeakyReLU", blocks_enc=(1, 2, 2, 2), blocks_dec=(1, 1, 1), max_features: int = 320,
                  initializer: bool = True, block_kwargs: dict | None = None):
    pools = RES_POOLS if dim == 3 else [p[1:] for p in RES_POOLS]
    convs = RES_CONVS if dim == 3 else [k[1:] for k in RES_CONVS]

    def make(m):
        cfg = m.res.get_default_network_config(dim, dropout_p, nonlin=nonlin, norm_type=norm_type)
        return m.res.FabiansUNet(2, 6, list(blocks_enc), 2, copy.deepcopy(pools), copy.deepcopy(convs), cfg, 3,
                                 list(blocks_dec), deep_supervision, False, max_features,
                                 m.init.InitWeights_He(1e-2) if initializer else None,
                                 block_kwargs=copy.deepcopy(block_kwargs))

    return make


def test_fabians_unet_3d_deep_supervision_equals_v1():
    """ResencUNet's network (InstanceNorm, He init, deep supervision) on a small 3D plan."""
    ref, ours = build_pair(_make_fabians(), seed=4)
    assert_same_state(ref, ours)
    sd = ours.state_dict()
    # v1's layout: decoder units register their conv twice (conv.* and all.0.*), heads have a bias
    assert torch.equal(sd["decoder.stages.0.convs.0.conv.weight"], sd["decoder.stages.0.convs.0.all.0.weight"])
    assert "decoder.segmentation_output.bias" in sd and "encoder.initial_conv.bias" not in sd
    assert list(dict(ours.decoder.named_children())) == ["segmentation_output", "tus", "stages",
                                                         "deep_supervision_outputs"]
    assert isinstance(ours, ex_nn.SegmentationNetwork) and isinstance(ref, v1_nn.SegmentationNetwork)
    assert ours.conv_op is ref.conv_op is nn.Conv3d and ours.num_classes == ref.num_classes == 3
    assert ours.input_shape_must_be_divisible_by is None is ref.input_shape_must_be_divisible_by
    x = torch.randn(2, 2, 8, 16, 16)
    outs = assert_same_forward_backward(ref, ours, x, seed=1)
    # a list, full resolution first, one output per encoder stage above the bottleneck
    assert isinstance(ours(x), list) and isinstance(ref(x), list)
    assert [tuple(o.shape) for o in outs] == [(2, 3, 8, 16, 16), (2, 3, 8, 8, 8), (2, 3, 4, 4, 4)]
    # the explorer's do_ds is the decoder's deep_supervision switch (v1 has none: its trainers switch the decoder)
    ours.do_ds = False
    assert ours.decoder.deep_supervision is False
    ref.decoder.deep_supervision = False
    with torch.no_grad():
        single_ours, single_ref = ours(x), ref(x)
    assert torch.is_tensor(single_ours) and torch.equal(single_ours, single_ref)


@pytest.mark.parametrize("kwargs", [
    {"norm_type": "bn"},                                      # ResencUNet_DA3_BN
    {"deep_supervision": False, "nonlin": "ReLU"},
    {"dropout_p": 0.2},                                       # dropout in the encoder's blocks only
    {"max_features": 12, "blocks_enc": (2, 1, 1, 1), "blocks_dec": (2, 1, 2)},
    {"initializer": False},
    {"block_kwargs": {"use_avgpool_in_skip": False}},
    {"dim": 2},
], ids=["bn", "relu_no_ds", "dropout", "small_cap_blocks", "torch_default_init", "block_kwargs", "2d"])
def test_fabians_unet_configurations_equal_v1(kwargs):
    ref, ours = build_pair(_make_fabians(**kwargs), seed=9)
    assert_same_state(ref, ours)
    x = torch.randn(2, 2, *((8, 16, 16) if kwargs.get("dim", 3) == 3 else (16, 16)))
    assert_same_forward_backward(ref, ours, x, seed=3)
    assert_same_state(ref, ours)


def test_fabians_unet_v1_quirks():
    # v1's ResencUNet trainers pass dim 1 for 2D: get_default_network_config raises, so no 2D ResencUNet
    for m in (V1, EX):
        with pytest.raises(NotImplementedError):
            m.res.get_default_network_config(1, None, norm_type="in")
    assert ex_res.get_default_network_config(3, None, norm_type="in") == v1_res.get_default_network_config(
        3, None, norm_type="in")
    assert ex_res.get_default_network_config(2, 0.1, "ReLU", "bn") == v1_res.get_default_network_config(2, 0.1, "ReLU",
                                                                                                        "bn")
    # FabiansUNet sets the caller's dropout p to 0 (after the encoder is built)
    cfgs = []
    for m in (V1, EX):
        cfg = m.res.get_default_network_config(3, 0.4, norm_type="in")
        m.res.FabiansUNet(1, 4, [1, 1], 2, [[1, 1, 1], [2, 2, 2]], [[3, 3, 3]] * 2, cfg, 2, [1])
        cfgs.append(cfg["dropout_op_kwargs"]["p"])
    assert cfgs == [0, 0]
    # upscale_logits: v1 hands a numpy row to interpolate as scale_factor; whatever happens, the same happens here
    results = []
    for m in (V1, EX):
        cfg = m.res.get_default_network_config(3, None, norm_type="in")
        net = m.res.FabiansUNet(1, 4, [1, 1, 1], 2, RES_POOLS[:3], RES_CONVS[:3], cfg, 2, [1, 1], True, True, 320)
        try:
            results.append([tuple(o.shape) for o in net(torch.randn(1, 1, 4, 8, 8))])
        except Exception as exc:  # noqa: BLE001 - the outcome itself is compared
            results.append(type(exc))
    assert results[0] == results[1]
    # the avg-pool skip with a stride: v1 1.7.1 raises NameError (_get_matching_avgPool is undefined); refused here
    from nnunet_explorer.errors import ConfigurationError

    cfg = v1_res.get_default_network_config(3, None, norm_type="in")
    with pytest.raises(NameError):
        v1_blocks.BasicResidualBlock(4, 8, [3, 3, 3], cfg, [2, 2, 2], use_avgpool_in_skip=True)
    with pytest.raises(ConfigurationError, match="use_avgpool_in_skip"):
        ex_blocks.BasicResidualBlock(4, 8, [3, 3, 3], cfg, [2, 2, 2], use_avgpool_in_skip=True)


@pytest.mark.parametrize("args", [
    (4, 8, [3, 3, 3], (2, 2, 1), {}),          # strided, more channels: 1x1 conv + norm in the skip
    (8, 8, [1, 3, 3], None, {}),               # identity skip
    (8, 8, 3, [None, 2, 2], {}),               # scalar kernel, None entries in the stride
    (4, 8, [3, 3, 3], None, {"use_avgpool_in_skip": True}),  # channels change, no stride: avg-pool skip path
])
def test_basic_residual_block_equals_v1(args):
    cin, cout, kernel, stride, extra = args

    def make(m):
        cfg = m.res.get_default_network_config(3, None, norm_type="in")
        return m.blocks.BasicResidualBlock(cin, cout, kernel, cfg, stride, **extra)

    ref, ours = build_pair(make, seed=6)
    assert_same_state(ref, ours)
    assert ours.stride == ref.stride and ours.kernel_size == ref.kernel_size
    assert_same_forward_backward(ref, ours, torch.randn(2, cin, 4, 8, 8))


def test_residual_layer_and_conv_blocks_equal_v1():
    def make(m):
        cfg = m.res.get_default_network_config(2, None, norm_type="bn")
        return nn.Sequential(m.blocks.ResidualLayer(3, 6, [3, 3], cfg, 3, [2, 2]),
                             m.blocks.StackedConvLayers(6, 5, [3, 1], cfg, 2, first_stride=[1, 2]),
                             m.blocks.ConvDropoutNormReLU(5, 4, [1, 1], dict(cfg, norm_op=None)))

    ref, ours = build_pair(make, seed=8)
    assert_same_state(ref, ours)
    assert_same_forward_backward(ref, ours, torch.randn(2, 3, 16, 16))
    assert_same_state(ref, ours)


def test_vram_proxies_equal_v1():
    args = ((64, 128, 128), 32, 320, 1, 3, [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]], (1, 2, 3, 4, 4),
            (1, 1, 1, 1), 2, 2)
    ours, theirs = ex_res.FabiansUNet, v1_res.FabiansUNet
    assert ours.compute_approx_vram_consumption(*args) == theirs.compute_approx_vram_consumption(*args)
    for attr in ("use_this_for_2D_configuration", "use_this_for_3D_configuration", "default_min_batch_size",
                 "default_blocks_per_stage_encoder", "default_blocks_per_stage_decoder"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr


# ---------------------------------------------------------------------------------------------- SegmentationNetwork

def test_predict_3d_and_2d_match_v1():
    """predict_3D / predict_2D (over the explorer's sliding window) give v1's probabilities on the same weights."""
    ref, ours = build_pair(_make_fabians(deep_supervision=False), seed=5)
    from nnunet.utilities.nd_softmax import softmax_helper

    ref.inference_apply_nonlin = ours.inference_apply_nonlin = softmax_helper
    ref.eval(), ours.eval()
    x = np.random.RandomState(0).randn(2, 10, 20, 19).astype(np.float32)
    args = (True, (0, 1, 2), True, 0.5, (8, 16, 16), None, True, "constant", None, False, False, False)
    seg_ref, probs_ref = ref.predict_3D(x, *args)
    seg_ours, probs_ours = ours.predict_3D(x, *args)
    assert probs_ours.shape == probs_ref.shape == (3, 10, 20, 19)
    assert np.abs(probs_ours - probs_ref).max() <= 1e-6
    assert np.array_equal(seg_ours, seg_ref)
    # regions: the last region above 0.5 wins (v1's rule), float32 labels
    seg_regions_ref, _ = ref.predict_3D(x, *args[:5], (1, 2), *args[6:])
    seg_regions_ours, _ = ours.predict_3D(x, *args[:5], (1, 2), *args[6:])
    assert seg_regions_ours.dtype == seg_regions_ref.dtype and np.array_equal(seg_regions_ours, seg_regions_ref)

    ref2, ours2 = build_pair(_make_fabians(dim=2, deep_supervision=False), seed=5)
    ref2.inference_apply_nonlin = ours2.inference_apply_nonlin = softmax_helper
    ref2.eval(), ours2.eval()
    x2 = x[:, 0]
    args2 = (True, (0, 1), True, 0.5, (16, 16), None, True, "constant", None, False, False, False)
    seg_ref, probs_ref = ref2.predict_2D(x2, *args2)
    seg_ours, probs_ours = ours2.predict_2D(x2, *args2)
    assert probs_ours.shape == probs_ref.shape == (3, 20, 19)
    assert np.abs(probs_ours - probs_ref).max() <= 1e-6 and np.array_equal(seg_ours, seg_ref)
    # v1 refuses the 3D default mirror axes for a 2D image; so does the explorer
    for net in (ref2, ours2):
        with pytest.raises(ValueError):
            net.predict_2D(x2, True, (0, 1, 2), True, 0.5, (16, 16), None, True, "constant", None, False, False, False)


def test_segmentation_network_base_attributes_equal_v1():
    ref, ours = v1_nn.SegmentationNetwork(), ex_nn.SegmentationNetwork()
    for attr in ("input_shape_must_be_divisible_by", "conv_op", "num_classes"):
        assert getattr(ours, attr) is None and getattr(ref, attr) is None
    t = torch.randn(3)
    assert torch.equal(ours.inference_apply_nonlin(t), ref.inference_apply_nonlin(t))
    net = build_pair(_make_fabians())[1]
    assert net.get_device() == "cpu"


# ---------------------------------------------------------------------------------------------- Ranger

@pytest.mark.parametrize("kwargs", [{"k": 6, "N_sma_threshhold": 5, "weight_decay": 3e-5},
                                    {"k": 3, "N_sma_threshhold": 4, "weight_decay": 0, "alpha": 0.7,
                                     "betas": (0.9, 0.99), "eps": 1e-6}],
                         ids=["trainer_arguments", "other_arguments"])
def test_ranger_equals_v1(kwargs):
    """v1's Ranger runs on current torch (its add_(scalar, tensor) overloads only warn): 20 steps, same params."""
    ref, ours = build_pair(_make_fabians(blocks_enc=(1, 1, 1, 1)), seed=12)
    opt_ref = v1_ranger.Ranger(ref.parameters(), 3e-3, **kwargs)
    opt_ours = ex_ranger.Ranger(ours.parameters(), 3e-3, **kwargs)
    gen = torch.Generator().manual_seed(0)
    for step in range(20):
        for p_ref, p_ours in zip(ref.parameters(), ours.parameters()):
            g = torch.randn(p_ref.shape, generator=gen)
            p_ref.grad, p_ours.grad = g.clone(), g.clone()
        list(ref.parameters())[0].grad = None  # a parameter without gradient is skipped
        list(ours.parameters())[0].grad = None
        if step == 10:  # the trainers' poly LR changes the group's lr between steps
            opt_ref.param_groups[0]["lr"] = opt_ours.param_groups[0]["lr"] = 1e-3
        with warnings.catch_warnings():  # v1's add_(scalar, tensor) overloads: deprecated, still working
            warnings.simplefilter("ignore", UserWarning)
            opt_ref.step()
        opt_ours.step()
        for p_ref, p_ours in zip(ref.parameters(), ours.parameters()):
            assert torch.equal(p_ours, p_ref), step
    sd_ref, sd_ours = opt_ref.state_dict(), opt_ours.state_dict()
    assert sd_ours["param_groups"] == sd_ref["param_groups"]
    for key, state in sd_ref["state"].items():
        assert sd_ours["state"][key]["step"] == state["step"]
        for name in ("exp_avg", "exp_avg_sq", "slow_buffer"):
            assert torch.equal(sd_ours["state"][key][name], state[name]), (key, name)
    assert opt_ours.radam_buffer == opt_ref.radam_buffer


def test_ranger_refuses_what_v1_refuses():
    p = [nn.Parameter(torch.zeros(2))]
    for bad in ({"alpha": 1.5}, {"k": 0}, {"lr": 0}, {"eps": 0}):
        for cls in (v1_ranger.Ranger, ex_ranger.Ranger):
            with pytest.raises(ValueError):
                cls(p, **{"lr": 1e-3, **bad})


# ---------------------------------------------------------------------------------------------- ported variants

V1_VARIANTS = Path(nnunet.__file__).parent / "training" / "network_training" / "nnUNet_variants"
ROOTS = {"v1": "nnunet", "explorer": "nnunet_explorer.v1"}
TRAINER_PACKAGE = "training.network_training"

# every variant file whose network-building differs from nnUNetTrainerV2 (own or inherited initialize_network)
# Not here: ResencUNet_SimonsInit_DA5 (its network is SimonsInit's; the file imports v1 data-augmentation
# modules the explorer's v1 paths do not have: custom_transforms, downsampling, pyramid_augmentations,
# utilities.set_n_proc_DA) and softDeepSupervision (nnUNetTrainerV2's network; its loss MyDSLoss4 is missing
# in v1 itself).
VARIANT_FILES = {
    "architectural_variants/nnUNetTrainerV2_3ConvPerStage.py": ["nnUNetTrainerV2_3ConvPerStage"],
    "architectural_variants/nnUNetTrainerV2_3ConvPerStage_samefilters.py": ["nnUNetTrainerV2_3ConvPerStageSameFilters"],
    "architectural_variants/nnUNetTrainerV2_BN.py": ["nnUNetTrainerV2_BN", "nnUNetTrainerV2_BN_copy1"],
    "architectural_variants/nnUNetTrainerV2_FRN.py": ["nnUNetTrainerV2_FRN"],
    "architectural_variants/nnUNetTrainerV2_GN.py": ["nnUNetTrainerV2_GN"],
    "architectural_variants/nnUNetTrainerV2_GeLU.py": ["nnUNetTrainerV2_GeLU"],
    "architectural_variants/nnUNetTrainerV2_LReLU_slope_2en1.py": ["nnUNetTrainerV2_LReLU_slope_2en1"],
    "architectural_variants/nnUNetTrainerV2_Mish.py": ["nnUNetTrainerV2_Mish"],
    "architectural_variants/nnUNetTrainerV2_NoNormalization.py": ["nnUNetTrainerV2_NoNormalization"],
    "architectural_variants/nnUNetTrainerV2_NoNormalization_lr1en3.py": ["nnUNetTrainerV2_NoNormalization_lr1en3"],
    "architectural_variants/nnUNetTrainerV2_ReLU.py": ["nnUNetTrainerV2_ReLU"],
    "architectural_variants/nnUNetTrainerV2_ReLU_biasInSegOutput.py": ["nnUNetTrainerV2_ReLU_biasInSegOutput"],
    "architectural_variants/nnUNetTrainerV2_ReLU_convReLUIN.py": ["nnUNetTrainerV2_ReLU_convReLUIN"],
    "architectural_variants/nnUNetTrainerV2_ResencUNet.py": ["nnUNetTrainerV2_ResencUNet"],
    "architectural_variants/nnUNetTrainerV2_ResencUNet_DA3.py": ["nnUNetTrainerV2_ResencUNet_DA3"],
    "architectural_variants/nnUNetTrainerV2_ResencUNet_DA3_BN.py": ["nnUNetTrainerV2_ResencUNet_DA3_BN"],
    "architectural_variants/nnUNetTrainerV2_ResencUNet_SimonsInit.py": ["nnUNetTrainerV2_ResencUNet_SimonsInit"],
    "architectural_variants/nnUNetTrainerV2_allConv3x3.py": ["nnUNetTrainerV2_allConv3x3"],
    "architectural_variants/nnUNetTrainerV2_lReLU_biasInSegOutput.py": ["nnUNetTrainerV2_lReLU_biasInSegOutput"],
    "architectural_variants/nnUNetTrainerV2_lReLU_convlReLUIN.py": ["nnUNetTrainerV2_lReLU_convReLUIN"],
    "architectural_variants/nnUNetTrainerV2_noDeepSupervision.py": ["nnUNetTrainerV2_noDeepSupervision"],
    "data_augmentation/nnUNetTrainerV2_DA3.py": ["nnUNetTrainerV2_DA3_BN"],
}
RESENC = ("ResencUNet",)


def port(source: str) -> str:
    """The one porting rule: ``from nnunet.`` -> ``from nnunet_explorer.v1.``, ``import nnunet.`` likewise."""
    return source.replace("from nnunet.", "from nnunet_explorer.v1.").replace("import nnunet.",
                                                                          "import nnunet_explorer.v1.")


class _StubTrainer:
    """Stands in for v1's (or the explorer's) trainer base classes: only the network building is under test.

    The real trainers are covered by tests/conformance; here a variant class is instantiated without running
    any trainer ``__init__`` and given the attributes ``initialize_network`` reads.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


def _stub_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)

    def __getattr__(attr: str) -> Any:  # noqa: N807 - module-level __getattr__ (PEP 562)
        if attr.startswith("__"):
            raise AttributeError(attr)
        value = type(attr, (_StubTrainer,), {})
        setattr(module, attr, value)
        return value

    module.__getattr__ = __getattr__
    return module


def load_variant(rel: str, side: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """v1's variant file ``rel`` (ported for the explorer), its trainer bases stubbed, other variants loaded too."""
    root = ROOTS[side]
    name = f"{root}.{TRAINER_PACKAGE}.nnUNet_variants.{rel[:-3].replace('/', '.')}"
    if name in sys.modules and getattr(sys.modules[name], "__loaded_by_test__", False):
        return sys.modules[name]
    path = V1_VARIANTS / rel
    source = path.read_text()
    if side == "explorer":
        source = port(source)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"{root}.{TRAINER_PACKAGE}"):
            marker = ".nnUNet_variants."
            if marker in node.module:
                dependency = load_variant(node.module.split(marker)[1].replace(".", "/") + ".py", side, monkeypatch)
            else:
                dependency = _stub_module(node.module)
            monkeypatch.setitem(sys.modules, node.module, dependency)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__loaded_by_test__ = True
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(source, f"{side}:{rel}", "exec"), module.__dict__)  # noqa: S102 - v1's own file
    return module


def _trainer_like(cls: type, three_d: bool) -> Any:
    """An instance of the variant class with the attributes initialize_network reads (as process_plans sets them)."""
    obj = cls.__new__(cls)
    resenc = any(r in cls.__name__ for r in RESENC)
    if three_d:
        pools = RES_POOLS if resenc else [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
        convs = RES_CONVS if resenc else [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
        patch = [8, 16, 16]
    else:
        pools = [p[1:] for p in RES_POOLS] if resenc else [[2, 2], [2, 2], [2, 2]]
        convs = [k[1:] for k in RES_CONVS] if resenc else [[3, 3], [3, 3], [3, 3], [1, 3]]
        patch = [16, 16]
    stage_plans = {"conv_kernel_sizes": copy.deepcopy(convs), "pool_op_kernel_sizes": copy.deepcopy(pools),
                   "num_blocks_encoder": [1, 2, 2, 2], "num_blocks_decoder": [1, 1, 1], "patch_size": patch,
                   "batch_size": 2}
    # v1's process_plans keeps the kernel lists as lists of lists (allConv3x3 assigns into them)
    attrs = dict(threeD=three_d, num_input_channels=2, base_num_features=8, num_classes=3, conv_per_stage=2,
                 net_num_pool_op_kernel_sizes=copy.deepcopy(pools), net_conv_kernel_sizes=copy.deepcopy(convs),
                 patch_size=np.array(patch), stage=0,
                 plans={"plans_per_stage": {0: stage_plans}, "num_classes": 2, "num_modalities": 2})
    for key, value in attrs.items():
        setattr(obj, key, value)
    return obj


VARIANT_PARAMS = [(rel, cls, three_d) for rel, classes in VARIANT_FILES.items() for cls in classes
                  for three_d in (True, False)]


@pytest.mark.parametrize("rel,cls_name,three_d", VARIANT_PARAMS,
                         ids=[f"{c}-{'3d' if t else '2d'}" for _, c, t in VARIANT_PARAMS])
def test_ported_variant_builds_v1s_network(rel, cls_name, three_d, monkeypatch):
    from nnunet.utilities.nd_softmax import softmax_helper as v1_softmax

    built = {}
    for side in ("v1", "explorer"):
        cls = getattr(load_variant(rel, side, monkeypatch), cls_name)
        trainer = _trainer_like(cls, three_d)
        torch.manual_seed(21)
        try:
            cls.initialize_network(trainer)
        except NotImplementedError:  # FRN and ResencUNet have no 2D network in v1
            built[side] = NotImplementedError
            continue
        built[side] = trainer
    if built["v1"] is NotImplementedError:
        assert built["explorer"] is NotImplementedError, "v1 cannot build this network; neither should the explorer"
        assert not three_d
        return
    ref, ours = built["v1"].network, built["explorer"].network
    assert isinstance(ours, ex_nn.SegmentationNetwork)
    assert type(ours).__name__ == type(ref).__name__
    assert_same_state(ref, ours)
    # the trainer's own attributes after initialize_network (allConv3x3 edits net_conv_kernel_sizes in place)
    assert built["explorer"].net_conv_kernel_sizes == built["v1"].net_conv_kernel_sizes
    if "allConv3x3" in cls_name:
        assert all(k == 3 for kernel in built["explorer"].net_conv_kernel_sizes for k in kernel)
    t = torch.randn(2, 3, 4, 4)
    assert torch.equal(ours.inference_apply_nonlin(t), v1_softmax(t))
    x = torch.randn(2, 2, *((8, 16, 16) if three_d else (16, 16)))
    outs = assert_same_forward_backward(ref, ours, x, seed=2)
    if "SimonsInit" in cls_name:  # every residual block starts with norm2 = 0 (adds nothing)
        blocks = [m for m in ours.modules() if isinstance(m, ex_blocks.BasicResidualBlock)]
        assert blocks and all(float(b.norm2.weight.abs().max()) == 0 for b in blocks)
    if "noDeepSupervision" in cls_name:
        assert len(outs) == 1
    else:
        assert len(outs) > 1
