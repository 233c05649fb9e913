"""Every loss v1's trainer variants import, under v1's module and name, equals v1 1.7.1's bit for bit.

Each loss is built twice with the same arguments, once from ``nnunet.training.loss_functions`` (v1, imported
in-process) and once from ``nnunet_explorer.v1.training.loss_functions`` (the explorer's shim over its own
code), and evaluated on the same random logits and label maps: 2D and 3D, float32 and float64, batch and
sample Dice, with and without background, a label map in which a class is absent, several seeds. The values
and the gradients with respect to the logits must be *equal* (``==``, NaN matching NaN), not close.

The second half ports each file of v1's ``nnUNet_variants/loss_function`` by the one import rule and checks
that its ``__init__`` builds the loss the file asks for, which then computes exactly what v1's would.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

from nnunet_explorer.errors import ConfigurationError

pytestmark = pytest.mark.parity

V1_LOSS_VARIANTS = (Path(__import__("nnunet").__file__).parent / "training" / "network_training" / "nnUNet_variants"
                    / "loss_function") if importlib.util.find_spec("nnunet") else None


# ----------------------------------------------------------------------------------------- both sides
def _v1_focal_loss_module() -> types.ModuleType:
    """v1's ``focal_loss.py``, loaded without the trainer it imports (and never uses).

    Importing ``nnunet.training.network_training.nnUNetTrainerV2`` would import ``nnunet.paths``, which reads the
    folder variables once per process; a placeholder module stands in for it while the file is loaded.
    """
    path = Path(importlib.util.find_spec("nnunet").origin).parent / "training" / "loss_functions" / "focal_loss.py"
    trainer_module = "nnunet.training.network_training.nnUNetTrainerV2"
    placeholder = types.ModuleType(trainer_module)
    placeholder.nnUNetTrainerV2 = object
    importlib.import_module("nnunet.training.network_training")
    saved = sys.modules.get(trainer_module)
    sys.modules[trainer_module] = placeholder
    try:
        spec = importlib.util.spec_from_file_location("v1_focal_loss_under_test", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules[trainer_module]
        else:
            sys.modules[trainer_module] = saved
    return module


@pytest.fixture(scope="module")
def sides() -> dict[str, types.SimpleNamespace]:
    """``{"v1": ..., "explorer": ...}``: the loss modules of each side under the same attribute names."""
    pytest.importorskip("nnunet", reason="parity tests need nnunet==1.7.1")
    out = {}
    for side, root in (("v1", "nnunet"), ("explorer", "nnunet_explorer.v1")):
        mods = {name: importlib.import_module(f"{root}.training.loss_functions.{name}")
                for name in ("dice_loss", "TopK_loss", "crossentropy", "deep_supervision")}
        mods["focal_loss"] = (_v1_focal_loss_module() if side == "v1"
                              else importlib.import_module(f"{root}.training.loss_functions.focal_loss"))
        mods["softmax_helper"] = importlib.import_module(f"{root}.utilities.nd_softmax").softmax_helper
        out[side] = types.SimpleNamespace(**mods)
    assert out["explorer"].dice_loss.__name__.startswith("nnunet_explorer.")
    return out


def _data(dims: int, seed: int, absent: bool, num_classes: int = 4, dtype: torch.dtype = torch.float32,
          batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(b, C, ...)`` and a float label map ``(b, 1, ...)``; odd sizes (no power-of-two voxel counts).

    ``absent``: the last class never occurs in the label map.
    """
    g = torch.Generator().manual_seed(1000 * seed + dims)
    shape = (6, 5, 7) if dims == 3 else (11, 9)
    logits = (3 * torch.randn(batch, num_classes, *shape, generator=g)).to(dtype)
    high = num_classes - 1 if absent else num_classes
    target = torch.randint(0, high, (batch, 1, *shape), generator=g).to(dtype)
    return logits, target


def _equal(a: Any, b: Any) -> bool:
    """Same dtype, shape and values (NaN equals NaN; +0 equals -0)."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return a == b
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())


def _run(loss: nn.Module, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(value, gradient w.r.t. the logits, the target afterwards)`` of a scalar loss."""
    x = logits.clone().requires_grad_(True)
    y = target.clone()
    value = loss(x, y)
    value.backward()
    return value.detach(), x.grad, y


def assert_same(theirs: nn.Module, mine: nn.Module, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    v_theirs, g_theirs, y_theirs = _run(theirs, logits, target)
    v_mine, g_mine, y_mine = _run(mine, logits, target)
    assert _equal(v_mine, v_theirs), (float(v_mine), float(v_theirs), float(v_mine - v_theirs))
    assert _equal(g_mine, g_theirs), float((g_mine - g_theirs).abs().max())
    assert _equal(y_mine, y_theirs), "the target after the call"  # v1 changes it in place with ignore_label
    return v_mine


# Each case builds a loss from one side's modules ``m`` for (batch_dice, do_bg); name -> factory.
Factory = Callable[[types.SimpleNamespace, bool, bool], nn.Module]
SOFTMAX_CASES: dict[str, Factory] = {
    "SoftDiceLoss": lambda m, bd, bg: m.dice_loss.SoftDiceLoss(
        **{'apply_nonlin': m.softmax_helper, 'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}),
    "SoftDiceLoss(smooth=0)": lambda m, bd, bg: m.dice_loss.SoftDiceLoss(m.softmax_helper, bd, bg, 0),
    "SoftDiceLossSquared": lambda m, bd, bg: m.dice_loss.SoftDiceLossSquared(
        **{'apply_nonlin': m.softmax_helper, 'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}),
    "MCCLoss": lambda m, bd, bg: m.dice_loss.MCCLoss(apply_nonlin=m.softmax_helper, batch_mcc=bd, do_bg=bg,
                                                      smooth=0.0),
    "MCCLoss(smooth=1e-3)": lambda m, bd, bg: m.dice_loss.MCCLoss(m.softmax_helper, bd, bg, 1e-3),
    "GDL": lambda m, bd, bg: m.dice_loss.GDL(m.softmax_helper, batch_dice=bd, do_bg=bg, smooth=1e-5),
    "GDL(square, square_volumes)": lambda m, bd, bg: m.dice_loss.GDL(m.softmax_helper, bd, bg, 1e-5, True, True),
    "GDL_and_CE_loss": lambda m, bd, bg: m.dice_loss.GDL_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}),
    "DC_and_topk_loss": lambda m, bd, bg: m.dice_loss.DC_and_topk_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {'k': 10}),
    "DC_and_topk_loss(square_dice, k=37)": lambda m, bd, bg: m.dice_loss.DC_and_topk_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {'k': 37}, square_dice=True),
    "DC_and_CE_loss": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}),
    "DC_and_CE_loss(defaults)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss({'batch_dice': bd}, {}),
    "DC_and_CE_loss(weight_ce=2, weight_dice=0)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}, weight_ce=2, weight_dice=0),
    "DC_and_CE_loss(weight_ce=0, weight_dice=2)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}, weight_ce=0, weight_dice=2),
    "DC_and_CE_loss(weights 1.232, 0.768)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}, weight_ce=2 - 2 / 250 * 96, weight_dice=2 / 250 * 96),
    "DC_and_CE_loss(square_dice)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}, square_dice=True),
    "DC_and_CE_loss(log_dice)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}, log_dice=True),
    "DC_and_CE_loss(ignore_label=1)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}, ignore_label=1),
    "DC_and_CE_loss(ignore_label=1, weight_ce=0)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': bg}, {}, weight_ce=0, ignore_label=1),
    "DC_and_CE_loss(ce weights)": lambda m, bd, bg: m.dice_loss.DC_and_CE_loss(
        {'batch_dice': bd, 'smooth': 0, 'do_bg': bg}, {'weight': torch.tensor([.5, 1., 2., 3.])}),
    "TopKLoss": lambda m, bd, bg: m.TopK_loss.TopKLoss(k=10),
    "TopKLoss(k=50, ignore_index=2)": lambda m, bd, bg: m.TopK_loss.TopKLoss(ignore_index=2, k=50),
    "RobustCrossEntropyLoss": lambda m, bd, bg: m.crossentropy.RobustCrossEntropyLoss(),
    "FocalLossV2": lambda m, bd, bg: m.focal_loss.FocalLossV2(
        apply_nonlin=nn.Softmax(dim=1), **{'alpha': 0.5, 'gamma': 2, 'smooth': 1e-5}),
    "FocalLoss(alpha=None, sum)": lambda m, bd, bg: m.focal_loss.FocalLoss(m.softmax_helper, size_average=False),
    "FocalLoss(alpha list, gamma 1.5, balance 2)": lambda m, bd, bg: m.focal_loss.FocalLoss(
        m.softmax_helper, alpha=[1, 2, 3, 4], gamma=1.5, balance_index=2, smooth=1e-3),
    "FocalLoss(alpha=0.25, balance_index=1, smooth=0)": lambda m, bd, bg: m.focal_loss.FocalLoss(
        m.softmax_helper, alpha=0.25, balance_index=1, smooth=0),
}
# losses whose result does not depend on batch_dice / do_bg: run them once per (dims, seed, dtype, absent)
_NO_DICE_OPTIONS = {"TopKLoss", "TopKLoss(k=50, ignore_index=2)", "RobustCrossEntropyLoss", "FocalLossV2",
                    "FocalLoss(alpha=None, sum)", "FocalLoss(alpha list, gamma 1.5, balance 2)",
                    "FocalLoss(alpha=0.25, balance_index=1, smooth=0)"}


def _dice_options(name: str) -> list[tuple[bool, bool]]:
    return [(False, False)] if name in _NO_DICE_OPTIONS else [(bd, bg) for bd in (True, False) for bg in (True, False)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("absent", [False, True], ids=["all_classes", "class_absent"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("name", list(SOFTMAX_CASES))
def test_loss_value_and_gradient_equal_v1(sides, name, dims, seed, absent, dtype):
    logits, target = _data(dims, seed, absent, dtype=dtype)
    for batch_dice, do_bg in _dice_options(name):
        theirs = SOFTMAX_CASES[name](sides["v1"], batch_dice, do_bg)
        mine = SOFTMAX_CASES[name](sides["explorer"], batch_dice, do_bg)
        if "ce weights" in name:  # the class weights must have the logits' dtype (in v1 too)
            theirs.ce.weight, mine.ce.weight = theirs.ce.weight.to(dtype), mine.ce.weight.to(dtype)
        value = assert_same(theirs, mine, logits, target)
        assert value.ndim == 0


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dims", [2, 3])
def test_dc_and_bce_loss_on_region_targets_equals_v1(sides, dims, seed):
    """v1's BraTS loss: sigmoid Dice + BCE on overlapping one-hot-like regions ``(b, R, ...)``."""
    logits, labels = _data(dims, seed, absent=False)
    regions = torch.cat([(labels > 0), (labels > 1), (labels == 3)], 1).float()  # nested regions
    for batch_dice in (True, False):
        kwargs = ({}, {'batch_dice': batch_dice, 'do_bg': True, 'smooth': 0})
        assert_same(sides["v1"].dice_loss.DC_and_BCE_loss(*kwargs), sides["explorer"].dice_loss.DC_and_BCE_loss(*kwargs),
                    logits[:, :3], regions)
    sig = lambda m: m.dice_loss.SoftDiceLoss(apply_nonlin=torch.sigmoid, **{'batch_dice': False, 'do_bg': True,
                                                                             'smooth': 0})
    assert_same(sig(sides["v1"]), sig(sides["explorer"]), logits[:, :3], regions)


@pytest.mark.parametrize("dims", [2, 3])
def test_v1_defaults_of_the_dice_classes(sides, dims):
    """Built with no arguments (v1: no non-linearity, background counted, smooth 1): same values."""
    logits, target = _data(dims, 4, absent=True)
    probs = torch.softmax(logits, 1)
    for name in ("SoftDiceLoss", "SoftDiceLossSquared", "MCCLoss", "GDL"):
        assert_same(getattr(sides["v1"].dice_loss, name)(), getattr(sides["explorer"].dice_loss, name)(), probs, target)
    assert_same(sides["v1"].TopK_loss.TopKLoss(), sides["explorer"].TopK_loss.TopKLoss(), logits, target)


def test_one_hot_targets_and_loss_mask_equal_v1(sides):
    """A target already one-hot ``(b, C, ...)`` is used as is; ``loss_mask`` ``(b, 1, ...)`` masks voxels."""
    logits, target = _data(3, 5, absent=True)
    onehot = torch.zeros_like(logits).scatter_(1, target.long(), 1)
    mask = (torch.rand(target.shape, generator=torch.Generator().manual_seed(0)) > 0.3).float()
    for bd in (True, False):
        for name, build in [("SoftDiceLoss", lambda m: m.dice_loss.SoftDiceLoss(m.softmax_helper, bd, False, 1e-5)),
                            ("SoftDiceLossSquared", lambda m: m.dice_loss.SoftDiceLossSquared(m.softmax_helper, bd)),
                            ("MCCLoss", lambda m: m.dice_loss.MCCLoss(m.softmax_helper, bd, False)),
                            ("GDL", lambda m: m.dice_loss.GDL(m.softmax_helper, bd, False, 1e-5))]:
            theirs, mine = build(sides["v1"]), build(sides["explorer"])
            assert_same(theirs, mine, logits, onehot)
            if name != "SoftDiceLossSquared":  # v1's squared Dice ignores the mask
                masked = [lambda x, y, loss=loss: loss(x, y, mask) for loss in (theirs, mine)]
                assert_same(_Wrap(masked[0]), _Wrap(masked[1]), logits, target)


class _Wrap(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fn(x, y)


# --------------------------------------------------------------------- deep supervision with every loss
def _ds_batch(seed: int, dims: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Three outputs at decreasing resolution and their (nearest-downsampled) label maps."""
    g = torch.Generator().manual_seed(seed)
    full = (8, 11, 10) if dims == 3 else (23, 20)
    seg = torch.randint(0, 3, (2, 1, *full), generator=g).float()
    targets = [seg[(slice(None), slice(None)) + tuple(slice(None, None, 2 ** i) for _ in full)] for i in range(3)]
    logits = [3 * torch.randn(2, 4, *t.shape[2:], generator=g) for t in targets]
    return logits, targets


def _ds_run(loss: nn.Module, logits: list[torch.Tensor], targets: list[torch.Tensor], *, parts: bool = False):
    xs = [x.clone().requires_grad_(True) for x in logits]
    ys = [y.clone() for y in targets]
    if parts:
        value, tensor_parts = loss.forward_with_tensor_parts(xs, ys)
    else:
        value, tensor_parts = loss(xs, ys), ()
    value.backward()
    return value.detach(), [x.grad for x in xs], tensor_parts


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("name", [n for n in SOFTMAX_CASES if "ce weights" not in n])
def test_multiple_output_loss_with_every_loss_equals_v1(sides, name, dims):
    """v1's ``initialize`` wraps whatever ``self.loss`` is in ``MultipleOutputLoss2``: same total, same gradients,
    and the explorer's ``forward_with_tensor_parts`` (what training calls) gives that same total."""
    logits, targets = _ds_batch(7, dims)
    weights = np.array([2 / 3, 1 / 3, 0])  # v1's normalized weights: the lowest output is never evaluated
    theirs = sides["v1"].deep_supervision.MultipleOutputLoss2(SOFTMAX_CASES[name](sides["v1"], True, False), weights)
    mine = sides["explorer"].deep_supervision.MultipleOutputLoss2(SOFTMAX_CASES[name](sides["explorer"], True, False),
                                                                  weights)
    v_theirs, g_theirs, _ = _ds_run(theirs, logits, targets)
    for parts in (False, True):
        v_mine, g_mine, tensor_parts = _ds_run(mine, logits, targets, parts=parts)
        assert _equal(v_mine, v_theirs), (name, parts)
        assert all(_equal(a, b) for a, b in zip(g_mine[:2], g_theirs[:2])), (name, parts)
        assert g_mine[2] is None and g_theirs[2] is None  # weight 0: never evaluated
    assert [p.term is None for p in tensor_parts] == [False, False, True]
    has_parts = name.startswith("DC_and_CE_loss")  # the explorer records CE / Dice for DC_and_CE_loss only
    assert all((p.ce is not None) == has_parts for p in tensor_parts[:2])


def test_multiple_output_loss_with_a_non_scalar_loss(sides):
    """A loss that returns a map: ``forward`` gives v1's (broadcast) sum; training refuses it, as v1's
    backward would fail on it."""
    g = torch.Generator().manual_seed(3)
    xs = [torch.randn(2, 3, 5, 6, generator=g) for _ in range(2)]
    ys = [torch.randint(0, 3, (2, 1, 5, 6), generator=g).float() for _ in range(2)]
    build = lambda m: m.deep_supervision.MultipleOutputLoss2(m.crossentropy.RobustCrossEntropyLoss(reduction="none"),
                                                             [0.75, 0.25])
    theirs, mine = build(sides["v1"])(xs, ys), build(sides["explorer"])(xs, ys)
    assert mine.shape == (2, 5, 6) and _equal(mine, theirs)
    with pytest.raises(ConfigurationError, match="not a scalar"):
        build(sides["explorer"]).forward_with_tensor_parts(xs, ys)


# ------------------------------------------------------------------ changing DC_and_CE_loss's weights
def test_changing_weights_on_the_object_is_honoured(sides):
    """``loss.weight_ce = ...`` after construction acts like a loss built with those weights (the schedule of
    ``graduallyTransitionFromCEToDice``), including skipping a term whose weight becomes 0."""
    logits, target = _data(3, 8, absent=True)
    mine = sides["explorer"].dice_loss.DC_and_CE_loss({'batch_dice': True, 'smooth': 1e-5, 'do_bg': False}, {},
                                                       weight_ce=2, weight_dice=0)
    for epoch in (0, 500, 501, 600, 749, 750, 751, 1000):
        w_ce = 2 if epoch <= 500 else 2 - 2 / 250 * (epoch - 500) if epoch <= 750 else 0
        w_dc = 0 if epoch <= 500 else 0 + 2 / 250 * (epoch - 500) if epoch <= 750 else 2
        mine.weight_ce, mine.weight_dice = w_ce, w_dc
        theirs = sides["v1"].dice_loss.DC_and_CE_loss({'batch_dice': True, 'smooth': 1e-5, 'do_bg': False}, {},
                                                      weight_ce=w_ce, weight_dice=w_dc)
        assert_same(theirs, mine, logits, target)
        total, ce, dc = mine.compute(logits, target)
        assert (float(ce) == 0) == (w_ce == 0) and (float(dc) == 0) == (w_dc == 0)


def test_dc_and_ce_loss_arguments_as_v1(sides):
    dice = sides["explorer"].dice_loss
    ce_kwargs: dict = {}
    loss = dice.DC_and_CE_loss({'batch_dice': True}, ce_kwargs, ignore_label=3)
    assert ce_kwargs == {'reduction': 'none'}  # v1 writes into the caller's dict; reproduced
    assert loss.ignore_label == 3 and loss.log_dice is False and loss.aggregate == "sum"
    assert type(dice.DC_and_CE_loss({}, {}, square_dice=True).dc).__name__ == "SoftDiceLossSquared"
    with pytest.raises(TypeError):  # v1: SoftDiceLoss() got an unexpected keyword argument
        dice.DC_and_CE_loss({'batch_dice': True, 'squared': True}, {})
    with pytest.raises(ConfigurationError, match="square_dice"):  # v1 asserts
        dice.DC_and_CE_loss({}, {}, square_dice=True, ignore_label=2)
    logits, target = _data(2, 0, absent=False)
    for side in ("v1", "explorer"):  # v1 only implements aggregate='sum': both fail when called
        with pytest.raises(NotImplementedError):
            sides[side].dice_loss.DC_and_CE_loss({}, {}, aggregate="max")(logits, target)
        with pytest.raises(NotImplementedError):
            sides[side].dice_loss.GDL_and_CE_loss({}, {}, aggregate="max")(logits, target)
    # where v1 returns the number 0 or takes log(0) and fails, the explorer says why
    with pytest.raises(ConfigurationError, match="weight_ce=0 and weight_dice=0"):
        dice.DC_and_CE_loss({}, {}, weight_ce=0, weight_dice=0)(logits, target)
    with pytest.raises(ConfigurationError, match="log_dice"):
        dice.DC_and_CE_loss({}, {}, weight_dice=0, log_dice=True)(logits, target)
    with pytest.raises(TypeError):  # v1: log of an int
        sides["v1"].dice_loss.DC_and_CE_loss({}, {}, weight_dice=0, log_dice=True)(logits, target)


def test_focal_loss_argument_checks_as_v1(sides):
    for side in ("v1", "explorer"):
        focal = sides[side].focal_loss
        with pytest.raises(ValueError, match="smooth"):
            focal.FocalLossV2(smooth=1.5)
        with pytest.raises(TypeError, match="alpha"):  # an int alpha is not a float in v1's check
            focal.FocalLossV2(nn.Softmax(dim=1), alpha=1)(*_data(2, 0, absent=False))


def test_the_shim_refuses_nothing_v1_can_do():
    """Every loss name v1's variants import exists in the shim, under v1's module (none is refused)."""
    names = {"dice_loss": ["DC_and_CE_loss", "SoftDiceLoss", "SoftDiceLossSquared", "MCCLoss", "GDL_and_CE_loss",
                           "GDL", "DC_and_topk_loss", "DC_and_BCE_loss", "get_tp_fp_fn_tn"],
             "focal_loss": ["FocalLoss", "FocalLossV2"], "TopK_loss": ["TopKLoss"],
             "crossentropy": ["RobustCrossEntropyLoss"], "deep_supervision": ["MultipleOutputLoss2"]}
    for module, attrs in names.items():
        mod = importlib.import_module(f"nnunet_explorer.v1.training.loss_functions.{module}")
        for attr in attrs:
            assert isinstance(getattr(mod, attr), type) or callable(getattr(mod, attr)), (module, attr)
    from nnunet_explorer.training import loss
    from nnunet_explorer.v1.training.loss_functions.dice_loss import DC_and_CE_loss
    assert DC_and_CE_loss is loss.DC_and_CE_loss  # the class the trainers build, so training records its parts


# ------------------------------------------------------------------ the variant files, ported
def port(source: str) -> str:
    """The one porting rule (as ``tests/conformance/test_v1_variants.py``)."""
    return source.replace("from nnunet.", "from nnunet_explorer.v1.").replace("import nnunet.",
                                                                          "import nnunet_explorer.v1.")


PORTED_PACKAGE = "nnunet_explorer.v1.training.network_training.nnUNet_variants.loss_function"


class _PlaceholderV2:
    """Stands in for nnUNetTrainerV2 (v1's constructor signature; no I/O), so that a variant file's own code is
    what is tested, whatever the explorer's trainer does around it."""

    def __init__(self, plans_file: Any, fold: Any, output_folder: Any = None, dataset_directory: Any = None,
                 batch_dice: bool = True, stage: Any = None, unpack_data: bool = True, deterministic: bool = True,
                 fp16: bool = False) -> None:
        from nnunet_explorer.v1.training.loss_functions.dice_loss import DC_and_CE_loss

        self.batch_dice = batch_dice
        self.initial_lr = 1e-2
        self.max_num_epochs = 1000
        self.epoch = 0
        self.ds_loss_weights = np.array([8 / 15, 4 / 15, 2 / 15, 1 / 15 * 0])
        self.logged: list[tuple] = []
        self.loss = DC_and_CE_loss({'batch_dice': self.batch_dice, 'smooth': 1e-5, 'do_bg': False}, {})

    def print_to_log_file(self, *args: Any, **kwargs: Any) -> None:
        self.logged.append(args)

    def on_epoch_end(self) -> bool:
        return True

    def load_checkpoint_ram(self, checkpoint: Any, train: bool = True) -> None:
        return None


def _load_ported(file: str, monkeypatch: pytest.MonkeyPatch, base: type | None = None) -> types.ModuleType:
    """Port ``file`` of v1's loss_function variants and import it under its ported module name.

    ``base`` replaces ``nnunet_explorer.v1....nnUNetTrainerV2.nnUNetTrainerV2`` while importing. The shim has no
    ``nnUNet_variants`` package: a variant importing another (Dice_lr1en3 imports Loss_Dice) finds the ported
    module registered here, as a user would have to provide it.
    """
    if base is not None:
        fake = types.ModuleType("nnunet_explorer.v1.training.network_training.nnUNetTrainerV2")
        fake.nnUNetTrainerV2 = base
        monkeypatch.setitem(sys.modules, fake.__name__, fake)
    for package_name in (PORTED_PACKAGE.rsplit(".", 1)[0], PORTED_PACKAGE):
        try:
            importlib.import_module(package_name)
        except ModuleNotFoundError:
            package = types.ModuleType(package_name)
            package.__path__ = []
            monkeypatch.setitem(sys.modules, package_name, package)
    name = f"{PORTED_PACKAGE}.{file}"
    module = types.ModuleType(name)
    module.__file__ = f"<ported {file}.py>"
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(port((V1_LOSS_VARIANTS / f"{file}.py").read_text()), module.__file__, "exec"), module.__dict__)
    return module


# class name -> (file, expected loss built from modules m with the trainer's batch_dice, initial_lr)
VARIANT_LOSSES: dict[str, tuple[str, Callable[[types.SimpleNamespace, bool], nn.Module] | None, float]] = {
    "nnUNetTrainerV2_Loss_CE": ("nnUNetTrainerV2_Loss_CE", lambda m, bd: m.crossentropy.RobustCrossEntropyLoss(), 1e-2),
    "nnUNetTrainerV2_Loss_CEGDL": ("nnUNetTrainerV2_Loss_CEGDL", lambda m, bd: m.dice_loss.GDL_and_CE_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': False}, {}), 1e-2),
    "nnUNetTrainerV2_Loss_Dice": ("nnUNetTrainerV2_Loss_Dice", lambda m, bd: m.dice_loss.SoftDiceLoss(
        m.softmax_helper, bd, False, 1e-5), 1e-2),
    "nnUNetTrainerV2_Loss_DicewithBG": ("nnUNetTrainerV2_Loss_Dice", lambda m, bd: m.dice_loss.SoftDiceLoss(
        m.softmax_helper, bd, True, 1e-5), 1e-2),
    "nnUNetTrainerV2_Loss_DiceCE_noSmooth": ("nnUNetTrainerV2_Loss_DiceCE_noSmooth", lambda m, bd:
                                             m.dice_loss.DC_and_CE_loss({'batch_dice': bd, 'smooth': 0,
                                                                         'do_bg': False}, {}), 1e-2),
    "nnUNetTrainerV2_Loss_DiceTopK10": ("nnUNetTrainerV2_Loss_DiceTopK10", lambda m, bd: m.dice_loss.DC_and_topk_loss(
        {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': False}, {'k': 10}), 1e-2),
    "nnUNetTrainerV2_Loss_Dice_LR1en3": ("nnUNetTrainerV2_Loss_Dice_lr1en3", lambda m, bd: m.dice_loss.SoftDiceLoss(
        m.softmax_helper, bd, False, 1e-5), 1e-3),
    "nnUNetTrainerV2_Loss_DicewithBG_LR1en3": ("nnUNetTrainerV2_Loss_Dice_lr1en3", lambda m, bd:
                                               m.dice_loss.SoftDiceLoss(m.softmax_helper, bd, True, 1e-5), 1e-3),
    "nnUNetTrainerV2_Loss_Dice_squared": ("nnUNetTrainerV2_Loss_Dice_squared", lambda m, bd:
                                          m.dice_loss.SoftDiceLossSquared(m.softmax_helper, bd, False, 1e-5), 1e-3),
    "nnUNetTrainerV2_Loss_MCC": ("nnUNetTrainerV2_Loss_MCC", lambda m, bd: m.dice_loss.MCCLoss(
        m.softmax_helper, bd, True, 0.0), 1e-3),
    "nnUNetTrainerV2_Loss_MCCnoBG": ("nnUNetTrainerV2_Loss_MCC", lambda m, bd: m.dice_loss.MCCLoss(
        m.softmax_helper, bd, False, 0.0), 1e-3),
    "nnUNetTrainerV2_Loss_TopK10": ("nnUNetTrainerV2_Loss_TopK10", lambda m, bd: m.TopK_loss.TopKLoss(k=10), 1e-2),
    "nnUNetTrainerV2_SegLoss_Focal": ("nnUNetTrainerV2_focalLoss", lambda m, bd: m.focal_loss.FocalLossV2(
        nn.Softmax(dim=1), alpha=0.5, gamma=2, smooth=1e-5), 1e-2),
    "nnUNetTrainerV2_graduallyTransitionFromCEToDice": ("nnUNetTrainerV2_graduallyTransitionFromCEToDice",
                                                        lambda m, bd: m.dice_loss.DC_and_CE_loss(
                                                            {'batch_dice': bd, 'smooth': 1e-5, 'do_bg': False}, {},
                                                            weight_ce=2, weight_dice=0), 1e-2),
    "nnUNetTrainerV2_ForceBD": ("nnUNetTrainerV2_ForceBD", None, 1e-2),
    "nnUNetTrainerV2_ForceSD": ("nnUNetTrainerV2_ForceSD", None, 1e-2),
}


def _mirrored_name(loss: nn.Module) -> str:
    """The name of the v1 class the explorer's loss object mirrors (``@mirrors``)."""
    from nnunet_explorer.provenance import v1_reference_of

    reference = v1_reference_of(type(loss))
    assert reference is not None, type(loss)
    return reference.qualname


def _construct(cls: type, batch_dice: bool) -> Any:
    return cls("placeholder_plans.pkl", 0, output_folder=None, dataset_directory=None, batch_dice=batch_dice,
               stage=None, unpack_data=True, deterministic=True, fp16=False)


def test_every_loss_function_variant_is_listed():
    assert V1_LOSS_VARIANTS is not None
    files = {p.stem for p in V1_LOSS_VARIANTS.glob("nnUNetTrainerV2*.py")}
    assert files == {f for f, _, _ in VARIANT_LOSSES.values()}


@pytest.mark.parametrize("batch_dice", [True, False], ids=["batch_dice", "sample_dice"])
@pytest.mark.parametrize("name", list(VARIANT_LOSSES))
def test_ported_variant_file_builds_v1s_loss(sides, name, batch_dice, monkeypatch):
    """The ported file's ``__init__`` (over a placeholder V2 base) sets ``self.loss`` to the loss v1's file builds:
    same class name, same values and gradients, alone and wrapped as v1's ``initialize`` wraps it."""
    file, expected, initial_lr = VARIANT_LOSSES[name]
    if file == "nnUNetTrainerV2_Loss_Dice_lr1en3":  # imports the Loss_Dice variant module
        _load_ported("nnUNetTrainerV2_Loss_Dice", monkeypatch, _PlaceholderV2)
    module = _load_ported(file, monkeypatch, _PlaceholderV2)
    trainer = _construct(getattr(module, name), batch_dice)
    assert trainer.initial_lr == initial_lr
    if expected is None:  # ForceBD / ForceSD: they only force batch_dice
        assert trainer.batch_dice == name.endswith("BD") and trainer.loss.dc.batch_dice == trainer.batch_dice
        return
    theirs = expected(sides["v1"], batch_dice)
    assert _mirrored_name(trainer.loss) == type(theirs).__name__
    assert type(trainer.loss).__module__.startswith("nnunet_explorer.")
    logits, target = _data(3, 11, absent=True)
    assert_same(theirs, trainer.loss, logits, target)
    ds_logits, ds_targets = _ds_batch(12, 3)
    wrapped_theirs = sides["v1"].deep_supervision.MultipleOutputLoss2(theirs, trainer.ds_loss_weights[:3])
    wrapped_mine = sides["explorer"].deep_supervision.MultipleOutputLoss2(trainer.loss, trainer.ds_loss_weights[:3])
    v_theirs, g_theirs, _ = _ds_run(wrapped_theirs, ds_logits, ds_targets)
    v_mine, g_mine, _ = _ds_run(wrapped_mine, ds_logits, ds_targets, parts=True)
    assert _equal(v_mine, v_theirs) and all(_equal(a, b) for a, b in zip(g_mine, g_theirs))


def test_gradually_transition_update_loss_schedule(sides, monkeypatch):
    """The ported ``update_loss`` rebuilds ``MultipleOutputLoss2(DC_and_CE_loss(...))`` with v1's weights."""
    module = _load_ported("nnUNetTrainerV2_graduallyTransitionFromCEToDice", monkeypatch, _PlaceholderV2)
    trainer = _construct(module.nnUNetTrainerV2_graduallyTransitionFromCEToDice, True)
    logits, targets = _ds_batch(13, 3)
    for epoch in (0, 500, 625, 750, 1000):
        trainer.epoch = epoch
        assert trainer.on_epoch_end() is True
        w_ce, w_dc = trainer.logged[-1][1], trainer.logged[-1][3]
        assert (w_ce, w_dc) == ((2, 0) if epoch <= 500 else (1.0, 1.0) if epoch == 625 else (0, 2))
        assert (trainer.loss.loss.weight_ce, trainer.loss.loss.weight_dice) == (w_ce, w_dc)
        theirs = sides["v1"].deep_supervision.MultipleOutputLoss2(sides["v1"].dice_loss.DC_and_CE_loss(
            {'batch_dice': True, 'smooth': 1e-5, 'do_bg': False}, {}, weight_ce=w_ce, weight_dice=w_dc),
            trainer.ds_loss_weights[:3])
        v_theirs, g_theirs, _ = _ds_run(theirs, logits, targets)
        v_mine, g_mine, parts = _ds_run(trainer.loss, logits, targets, parts=True)
        assert _equal(v_mine, v_theirs) and all(_equal(a, b) for a, b in zip(g_mine, g_theirs))
        assert parts[0].ce is not None  # the CE / Dice parts are recorded for the explorer's log
    trainer.epoch = 1001
    with pytest.raises(RuntimeError, match="Invalid epoch"):
        trainer.update_loss()


@pytest.mark.parametrize("name", [n for n in VARIANT_LOSSES])
def test_ported_variant_on_the_explorers_trainer(sides, name, monkeypatch):
    """The same files over the explorer's real ``nnUNetTrainerV2`` (its constructor does no I/O): the class is
    accepted and ``__init__`` leaves the loss v1's file builds in ``self.loss``."""
    file, expected, _ = VARIANT_LOSSES[name]
    try:
        if file == "nnUNetTrainerV2_Loss_Dice_lr1en3":
            _load_ported("nnUNetTrainerV2_Loss_Dice", monkeypatch)
        module = _load_ported(file, monkeypatch)
    except ConfigurationError as exc:
        # the explorer's loop runs on_epoch_end / load_checkpoint_ram itself and refuses trainers overriding them
        assert name == "nnUNetTrainerV2_graduallyTransitionFromCEToDice" and "overrides v1's" in exc.cause
        pytest.skip(f"the explorer's trainer refuses this class: {exc.cause}")
    trainer = _construct(getattr(module, name), False)
    if expected is None:
        assert trainer.batch_dice == name.endswith("BD")
        return
    theirs = expected(sides["v1"], trainer.batch_dice)
    assert _mirrored_name(trainer.loss) == type(theirs).__name__
    assert_same(theirs, trainer.loss, *_data(2, 14, absent=True))
