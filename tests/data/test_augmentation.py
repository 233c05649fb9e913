"""The moreDA pipeline: same transform list as v1, same arrays, and an honest transform-by-transform trace."""
from __future__ import annotations

import random
import sys

import numpy as np
import pytest
from batchgenerators.transforms.abstract_transforms import Compose

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.training import augmentation as aug
from nnunet_explorer.training import dataloading as dl
from nnunet_explorer.training.data_augmentation_params import setup_DA_params

from .conftest import PLANS_2D, PLANS_3D, STAGE_2D, STAGE_3D, copy_stage, v1_setup, v1_transform_lists

CONFIGS = [("ct", PLANS_3D, None), ("ct", PLANS_3D, True), ("ct", PLANS_2D, None), ("mr", PLANS_3D, None),
           ("mr", PLANS_2D, None)]
IDS = ["ct-3d", "ct-3d-dummy2d", "ct-2d", "mr-3d", "mr-2d"]


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _ours_setup(trainer):
    return setup_DA_params(trainer.patch_size, do_dummy_2D_aug=trainer.do_dummy_2D_aug,
                           use_mask_for_norm=trainer.use_mask_for_norm,
                           pool_op_kernel_sizes=trainer.net_num_pool_op_kernel_sizes)


def _assert_same_lists(ours, theirs):
    assert [type(t).__name__ for t in ours] == [type(t).__name__ for t in theirs]
    for a, b in zip(ours, theirs):
        va, vb = vars(a), vars(b)
        assert va.keys() == vb.keys(), type(a).__name__
        for key in va:
            assert _equal(va[key], vb[key]), f"{type(a).__name__}.{key}: {va[key]!r} != {vb[key]!r}"


@pytest.mark.parity
@pytest.mark.parametrize("task_kind,plans,dummy", CONFIGS, ids=IDS)
def test_transform_lists_equal_v1(v1, v1_ct_task, v1_mr_task, tmp_path, task_kind, plans, dummy):
    task = v1_ct_task if task_kind == "ct" else v1_mr_task
    trainer = v1_setup(v1, task.preprocessed_dir, plans, tmp_path / "out", dummy_2d=dummy)
    v1_train, v1_val = v1_transform_lists(v1, trainer)
    setup = _ours_setup(trainer)
    assert list(setup.basic_generator_patch_size) == list(trainer.basic_generator_patch_size)
    ours_train = aug.build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    ours_val = aug.build_val_transforms(setup.data_aug_params, setup.deep_supervision_scales)
    _assert_same_lists(ours_train, v1_train)
    _assert_same_lists(ours_val, v1_val)
    if dummy:
        assert [type(t).__name__ for t in ours_train][1:4] == ["Convert3DTo2DTransform", "SpatialTransform",
                                                                "Convert2DTo3DTransform"]


def _batches(task, stage, tmp_path, patch, final, bs, n, seed):
    folder = copy_stage(task, stage, tmp_path)
    loader = dl.make_data_loader(dl.load_dataset(folder), patch, final, bs)
    np.random.seed(seed)
    return [next(loader) for _ in range(n)]


@pytest.mark.parity
@pytest.mark.parametrize("task_kind,plans,dummy", CONFIGS, ids=IDS)
def test_pipeline_arrays_equal_v1(v1, v1_ct_task, v1_mr_task, tmp_path, task_kind, plans, dummy):
    """Same batch, same np.random + random seeds: v1's Compose and ours give identical data and targets."""
    task = v1_ct_task if task_kind == "ct" else v1_mr_task
    trainer = v1_setup(v1, task.preprocessed_dir, plans, tmp_path / "out", dummy_2d=dummy)
    v1_train, _ = v1_transform_lists(v1, trainer)
    setup = _ours_setup(trainer)
    ours = Compose(aug.build_train_transforms(setup.patch_size, setup.data_aug_params,
                                              setup.deep_supervision_scales))
    theirs = Compose(v1_train)
    stage = STAGE_3D if plans == PLANS_3D else STAGE_2D
    batches = _batches(task, stage, tmp_path, setup.basic_generator_patch_size, setup.patch_size,
                       int(trainer.batch_size), 4, seed=11)
    for i, batch in enumerate(batches):
        seed = 100 + i
        np.random.seed(seed)
        random.seed(seed)
        out_v1 = theirs(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in batch.items()})
        np.random.seed(seed)
        random.seed(seed)
        out_ours = ours(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in batch.items()})
        assert np.array_equal(out_v1["data"].numpy(), out_ours["data"].numpy())
        assert len(out_v1["target"]) == len(out_ours["target"]) == len(setup.deep_supervision_scales)
        for a, b in zip(out_v1["target"], out_ours["target"]):
            assert np.array_equal(a.numpy(), b.numpy())
    assert tuple(out_ours["data"].shape[2:]) == tuple(setup.patch_size)


@pytest.fixture
def ct_trace_setup(v1_ct_task, tmp_path):
    folder = copy_stage(v1_ct_task, STAGE_3D, tmp_path)
    dataset = dl.load_dataset(folder)
    setup = setup_DA_params([16, 40, 40], do_dummy_2D_aug=False, use_mask_for_norm={0: False},
                            pool_op_kernel_sizes=[[1, 2, 2], [2, 2, 2], [2, 2, 2]])
    transforms = aug.build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    batch = dl.case_batch(dataset, "case_003", setup.basic_generator_patch_size, setup.patch_size, seed=1,
                          force_foreground=True)
    return batch, transforms, setup


def test_trace_output_equals_untraced_run_and_is_reproducible(ct_trace_setup):
    batch, transforms, _ = ct_trace_setup
    np.random.seed(1234)
    random.seed(1234)
    np_state, py_state, uniform_before = np.random.get_state()[1].copy(), random.getstate(), np.random.uniform
    aug.trace_augmentation(batch, transforms, 5)
    assert np.array_equal(np.random.get_state()[1], np_state), "tracing must restore the caller's np.random state"
    assert random.getstate() == py_state, "tracing must restore the caller's random state"
    assert np.random.uniform is uniform_before and "recorded" not in repr(random.uniform)
    for seed in range(8):
        trace = aug.trace_augmentation(batch, transforms, seed)
        np.random.seed(seed)
        random.seed(seed)
        plain = Compose(transforms)(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in batch.items()})
        np.testing.assert_array_equal(trace.output["data"].numpy(), plain["data"].numpy())
        np.testing.assert_array_equal(trace.steps[-1].data, plain["data"].numpy()[0])
        again = aug.trace_augmentation(batch, transforms, seed)
        assert [s.params for s in again.steps] == [s.params for s in trace.steps]


def test_trace_flags_and_params_are_consistent_with_the_arrays(ct_trace_setup):
    batch, transforms, setup = ct_trace_setup
    seen = {"MirrorTransform": 0, "SpatialTransform": 0, "GammaTransform": 0, "GaussianNoiseTransform": 0}
    for seed in range(60):
        trace = aug.trace_augmentation(batch, transforms, seed)
        previous_data, previous_seg = trace.input_data, trace.input_seg
        for step in trace.steps:
            if step.name == "MirrorTransform":
                expected = np.flip(previous_data, axis=tuple(a + 1 for a in step.params["mirrored_axes"])) \
                    if step.fired else previous_data
                np.testing.assert_array_equal(step.data, expected)
                np.testing.assert_array_equal(
                    step.seg, np.flip(previous_seg, axis=step.params["mirrored_axes"]) if step.fired else previous_seg)
            elif step.random and not step.fired and step.name != "SpatialTransform":
                # a random transform that did not fire leaves the sample untouched
                np.testing.assert_array_equal(step.data, previous_data)
            if step.name == "SpatialTransform":
                if step.fired:
                    for axis in "xyz":
                        if f"angle_{axis}" in step.params:
                            lo, hi = setup.data_aug_params[f"rotation_{axis}"]
                            assert lo <= step.params[f"angle_{axis}"] <= hi
                    if "scale" in step.params:
                        assert 0.7 <= step.params["scale"] <= 1.4
                else:  # a plain centre crop of the loaded patch
                    lb = [(b - p) // 2 for b, p in zip(setup.basic_generator_patch_size, setup.patch_size)]
                    crop = previous_data[(slice(None),) + tuple(slice(l, l + p) for l, p in zip(lb, setup.patch_size))]
                    np.testing.assert_array_equal(step.data, crop)
            if step.name == "GaussianNoiseTransform" and step.fired:
                sigma = step.params["noise_sigma"]
                assert 0 <= sigma <= 0.1
                # the recorded sigma is the one applied: the added noise has that standard deviation
                assert np.std(step.data - previous_data) == pytest.approx(sigma, rel=0.05, abs=1e-4)
                seen["noise_checked"] = seen.get("noise_checked", 0) + 1
            if step.name == "BrightnessMultiplicativeTransform" and step.fired:
                np.testing.assert_allclose(step.data, previous_data * step.params["multiplier"], rtol=1e-6)
                seen["brightness_checked"] = seen.get("brightness_checked", 0) + 1
            if step.name.startswith("GammaTransform") and step.fired:
                assert 0.7 <= step.params["gamma"] <= 1.5
            if step.fired:
                seen[step.name.split(" ")[0]] = seen.get(step.name.split(" ")[0], 0) + 1
            previous_data, previous_seg = step.data, step.seg
        assert trace.fired == [s.name for s in trace.steps if s.fired]
    # over 60 seeds the frequent transforms must have fired (p 0.5 mirror/axis, 0.2+0.2 spatial, 0.1 noise ...)
    assert seen["MirrorTransform"] > 10 and seen["SpatialTransform"] > 2 and seen["GammaTransform"] > 2
    assert seen.get("noise_checked", 0) >= 1 and seen.get("brightness_checked", 0) >= 1


def test_trace_layers_and_figure(ct_trace_setup):
    batch, transforms, _ = ct_trace_setup
    trace = aug.trace_augmentation(batch, transforms, 2)
    layers = trace.layers()
    kinds = {k for _, _, k in layers}
    assert kinds == {"image", "labels"}
    assert len(layers) == 2 * (len(transforms) + 1)
    for name, array, kind in layers:
        assert array.ndim == 3
        assert array.dtype == (np.float32 if kind == "image" else np.int32)
    assert trace.provenance.case_id == "case_003" == trace.case_id
    text = trace.summary()
    assert text.splitlines()[0].startswith("seed 2, case case_003") and len(text.splitlines()) == len(transforms) + 1
    assert "<table>" in trace._repr_html_()
    rows = trace.table()
    assert [r["name"] for r in rows][0] == "SegChannelSelectionTransform" and rows[0]["fired"] == "always"
    from matplotlib.figure import Figure

    from nnunet_explorer.views.augmentation_plots import plot_augmentation_trace

    fig = plot_augmentation_trace(trace)
    assert isinstance(fig, Figure) and len(fig.axes) == len(transforms) + 1


def test_core_modules_import_no_ui():
    import subprocess

    code = ("import sys; import nnunet_explorer.training.augmentation, nnunet_explorer.training.augmenter, "
            "nnunet_explorer.training.throughput, nnunet_explorer.training.sampling_map, "
            "nnunet_explorer.training.dataloading, nnunet_explorer.training.splits; "
            "bad=[m for m in ('matplotlib.pyplot','ipywidgets','IPython','napari') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cascade_params_without_labels_are_refused_with_the_missing_key():
    # the one-hot move needs the labels to encode; a hand-made dict without them gets a message, not a crash
    params = setup_DA_params([16, 40, 40], do_dummy_2D_aug=False, use_mask_for_norm={0: False}).data_aug_params
    params = dict(params, move_last_seg_chanel_to_data=True)
    with pytest.raises(ConfigurationError, match="all_segmentation_labels"):
        aug.build_train_transforms([16, 40, 40], params)


def test_dummy_2d_trace_reads_in_plane_rotation(v1_ct_task, tmp_path):
    folder = copy_stage(v1_ct_task, STAGE_3D, tmp_path)
    dataset = dl.load_dataset(folder)
    setup = setup_DA_params([16, 40, 40], do_dummy_2D_aug=True, use_mask_for_norm={0: False},
                            pool_op_kernel_sizes=[[1, 2, 2], [2, 2, 2], [2, 2, 2]])
    transforms = aug.build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    batch = dl.case_batch(dataset, "case_001", setup.basic_generator_patch_size, setup.patch_size, seed=0)
    rotated = 0
    for seed in range(30):
        trace = aug.trace_augmentation(batch, transforms, seed)
        np.random.seed(seed)
        random.seed(seed)
        plain = Compose(transforms)(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in batch.items()})
        np.testing.assert_array_equal(trace.output["data"].numpy(), plain["data"].numpy())
        spatial = next(s for s in trace.steps if s.name == "SpatialTransform")
        assert spatial.data.shape[1:] == tuple(setup.patch_size)  # shown in 3D even while folded to 2D
        assert not {"angle_y", "angle_z"} & set(spatial.params)  # slice-wise: only the in-plane angle
        if "angle_x" in spatial.params:
            rotated += 1
            assert -np.pi <= spatial.params["angle_x"] <= np.pi
    assert rotated >= 1


def test_get_moreDA_augmentation_delivers_network_ready_batches(ct_trace_setup, v1_ct_task, tmp_path):
    _, _, setup = ct_trace_setup
    folder = copy_stage(v1_ct_task, STAGE_3D, tmp_path / "x")
    dataset = dl.load_dataset(folder)
    tr_loader = dl.make_data_loader(dataset, setup.basic_generator_patch_size, setup.patch_size, 2)
    val_loader = dl.make_data_loader(dataset, setup.patch_size, setup.patch_size, 2)
    for single in (True, False):
        from nnunet_explorer.training.augmentation_variants import get_moreDA_augmentation
        from nnunet_explorer.training.augmenter import single_threaded_copy

        train, val = get_moreDA_augmentation(tr_loader, val_loader, setup.patch_size, setup.data_aug_params,
                                             deep_supervision_scales=setup.deep_supervision_scales)
        if single:
            train, val = single_threaded_copy(train), single_threaded_copy(val)
        with train, val:
            for augmenter in (train, val):
                batch = next(augmenter)
                assert tuple(batch["data"].shape) == (2, 1, 16, 40, 40)
                assert [tuple(t.shape) for t in batch["target"]] == [(2, 1, 16, 40, 40), (2, 1, 16, 20, 20),
                                                                      (2, 1, 8, 10, 10)]
                assert set(np.unique(batch["target"][0].numpy())) <= {0.0, 1.0, 2.0}  # -1 removed
