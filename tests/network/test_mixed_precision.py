"""The fp16 lesson: v1's GradScaler branch call by call on a CPU, a skipped step, gradient sizes vs float16."""
from __future__ import annotations

import html
import inspect
import math

import pytest
import torch

from nnunet_explorer.training.mixed_precision import (FP16_SMALLEST_NORMAL, _sizes, centre_crop, fp16_step_lesson,
                                                      pool_factors)

from .test_iteration import POOLS, _batch, _setup


def _v1_scaler_defaults() -> dict:
    """v1's ``_maybe_init_amp`` makes ``GradScaler()``: torch's defaults are v1's settings."""
    from torch.cuda.amp import GradScaler  # what v1 1.7.1 imports

    return {k: p.default for k, p in inspect.signature(GradScaler.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.fixture(scope="module")
def lesson_and_setup():
    net, loss, opt = _setup(seed=3)
    data, target = _batch(seed=3)
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    lesson = fp16_step_lesson(net, loss, opt, data, target, clip_norm=12.0)
    return lesson, net, opt, weights


def test_the_clean_step_is_v1s_sequence_with_its_numbers(lesson_and_setup):
    lesson, *_ = lesson_and_setup
    defaults = _v1_scaler_defaults()
    c = lesson.clean
    assert lesson.output_dtype == "float16" and lesson.loss_dtype == "float32"  # autocast really ran in float16
    assert c.scale == defaults["init_scale"]  # a fresh scaler, as v1's _maybe_init_amp makes it
    # scale(l).backward(): every gradient S times the true one; unscale_ divides it out again
    assert c.norm_scaled == pytest.approx(c.scale * c.norm_unscaled, rel=1e-3)
    assert c.norm_unscaled == pytest.approx(lesson.norm_fp32, rel=0.1)  # float16 arithmetic, same gradient
    assert not c.found_inf and c.weights_changed
    assert c.norm_clipped == pytest.approx(min(c.norm_unscaled, 12.0), rel=1e-4)
    assert c.scale_after == c.scale and c.growth_tracker == 1  # one clean step counted toward growth_interval
    assert lesson.growth_interval == defaults["growth_interval"]
    # clipping the scaled gradients first would leave a norm of 12 / S after unscaling
    assert c.norm_scaled > 12 and lesson.norm_if_clipped_first == pytest.approx(12.0 / c.scale, rel=1e-3)


def test_an_injected_overflow_is_skipped_and_the_scale_halves(lesson_and_setup):
    lesson, *_ = lesson_and_setup
    o = lesson.overflow
    assert o.injected and math.isinf(o.norm_scaled) and o.found_inf
    assert not o.weights_changed  # scaler.step did not call optimizer.step
    assert o.scale == lesson.clean.scale_after
    assert o.scale_after == o.scale * _v1_scaler_defaults()["backoff_factor"] == o.scale / 2
    assert o.growth_tracker == 0


def test_the_lesson_leaves_the_network_and_optimizer_as_they_were(lesson_and_setup):
    _, net, opt, weights = lesson_and_setup
    assert all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())
    assert not opt.state_dict()["state"]  # no momentum buffer: the steps were taken back
    assert all(p.grad is None for p in net.parameters())


def test_loss_scaling_moves_the_gradients_into_float16s_range(lesson_and_setup):
    s = lesson_and_setup[0].sizes
    assert s.entries > 0 and 0 < s.p01 <= s.median <= s.largest
    assert s.below_normal_scaled <= s.below_normal and s.to_zero_scaled <= s.to_zero
    assert s.zeros_scaled <= s.zeros_unscaled


def test_the_share_arithmetic_on_known_values():
    g = torch.tensor([1e-9, 1e-6, 1e-3, 1.0, 0.0])
    sizes = _sizes(g, g.clone(), g.clone(), 65536.0)
    assert sizes.entries == 5
    assert sizes.to_zero == 0.25  # 1e-9 < 2**-25: 0 in float16 (the 0 entry is not counted)
    assert sizes.below_normal == 0.5  # and 1e-6 < 6.1e-5
    # scaled by 2**16: 6.6e-5 is normal, 65536 > 65504 overflows
    assert sizes.below_normal_scaled == 0.0 and sizes.to_zero_scaled == 0.0 and sizes.overflow_scaled == 0.25
    assert FP16_SMALLEST_NORMAL == torch.finfo(torch.float16).tiny


def test_it_starts_from_a_given_scaler_without_changing_it():
    net, loss, opt = _setup(seed=5)
    data, target = _batch(seed=5)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    lesson = fp16_step_lesson(net, loss, opt, data, target, grad_scaler=scaler, clip_norm=None)
    assert lesson.clean.scale == 1024.0 and scaler.get_scale() == 1024.0
    assert lesson.norm_if_clipped_first is None and lesson.clean.norm_clipped == lesson.clean.norm_unscaled


def test_on_a_crop_the_network_gets_a_size_it_accepts():
    assert pool_factors(POOLS) == (4, 8, 8)
    crop = centre_crop((16, 40, 40), (4, 8, 8), 2048)
    sizes = [c for _, c in crop]
    assert math.prod(sizes) <= 2048 and all(c % f == 0 and s % f == 0 for (s, c), f in zip(crop, (4, 8, 8)))
    assert sizes == [8, 16, 16]  # every axis keeps two pooling steps
    assert centre_crop((4, 8, 8), (4, 8, 8), 10) == ((0, 4), (0, 8), (0, 8))  # never below one factor
    net, loss, opt = _setup(seed=6)
    data, target = _batch(seed=6)
    lesson = fp16_step_lesson(net, loss, opt, data, target, max_voxels=512, factors=pool_factors(POOLS), sample=1)
    assert lesson.sample == 1 and lesson.batch_shape == (2, 1, 8, 16, 16)
    assert math.prod(lesson.input_shape[2:]) <= 512 and lesson.input_shape[:2] == (1, 1)
    assert lesson.overflow.scale_after == lesson.overflow.scale / 2


def test_where_the_run_uses_fp16_the_card_shows_its_own_grad_scaler():
    """On a GPU (here: the explorer's CPU AMP) the lesson starts from the trainer's amp_grad_scaler, unchanged."""
    from types import SimpleNamespace

    from nnunet_explorer.walkthrough import IterationLook, _fp16_look

    net, loss, opt = _setup(seed=7)
    data, target = _batch(seed=7)
    trainer = SimpleNamespace(network=net, loss=loss, optimizer=opt, fp16=True, net_num_pool_op_kernel_sizes=POOLS,
                              ds_loss_weights=[1.0], amp_grad_scaler=torch.amp.GradScaler("cpu", init_scale=2.0 ** 10))
    record = SimpleNamespace(fp16_used=True, clip_norm=12.0, loss=1.0)
    lesson, not_shown = _fp16_look(trainer, {"data": data, "target": target}, record, None)
    assert not_shown is None and lesson.scaler_from_trainer and lesson.sample is None  # the whole batch
    assert lesson.clean.scale == 2.0 ** 10 and trainer.amp_grad_scaler.get_scale() == 2.0 ** 10
    look = IterationLook(record, lesson, True)
    card = look._repr_html_()
    assert "The run&#x27;s own numbers" in card and "demonstration" not in card
    assert look.loss == 1.0 and look.fp16_used  # the record's fields read through
    # a lesson that cannot run says why instead of costing the record
    broken = SimpleNamespace(**{**vars(trainer), "net_num_pool_op_kernel_sizes": [[3, 3, 3]]})
    lesson, not_shown = _fp16_look(broken, {"data": data, "target": target}, record, 100)
    assert lesson is None and not_shown
    assert html.escape(not_shown) in IterationLook(record, None, True, not_shown)._repr_html_()


def test_the_card_names_v1s_calls_in_v1s_order_with_its_scaler_settings(lesson_and_setup):
    from nnunet.training.network_training.network_trainer import NetworkTrainer
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2

    from nnunet_explorer.teaching.glossary import TERMS
    from nnunet_explorer.teaching.mixed_precision import clean_rows, overflow_rows
    from nnunet_explorer.teaching.why import WHY

    source = inspect.getsource(nnUNetTrainerV2.run_iteration)
    calls = [row[0] for row in clean_rows(lesson_and_setup[0])]
    assert calls[0].startswith("with autocast(): output = self.network(data)")
    positions = [source.index(call) for call in ["with autocast():", *calls[1:]]]
    assert positions == sorted(positions) and len(calls) == 6  # scale/backward, unscale_, clip, step, update
    assert [row[0] for row in overflow_rows(lesson_and_setup[0])] == calls[2:]
    assert "self.amp_grad_scaler = GradScaler()" in inspect.getsource(NetworkTrainer._maybe_init_amp)
    defaults = _v1_scaler_defaults()
    for text in (TERMS["loss-scaling"].define_en, WHY["iteration"].fact["en"]):
        assert f"2**{int(math.log2(defaults['init_scale']))}" in text and f"{defaults['growth_interval']} clean" in text
        assert defaults["backoff_factor"] == 0.5 and "halve" in text
