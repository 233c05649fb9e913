"""run_iteration against v1's own nnUNetTrainerV2.run_iteration (subprocess) and its record's promises."""
from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.training.deep_supervision import ds_loss_weights, ds_target_shapes
from nnunet_explorer.training.generic_unet import build_network
from nnunet_explorer.training.iteration import run_iteration
from nnunet_explorer.training.loss import MultipleOutputLoss2, trainer_dc_and_ce_loss
from nnunet_explorer.training.optim import v2_optimizer

POOLS = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
CONVS = [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
PATCH = (8, 16, 16)
BASE = 8  # tiny network: the rule under test does not depend on width

# Runs in a fresh interpreter: nnunet's trainer modules import nnunet.paths, which reads the folder variables
# at import time. v1's real run_iteration and run_online_evaluation are called on a stand-in ``self`` that
# carries exactly the attributes they use.
V1_STEP = textwrap.dedent("""
    import sys, types, torch, numpy as np
    from torch import nn
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.training.loss_functions.deep_supervision import MultipleOutputLoss2
    from nnunet.training.loss_functions.dice_loss import DC_and_CE_loss
    from nnunet.training.network_training.nnUNetTrainer import nnUNetTrainer
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
    torch.set_num_threads(1)
    results = []
    for inp in torch.load(sys.argv[1], weights_only=False):
        net = Generic_UNet(1, inp['base'], 3, len(inp['pools']), 2, 2, nn.Conv3d, nn.InstanceNorm3d,
                           {'eps': 1e-5, 'affine': True}, nn.Dropout3d, {'p': 0, 'inplace': True}, nn.LeakyReLU,
                           {'negative_slope': 1e-2, 'inplace': True}, True, False, lambda x: x,
                           InitWeights_He(1e-2), inp['pools'], inp['convs'], False, True, True)
        net.load_state_dict(inp['state'], strict=True)
        dc_ce = DC_and_CE_loss({'batch_dice': inp['batch_dice'], 'smooth': 1e-5, 'do_bg': False}, {})
        trainer = types.SimpleNamespace(network=net, fp16=False, amp_grad_scaler=None,
                                        loss=MultipleOutputLoss2(dc_ce, inp['weights']), online_eval_tp=[],
                                        online_eval_fp=[], online_eval_fn=[], online_eval_foreground_dc=[])
        trainer.optimizer = torch.optim.SGD(net.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99,
                                            nesterov=True)
        # nnUNetTrainerV2.run_online_evaluation forwards output[0] / target[0] to nnUNetTrainer's (via super(),
        # which needs a real instance): call the parent's implementation with exactly those
        trainer.run_online_evaluation = lambda o, t: nnUNetTrainer.run_online_evaluation(trainer, o[0], t[0])
        losses = []
        for _ in range(inp['steps']):
            gen = iter([{'data': inp['data'], 'target': inp['target']}])
            losses.append(float(nnUNetTrainerV2.run_iteration(trainer, gen, True, True)))
        results.append({'state': net.state_dict(), 'losses': losses, 'tp': trainer.online_eval_tp,
                        'fp': trainer.online_eval_fp, 'fn': trainer.online_eval_fn})
    torch.save(results, sys.argv[2])
""")


def _batch(seed=0, batch=2):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(batch, 1, *PATCH)).astype(np.float32)
    target = [rng.integers(0, 3, size=(batch, 1, *s)).astype(np.float32) for s in ds_target_shapes(PATCH, POOLS)]
    return data, target


def _setup(seed=0, batch_dice=False):
    torch.manual_seed(seed)
    net = build_network(1, BASE, 3, POOLS, CONVS)
    loss = MultipleOutputLoss2(trainer_dc_and_ce_loss(batch_dice), ds_loss_weights(POOLS))
    return net, loss, v2_optimizer(net.parameters())


STEPS = 2  # the second step exercises the Nesterov momentum buffer
MODES = [False, True]  # sample Dice, batch Dice


@pytest.fixture(scope="module")
def v1_steps(tmp_path_factory):
    """v1's weights, losses and online-evaluation counts after STEPS iterations, per batch-Dice mode.

    One interpreter for all modes: importing v1's trainer modules takes ~10 s.
    """
    pytest.importorskip("nnunet")
    tmp = tmp_path_factory.mktemp("v1_steps")
    data, target = _batch()
    cases = [{'base': BASE, 'pools': POOLS, 'convs': CONVS, 'state': _setup(batch_dice=bd)[0].state_dict(),
              'batch_dice': bd, 'weights': ds_loss_weights(POOLS), 'data': data, 'target': target,
              'steps': STEPS} for bd in MODES]
    torch.save(cases, tmp / "in.pt")
    (tmp / "v1_step.py").write_text(V1_STEP)
    env = dict(os.environ)
    for var in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER"):
        (tmp / var).mkdir()
        env[var] = str(tmp / var)
    proc = subprocess.run([sys.executable, str(tmp / "v1_step.py"), str(tmp / "in.pt"), str(tmp / "out.pt")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(zip(MODES, torch.load(tmp / "out.pt", weights_only=False)))


@pytest.mark.parity
@pytest.mark.parametrize("batch_dice", MODES, ids=["sample_dice", "batch_dice"])
def test_sgd_steps_match_v1_run_iteration(v1_steps, batch_dice):
    net, loss, opt = _setup(batch_dice=batch_dice)
    data, target = _batch()
    steps = STEPS
    ref = v1_steps[batch_dice]

    records = [run_iteration(net, loss, opt, data, target, run_online_evaluation=True) for _ in range(steps)]
    # the loss v1 returns at each step
    assert [r.loss for r in records] == pytest.approx(ref['losses'], abs=1e-6)
    ours = net.state_dict()
    diffs = {k: float((ours[k] - ref['state'][k]).abs().max()) for k in ours}
    print(f"max abs weight diff after {steps} steps: {max(diffs.values()):.3g}")
    assert max(diffs.values()) < 1e-6, sorted(diffs.items(), key=lambda kv: -kv[1])[:3]
    # and the weights did move (so the comparison is not trivially equal)
    assert any(not torch.equal(ours[k], net_init) for k, net_init in _setup(batch_dice=batch_dice)[0]
               .state_dict().items())
    # online evaluation: v1's per-class hard tp/fp/fn on output 0
    for rec, tp, fp, fn in zip(records, ref['tp'], ref['fp'], ref['fn']):
        assert rec.online_evaluation.tp == pytest.approx([float(v) for v in tp])
        assert rec.online_evaluation.fp == pytest.approx([float(v) for v in fp])
        assert rec.online_evaluation.fn == pytest.approx([float(v) for v in fn])


def test_record_contents_and_clipping():
    net, loss, opt = _setup(seed=1)
    data, target = _batch(seed=1)
    rec = run_iteration(net, loss, opt, data, target, clip_norm=1e-3)
    assert rec.did_backprop and rec.clipped and not rec.fp16_used and rec.device == "cpu"
    assert rec.grad_norm_before_clip > 1e-3
    assert rec.grad_norm_after_clip == pytest.approx(1e-3, rel=1e-3)
    assert rec.learning_rate == 1e-2
    assert rec.input_shape == (2, 1, *PATCH)
    assert rec.output_shapes == tuple((2, 3, *s) for s in ds_target_shapes(PATCH, POOLS))
    assert rec.target_shapes == rec.output_shapes[:0] + tuple((2, 1, *s) for s in ds_target_shapes(PATCH, POOLS))
    assert rec.loss == pytest.approx(sum(p.weighted for p in rec.scale_parts), abs=1e-6)
    assert [p.computed for p in rec.scale_parts] == [True, True, False]
    assert rec.nonfinite is None and rec.online_evaluation is None
    assert min(rec.seconds_transfer, rec.seconds_forward, rec.seconds_backward) >= 0
    assert rec.seconds_total >= rec.seconds_forward + rec.seconds_backward
    for value in (rec.loss, rec.grad_norm_before_clip, rec.learning_rate, rec.seconds_total):
        assert type(value) is float
    # no clipping when the norm is below the threshold: after == before
    rec2 = run_iteration(net, loss, opt, data, target, clip_norm=1e6)
    assert not rec2.clipped and rec2.grad_norm_after_clip == pytest.approx(rec2.grad_norm_before_clip, rel=1e-5)
    # the one-line view says whether clipping cut the norm, in the reader's language
    from nnunet_explorer.language import ENV_VAR

    assert "(clipped), 3 outputs" in repr(rec) and "(not clipped), 3 outputs" in repr(rec2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VAR, "zh")
        assert repr(rec2).startswith(f"IterationRecord（损失 {rec2.loss:.4f}，学习率 0.01，梯度范数 ")
        assert "（未裁剪），3 个输出，在 cpu 上用时 " in repr(rec2)
        # the step card: each field's meaning under its name; the loss parts as sentences
        from nnunet_explorer.explore.html import value_html

        card = value_html(rec2)
        assert "<code>did_backprop</code><br><span class='nnx-meta'>是否做了反向传播和优化器更新</span>" in card
        assert repr(rec2.scale_parts[2]) == "输出 2：权重 0，不计算它的损失"
    assert set(type(rec).FIELD_LABELS) == {f.name for f in dataclasses.fields(rec)}
    assert repr(rec.scale_parts[0]).startswith(f"output 0: weight {rec.scale_parts[0].weight:.4g}, CE ")


def test_validation_iteration_changes_nothing():
    net, loss, opt = _setup(seed=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    data, target = _batch(seed=2)
    rec = run_iteration(net, loss, opt, data, target, do_backprop=False, run_online_evaluation=True)
    assert not rec.did_backprop and rec.grad_norm_before_clip is None
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    ev = rec.online_evaluation
    assert len(ev.tp) == 2  # foreground classes 1 and 2
    # every foreground voxel of the target is either a tp or a fn
    t0 = target[0]
    assert [a + b for a, b in zip(ev.tp, ev.fn)] == [float((t0 == c).sum()) for c in (1, 2)]


def test_nonfinite_is_located():
    net, loss, opt = _setup(seed=3)
    data, target = _batch(seed=3)
    data[0, 0, 0, 0, 0] = np.nan
    rec = run_iteration(net, loss, opt, data, target)
    assert rec.nonfinite == "input"
    assert math.isnan(rec.loss)
    # finite input but a poisoned weight: the first place is the network output
    net, loss, opt = _setup(seed=3)
    with torch.no_grad():
        net.seg_outputs[-1].weight[0, 0] = float("inf")
    rec = run_iteration(net, loss, opt, *_batch(seed=3))
    assert rec.nonfinite == "output[0]"


def test_single_output_loss_and_do_ds_mismatch():
    net, _, opt = _setup(seed=4)
    data, target = _batch(seed=4)
    with pytest.raises(ConfigurationError, match="do_ds"):
        net.do_ds = False
        run_iteration(net, MultipleOutputLoss2(trainer_dc_and_ce_loss(False), ds_loss_weights(POOLS)), opt, data, target)
    rec = run_iteration(net, trainer_dc_and_ce_loss(False), opt, data, target[0])
    assert len(rec.output_shapes) == 1 and rec.scale_parts[0].ce is not None
    assert rec.loss == pytest.approx(rec.scale_parts[0].ce + rec.scale_parts[0].dice, abs=1e-6)


@pytest.mark.parametrize("clip_norm", [1e-3, 12.0, 1e6])
def test_clipping_is_torchs_clip_grad_norm_bit_for_bit(clip_norm):
    from nnunet_explorer.training.iteration import _clip_grad_norm

    net, loss, _ = _setup(seed=5)
    data, target = _batch(seed=5)
    total, _parts = loss.forward_with_parts(list(net(torch.from_numpy(data))), [torch.from_numpy(t) for t in target])
    total.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    reference = [g.clone() for g in grads]
    reference_norm = float(torch.nn.utils.clip_grad_norm_(_with_grads(reference), clip_norm))
    before, after, per_param = _clip_grad_norm(grads, clip_norm)
    assert before == reference_norm
    assert all(torch.equal(a, b) for a, b in zip(grads, reference))
    assert per_param.shape == (len(grads),) and bool(torch.isfinite(per_param).all())
    measured = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
    assert after == pytest.approx(measured, rel=1e-5) and after <= min(before, clip_norm) * (1 + 1e-5)


def _with_grads(grads):
    """Parameters whose .grad are the given tensors (clip_grad_norm_ modifies them in place)."""
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros_like(g))
        p.grad = g
        params.append(p)
    return params
