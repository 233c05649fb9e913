"""Wrong lessons found by reading the teaching text against v1 1.7.1's source (December 2026), pinned.

Each test checks the behaviour the corrected text describes (on batchgenerators / v1 / the explorer's mirror
of v1), and that the wrong wording has not come back anywhere a learner reads: the notebooks, the cards'
texts, the step docstrings, the README and docs/.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


_CJK = "\u3000-\u303f\u3400-\u9fff\uff00-\uffef"


def _prose(text: str) -> str:
    """The text with string literals and comment lines that continue on the next line joined, whitespace collapsed:
    a wording split across ``"...empty "`` / ``"corners"``, across two ``#`` lines or two ``# >`` (quote) lines is
    still found; a Chinese phrase broken between two lines is joined without a space, as a reader reads it."""
    text = re.sub(r'"\s*\n\s*[rf]?"', "", text)  # "a " \n "b" -> "a b"
    text = re.sub(f"([{_CJK}])\\n\\s*#\\s?>?\\s?(?=[{_CJK}])", "\\1", text)  # Chinese line joins
    text = re.sub(r"\n\s*#\s?>?\s?", " ", text)  # comment, markdown-cell and quote lines
    return re.sub(r"\s+", " ", text)


def _teaching_sources() -> dict[str, str]:
    """Every file whose prose a learner reads: notebooks (percent scripts), the package's Python, README, docs."""
    paths = sorted((ROOT / "notebooks").rglob("*.py")) + sorted((ROOT / "nnunet_explorer").rglob("*.py"))
    paths += [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    return {str(p.relative_to(ROOT)): _prose(p.read_text(encoding="utf-8")) for p in paths}


WRONG = {
    # the loader patch is a margin, not a guarantee (see test_the_loader_margin_is_not_a_guarantee)
    "no empty corners": ("empty corners", "不留空角", "不会留下空角", "zooming out by 0.85"),
    # v1's planner starts at 512 voxels along the coarsest axis; "512 mm" is only its comment
    "512 mm start": ("512 mm per axis", "512 mm box", "512 mm isotropic", "512 mm 的各向同性", "512 mm start"),
    # v1's constructor also seeds, sets cuDNN flags and builds the loss
    "constructor only stores": ("only stores its arguments", "构造函数只保存参数"),
    # run_training.py has 16 optional flags
    "about 20 flags": ("about 20 flags", "约 20 个开关"),
    # the class search stops at the first plain module with the name
    "imports all plain modules": ("all plain modules of a folder", "全部普通模块", "所有普通模块"),
    # v1 always builds a MultiThreadedAugmenter, --deterministic included
    "v1's SingleThreadedAugmenter": ("as v1's SingleThreadedAugmenter", "与 v1 的 SingleThreadedAugmenter 相同"),
    # v1 has no determinism test with a SingleThreadedAugmenter (the explorer's harness is what does that)
    "v1's determinism test": ("v1's own determinism test", "v1's determinism test", "v1 的确定性测试"),
    # an axis pools while it has >= 8 voxels, so it ends at 4-7 (see test_an_8_voxel_axis_is_still_pooled)
    "pooling stops at 8": ("would drop below ``2 * min_feature_map_size``",),
    # the low-resolution stage is tried from ~8 M voxels but kept only from ~17 M
    "low-res stage from 10 M": ("more than ~10 M voxels", "cases of more than ~10 M"),
    # only v1's whole-image prediction (no sliding window) pads to input_shape_must_be_divisible_by
    "inference pads to the divisor": ("v1 pads inference inputs to a multiple",),
    # FabiansUNet has no head at the bottleneck only; V2's lowest deep-supervision output has weight 0
    "two lowest resolutions": ("no head at the two lowest resolutions",),
    "DS trains every output": ("v1 trains on all of them: the segmentation target",),
    # v1 sets the patience count to patience // 2, and the benchmarking file holds no class of its name
    "patience moved back": ("moved back by ``patience // 2``",),
    "dummyLoad class": ("v1's ``nnUNetTrainerV2_dummyLoad`` does",),
    # found by the audit of December 6: patches of a case smaller than the patch hold the whole case, padded
    "never whole cases": ("never sees whole cases", "从来不会看到完整的病例"),
    # the sliding-window stride is at most half a patch, usually less (test_sliding_window_steps_...)
    "half-patch steps": ("with half-patch steps", "以半个 patch 的步长"),
    # v1 pools an axis of >= 8 voxels (before pooling), not one whose feature map "stays at least 4"
    "stays at least 4": ("feature map stays at least 4", "特征图至少还有 4 个体素"),
    # the coarsest deep-supervision output has weight 0 and its loss is never computed
    "each output its loss": ("each with its loss", "各有各的损失"),
    # poly_lr(6, 6) is exactly 0
    "about to reach 0": ("about to reach 0 under", "正要降到 0"),
    # autocast covers the forward pass and the loss
    "autocast forward only": ("autocast for the forward pass and a", "前向传播用 autocast，再用"),
    # the BraTS region trainers set a sigmoid; fold -6 and below raise an IndexError
    "every trainer softmax": ("which every v1 trainer does right after building",),
    "any integer fold": ("``fold`` may be any integer (a negative one", "``fold`` 可以是任意整数"),
    # the plans and run_training's arguments set much of what a run uses, not the class hierarchy
    "MRO decides everything": ("decides every hyperparameter", "决定每一个超参数"),
    # 1 of 2 samples is forced at batch 2 (50 %), 1 of 3 at batch 3
    "33 % forced": ("33 % forced foreground", "33 % 强制包含前景"),
    # -c and -pretrained_weights act between initialize and run_training; -val and --find_lr replace training
    "find_lr between": ("``--find_lr`` act between",),
    # the network still computes its coarsest output; only that output's loss is skipped (weight 0)
    "coarsest output never computed": ("deep-supervision output is never computed",),
}


@pytest.mark.parametrize("lesson", sorted(WRONG))
def test_the_wrong_wording_is_gone(lesson):
    found = [f"{name}: {needle!r}" for name, text in _teaching_sources().items()
             for needle in WRONG[lesson] if needle in text]
    assert not found, found


# Wrong lessons that came back in other words (December 2026): patterns over the joined prose of every source
WRONG_PATTERNS = {
    # momentum, nesterov, the clipping norm and the poly exponent are literals in V2's methods, not __init__ settings
    "every hyperparameter in __init__": (
        r"(every|each|all( the)?) hyper-?parameters? (is|are) [^.]{0,80}(__init__|constructor)",
        r"constructor sets[^.]{0,80}fixed hyperparameters", r"\bHyperparameters are set (on `?self`? )?in `?__init__",
        r"每个超参数[^。，：；]{0,20}__init__", r"超参数在 `?__init__", r"构造函数设置[^。]{0,40}固定的超参数"),
    # on_epoch_end: global Dice, plot_progress, lr, model_latest, the MA, then model_best (not checkpoints first)
    "checkpoints before the moving average": (
        r"on_epoch_end`?\s*[（(][^)）]*(checkpoints?|检查点)[^)）]*(moving averages?|滑动平均)",),
    # V2 sets the LR once before the first epoch, then at the end of every epoch for the next one
    "LR at the start of every epoch": (r"set by hand at the start of every epoch", r"在每个 epoch 开始时手动设置"),
}


@pytest.mark.parametrize("lesson", sorted(WRONG_PATTERNS))
def test_the_wrong_lesson_is_gone_in_other_words_too(lesson):
    found = [f"{name}: {match.group(0)!r}" for name, text in _teaching_sources().items()
             for pattern in WRONG_PATTERNS[lesson] for match in re.finditer(pattern, text, re.I)]
    assert not found, found


def test_the_joined_prose_reads_across_quote_lines_and_chinese_line_breaks():
    english = _prose("# > In v1 every hyperparameter is an instance attribute\n# > assigned in `__init__`")
    assert re.search(WRONG_PATTERNS["every hyperparameter in __init__"][0], english, re.I)
    assert "每个超参数由哪个类的 `__init__`" in _prose("# 表中每个超参数由哪个\n# 类的 `__init__` 设置")


def _padding_share(loaded, patch, scale, angles):
    """Share of the network patch SpatialTransform fills with padding (label -1) for fixed angles and scale >= 1.

    (batchgenerators draws a scale below 1 from ``U(scale[0], 1)`` whatever ``scale[1]`` is, so only factors
    >= 1 can be fixed.)
    """
    from batchgenerators.augmentations.spatial_transformations import augment_spatial

    data = np.ones((1, 1, *loaded), np.float32)
    ax, ay, az = ((a, a) for a in angles)
    _, seg = augment_spatial(data, data.copy(), patch, patch_center_dist_from_border=None, do_elastic_deform=False,
                             do_rotation=True, angle_x=ax, angle_y=ay, angle_z=az, do_scale=True,
                             scale=(scale, scale), border_mode_data="constant", border_cval_data=0, order_data=0,
                             border_mode_seg="constant", border_cval_seg=-1, order_seg=0, random_crop=False)
    return float((seg == -1).mean())


def test_a_scale_factor_above_1_zooms_out():
    """batchgenerators multiplies the sampling coordinates by the factor: above 1 a wider region is sampled."""
    from batchgenerators.augmentations.utils import create_zero_centered_coordinate_mesh, scale_coords

    mesh = create_zero_centered_coordinate_mesh((10, 10, 10))
    extent = float(np.ptp(mesh[0]))
    assert float(np.ptp(scale_coords(mesh.copy(), 1.4)[0])) == pytest.approx(1.4 * extent)


def test_the_loader_margin_is_not_a_guarantee():
    """v1 sizes the loader patch for one rotation axis at a time and scale 0.85; V2 zooms out up to 1.4."""
    import itertools

    from nnunet_explorer.teaching.why import WHY
    from nnunet_explorer.training.data_augmentation_params import deg, get_patch_size

    r, thirty = (-deg(30), deg(30)), deg(30)
    small = tuple(int(v) for v in get_patch_size((40, 48, 48), r, r, r, (0.85, 1.25)))
    assert small == (68, 77, 72)
    assert _padding_share(small, (40, 48, 48), 1.4, (0, 0, 0)) == 0  # zooming out alone still fits here
    assert _padding_share(small, (40, 48, 48), 1 / 0.85, (thirty,) * 3) > 0  # several axes at once reach past it
    shares = {patch: max(_padding_share(loaded, patch, 1.4, tuple(s * thirty for s in signs))
                         for signs in itertools.product((1, -1), repeat=3))
              for patch, loaded in (((40, 48, 48), small), ((80, 160, 160), (175, 257, 210)))}
    assert 0.12 <= min(shares.values()) and max(shares.values()) <= 0.15
    rationale, blog = WHY["augmentation_parameters"].rationale, 100 * shares[(80, 160, 160)]
    assert f"{blog:.1f} % for the blog's 80×160×160" in rationale["en"]
    assert f"原博客的 80×160×160 为 {blog:.1f}%" in rationale["zh"]


def test_the_planner_starts_at_512_voxels_on_the_coarsest_axis():
    from nnunet_explorer.planning.explain import explain_trace
    from nnunet_explorer.planning.planner3d import initial_patch_3d, plan_stages_3d

    spacing = [3.22, 1.62, 1.62]
    _, start = initial_patch_3d(np.array(spacing), np.array([128, 247, 247]))
    assert list(start) == [512, 1018, 1018]  # the same mm on every axis: 512 * 3.22 = 1649 mm, not 512 mm
    assert np.allclose(start * np.array(spacing), 512 * 3.22, rtol=2e-3)
    trace: list = []
    props = {"all_spacings": [np.array(spacing)] * 4, "all_sizes": [(128, 247, 247)] * 4, "all_classes": [1, 2],
             "modalities": {0: "CT"}, "intensityproperties": None,
             "size_reductions": {f"c{i}": 1.0 for i in range(4)}}
    plan_stages_3d(props, 4, trace=trace)
    assert "started at [512, 1018, 1018] voxels" in explain_trace(trace)
    assert "512 along the coarsest axis, 1649 mm on every axis" in explain_trace(trace)


def test_an_8_voxel_axis_is_still_pooled():
    """v1 tests the size before pooling (``>= 2 * min_feature_map_size``): 8 voxels pool to 4, 7 do not pool."""
    from nnunet.experiment_planning.common_utils import get_pool_and_conv_props as v1_props

    from nnunet_explorer.planning.topology import get_pool_and_conv_props

    for patch, pools in (([8, 8, 8], [1, 1, 1]), ([7, 7, 7], [0, 0, 0]), ([16, 16, 16], [2, 2, 2])):
        assert v1_props([1, 1, 1], patch, 4, 999)[0] == pools
        assert get_pool_and_conv_props([1, 1, 1], patch).num_pool_per_axis == pools


def test_sliding_window_steps_are_at_most_half_a_patch():
    """``step_size`` 0.5 bounds the stride; v1 then spreads the tiles evenly so the last one ends at the border."""
    from nnunet.network_architecture.neural_network import SegmentationNetwork

    from nnunet_explorer.network_architecture.sliding_window import compute_steps_for_sliding_window

    v1 = SegmentationNetwork._compute_steps_for_sliding_window((128,), (300,), 0.5)
    assert v1 == [[0, 57, 115, 172]] == compute_steps_for_sliding_window((128,), (300,), 0.5)
    assert max(np.diff(v1[0])) < 64 and v1[0][-1] + 128 == 300


def test_the_coarsest_deep_supervision_output_has_its_loss_skipped():
    """V2's weights end in 0 and MultipleOutputLoss2 skips an output of weight 0: its loss is never called (the
    network still computes the output itself)."""
    import torch
    from nnunet.training.loss_functions.deep_supervision import MultipleOutputLoss2 as V1Loss

    from nnunet_explorer.training.loss import MultipleOutputLoss2

    for cls in (V1Loss, MultipleOutputLoss2):
        seen: list = []

        class Recording(torch.nn.Module):
            def forward(self, x, y):
                seen.append(tuple(x.shape))
                return x.mean()

        loss = cls(Recording(), np.array([4 / 7, 2 / 7, 1 / 7, 0]))
        loss([torch.ones(1, 2, s, s) for s in (8, 4, 2, 1)], [torch.zeros(1, 1, s, s) for s in (8, 4, 2, 1)])
        assert seen == [(1, 2, 8, 8), (1, 2, 4, 4), (1, 2, 2, 2)], cls


def test_the_conv_kernel_group_can_span_more_than_a_factor_2():
    """3 goes to the largest group of axes within a factor 2 of one axis; a single much finer axis gets 1."""
    from nnunet.experiment_planning.common_utils import get_pool_and_conv_props as v1_props

    from nnunet_explorer.planning.topology import get_pool_and_conv_props

    for spacing, first in (([1.0, 1.5, 2.5], [3, 3, 3]), ([3.0, 3.0, 1.0], [3, 3, 1]), ([3.0, 1.0, 1.0], [1, 3, 3])):
        assert v1_props(spacing, [128, 128, 128], 4, 999)[2][0] == first
        assert get_pool_and_conv_props(spacing, [128, 128, 128]).conv_kernel_sizes[0] == first


def test_the_oversampling_count_is_v1s_formula_not_0_67():
    """``round(batch * (1 - 0.33))`` (v1's) and ``round(batch * 0.67)`` differ at batch 250: 1 - 0.33 < 0.67."""
    from nnunet.training.dataloading.dataset_loading import DataLoader3D

    from nnunet_explorer.training.dataloading import is_forced_foreground

    forced = sum(not i < round(250 * (1 - 0.33)) for i in range(250))
    assert forced == 83 != 250 - round(250 * 0.67)
    assert sum(is_forced_foreground(i, 250, 0.33) for i in range(250)) == forced
    v1 = DataLoader3D.__new__(DataLoader3D)
    v1.batch_size, v1.oversample_foreground_percent = 250, 0.33
    assert sum(v1.get_do_oversample(i) for i in range(250)) == forced


def test_the_poly_rate_for_the_last_epoch_of_the_budget_is_exactly_0():
    from nnunet.training.learning_rate.poly_lr import poly_lr as v1_poly

    from nnunet_explorer.training.lr_schedule import poly_lr

    assert v1_poly(6, 6, 0.01, 0.9) == poly_lr(6, 6, 0.01, 0.9) == 0
