"""Loss, deep-supervision weights/scales and the LR schedule against the real v1 code."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from nnunet_explorer.training.generic_unet import softmax_helper
from nnunet_explorer.training.deep_supervision import ds_loss_weights, ds_scales, ds_target_shapes
from nnunet_explorer.training.loss import (MultipleOutputLoss2, RobustCrossEntropyLoss, SoftDiceLoss,
                                           trainer_dc_and_ce_loss)
from nnunet_explorer.training.lr_schedule import maybe_update_lr, poly_lr
from nnunet_explorer.training.optim import v1_adam_optimizer_and_scheduler, v2_optimizer

ANISO = [[1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2]]


def _batch(shape_patch, pools, num_classes=3, batch=2, seed=0, dims=3):
    """Random logits for every DS output and matching label maps (targets made by v1's own downsampling)."""
    g = torch.Generator().manual_seed(seed)
    shapes = ds_target_shapes(shape_patch, pools)
    logits = [torch.randn(batch, num_classes, *s, generator=g, requires_grad=True) for s in shapes]
    seg = torch.randint(0, num_classes, (batch, 1, *shape_patch), generator=g).float()
    return logits, seg, shapes


@pytest.mark.parametrize("n,expected", [(3, ["2/3", "1/3", "0"]), (4, ["4/7", "2/7", "1/7", "0"]),
                                        (1, ["1"]), (2, ["1", "0"])])
def test_ds_loss_weights_rule(n, expected):
    """1/2^i, lowest-resolution output zeroed, normalized (derived with exact fractions)."""
    w = ds_loss_weights([[2, 2, 2]] * n)
    assert np.allclose(w, [float(Fraction(e)) for e in expected], rtol=0, atol=1e-15)
    assert w[0] > 0 and abs(w.sum() - 1) < 1e-12


@pytest.mark.parity
@pytest.mark.parametrize("pools,patch", [(ANISO, (16, 32, 32)), ([[2, 2, 2]] * 5, (32, 64, 64)),
                                         ([[2, 2]] * 3, (40, 48)), ([[1, 2, 2], [2, 2, 2], [2, 2, 2]], (16, 40, 40))])
def test_ds_scales_and_target_shapes_match_v1_downsampling(v1, pools, patch):
    scales = ds_scales(pools)
    # v1's expression (nnUNetTrainerV2.setup_DA_params), evaluated on the v1 side
    ref = [[1, 1, 1]] + list(list(i) for i in 1 / np.cumprod(np.vstack(pools), axis=0))[:-1]
    assert len(scales) == len(ref) == len(pools)
    assert all(np.array_equal(np.asarray(a, float), np.asarray(b, float)) for a, b in zip(scales, ref))
    seg = np.zeros((1, 1, *patch), dtype=np.float32)
    v1_out = v1.downsample_seg_for_ds_transform2(seg, ref, order=0, axes=None)
    assert ds_target_shapes(patch, pools) == [tuple(o.shape[2:]) for o in v1_out]


def test_ds_scales_anisotropic_example():
    assert ds_scales(ANISO) == [[1, 1, 1], [1, .5, .5], [1, .25, .25], [.5, .125, .125]]


@pytest.mark.parity
@pytest.mark.parametrize("batch_dice", [True, False], ids=["batch_dice", "sample_dice"])
@pytest.mark.parametrize("dims", [3, 2])
def test_deep_supervision_loss_equals_v1(v1, batch_dice, dims):
    pools = ANISO if dims == 3 else [[2, 2]] * 3
    patch = (8, 16, 16) if dims == 3 else (32, 32)
    logits, seg, _ = _batch(patch, pools, seed=3 + dims)
    targets = [torch.from_numpy(t) for t in v1.downsample_seg_for_ds_transform2(
        seg.numpy(), ds_scales(pools), order=0, axes=None)]
    weights = ds_loss_weights(pools)

    ref_loss = v1.MultipleOutputLoss2(v1.DC_and_CE_loss({'batch_dice': batch_dice, 'smooth': 1e-5, 'do_bg': False},
                                                        {}), weights)
    ours = MultipleOutputLoss2(trainer_dc_and_ce_loss(batch_dice), weights)

    ref_value = ref_loss(logits, targets)
    ref_grads = torch.autograd.grad(ref_value, logits, allow_unused=True)
    our_value, parts = ours.forward_with_parts(logits, targets)
    our_grads = torch.autograd.grad(our_value, logits, allow_unused=True)
    assert float(ours(logits, targets).detach()) == float(our_value.detach())
    assert float(our_value.detach()) == float(ref_value.detach())  # same ops in the same order: bit-identical
    # the zero-weight lowest-resolution output gets no gradient on either side
    assert [g is None for g in our_grads] == [g is None for g in ref_grads] == [w == 0 for w in weights]
    assert all(float((a - b).abs().max()) <= 1e-7 for a, b in zip(our_grads, ref_grads) if a is not None)

    # per-scale parts: each equals v1's CE and SoftDice on that scale
    single = v1.DC_and_CE_loss({'batch_dice': batch_dice, 'smooth': 1e-5, 'do_bg': False}, {})
    assert [p.index for p in parts] == list(range(len(pools)))
    for p, x, y, w in zip(parts, [t.detach() for t in logits], targets, weights):
        assert p.weight == pytest.approx(float(w), abs=0)
        if w == 0:
            assert not p.computed and p.total is None  # v1 skips zero-weight outputs
            continue
        ref_ce = float(single.ce(x, y[:, 0].long()))
        ref_dc = float(single.dc(x, y))
        assert p.ce == pytest.approx(ref_ce, abs=1e-6) and p.dice == pytest.approx(ref_dc, abs=1e-6)
        assert p.total == pytest.approx(float(single(x, y)), abs=1e-6)
        assert p.weighted == pytest.approx(float(w) * p.total, abs=1e-12)
    assert sum(p.weighted for p in parts) == pytest.approx(float(ref_value.detach()), abs=1e-6)


@pytest.mark.parity
def test_single_output_parts_and_dice_terms_equal_v1(v1):
    logits, seg, _ = _batch((8, 12, 12), [[2, 2, 2]], num_classes=4, seed=11)
    x = logits[0].detach()
    for batch_dice in (True, False):
        ref = v1.DC_and_CE_loss({'batch_dice': batch_dice, 'smooth': 1e-5, 'do_bg': False}, {})
        ours = trainer_dc_and_ce_loss(batch_dice)
        parts = ours.parts(x, seg)
        assert parts.total == pytest.approx(float(ref(x, seg)), abs=1e-6)
        assert parts.total == pytest.approx(parts.ce + parts.dice, abs=1e-6)
        ref_dc = v1.SoftDiceLoss(apply_nonlin=v1.softmax_helper, batch_dice=batch_dice, do_bg=False, smooth=1e-5)
        assert float(SoftDiceLoss(softmax_helper, batch_dice, False, 1e-5)(x, seg)) == pytest.approx(float(ref_dc(x, seg)), abs=1e-7)
    # the soft Dice term is minus a mean Dice: within [-1, 0]; a perfect prediction gives about -1
    perfect = torch.nn.functional.one_hot(seg[:, 0].long(), 4).movedim(-1, 1).float() * 50
    assert -1.0 <= trainer_dc_and_ce_loss(False).parts(perfect, seg).dice < -0.999
    assert trainer_dc_and_ce_loss(False).parts(perfect, seg).total < 0  # CE ~ 0, Dice ~ -1: the loss goes negative


def test_robust_ce_accepts_channel_axis():
    x = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 1, 4, 4)).float()
    assert torch.equal(RobustCrossEntropyLoss()(x, y), torch.nn.functional.cross_entropy(x, y[:, 0].long()))


@pytest.mark.parity
def test_poly_lr_sequence_equals_v1(v1):
    ours = [poly_lr(e, 1000, 1e-2, 0.9) for e in range(1001)]
    ref = [v1.poly_lr(e, 1000, 1e-2, 0.9) for e in range(1001)]
    assert ours == ref
    assert ours[0] == 1e-2 and ours[1000] == 0.0


def test_maybe_update_lr_sets_first_group():
    opt = v2_optimizer([torch.nn.Parameter(torch.zeros(2))])
    assert maybe_update_lr(opt, 500) == pytest.approx(1e-2 * 0.5 ** 0.9)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 0.9)


def test_optimizer_settings_match_v1_trainers():
    p = [torch.nn.Parameter(torch.zeros(2))]
    sgd = v2_optimizer(p)
    g = sgd.param_groups[0]
    assert isinstance(sgd, torch.optim.SGD)
    assert (g["lr"], g["momentum"], g["nesterov"], g["weight_decay"]) == (1e-2, 0.99, True, 3e-5)
    adam, sched = v1_adam_optimizer_and_scheduler(p)
    g = adam.param_groups[0]
    assert isinstance(adam, torch.optim.Adam) and g["amsgrad"] and (g["lr"], g["weight_decay"]) == (3e-4, 3e-5)
    assert (sched.mode, sched.factor, sched.patience, sched.threshold, sched.threshold_mode) == \
        ("min", 0.2, 30, 1e-3, "abs")
