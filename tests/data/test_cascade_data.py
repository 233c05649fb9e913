"""The cascade's data side (3d_cascade_fullres): loader with the previous stage, and its augmentations, vs v1.

A tiny cascade is faked from the v1-preprocessed CT task: for every case a "3d_lowres prediction"
``CASE_segFromPrevStage.npz`` (uint8, the case's spatial shape) is written, made from the case's own
segmentation with mistakes (shifted, labels swapped in part, extra blobs), so that the prior has several
connected components per label. Everything is compared with the real nnU-Net v1.7.1 classes on the same input
and the same random seeds.
"""
from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import pytest
from batchgenerators.transforms.abstract_transforms import Compose

from nnunet_explorer.errors import ConfigurationError, DatasetError
from nnunet_explorer.training import augmentation as aug
from nnunet_explorer.training import cascade_augmentation as casc
from nnunet_explorer.training import dataloading as dl
from nnunet_explorer.training.data_augmentation_params import setup_DA_params

from .conftest import PLANS_3D, STAGE_3D, copy_stage, same_batch, v1_setup, v1_transform_lists

NUM_CLASSES = 3  # background + the synthetic CT task's labels 1 and 2
PATCH = [16, 40, 40]
POOL = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]


def _fake_prior(seg: np.ndarray, seed: int) -> np.ndarray:
    """A plausible low-res prediction of ``seg (z, y, x)``: shifted, partly relabelled, with spurious blobs."""
    rng = np.random.RandomState(seed)
    prior = np.roll(np.where(seg < 0, 0, seg), 1, axis=1).astype(np.uint8)
    half = prior[:, :, : prior.shape[2] // 2]
    half[half == 2] = 1
    for _ in range(6):  # small separate components of both labels
        z, y, x = (rng.randint(0, s - 3) for s in prior.shape)
        prior[z:z + 2, y:y + 3, x:x + 3] = rng.randint(1, NUM_CLASSES)
    return prior


def _write_priors(folder: Path, out: Path, *, npy_variant: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, npz in enumerate(sorted(folder.glob("*.npz"))):
        with np.load(npz) as f:
            seg = f["data"][-1]
        target = out / f"{npz.stem}_segFromPrevStage.npz"
        np.savez_compressed(target, data=_fake_prior(seg, i))
        if npy_variant:  # a different .npy sibling: both loaders must prefer it over the .npz
            np.save(target.with_suffix(".npy"), _fake_prior(seg, 100 + i))


def _with_priors(dataset: dict, prior_dir: Path) -> dict:
    for case, entry in dataset.items():
        entry["seg_from_prev_stage_file"] = str(prior_dir / f"{case}_segFromPrevStage.npz")
    return dataset


@pytest.fixture
def cascade_stage(v1_ct_task, tmp_path):
    folder = copy_stage(v1_ct_task, STAGE_3D, tmp_path)
    prior_dir = tmp_path / "3d_lowres" / "pred_next_stage"
    _write_priors(folder, prior_dir)
    return folder, prior_dir


def _v1_cascade_trainer(v1, v1_ct_task, tmp_path, monkeypatch, dummy_2d=None):
    """v1's own nnUNetTrainerV2CascadeFullRes with plans processed and setup_DA_params run."""
    v1_setup(v1, v1_ct_task.preprocessed_dir, PLANS_3D, tmp_path / "v2")  # restores v1's module-level dicts
    from batchgenerators.utilities.file_and_folder_operations import load_pickle
    from nnunet.training.network_training import nnUNetTrainerV2_CascadeFullRes as v1_cascade

    # v1 read RESULTS_FOLDER at import (unset here); its __init__ only joins a path with it
    monkeypatch.setattr(v1_cascade, "network_training_output_dir", str(tmp_path / "results"))
    nnUNetTrainerV2CascadeFullRes = v1_cascade.nnUNetTrainerV2CascadeFullRes

    out = tmp_path / "3d_cascade_fullres" / v1_ct_task.task_name / "nnUNetTrainerV2CascadeFullRes__nnUNetPlansv2.1"
    trainer = nnUNetTrainerV2CascadeFullRes(str(v1_ct_task.preprocessed_dir / PLANS_3D), 0, str(out),
                                            str(v1_ct_task.preprocessed_dir), True, 0, True, True)
    plans = load_pickle(trainer.plans_file)
    if dummy_2d is not None:
        plans["plans_per_stage"][0]["do_dummy_2D_data_aug"] = dummy_2d
    trainer.process_plans(plans)
    trainer.setup_DA_params()
    assert trainer.num_classes == NUM_CLASSES
    return trainer


def _ours(trainer):
    setup = setup_DA_params(trainer.patch_size, do_dummy_2D_aug=trainer.do_dummy_2D_aug,
                            use_mask_for_norm=trainer.use_mask_for_norm,
                            pool_op_kernel_sizes=trainer.net_num_pool_op_kernel_sizes)
    params = {**setup.data_aug_params, **casc.cascade_da_params(NUM_CLASSES)}
    train = aug.build_train_transforms(setup.patch_size, params, setup.deep_supervision_scales)
    val = aug.build_val_transforms(params, setup.deep_supervision_scales)
    return setup, params, train, val


@pytest.fixture
def cascade_pipelines(v1, v1_ct_task, tmp_path, monkeypatch):
    trainer = _v1_cascade_trainer(v1, v1_ct_task, tmp_path, monkeypatch)
    v1_train, v1_val = v1_transform_lists(v1, trainer)
    setup, params, train, val = _ours(trainer)
    return trainer, v1_train, v1_val, setup, params, train, val


def _copy(batch: dict) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in batch.items()}


def _run(transforms, batch, seed):
    np.random.seed(seed)
    random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # v1's skimage.morphology.binary_* are deprecated in scikit-image 0.26
        out = Compose(list(transforms))(**_copy(batch))
    return out, np.random.get_state()[1].copy()


def _same_output(a: dict, b: dict) -> None:
    np.testing.assert_array_equal(a["data"].numpy(), b["data"].numpy())
    assert len(a["target"]) == len(b["target"])
    for x, y in zip(a["target"], b["target"]):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


# --- (1) the loader ------------------------------------------------------------------------------------

@pytest.mark.parity
@pytest.mark.parametrize("variant,bs", [("npz", 2), ("npy", 5)])
def test_cascade_loader_batches_equal_v1(v1, cascade_stage, variant, bs):
    folder, prior_dir = cascade_stage
    if variant == "npy":
        dl.unpack_dataset(folder)
        _write_priors(folder, prior_dir, npy_variant=True)
    patch, final = (30, 60, 60), tuple(PATCH)  # larger than the cases: padding on every side
    for seed in (3, 8):
        l_v1 = v1.dataset_loading.DataLoader3D(_with_priors(v1.dataset_loading.load_dataset(str(folder)), prior_dir),
                                               patch, final, bs, True, oversample_foreground_percent=0.33,
                                               pad_mode="constant", pad_sides=None, memmap_mode="r")
        l_ours = dl.make_data_loader(dl.attach_prev_stage(dl.load_dataset(folder), prior_dir), patch, final, bs,
                                     oversample_foreground_percent=0.33, has_prev_stage=True)
        np.random.seed(seed)
        b_v1 = [next(l_v1) for _ in range(4)]
        state_v1 = np.random.get_state()[1].copy()
        np.random.seed(seed)
        b_ours = [next(l_ours) for _ in range(4)]
        assert np.array_equal(np.random.get_state()[1], state_v1), "np.random consumed differently from v1"
        for x, y in zip(b_v1, b_ours):
            assert y["seg"].shape == (bs, 2, *patch) and same_batch(x, y)
        # the prior is channel 1 and really is the file's content (the .npy sibling when there is one)
        p = b_ours[0]["provenance"][0]
        source = prior_dir / f"{p.case_id}_segFromPrevStage.{variant}"
        prior = np.load(source) if variant == "npy" else np.load(source)["data"]
        inside = tuple(slice(max(0, lb), min(s, ub)) for (lb, ub), s in zip(p.box, p.case_shape))
        inner = tuple(slice(max(0, -lb), max(0, -lb) + (sl.stop - sl.start)) for (lb, _), sl in zip(p.box, inside))
        np.testing.assert_array_equal(b_ours[0]["seg"][0, 1][inner], prior[inside])
    # padding (outside the case box): -1 for the ground truth, 0 (background) for the prior
    padded = 0
    for b in b_ours:
        for j, p in enumerate(b["provenance"]):
            pad = np.ones(patch, dtype=bool)
            pad[tuple(slice(max(0, -lb), max(0, -lb) + min(s, ub) - max(0, lb))
                      for (lb, ub), s in zip(p.box, p.case_shape))] = False
            assert (b["seg"][j, 0][pad] == -1).all() and (b["seg"][j, 1][pad] == 0).all()
            padded += int(pad.sum())
    assert padded > 0
    assert len({p.case_id for b in b_ours for p in b["provenance"]}) > 1


def test_cascade_loader_errors_name_the_problem(cascade_stage):
    folder, prior_dir = cascade_stage
    dataset = dl.load_dataset(folder)
    with pytest.raises(ConfigurationError, match="seg_from_prev_stage_file"):
        dl.DataLoader3D(dataset, PATCH, PATCH, 2, has_prev_stage=True)
    with pytest.raises(ConfigurationError, match="2D has no cascade"):
        dl.make_data_loader(_with_priors(dataset, prior_dir), [40, 40], [40, 40], 2, has_prev_stage=True)
    one = dl.subset(_with_priors(dataset, prior_dir), ["case_001"])
    np.savez_compressed(prior_dir / "case_001_segFromPrevStage.npz", data=np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(DatasetError, match="case_001.*shape"):
        next(dl.DataLoader3D(one, PATCH, PATCH, 1, has_prev_stage=True))
    (prior_dir / "case_001_segFromPrevStage.npz").unlink()
    with pytest.raises(DatasetError, match="case_001.*missing"):
        next(dl.DataLoader3D(one, PATCH, PATCH, 1, has_prev_stage=True))
    with pytest.raises(DatasetError, match="case_001_segFromPrevStage.npz") as info:
        dl.attach_prev_stage(dl.load_dataset(folder), prior_dir)
    assert "5 folds" in info.value.fix
    attached = dl.attach_prev_stage(dl.load_dataset(folder), prior_dir, require=False)
    assert attached["case_002"]["seg_from_prev_stage_file"] == str(prior_dir / "case_002_segFromPrevStage.npz")


# --- (5) the transform lists ---------------------------------------------------------------------------

@pytest.mark.parity
def test_cascade_transform_lists_equal_v1(cascade_pipelines):
    trainer, v1_train, v1_val, setup, params, train, val = cascade_pipelines
    for key, value in casc.cascade_da_params(NUM_CLASSES).items():
        assert trainer.data_aug_params[key] == value, key
    for ours, theirs in ((train, v1_train), (val, v1_val)):
        assert [type(t).__name__ for t in ours] == [type(t).__name__ for t in theirs]
        for a, b in zip(ours, theirs):
            va, vb = vars(a), vars(b)
            assert va.keys() == vb.keys(), type(a).__name__
            for key in va:
                x, y = va[key], vb[key]
                if key == "any_of_these":  # v1 holds skimage's functions, the explorer its scipy versions
                    x, y = [f.__name__ for f in x], [f.__name__ for f in y]
                if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                    assert np.array_equal(np.asarray(x), np.asarray(y)), f"{type(a).__name__}.{key}"
                elif key not in ("ds_scales",):
                    assert x == y, f"{type(a).__name__}.{key}: {x!r} != {y!r}"
    names = [type(t).__name__ for t in train]
    i = names.index("RemoveLabelTransform")
    assert names[i + 1:i + 4] == ["MoveSegAsOneHotToData", "ApplyRandomBinaryOperatorTransform",
                                  "RemoveRandomConnectedComponentFromOneHotEncodingTransform"]
    remove = train[i + 3]
    # v1's swap: the size threshold is the fill probability (0.0), so nothing is ever eligible
    assert remove.dont_do_if_covers_more_than_X_percent == 0.0 and remove.fill_with_other_class_p == 0.15
    assert "no-op" in aug.describe_transform(remove)


# --- (2) (3) the arrays --------------------------------------------------------------------------------

def _cascade_batches(folder, prior_dir, patch, final, bs, n, seed):
    loader = dl.make_data_loader(dl.attach_prev_stage(dl.load_dataset(folder), prior_dir), patch, final, bs,
                                 has_prev_stage=True)
    np.random.seed(seed)
    return [next(loader) for _ in range(n)]


@pytest.mark.parity
def test_cascade_train_and_val_arrays_equal_v1(cascade_stage, cascade_pipelines):
    folder, prior_dir = cascade_stage
    trainer, v1_train, v1_val, setup, params, train, val = cascade_pipelines
    # whole batches (bs 2) through both Compose's
    batches = _cascade_batches(folder, prior_dir, setup.basic_generator_patch_size, setup.patch_size, 2, 3, 11)
    for i, batch in enumerate(batches):
        out_v1, state_v1 = _run(v1_train, batch, 200 + i)
        out_ours, state_ours = _run(train, batch, 200 + i)
        _same_output(out_v1, out_ours)
        assert np.array_equal(state_v1, state_ours)
        assert out_ours["data"].shape[1] == 1 + NUM_CLASSES - 1  # image + one-hot prior of labels 1, 2
    # one-sample batches through v1's Compose and the explorer's *trace*: same arrays, and the trace says
    # which binary operation was applied - over these seeds each of the four must have been seen
    one = _cascade_batches(folder, prior_dir, setup.basic_generator_patch_size, setup.patch_size, 1, 1, 5)[0]
    seen, removal_attempts = set(), 0
    for seed in range(24):
        out_v1, _ = _run(v1_train, one, seed)
        trace = aug.trace_augmentation(one, train, seed)
        _same_output(out_v1, trace.output)
        step = next(s for s in trace.steps if s.name == "ApplyRandomBinaryOperatorTransform")
        for op in step.params.get("operations", []):
            assert 1 <= op["radius"] < 8 and op["channel"] in (-2, -1)
            seen.add(op["operation"])
        remove = next(s for s in trace.steps if s.name.startswith("RemoveRandomConnected"))
        assert remove.fired is False and not remove.params.get("removed")  # v1's no-op
        removal_attempts += bool(remove.draws) and remove.draws[0].value < 0.2
        np.testing.assert_array_equal(remove.data, trace.steps[remove.index - 1].data)
        assert trace.input_prior is not None and remove.prior is not None
    assert seen == {"binary_dilation", "binary_erosion", "binary_closing", "binary_opening"}
    assert removal_attempts >= 1  # the no-op did draw its per-channel coins on some seeds
    # validation: deterministic, same arrays
    val_batches = _cascade_batches(folder, prior_dir, setup.patch_size, setup.patch_size, 2, 3, 4)
    for batch in val_batches:
        out_v1, _ = _run(v1_val, batch, 0)
        out_ours, _ = _run(val, batch, 0)
        _same_output(out_v1, out_ours)
        prior = batch["seg"][:, 1]
        for k, label in enumerate((1, 2)):
            np.testing.assert_array_equal(out_ours["data"].numpy()[:, 1 + k], (prior == label).astype(np.float32))


@pytest.mark.parity
def test_cascade_dummy_2d_arrays_equal_v1(v1, v1_ct_task, cascade_stage, tmp_path, monkeypatch):
    """Dummy 2D folds the two seg channels (truth and prior) into one axis for the spatial transform."""
    folder, prior_dir = cascade_stage
    trainer = _v1_cascade_trainer(v1, v1_ct_task, tmp_path, monkeypatch, dummy_2d=True)
    v1_train, _ = v1_transform_lists(v1, trainer)
    setup, params, train, _ = _ours(trainer)
    assert params["dummy_2D"] and "Convert3DTo2DTransform" in [type(t).__name__ for t in train]
    for i, batch in enumerate(_cascade_batches(folder, prior_dir, setup.basic_generator_patch_size,
                                               setup.patch_size, 2, 2, 21)):
        out_v1, state_v1 = _run(v1_train, batch, 300 + i)
        out_ours, state_ours = _run(train, batch, 300 + i)
        _same_output(out_v1, out_ours)
        assert np.array_equal(state_v1, state_ours)


# --- (4) the transforms themselves, with non-default parameters ------------------------------------------

def _one_hot_batch(folder, prior_dir, bs=3):
    batch = _cascade_batches(folder, prior_dir, PATCH, PATCH, bs, 1, 2)[0]
    batch["seg"][batch["seg"] < 0] = 0
    return casc.MoveSegAsOneHotToData(1, [1, 2], "seg", "data")(**batch)


@pytest.mark.parity
def test_remove_connected_component_with_unswapped_parameters_equals_v1(cascade_stage):
    from nnunet.training.data_augmentation import pyramid_augmentations as v1_pyr

    folder, prior_dir = cascade_stage
    batch = _one_hot_batch(folder, prior_dir)
    kwargs = dict(channel_idx=[-2, -1], key="data", p_per_sample=0.8, fill_with_other_class_p=0.5,
                  dont_do_if_covers_more_than_X_percent=0.05, p_per_label=0.8)
    removed = filled = 0
    for seed in range(10):
        out_v1, state_v1 = _run([v1_pyr.RemoveRandomConnectedComponentFromOneHotEncodingTransform(**kwargs)],
                                batch, seed)
        ours = casc.RemoveRandomConnectedComponentFromOneHotEncodingTransform(**kwargs)
        out_ours, state_ours = _run([ours], batch, seed)
        np.testing.assert_array_equal(out_v1["data"], out_ours["data"])
        assert np.array_equal(state_v1, state_ours)
        before, after = batch["data"][:, -2:], out_ours["data"][:, -2:]
        removed += int((after < before).any())
        filled += int((after > before).any())
        # the trace's reading of the draws agrees with what happened to the arrays
        trace = aug.trace_augmentation({"data": batch["data"][:1], "seg": batch["seg"][:1]}, [ours], seed)
        lost = (trace.steps[0].data[-2:] < batch["data"][0, -2:]).any()
        assert trace.steps[0].fired == bool(lost)
    assert removed >= 3 and filled >= 1



def test_the_traces_note_on_v1s_no_op_removal_follows_the_language(monkeypatch):
    """v1 swaps two arguments (size threshold 0): the trace says why nothing is removed, in the reader's language."""
    data = np.zeros((1, 3, 4, 8, 8), np.float32)
    data[0, 1, :, :4] = data[0, 2, :, 4:] = 1
    batch = {"data": data, "seg": np.zeros((1, 1, 4, 8, 8), np.float32)}
    remove = casc.RemoveRandomConnectedComponentFromOneHotEncodingTransform(
        channel_idx=[-2, -1], key="data", p_per_sample=1, fill_with_other_class_p=0,
        dont_do_if_covers_more_than_X_percent=0, p_per_label=1)
    monkeypatch.delenv("NNUNET_EXPLORER_LANG", raising=False)
    step = aug.trace_augmentation(batch, [remove], 0).steps[0]
    assert not step.fired and step.params["note"] == ("v1 quirk: size threshold 0 (arguments swapped), nothing can "
                                                      "be removed")
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    step = aug.trace_augmentation(batch, [remove], 0).steps[0]
    assert step.params["note"] == "v1 的特殊行为：大小阈值为 0（两个参数传反了），没有连通域能被删除"

@pytest.mark.parity
def test_move_seg_and_binary_operator_equal_v1_directly(cascade_stage):
    from nnunet.training.data_augmentation import pyramid_augmentations as v1_pyr

    folder, prior_dir = cascade_stage
    batch = _cascade_batches(folder, prior_dir, PATCH, PATCH, 2, 1, 9)[0]
    batch["seg"][batch["seg"] < 0] = 0
    out_v1, _ = _run([v1_pyr.MoveSegAsOneHotToData(1, [1, 2], "seg", "data")], batch, 0)
    out_ours, _ = _run([casc.MoveSegAsOneHotToData(1, [1, 2], "seg", "data")], batch, 0)
    for key in ("data", "seg"):
        assert out_v1[key].dtype == out_ours[key].dtype and np.array_equal(out_v1[key], out_ours[key])
    assert out_ours["seg"].shape[1] == 1 and out_ours["data"].shape[1] == 3
    # every draw and array of the binary operator, all channels, v1's own default strel size (1, 10)
    for seed in range(4):
        a, sa = _run([v1_pyr.ApplyRandomBinaryOperatorTransform([-2, -1], p_per_sample=1.0)], out_ours, seed)
        b, sb = _run([casc.ApplyRandomBinaryOperatorTransform([-2, -1], p_per_sample=1.0)], out_ours, seed)
        np.testing.assert_array_equal(a["data"], b["data"])
        assert np.array_equal(sa, sb)
    with pytest.raises(TypeError):
        casc.ApplyRandomBinaryOperatorTransform((-2, -1))


def test_binary_operations_equal_skimage_including_even_footprints_and_borders():
    """The scipy re-implementations give skimage.morphology.binary_*'s arrays (what v1 calls)."""
    from skimage.morphology import ball

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from skimage.morphology import binary as skb
        rng = np.random.RandomState(0)
        image = np.zeros((12, 14, 13), dtype=int)
        image[0:5, 3:9, 0:6] = 1   # touches three borders
        image[6:12, 8:14, 7:13] = 1
        image[rng.rand(*image.shape) < 0.05] = 1
        for radius in (1.0, 1.49, 1.5, 2.3, 2.5, 3.7):  # int(2r + 1) even for 1.5 and 2.5: padded footprints
            fp = ball(radius)
            for ours, theirs in zip(casc.BINARY_OPERATIONS, (skb.binary_dilation, skb.binary_erosion,
                                                             skb.binary_closing, skb.binary_opening)):
                np.testing.assert_array_equal(ours(image, fp), theirs(image, fp), err_msg=f"{ours.__name__} {radius}")
    assert ball(1.5).shape == (4, 4, 4)


def test_to_one_hot_follows_the_labels_given():
    seg = np.array([[0, 1], [2, -1]], dtype=np.float32)
    out = casc.to_one_hot(seg, [1, 2])
    assert out.dtype == np.float32 and out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[0], seg == 1)
    np.testing.assert_array_equal(out[1], seg == 2)
    assert casc.to_one_hot(seg).shape[0] == 4  # labels present: -1, 0, 1, 2


def test_cascade_params_without_labels_are_refused():
    params = setup_DA_params(PATCH, do_dummy_2D_aug=False, use_mask_for_norm={0: False}).data_aug_params
    with pytest.raises(ConfigurationError, match="all_segmentation_labels"):
        aug.build_train_transforms(PATCH, dict(params, move_last_seg_chanel_to_data=True))


def test_cascade_pipeline_end_to_end_through_the_augmenter(cascade_stage):
    folder, prior_dir = cascade_stage
    setup = setup_DA_params(PATCH, do_dummy_2D_aug=False, use_mask_for_norm={0: False}, pool_op_kernel_sizes=POOL)
    params = {**setup.data_aug_params, **casc.cascade_da_params(NUM_CLASSES)}
    dataset = _with_priors(dl.load_dataset(folder), prior_dir)
    tr_loader = dl.make_data_loader(dataset, setup.basic_generator_patch_size, setup.patch_size, 2,
                                    has_prev_stage=True)
    val_loader = dl.make_data_loader(dataset, setup.patch_size, setup.patch_size, 2, has_prev_stage=True)
    from nnunet_explorer.training.augmentation_variants import get_moreDA_augmentation
    from nnunet_explorer.training.augmenter import single_threaded_copy

    train, val = (single_threaded_copy(a) for a in get_moreDA_augmentation(
        tr_loader, val_loader, setup.patch_size, params, deep_supervision_scales=setup.deep_supervision_scales))
    with train, val:
        for augmenter in (train, val):
            batch = next(augmenter)
            assert tuple(batch["data"].shape) == (2, 3, *PATCH)  # image + 2 prior channels
            assert tuple(batch["target"][0].shape) == (2, 1, *PATCH)
            prior = batch["data"][:, 1:].numpy()
            assert set(np.unique(prior)) <= {0.0, 1.0} and prior.sum(1).max() <= 1  # still one-hot


def test_cascade_trace_shows_the_prior_and_the_operations(cascade_stage):
    folder, prior_dir = cascade_stage
    setup = setup_DA_params(PATCH, do_dummy_2D_aug=False, use_mask_for_norm={0: False}, pool_op_kernel_sizes=POOL)
    params = {**setup.data_aug_params, **casc.cascade_da_params(NUM_CLASSES)}
    transforms = aug.build_train_transforms(setup.patch_size, params, setup.deep_supervision_scales)
    dataset = _with_priors(dl.load_dataset(folder), prior_dir)
    batch = dl.case_batch(dataset, "case_003", setup.basic_generator_patch_size, setup.patch_size, seed=1,
                          force_foreground=True, has_prev_stage=True)
    assert batch["seg"].shape[1] == 2 and batch["provenance"][0].forced
    names = [type(t).__name__ for t in transforms]
    move, binary = names.index("MoveSegAsOneHotToData"), names.index("ApplyRandomBinaryOperatorTransform")
    for seed in range(30):
        trace = aug.trace_augmentation(batch, transforms, seed)
        if trace.steps[binary].fired:
            break
    else:
        pytest.fail("the binary operator (p 0.4) did not fire in 30 seeds")
    np.testing.assert_array_equal(trace.input_prior, batch["seg"][0, 1])
    # moving the prior into the image changes its representation, not its labels
    np.testing.assert_array_equal(trace.steps[move].prior, trace.steps[move - 1].prior)
    assert trace.steps[move].data.shape[0] == 3 and trace.steps[move - 1].data.shape[0] == 1
    operations = trace.steps[binary].params["operations"]
    assert sorted(op["channel"] for op in operations) == [-2, -1]  # p_per_label 1: both channels
    assert all(op["operation"] in trace.summary() for op in operations)
    layers = trace.layers()
    assert len(layers) == 3 * (len(transforms) + 1) and layers[2][0] == "input prior"
    assert all(kind == "labels" for name, _, kind in layers if name.endswith("prior"))


@pytest.mark.parity
def test_cascade_mirrors_references_resolve_in_v1(v1):
    import importlib

    from nnunet_explorer.provenance import v1_reference_of

    refs = [v1_reference_of(obj) for obj in vars(casc).values() if v1_reference_of(obj) is not None
            and getattr(obj, "__module__", "") == casc.__name__]
    assert len(refs) == 4  # the three transforms and to_one_hot
    for ref in refs:
        target = importlib.import_module(ref.module)
        for part in ref.qualname.split("."):
            target = getattr(target, part)
