"""Unit tests for each planning/preprocessing rule; expectations come from the rule (or v1's code), not from
the explorer's own output."""
from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest

from nnunet_explorer.planning import planner2d, planner3d
from nnunet_explorer.planning.explain import decisions_for, explain_trace
from nnunet_explorer.planning.normalization import determine_normalization_scheme, \
    determine_whether_to_use_mask_for_norm
from nnunet_explorer.planning.preprocessing import normalize, sample_class_locations
from nnunet_explorer.planning.resampling import resample_patient, separate_z_decision
from nnunet_explorer.planning.topology import get_pool_and_conv_props, pad_shape
from nnunet_explorer.planning.vram import compute_approx_vram_consumption


# --- target spacing: the anisotropy rule ------------------------------------------------------------------

def test_anisotropy_rule_takes_10th_percentile_of_coarse_axis():
    z = [5.0] * 8 + [3.0, 2.6]
    spacings = [np.array([s, 0.7, 0.7]) for s in z]
    sizes = [(20, 300, 300)] * 10
    trace = []
    target = planner3d.get_target_spacing(spacings, sizes, trace=trace)
    assert target[0] == pytest.approx(np.percentile(z, 10))
    assert list(target[1:]) == [0.7, 0.7]
    assert "anisotropy" in trace[0].rule


def test_anisotropy_rule_floors_at_largest_other_spacing_plus_eps():
    z = [5.0] * 8 + [0.5, 0.5]  # 10th percentile 0.5 < 0.7
    target = planner3d.get_target_spacing([np.array([s, 0.7, 0.7]) for s in z], [(20, 300, 300)] * 10)
    assert target[0] == pytest.approx(0.7 + 1e-5)


def test_anisotropy_rule_needs_few_voxels_on_the_coarse_axis_too():
    z = [5.0] * 8 + [3.0, 2.6]
    # coarse axis has 200 voxels: not < 1/3 of 300 -> plain median
    target = planner3d.get_target_spacing([np.array([s, 0.7, 0.7]) for s in z], [(200, 300, 300)] * 10)
    assert target[0] == np.median(z)


def test_2d_planner_has_no_anisotropy_rule():
    z = [5.0] * 8 + [3.0, 2.6]
    target = planner2d.get_target_spacing([np.array([s, 0.7, 0.7]) for s in z])
    assert target[0] == np.median(z)


@pytest.mark.parametrize("spacing, forward, backward", [([3.0, 0.8, 0.8], [0, 1, 2], [0, 1, 2]),
                                                        ([0.8, 0.8, 4.0], [2, 0, 1], [1, 2, 0]),
                                                        ([0.8, 2.0, 0.8], [1, 0, 2], [1, 0, 2])])
def test_transposition_puts_coarsest_axis_first(spacing, forward, backward):
    fwd, bwd = planner3d.get_transpose(np.array(spacing))
    assert [int(i) for i in fwd] == forward and [int(i) for i in bwd] == backward
    assert [int(fwd[int(b)]) for b in bwd] == [0, 1, 2]


# --- topology -------------------------------------------------------------------------------------------

def test_topology_worked_example():
    topo = get_pool_and_conv_props([1, 1, 1], [36, 50, 35], 4, 999)
    assert topo.num_pool_per_axis == [3, 3, 3]
    assert list(topo.patch_size) == [40, 56, 40]
    assert topo.pool_op_kernel_sizes == [[2, 2, 2]] * 3
    assert topo.conv_kernel_sizes == [[3, 3, 3]] * 4


def test_topology_waits_with_the_coarse_axis():
    topo = get_pool_and_conv_props([4.0, 1.0, 1.0], [20, 160, 160], 4, 999)
    # 4 / 1 >= 2: the coarse axis is neither pooled nor convolved with 3 until the fine axes reach 4 mm
    assert topo.pool_op_kernel_sizes[:2] == [[1, 2, 2], [1, 2, 2]]
    assert topo.conv_kernel_sizes[:2] == [[1, 3, 3], [1, 3, 3]]
    assert topo.pool_op_kernel_sizes[2] == [2, 2, 2]
    assert topo.conv_kernel_sizes[2] == [3, 3, 3]
    assert len(topo.conv_kernel_sizes) == len(topo.pool_op_kernel_sizes) + 1
    assert all(p % d == 0 for p, d in zip(topo.patch_size, topo.must_be_divisible_by))
    # an axis stops pooling below 8 voxels
    sizes = np.array([20, 160, 160], dtype=float)
    for kernel in topo.pool_op_kernel_sizes:
        assert all(s >= 8 for s, k in zip(sizes, kernel) if k == 2)
        sizes = np.ceil(sizes / np.array(kernel))


def test_the_older_planners_late_pooling_matches_v1():
    """``get_pool_and_conv_props_poolLateV2`` (v1's ``ExperimentPlanner``, plans ``nnUNetPlansfixed``) on random
    patches and spacings, isotropic and anisotropic: every returned value equal to v1's."""
    pytest.importorskip("nnunet")
    from nnunet.experiment_planning.common_utils import get_pool_and_conv_props_poolLateV2 as v1_late

    from nnunet_explorer.planning.topology import get_pool_and_conv_props_poolLateV2, planner_topology

    rng = np.random.RandomState(3)
    for _ in range(60):
        spacing = list(rng.choice([0.7, 1.0, 1.5, 3.0, 5.0], 3))
        patch = list(rng.randint(4, 300, 3))  # from 4: an axis of 4 to 7 voxels never pools
        ours = get_pool_and_conv_props_poolLateV2(patch, 4, 999, spacing).as_tuple()
        theirs = v1_late(patch, 4, 999, spacing)
        assert len(ours) == len(theirs) == 5
        for mine, v1 in zip(ours, theirs):
            assert np.array_equal(np.asarray(mine), np.asarray(v1)), (spacing, patch)
    # late: an axis with fewer poolings waits for the last stages (v2.1 pools it as soon as its spacing is within
    # 2x of the finest, here in stages 2 and 3)
    late = planner_topology([3.0, 1.0, 1.0], [16, 64, 64], "/p/Task001_X/nnUNetPlansfixed_plans_3D.pkl")
    assert late.pool_op_kernel_sizes == [[1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2]]
    assert planner_topology([3.0, 1.0, 1.0], [16, 64, 64], "nnUNetPlansv2.1_plans_3D.pkl").as_tuple()[1] == \
        get_pool_and_conv_props([3.0, 1.0, 1.0], [16, 64, 64]).pool_op_kernel_sizes
    # allConv3x3 pools late, then makes every kernel 3; the late rule cannot plan an axis under 4 voxels
    all3 = planner_topology([3.0, 1.0, 1.0], [16, 64, 64], "nnUNetPlansallConv3x3_plans_3D.pkl")
    assert all3.pool_op_kernel_sizes == late.pool_op_kernel_sizes and late.conv_kernel_sizes[0] == [1, 3, 3]
    assert all3.conv_kernel_sizes == [[3, 3, 3]] * 5
    assert planner_topology([1.0, 1.0, 1.0], [3, 64, 64], "nnUNetPlansCT2_plans_3D.pkl") is None


def test_pad_shape_rounds_up_only_when_needed():
    assert list(pad_shape([36, 48, 35], [8, 8, 8])) == [40, 48, 40]


# --- VRAM proxy ------------------------------------------------------------------------------------------

def test_vram_worked_example_number():
    assert compute_approx_vram_consumption([40, 56, 40], [3, 3, 3], 32, 320, 1, 3, [[2, 2, 2]] * 3) == 19_264_000


def test_vram_matches_v1_generic_unet():
    pytest.importorskip("nnunet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nnunet.network_architecture.generic_UNet import Generic_UNet
    rng = np.random.RandomState(0)
    for _ in range(30):
        dim = rng.choice([2, 3])
        spacing = rng.uniform(0.5, 5, dim)
        patch = rng.randint(8, 300, dim)
        num_pool, pools, _, shape, _ = get_pool_and_conv_props(spacing, patch, 4, 999).as_tuple()
        args = (shape, num_pool, int(rng.choice([30, 32])), int(rng.choice([320, 512])), int(rng.randint(1, 4)),
                int(rng.randint(2, 5)), pools)
        for ds in (False, True):
            assert compute_approx_vram_consumption(*args, deep_supervision=ds) == \
                Generic_UNet.compute_approx_vram_consumption(*args, deep_supervision=ds)


# --- stage planning: shrink loop, 5 % cap, dummy 2D, low-res -------------------------------------------------

def test_shrink_loop_brings_proxy_under_reference():
    trace = []
    spacing = np.array([1.0, 0.8, 0.8])
    plan = planner3d.get_properties_for_stage(spacing, spacing, np.array([240., 512., 512.]), 40, 1, 3, trace=trace)
    d = decisions_for(trace, "patch_size")[0]
    ref = 520e6 * 32 / 30
    assert d.inputs["vram_first"] > ref >= d.inputs["vram_final"]
    assert d.inputs["shrink_axes"], "this patch must have been shrunk"
    # the first shrink is along the axis with the largest padded-patch / median ratio
    first = get_pool_and_conv_props(spacing, [240, 512, 512], 4, 999).patch_size
    assert d.inputs["shrink_axes"][0] == int(np.argsort(first / np.array([240, 512, 512]))[-1])
    final = compute_approx_vram_consumption(plan["patch_size"], plan["num_pool_per_axis"], 32, 320, 1, 3,
                                            plan["pool_op_kernel_sizes"])
    assert final == d.inputs["vram_final"]
    assert "shrunk" in d.text and "exceeded the reference" in d.text


def test_batch_size_5_percent_cap_worked_example():
    spacing = np.array([1.0, 1.0, 1.0])
    plan = planner3d.get_properties_for_stage(spacing, spacing, np.array([36., 50., 35.]), 260, 1, 3)
    cap = int(np.round(0.05 * 36 * 50 * 35 * 260 / np.prod(plan["patch_size"])))
    vram_batch = int(np.floor(max(520e6 * 32 / 30 / 19_264_000, 1) * 2))
    assert vram_batch > cap
    assert plan["batch_size"] == cap == 9


def test_batch_size_3d_floor_of_two_but_2d_has_none():
    spacing = np.array([1.0, 1.0, 1.0])
    p3 = planner3d.get_properties_for_stage(spacing, spacing, np.array([20., 20., 20.]), 2, 1, 2)
    assert np.round(0.05 * 8000 * 2 / np.prod(p3["patch_size"])) < 2 and p3["batch_size"] == 2
    p2 = planner2d.get_properties_for_stage(spacing, spacing, np.array([20., 20., 20.]), 1, 1, 2)
    assert p2["batch_size"] == max(1, int(np.round(0.05 * 8000 / np.prod(p2["patch_size"]))))


@pytest.mark.parametrize("spacing, median, expected", [([5.0, 0.5, 0.5], [40., 400., 400.], True),
                                                        ([1.0, 1.0, 1.0], [200., 200., 200.], False)])
def test_dummy_2d_flag(spacing, median, expected):
    spacing = np.array(spacing)
    plan = planner3d.get_properties_for_stage(spacing, spacing, np.array(median), 50, 1, 2)
    patch = plan["patch_size"]
    assert bool(plan["do_dummy_2D_data_aug"]) == (max(patch) / patch[0] > 3) == expected


def _props(n, spacing, size):
    return {"all_sizes": [size] * n, "all_spacings": [np.array(spacing)] * n, "all_classes": [1],
            "modalities": {0: "CT"}, "intensityproperties": None,
            "size_reductions": OrderedDict((f"c{i}", 1.0) for i in range(n))}


def test_low_res_stage_rule():
    trace = []
    stages, _, _ = planner3d.plan_stages_3d(_props(20, [1.0, 0.8, 0.8], (300, 512, 512)), 20, trace=trace)
    assert len(stages) == 2
    low, full = stages[0], stages[1]
    assert np.all(low["current_spacing"] > full["current_spacing"])
    assert 2 * np.prod(low["median_patient_size_in_voxels"]) < np.prod(full["median_patient_size_in_voxels"])
    # the loop stopped once the median case was at most 4 patches (at the low-res spacing)
    voxels = np.prod(full["current_spacing"] / low["current_spacing"] * np.array([300, 512, 512]))
    assert voxels <= 4 * np.prod(low["patch_size"])
    assert decisions_for(trace, "num_stages")[0].value == 2
    small, _, _ = planner3d.plan_stages_3d(_props(20, [1.0, 1.0, 1.0], (40, 40, 40)), 20)
    assert len(small) == 1


def test_a_ratio_of_exactly_4_is_explained_as_v1_s_crash_not_as_enough(monkeypatch):
    """ratio >= 4 tries the stage, but v1's loop runs while voxels > 4 patches: at exactly 4 it never runs and v1
    meets an unassigned variable. The explorer plans one stage and must not say "< 4: enough of a case"."""
    real = planner3d.get_properties_for_stage

    def patch_a_quarter(*args, **kwargs):
        stage = real(*args, **kwargs)
        stage["patch_size"] = np.array([32, 32, 64])  # 65536 voxels; the median case below has 4 x as many
        return stage

    monkeypatch.setattr(planner3d, "get_properties_for_stage", patch_a_quarter)
    trace = []
    stages, _, _ = planner3d.plan_stages_3d(_props(20, [1.0, 1.0, 1.0], (64, 64, 64)), 20, trace=trace)
    assert len(stages) == 1
    text = decisions_for(trace, "num_stages")[0].text
    assert "= 4 exactly" in text and "UnboundLocalError" in text and "< 4" not in text


def test_explain_names_the_numbers():
    trace = []
    planner3d.plan_stages_3d(_props(20, [1.0, 0.8, 0.8], (300, 512, 512)), 20, trace=trace)
    text = explain_trace(trace)
    for needle in ("512 along the coarsest axis", "VRAM proxy", "5% of the dataset", "3d_lowres", "transpose_backward"):
        assert needle in text


# --- resampling ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("orig, target, expected, axis", [
    ([5.0, 1.0, 1.0], [5.0, 1.0, 1.0], True, 0),   # anisotropic original
    ([1.0, 1.0, 1.0], [1.0, 1.0, 4.0], True, 2),   # anisotropic target only
    ([2.0, 1.0, 1.0], [2.0, 1.0, 1.0], False, None),
    ([1.0, 4.0, 4.0], [1.0, 4.0, 4.0], False, None),  # two coarse axes tie
])
def test_separate_z_decision(orig, target, expected, axis):
    do, ax = separate_z_decision(orig, target)
    assert do == expected
    if expected:
        assert list(ax) == [axis]


def test_resampling_matches_v1_functions():
    pytest.importorskip("nnunet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nnunet.preprocessing.preprocessing import resample_patient as v1_resample
    rng = np.random.RandomState(1)
    data = rng.rand(2, 6, 20, 18).astype(np.float32)
    seg = rng.randint(-1, 3, (1, 6, 20, 18)).astype(np.float32)
    for orig, target in (([4.0, 1.0, 1.0], [3.0, 1.3, 1.3]), ([1.0, 1.0, 1.0], [1.4, 0.9, 1.2])):
        ours = resample_patient(data.copy(), seg.copy(), np.array(orig), np.array(target), 3, 1, None, 0, 0)
        theirs = v1_resample(data.copy(), seg.copy(), np.array(orig), np.array(target), 3, 1, None, 0, 0)
        assert np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1])


# --- normalization -----------------------------------------------------------------------------------------

def test_normalization_scheme_and_mask_rules():
    mods = {0: "CT", 1: "ct", 2: "noNorm", 3: "T1", 4: "CTA"}
    assert list(determine_normalization_scheme(mods).values()) == ["CT", "CT", "noNorm", "nonCT", "nonCT"]
    # mask only for modalities without the substring "CT" (case-sensitive: v1 gives lowercase "ct" the CT
    # scheme but the mask), and only if cropping kept < 3/4 of the voxels (median)
    mask = determine_whether_to_use_mask_for_norm(mods, {"a": 0.5, "b": 0.6, "c": 0.9})
    assert list(mask.values()) == [False, True, True, True, False]
    assert not any(determine_whether_to_use_mask_for_norm(mods, {"a": 0.8, "b": 0.75}).values())


def test_normalization_variants():
    rng = np.random.RandomState(0)
    data = rng.normal(100, 30, (3, 4, 10, 10)).astype(np.float32)
    seg = np.zeros((1, 4, 10, 10), np.float32)
    seg[0, :, :2] = -1
    ip = {0: {"mean": 90.0, "sd": 20.0, "percentile_00_5": 40.0, "percentile_99_5": 150.0}}
    out = normalize(data.copy(), seg, {0: "CT", 1: "nonCT", 2: "nonCT"}, {0: False, 1: True, 2: False}, ip)
    assert np.allclose(out[0], (np.clip(data[0], 40, 150) - 90) / 20, atol=1e-5)
    inside = seg[0] >= 0
    x = data[1][inside]
    assert np.allclose(out[1][inside], (x - x.mean()) / (x.std() + 1e-8), atol=1e-5)
    assert np.all(out[1][~inside] == 0)
    assert np.allclose(out[2], (data[2] - data[2].mean()) / (data[2].std() + 1e-8), atol=1e-5)


# --- class locations ---------------------------------------------------------------------------------------

def test_class_location_sampling_counts_and_seed():
    seg = np.zeros((3, 700, 700), np.float32)
    seg[:, :, :600] = 1                    # 1,260,000 voxels -> 1 % = 12,600 > 10,000
    seg[0, 0, 600:650] = 2                 # 50 voxels -> all 50
    locs = sample_class_locations(seg, [1, 2, 3])
    assert len(locs[1]) == int(np.ceil(1_260_000 * 0.01))
    assert len(locs[2]) == 50 and locs[3] == []
    assert locs[1].dtype == np.int64 and locs[1].shape[1] == 3
    assert np.all(seg[tuple(locs[1].T)] == 1)
    expected = np.argwhere(seg == 1)[np.random.RandomState(1234).choice(1_260_000, 12_600, replace=False)]
    assert np.array_equal(locs[1], expected)
    mid = np.zeros((2, 100, 100), np.float32)
    mid[:, :60] = 1  # 12,000 voxels -> 10,000 (cap), since 1 % = 120
    assert len(sample_class_locations(mid, [1])[1]) == 10_000
