"""describe_network (architecture view) and check_network_contract (custom networks)."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.planning.vram import compute_approx_vram_consumption
from nnunet_explorer.training.architecture import describe_network
from nnunet_explorer.training.contract import check_network_contract
from nnunet_explorer.training.deep_supervision import ds_loss_weights, ds_target_shapes
from nnunet_explorer.training.generic_unet import build_network
from nnunet_explorer.training.segmentation_network import (SegmentationNetwork, is_segmentation_network,
                                                           network_type_problem)

POOLS = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
CONVS = [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
PATCH = (8, 16, 16)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return build_network(1, 8, 3, POOLS, CONVS)


def test_describe_network_groups_shapes_and_counts(net):
    weights = ds_loss_weights(POOLS)
    summary = describe_network(net, (2, 1, *PATCH), weights)
    groups = [s.group for s in summary.stages]
    assert groups == ["encoder"] * 3 + ["bottleneck"] + ["decoder"] * 3 + ["deep-supervision head"] * 3
    # every parameter is in exactly one stage
    assert summary.total_params == sum(p.numel() for p in net.parameters()) == sum(s.params for s in summary.stages)
    assert sum(summary.params_by_group().values()) == summary.total_params
    # shapes are those of a real forward pass
    with torch.no_grad():
        outs = net(torch.zeros(2, 1, *PATCH))
    assert summary.output_shapes == tuple(tuple(o.shape) for o in outs)
    heads = summary.heads
    assert [h.ds_index for h in heads] == [0, 1, 2]
    assert [h.output_shape for h in heads] == [tuple(o.shape) for o in outs]
    assert [h.ds_weight for h in heads] == [float(w) for w in weights]
    encoder = [s for s in summary.stages if s.group == "encoder"]
    assert encoder[1].output_shape == (2, 16, 8, 8, 8)  # level 1: pooled by [1, 2, 2], 2 x base channels
    # decoder level k ends at the encoder's resolution and channels of level k
    decoder = {s.level: s for s in summary.stages if s.group == "decoder"}
    assert all(decoder[k].output_shape == encoder[k].output_shape for k in range(3))
    # the proxy is v1's formula for this network; on the CPU the measurement is the hook estimate, labelled
    assert summary.vram_proxy == compute_approx_vram_consumption(PATCH, [2, 3, 3], 8, 320, 1, 3, POOLS)
    assert summary.memory_bytes > 0 and "estimate" in summary.memory_source
    # an estimate in float32 is called one, not "measured", with what fp16 changes
    (line,) = [l for l in summary.to_text().splitlines() if "forward hooks" in l]
    assert line.startswith("estimated: ") and "v1's fp16 autocast on a GPU stores most of them in float16" in line
    # the network was not moved or modified
    assert next(net.parameters()).device.type == "cpu" and net.do_ds


def test_describe_network_renderings(net):
    summary = describe_network(net, (1, 1, *PATCH), ds_loss_weights(POOLS))
    text = summary.to_text()
    for s in summary.stages:
        assert s.name in text
    assert "conv_blocks_context.1.blocks.0: Conv3d 3x3x3 stride 1x2x2" in text
    assert "loss weight 0.0000" in text  # the zero-weighted lowest-resolution head is visible
    html = summary._repr_html_()
    assert len(re.findall("<details>", html)) == len(summary.stages)
    assert "<script" not in html


def test_describe_full_size_network_is_cheap_on_cpu():
    """Shapes of the 30.8M-parameter network at 128^3, batch 2, come from a shape-only (meta) pass."""
    big = build_network(1, 32, 3, [[2, 2, 2]] * 5, [[3, 3, 3]] * 6)
    summary = describe_network(big, (2, 1, 128, 128, 128), ds_loss_weights([[2, 2, 2]] * 5))
    assert summary.output_shapes[0] == (2, 3, 128, 128, 128)
    assert summary.output_shapes[-1] == (2, 3, 8, 8, 8)
    assert summary.memory_bytes > 2 * 32 * 128 ** 3 * 4  # at least the full-resolution feature maps


def test_generic_unet_meets_the_contract(net):
    report = check_network_contract(net, patch_size=PATCH, batch_size=1, num_input_channels=1, num_classes=3,
                                    pool_op_kernel_sizes=POOLS)
    assert report.ok, report.messages
    assert report.output_shapes == tuple((1, 3, *s) for s in ds_target_shapes(PATCH, POOLS))
    assert report.output_shape_without_ds == (1, 3, *PATCH)
    assert net.do_ds is True  # restored


class _Wrapper(SegmentationNetwork):
    """A user network built around Generic_UNet that breaks one rule."""

    def __init__(self, inner: nn.Module, mode: str) -> None:
        super().__init__()
        self.inner, self.mode = inner, mode
        self.do_ds = True
        self.conv_op, self.num_classes = nn.Conv3d, 3
        self.inference_apply_nonlin = None if mode == "no_nonlin" else (lambda x: torch.softmax(x, 1))

    def forward(self, x):
        self.inner.do_ds = self.do_ds or self.mode == "ignores_do_ds"
        out = self.inner(x)
        if isinstance(out, torch.Tensor):
            return out
        if self.mode == "short":
            return out[:-1]
        if self.mode == "reversed":
            return out[::-1]
        if self.mode == "channels":
            return tuple(o[:, :2] for o in out)
        return out


@pytest.mark.parametrize("mode,needle", [
    ("short", "returned 2 outputs, expected len(pool_op_kernel_sizes) = 3"),
    ("reversed", "reverse order"),
    ("channels", "has 2 channels, expected num_classes = 3"),
    ("ignores_do_ds", "must honour do_ds"),
    ("no_nonlin", "inference_apply_nonlin"),
])
def test_contract_violations_are_named(net, mode, needle):
    report = check_network_contract(_Wrapper(net, mode), patch_size=PATCH, batch_size=1, num_input_channels=1,
                                    num_classes=3, pool_op_kernel_sizes=POOLS)
    assert not report.ok
    assert any(needle in m for m in report.errors), report.errors
    with pytest.raises(ConfigurationError, match=re.escape(needle)):
        report.raise_if_failed()


class Plain(nn.Module):
    """A network without ``do_ds`` that returns one tensor: breaks v1's contract in two ways."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 3, 1)

    def forward(self, x):
        return self.conv(x)


def test_contract_without_do_ds_and_broken_forward():
    report = check_network_contract(Plain(), patch_size=PATCH, batch_size=1, num_input_channels=1, num_classes=3,
                                    pool_op_kernel_sizes=POOLS)
    assert any("no attribute do_ds" in m for m in report.errors)
    assert any("not a tuple/list of 3 tensors" in m for m in report.errors)
    # v1's V2.initialize asserts the type: a plain nn.Module is refused there, whatever it returns
    assert any("not a SegmentationNetwork" in m and "assert isinstance(self.network" in m for m in report.errors)
    with pytest.raises(ConfigurationError):
        check_network_contract(Plain(), patch_size=PATCH, batch_size=1, num_input_channels=2, num_classes=3,
                               pool_op_kernel_sizes=POOLS, raise_on_error=True)


def test_contract_on_full_size_network_and_meta_fallback(net):
    big = build_network(1, 32, 3, [[2, 2, 2]] * 5, [[3, 3, 3]] * 6)
    report = check_network_contract(big, patch_size=(128, 128, 128), batch_size=2, num_input_channels=1,
                                    num_classes=3, pool_op_kernel_sizes=[[2, 2, 2]] * 5)
    assert report.ok and report.output_shapes[-1] == (2, 3, 8, 8, 8)

    class NeedsRealData(_Wrapper):
        """Reads a value from the data (impossible on the meta device): checked with a real forward."""

        def forward(self, x):
            self.seen_mean = float(x.mean())
            return super().forward(x)

    wrapped = NeedsRealData(net, "ok")
    report = check_network_contract(wrapped, patch_size=PATCH, batch_size=1, num_input_channels=1, num_classes=3,
                                    pool_op_kernel_sizes=POOLS)
    assert report.ok, report.errors
    assert hasattr(wrapped, "seen_mean")  # the real network ran


def test_which_networks_v1s_initialize_accepts(net):
    """v1's ``isinstance(self.network, (SegmentationNetwork, nn.DataParallel))``: ours, v1's own, DataParallel."""
    from nnunet.network_architecture.neural_network import SegmentationNetwork as V1SegmentationNetwork

    class FromV1(V1SegmentationNetwork):
        def forward(self, x):
            return x

    assert is_segmentation_network(net) and is_segmentation_network(nn.DataParallel(net))
    assert is_segmentation_network(FromV1())
    assert not is_segmentation_network(nn.Conv3d(1, 3, 1))
    assert network_type_problem(net) is None
    assert "torch.nn.modules.conv.Conv3d, not a SegmentationNetwork" in network_type_problem(nn.Conv3d(1, 3, 1))


def test_the_contract_report_speaks_chinese_under_zh_and_english_by_default(monkeypatch):
    """The report's title, every message, its repr and the raised error with its fix follow the language."""
    def report():
        return check_network_contract(Plain(), patch_size=PATCH, batch_size=1, num_input_channels=1, num_classes=3,
                                      pool_op_kernel_sizes=POOLS)

    monkeypatch.delenv("NNUNET_EXPLORER_LANG", raising=False)
    english = report()
    assert "<b>network contract: NOT met</b>" in english._repr_html_()
    assert repr(english) == "ContractReport(4 error(s), 3 warning(s))"
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    chinese = report()
    assert "<b>网络约定：未满足</b>" in chinese._repr_html_() and "<b>错误</b>：" in chinese._repr_html_()
    assert repr(chinese) == "ContractReport(4 个错误, 3 个警告)"
    assert len(chinese.messages) == len(english.messages) == 7
    assert all(re.search(r"[\u4e00-\u9fff]", m) for m in chinese.messages), chinese.messages
    assert any("不是 SegmentationNetwork" in m for m in chinese.errors)
    assert any("网络没有 do_ds 属性" in m for m in chinese.errors)
    assert any("而不是由 3 个张量组成的 tuple/list" in m for m in chinese.errors)
    with pytest.raises(ConfigurationError) as info:
        chinese.raise_if_failed()
    assert info.value.cause.startswith("网络不符合 nnU-Net v1 的网络约定：\n  - ")
    assert info.value.fix.startswith("网络要表现得像 Generic_UNet：让网络派生自 SegmentationNetwork")
    monkeypatch.delenv("NNUNET_EXPLORER_LANG")
    assert report().messages == english.messages
    assert "not a SegmentationNetwork" in english.errors[0]


def _v1_generic_unet() -> nn.Module:
    """v1 1.7.1's own Generic_UNet with POOLS and CONVS, built as nnUNetTrainerV2 builds it (8 base features)."""
    pytest.importorskip("nnunet")
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He

    return Generic_UNet(1, 8, 3, len(POOLS), 2, 2, nn.Conv3d, nn.InstanceNorm3d, {"eps": 1e-5, "affine": True},
                        nn.Dropout3d, {"p": 0, "inplace": True}, nn.LeakyReLU,
                        {"negative_slope": 1e-2, "inplace": True}, True, False, lambda x: x, InitWeights_He(1e-2),
                        POOLS, CONVS, False, True, True)


def test_a_patch_the_pooling_does_not_divide_is_named_as_the_plans_problem_with_its_fix(net):
    """An edited plans file with a patch axis that is no multiple of the pooling product: Generic_UNet's forward
    fails (v1 1.7.1's own Generic_UNet fails the same way, deep in torch.cat); the report puts the plans first and
    the fix names the nearest valid patches, not a network rewrite."""
    patch = (8, 17, 16)  # axis 1: 17 is no multiple of 2 * 2 * 2
    report = check_network_contract(net, patch_size=patch, batch_size=1, num_input_channels=1, num_classes=3,
                                    pool_op_kernel_sizes=POOLS)
    assert report.errors[0].startswith("patch_size (8, 17, 16) is not divisible by the product of the poolings "
                                       "(4, 8, 8) (axis 1): the decoder's upsampled features")
    assert any("Sizes of tensors must match" in e for e in report.errors[1:])
    with pytest.raises(ConfigurationError) as raised:
        report.raise_if_failed()
    assert raised.value.cause.startswith("the plans' patch size does not fit the network's pooling:")
    assert raised.value.fix.startswith("give every axis of the plans' patch_size a multiple of (4, 8, 8) (the product "
                                       "of pool_op_kernel_sizes per axis), e.g. (8, 16, 16) or (8, 24, 16)")
    # the same plans in v1: its Generic_UNet, built as nnUNetTrainerV2 builds it, fails on this patch too
    v1 = _v1_generic_unet()
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        v1(torch.zeros(1, 1, *patch))
    # a network that fails for another reason on such a patch: the plans are not blamed, the network fix stays
    class _Broken(nn.Module):
        do_ds = True

        def forward(self, x):
            raise ValueError("my own bug")

    broken = check_network_contract(_Broken(), patch_size=patch, batch_size=1, num_input_channels=1, num_classes=3,
                                    pool_op_kernel_sizes=POOLS)
    assert broken.undivided_patch is None and any("is not divisible" in w for w in broken.warnings)
    with pytest.raises(ConfigurationError) as raised:
        broken.raise_if_failed()
    assert raised.value.cause.startswith("the network does not fit nnU-Net v1's network contract")
    # the same network on a patch the pooling divides: no error, nothing blamed on the plans
    fine = check_network_contract(net, patch_size=(8, 16, 16), batch_size=1, num_input_channels=1, num_classes=3,
                                  pool_op_kernel_sizes=POOLS)
    assert fine.ok and fine.undivided_patch is None


def test_a_patch_too_small_for_its_pooling_is_named_as_the_plans_problem_with_the_pooling_v1_plans_for_it(net):
    """A patch made smaller in the plans without its pooling: the deepest level has one voxel, and instance norm
    (in v1 1.7.1's own Generic_UNet too) refuses it. The report blames the plans, not the network, and the fix gives
    the pooling v1's planner derives from that patch."""
    from nnunet_explorer.planning.topology import get_pool_and_conv_props

    patch, spacing = (4, 8, 8), (3.0, 1.5, 1.5)  # the product of POOLS is (4, 8, 8)
    report = check_network_contract(net, patch_size=patch, batch_size=1, num_input_channels=1, num_classes=3,
                                    pool_op_kernel_sizes=POOLS, spacing=spacing)
    assert report.errors[0].startswith("patch_size (4, 8, 8) leaves one voxel at the network's deepest level (the "
                                       "product of the poolings is (4, 8, 8)): instance norm cannot normalise")
    assert any("Expected more than 1 spatial element" in e for e in report.errors[1:])
    topology = get_pool_and_conv_props(spacing, patch)
    planned, padded = topology.pool_op_kernel_sizes, [int(v) for v in topology.patch_size]
    assert report.one_voxel_deepest == (patch, (4, 8, 8), (planned, topology.conv_kernel_sizes, padded))
    assert len(planned) < len(POOLS)
    with pytest.raises(ConfigurationError) as raised:
        report.raise_if_failed()
    assert raised.value.cause.startswith("the plans' patch size is too small for the network's pooling:")
    assert raised.value.fix.startswith("with these poolings give the plans' patch_size at least (16, 32, 32) (4 voxels "
                                       "on every pooled axis at the deepest level, as v1's planner keeps), or give the "
                                       "smaller patch the pooling v1's planner derives from it (at this spacing: "
                                       f"pool_op_kernel_sizes {planned}, conv_kernel_sizes "
                                       f"{topology.conv_kernel_sizes}, and the patch padded to {padded})")
    # the pooling and padded patch the fix names build a network that runs
    fitted = build_network(1, 8, 3, topology.pool_op_kernel_sizes, topology.conv_kernel_sizes)
    assert check_network_contract(fitted, patch_size=padded, batch_size=1, num_input_channels=1, num_classes=3,
                                  pool_op_kernel_sizes=topology.pool_op_kernel_sizes).ok
    # v1's own Generic_UNet with these plans fails the same way
    v1 = _v1_generic_unet()
    with pytest.raises(ValueError, match="Expected more than 1 spatial element"):
        v1(torch.zeros(2, 1, *patch))
    # a deepest level of two voxels on one axis runs: nothing is blamed
    assert check_network_contract(net, patch_size=(8, 8, 8), batch_size=1, num_input_channels=1, num_classes=3,
                                  pool_op_kernel_sizes=POOLS).one_voxel_deepest is None


def test_a_one_voxel_deepest_level_under_max_pooling_is_the_plans_problem_too():
    """Max pooling rounds down where v1's strided convolutions round up: a (6, 12, 12) patch under poolings whose
    product is (4, 8, 8) keeps 2 voxels per axis with strided convolutions but 1 with max pooling, and instance
    norm refuses that. The report blames the plans (the patch), not the network."""
    from nnunet_explorer.training.generic_unet import Generic_UNet

    torch.manual_seed(0)
    pooled = Generic_UNet(1, 8, 3, len(POOLS), 2, 2, nn.Conv3d, nn.InstanceNorm3d, {"eps": 1e-5, "affine": True},
                          nn.Dropout3d, {"p": 0}, nn.LeakyReLU, {"negative_slope": 1e-2}, True, False, lambda x: x,
                          None, POOLS, CONVS, False, False, True)  # convolutional_pooling=False: max pooling
    report = check_network_contract(pooled, patch_size=(6, 12, 12), batch_size=1, num_input_channels=1,
                                    num_classes=3, pool_op_kernel_sizes=POOLS)
    assert report.one_voxel_deepest == ((6, 12, 12), (4, 8, 8), None)
    assert report.errors[0].startswith("patch_size (6, 12, 12) leaves one voxel at the network's deepest level")
    with pytest.raises(ConfigurationError, match="too small for the network's pooling"):
        report.raise_if_failed()
    # the strided-convolution network (v1's) keeps 2 voxels per axis on this patch: no one-voxel level to blame
    strided = build_network(1, 8, 3, POOLS, CONVS)
    assert check_network_contract(strided, patch_size=(6, 12, 12), batch_size=1, num_input_channels=1,
                                  num_classes=3, pool_op_kernel_sizes=POOLS).one_voxel_deepest is None
