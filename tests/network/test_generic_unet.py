"""Generic_UNet against the real v1 Generic_UNet: structure, parameter counts, initialization, outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnunet_explorer.planning.vram import compute_approx_vram_consumption
from nnunet_explorer.training.generic_unet import Generic_UNet, build_network, softmax_helper

# (id, num_input_channels, base, num_classes, pools, convs, threeD, small input patch for a forward pass)
PLANS = [
    ("2d", 2, 32, 3, [[2, 2]] * 3, [[3, 3]] * 4, False, (32, 32)),
    ("3d_isotropic", 1, 32, 3, [[2, 2, 2]] * 3, [[3, 3, 3]] * 4, True, (16, 16, 16)),
    ("3d_anisotropic", 1, 32, 3, [[1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2]],
     [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]], True, (16, 32, 32)),
    ("3d_98_keys", 1, 32, 3, [[2, 2, 2]] * 4 + [[1, 2, 2]], [[3, 3, 3]] * 6, True, (32, 64, 64)),
    ("3d_synthct", 1, 32, 3, [[1, 2, 2], [2, 2, 2], [2, 2, 2]], [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
     True, (16, 40, 40)),
]
IDS = [p[0] for p in PLANS]

# nnunet-v1-facts.md §9.3: counted with the real Generic_UNet (num_classes 3, one input channel)
FACT_COUNTS = [
    ([[2, 2, 2]] * 4 + [[1, 2, 2]], [[3, 3, 3]] * 6, True, 30_785_984),
    ([[2, 2, 2]] * 3, [[3, 3, 3]] * 4, True, 5_602_944),
    ([[1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2]], [[1, 3, 3], [1, 3, 3]] + [[3, 3, 3]] * 3, True, 16_321_728),
    ([[2, 2]] * 7, [[3, 3]] * 8, False, 41_264_352),
]


def _pair(v1, plan, seed=0):
    _, cin, base, ncls, pools, convs, three_d, _ = plan
    torch.manual_seed(seed)
    ref = v1.build(cin, base, ncls, pools, convs, 2, three_d)
    torch.manual_seed(seed)
    ours = build_network(cin, base, ncls, pools, convs, 2, three_d)
    return ref, ours


@pytest.mark.parity
@pytest.mark.parametrize("plan", PLANS, ids=IDS)
def test_state_dict_keys_order_shapes_and_init_equal_v1(v1, plan):
    ref, ours = _pair(v1, plan)
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert list(our_sd) == list(ref_sd)  # same names in the same order
    assert [tuple(t.shape) for t in our_sd.values()] == [tuple(t.shape) for t in ref_sd.values()]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    # same construction order + same He init order => bit-identical initial weights from the same seed
    assert all(torch.equal(our_sd[k], ref_sd[k]) for k in ref_sd)
    # v1's module tree (types, kernel sizes, strides, paddings, biases) is mirrored module by module
    ref_mods = {n: m for n, m in ref.named_modules() if n}
    our_mods = {n: m for n, m in ours.named_modules() if n}
    assert list(our_mods) == list(ref_mods)
    # what a learner sees first in the debugger, print(trainer.network), reads the same line for line
    assert repr(ours) == repr(ref)
    for name, ref_m in ref_mods.items():
        our_m = our_mods[name]
        assert type(our_m).__name__ == type(ref_m).__name__, name
        for attr in ("kernel_size", "stride", "padding", "eps", "affine", "negative_slope", "inplace"):
            if hasattr(ref_m, attr):
                assert getattr(our_m, attr) == getattr(ref_m, attr), (name, attr)
        if hasattr(ref_m, "bias") and isinstance(ref_m, torch.nn.modules.conv._ConvNd):
            assert (our_m.bias is None) == (ref_m.bias is None), name


@pytest.mark.parity
def test_98_key_example_has_98_keys(v1):
    ref, ours = _pair(v1, PLANS[3])
    assert len(ours.state_dict()) == len(ref.state_dict()) == 98
    sd = ours.state_dict()
    # facts §9.2: first-conv strides and transposed-conv shapes of this plan
    assert tuple(sd["tu.0.weight"].shape) == (320, 320, 1, 2, 2)
    assert tuple(sd["seg_outputs.4.weight"].shape) == (3, 32, 1, 1, 1)
    assert ours.conv_blocks_context[5][0].blocks[0].conv.stride == (1, 2, 2)


@pytest.mark.parity
@pytest.mark.parametrize("pools,convs,three_d,expected", FACT_COUNTS,
                         ids=["3d_5pool", "3d_hippocampus", "3d_anisotropic", "2d_7pool"])
def test_parameter_counts_from_facts_both_implementations(v1, pools, convs, three_d, expected):
    ref = v1.build(1, 32, 3, pools, convs, 2, three_d)
    ours = build_network(1, 32, 3, pools, convs, 2, three_d)
    assert sum(p.numel() for p in ref.parameters()) == expected
    assert sum(p.numel() for p in ours.parameters()) == expected
    assert ours.max_num_features == ref.max_num_features == (320 if three_d else 480)


@pytest.mark.parity
@pytest.mark.parametrize("plan", PLANS, ids=IDS)
def test_v1_weights_load_strict_and_outputs_match(v1, plan):
    _, cin, base, ncls, pools, convs, three_d, patch = plan
    torch.manual_seed(1)
    ref = v1.build(cin, base, ncls, pools, convs, 2, three_d)
    ours = build_network(cin, base, ncls, pools, convs, 2, three_d)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)  # and back
    x = torch.randn(2 if np.prod(patch) < 20000 else 1, cin, *patch)
    with torch.no_grad():
        ref_out, our_out = ref(x), ours(x)
        assert isinstance(our_out, tuple) and len(our_out) == len(ref_out) == len(pools)
        diffs = [float((a - b).abs().max()) for a, b in zip(our_out, ref_out)]
        assert [o.shape for o in our_out] == [o.shape for o in ref_out]
        assert max(diffs) < 1e-5, diffs
        # highest resolution first, each level scaled by the poolings so far
        expected = [tuple(patch)]
        for p in pools[:-1]:
            expected.append(tuple(e // k for e, k in zip(expected[-1], p)))
        assert [tuple(o.shape[2:]) for o in our_out] == expected
        ref.do_ds = ours.do_ds = False
        single_ref, single_ours = ref(x), ours(x)
    assert isinstance(single_ours, torch.Tensor) and single_ours.shape == single_ref.shape
    assert float((single_ours - single_ref).abs().max()) < 1e-5


@pytest.mark.parity
def test_attributes_v1_code_relies_on(v1):
    ref, ours = _pair(v1, PLANS[2])
    assert np.array_equal(ours.input_shape_must_be_divisible_by, ref.input_shape_must_be_divisible_by)
    assert ours.conv_op is ref.conv_op and ours.num_classes == ref.num_classes
    assert ours.do_ds is True and ours._deep_supervision is True
    logits = torch.randn(2, 3, 4, 4, 4)
    assert torch.equal(ours.inference_apply_nonlin(logits), v1.softmax_helper(logits))
    assert ours.inference_apply_nonlin is softmax_helper
    # the VRAM proxy is reachable from the network class, as in v1, and gives v1's number
    args = ((64, 160, 160), (4, 5, 5), 32, 320, 1, 3, [[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]])
    assert Generic_UNet.compute_approx_vram_consumption is compute_approx_vram_consumption
    ours = Generic_UNet.compute_approx_vram_consumption(*args)
    assert ours == int(v1.Generic_UNet.compute_approx_vram_consumption(*args))


def test_decoder_kernel_shift():
    """Decoder level k uses conv_kernel_sizes[k + 1] (v1's indexing), not the encoder's kernel of level k."""
    convs = [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
    net = build_network(1, 8, 2, [[1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2]], convs)
    num_pool = 4
    for u, block in enumerate(net.conv_blocks_localization):
        level = num_pool - 1 - u
        assert block[0].blocks[0].conv.kernel_size == tuple(convs[level + 1])
        assert net.conv_blocks_context[level].blocks[0].conv.kernel_size == tuple(convs[level])
    # level 1: decoder 3x3x3 while the encoder is 1x3x3 (facts §9.1)
    assert net.conv_blocks_localization[2][0].blocks[0].conv.kernel_size == (3, 3, 3)
    assert net.conv_blocks_context[1].blocks[0].conv.kernel_size == (1, 3, 3)


def test_he_init_statistics():
    """Kaiming normal with a = 0.01, fan_in: std = sqrt(2 / (1 + a^2) / fan_in); conv biases zero."""
    torch.manual_seed(0)
    net = build_network(1, 32, 3, [[2, 2, 2]] * 3, [[3, 3, 3]] * 4)
    conv = net.conv_blocks_context[2].blocks[1].conv  # 128 -> 128, 3x3x3: fan_in 3456, 442k weights
    expected_std = np.sqrt(2 / (1 + 0.01 ** 2) / (128 * 27))
    assert abs(float(conv.weight.detach().std()) / expected_std - 1) < 0.01
    assert float(conv.bias.detach().abs().max()) == 0.0
    norm = net.conv_blocks_context[2].blocks[1].instnorm
    assert torch.equal(norm.weight, torch.ones_like(norm.weight))
    assert not any("running" in k for k in net.state_dict())


def test_wrong_kernel_lists_are_rejected_naming_the_plans_where_v1_fails_deep_inside(v1):
    """Hand-edited plans: v1 fails with an IndexError while building, or with a convolution's own error at the first
    forward; the explorer says which plans entries disagree, and how they belong together."""
    from nnunet_explorer.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as raised:
        build_network(1, 32, 3, [[2, 2, 2]] * 3, [[3, 3, 3]] * 3)
    assert raised.value.cause == ("Generic_UNet needs len(pool_op_kernel_sizes) + 1 = 4 conv kernel sizes (one per "
                                  "level plus the bottleneck), got 3")
    assert "one conv kernel per pooling plus one for the bottleneck" in raised.value.fix
    with pytest.raises(IndexError):
        v1.build(1, 32, 3, [[2, 2, 2]] * 3, [[3, 3, 3]] * 3, 2, True)
    # a 2-entry patch in 3D plans: nnUNetTrainer builds a 2D network with the 3D kernels
    with pytest.raises(ConfigurationError) as raised:
        build_network(1, 32, 3, [[2, 2, 2]] * 3, [[3, 3, 3]] * 4, threeD=False)
    assert raised.value.cause.startswith("a 2D Generic_UNet (Conv2d) needs kernel sizes of 2 entries each, got pool ")
    assert "the plans' patch_size has 2 entries" in raised.value.cause
    with pytest.raises(RuntimeError, match="stride"):
        v1.build(1, 32, 3, [[2, 2, 2]] * 3, [[3, 3, 3]] * 4, 2, False)(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ConfigurationError, match="3 entries each"):
        build_network(1, 32, 3, [[2, 2]] * 3, [[3, 3]] * 4, threeD=True)
    # one entry edited to the wrong length: that entry is named, not the patch
    with pytest.raises(ConfigurationError) as raised:
        build_network(1, 32, 3, [[2, 2, 2]] * 3, [[1, 3, 3], [3, 3], [3, 3, 3], [3, 3, 3]])
    assert raised.value.cause.endswith("[[3, 3]] of pool [[2, 2, 2], [2, 2, 2], [2, 2, 2]], conv [[1, 3, 3], [3, 3], "
                                       "[3, 3, 3], [3, 3, 3]] have another number")
    # a conv list one too long: v1 builds it without a word (its decoder takes kernels from the list's end)
    v1.build(1, 32, 3, [[2, 2, 2]] * 3, [[1, 3, 3]] + [[3, 3, 3]] * 4, 2, True)
    with pytest.raises(ConfigurationError, match="conv kernel sizes"):
        build_network(1, 32, 3, [[2, 2, 2]] * 3, [[1, 3, 3]] + [[3, 3, 3]] * 4)


@pytest.mark.parity
@pytest.mark.parametrize("conv_per_stage,cin,ncls", [(3, 2, 4), (1, 1, 2)])
def test_other_conv_per_stage_and_channels_match_v1(v1, conv_per_stage, cin, ncls):
    pools, convs = [[1, 2, 2], [2, 2, 2]], [[1, 3, 3], [3, 3, 3], [3, 3, 3]]
    torch.manual_seed(5)
    ref = v1.build(cin, 16, ncls, pools, convs, conv_per_stage, True)
    torch.manual_seed(5)
    ours = build_network(cin, 16, ncls, pools, convs, conv_per_stage, True)
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert list(our_sd) == list(ref_sd)
    assert all(torch.equal(our_sd[k], ref_sd[k]) for k in ref_sd)
    x = torch.randn(1, cin, 4, 8, 8)
    with torch.no_grad():
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ours(x), ref(x)))
