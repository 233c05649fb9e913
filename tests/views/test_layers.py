"""Layer building without napari: geometry, readers' layers, errors and Dice, batches, deep supervision, tiles."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from nnunet_explorer.errors import DatasetError, ExplorerError
from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.paths import resolve_workspace
from nnunet_explorer.views import layers as L

CT, REAL = "Task961_LayersCT", "Task962_LayersReal"


def _workspace(root):
    return resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                              "RESULTS_FOLDER": str(root / "results")}).ensure()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A synthetic CT task and a 3-case task derived from the real sample (varied spacings → resampling)."""
    from nnunet_explorer.planning.run import plan_and_preprocess
    from nnunet_explorer.samples.real import build_real_task, default_sample_dir
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    ws = _workspace(tmp_path_factory.mktemp("layers"))
    write_synthetic_task(ws.raw_task_dir(CT), "ct", num_training=3, num_test=1)
    tasks = [CT]
    if default_sample_dir().is_dir():
        build_real_task(ws.raw_task_dir(REAL), num_training=3)
        tasks.append(REAL)
    plan_and_preprocess(tasks, workspace=ws, tl=1, tf=1, progress=False, log=lambda message: None,
                        planner2d_name=None)
    return ws


def test_layers_module_and_plugin_package_import_no_ui():
    code = ("import sys, nnunet_explorer.views.layers, nnunet_explorer.views.napari\n"
            "print([m for m in ('napari', 'PySide6', 'PyQt5', 'qtpy', 'magicgui', 'vispy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_layer_spec_is_a_napari_layer_data_tuple():
    spec = L.LayerSpec("x", "labels", np.zeros((2, 3), np.int32), {"scale": (1.0, 2.0)})
    data, kwargs, kind = spec.as_tuple()
    assert kind == "labels" and kwargs == {"name": "x", "scale": (1.0, 2.0)} and data is spec.data
    with pytest.raises(ValueError):
        L.LayerSpec("x", "volume", np.zeros(2))


def test_cropped_case_sits_on_the_raw_case(ws):
    """Cropped voxel (0,0,0) is raw voxel crop_bbox[:, 0]: same values, and the world positions agree."""
    import SimpleITK as sitk

    case = "case_001"
    raw = L.raw_case_layers(ws.raw_task_dir(CT), case)
    cropped = L.case_layers(ws.cropped_task_dir(CT) / f"{case}.npz")
    props = load_pickle(ws.cropped_task_dir(CT) / f"{case}.pkl")
    lower = np.array([b[0] for b in props["crop_bbox"]])
    region = tuple(slice(lo, hi) for lo, hi in props["crop_bbox"])
    np.testing.assert_array_equal(cropped[0].data, raw[0].data[region])
    itk = sitk.ReadImage(str(ws.raw_task_dir(CT) / "imagesTr" / f"{case}_0000.nii.gz"))
    world = np.array(itk.TransformIndexToPhysicalPoint([int(v) for v in lower[::-1]]))[::-1]
    np.testing.assert_allclose(cropped[0].meta["translate"], world, atol=1e-4)
    np.testing.assert_allclose(cropped[0].meta["scale"], np.array(itk.GetSpacing())[::-1])
    assert cropped[1].kind == "labels" and cropped[1].metadata["label_names"][2] == "lesion"


def _to_voxels(points_mm, spec):
    return (points_mm - np.asarray(spec.meta["translate"])) / np.asarray(spec.meta["scale"])


def test_preprocessed_resampled_case_overlays_the_raw_label(ws):
    """A resampled case, placed by its layer geometry, reproduces the raw label (and beats a 1-voxel shift)."""
    if not ws.raw_task_dir(REAL).is_dir():
        pytest.skip("data_samples/ is not in this checkout")
    stage = ws.preprocessed_task_dir(REAL) / "nnUNetData_plans_v2.1_stage0"
    case = "colin_derived_001"
    props = load_pickle(stage / f"{case}.pkl")
    assert not np.allclose(props["original_spacing"], props["spacing_after_resampling"]), "no resampling here"
    pre = L.case_layers(stage / f"{case}.npz")
    seg = next(s for s in pre if s.kind == "labels")
    raw_label = next(s for s in L.raw_case_layers(ws.raw_task_dir(REAL), case) if s.kind == "labels")
    grid = np.argwhere(np.ones(raw_label.data.shape, bool))
    world = grid * np.asarray(raw_label.meta["scale"]) + np.asarray(raw_label.meta["translate"])

    def agreement(shift):
        idx = np.round(_to_voxels(world, seg) + shift).astype(int)
        inside = np.all((idx >= 0) & (idx < np.asarray(seg.data.shape)), axis=1)
        pulled = np.zeros(len(grid), np.int32)
        pulled[inside] = seg.data[tuple(idx[inside].T)]
        truth = raw_label.data.reshape(-1)
        fg = (truth > 0) | (pulled > 0)
        return np.mean(pulled[fg] == truth[fg])

    ours = agreement(np.zeros(3))
    assert ours > 0.8
    for axis in range(3):
        for sign in (-1, 1):
            shift = np.zeros(3)
            shift[axis] = sign
            assert ours > agreement(shift)


def test_dice_per_class_follows_v1s_rule():
    truth = np.array([0, 1, 1, 2, 2, 0])
    pred = np.array([1, 1, 0, 2, 2, 0])
    dice = L.dice_per_class(pred, truth, [1, 2, 3])
    assert dice[1] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert dice[2] == 1.0
    assert np.isnan(dice[3])  # absent in both: NaN, skipped by v1's nanmean
    errors = L.error_map(np.array([1, 0, 2, 1]), np.array([0, 1, 1, 1]))
    assert errors.tolist() == [L.FALSE_POSITIVE, L.FALSE_NEGATIVE, L.WRONG_CLASS, 0]
    with pytest.raises(DatasetError, match="shape"):
        L.error_map(np.zeros(3), np.zeros(4))


@pytest.mark.parity
def test_prediction_folder_dice_matches_v1s_evaluator(ws, tmp_path):
    """Per case and class, the Dice in the layers equals v1's aggregate_scores (NiftiEvaluator)."""
    import SimpleITK as sitk

    from nnunet_explorer.parity import run_v1_python

    gt = tmp_path / "model" / "gt_niftis"
    shutil.copytree(ws.preprocessed_task_dir(CT) / "gt_segmentations", gt)
    val = tmp_path / "model" / "fold_0" / "validation_raw"
    val.mkdir(parents=True)
    for k, path in enumerate(sorted(gt.glob("*.nii.gz"))):
        image = sitk.ReadImage(str(path))
        truth = sitk.GetArrayFromImage(image)
        pred = np.roll(truth, k + 1, axis=1)
        if k == 1:
            pred[pred == 2] = 0  # no lesion predicted
        out = sitk.GetImageFromArray(pred.astype(np.uint8))
        out.CopyInformation(image)
        sitk.WriteImage(out, str(val / path.name))
    assert L.find_ground_truth_folder(val) == gt
    assert L.classify_path(val) == "prediction_folder"
    cases = L.prediction_folder_cases(val)
    code = ("import json; from nnunet.evaluation.evaluator import aggregate_scores\n"
            f"pairs = [('{val}/' + c + '.nii.gz', '{gt}/' + c + '.nii.gz') for c in {cases!r}]\n"
            f"s = aggregate_scores(pairs, labels=[0, 1, 2], json_output_file='{val}/summary.json', num_threads=1)\n"
            "print(json.dumps([{k: v['Dice'] for k, v in r.items() if k not in ('test', 'reference')} "
            "for r in s['all']]))")
    v1 = json.loads(run_v1_python(code, _workspace(tmp_path / "v1ws"), timeout=300).stdout.strip().splitlines()[-1])
    from nnunet_explorer.views.validation_case import validation_case_layers

    layers = [spec for case in cases for spec in validation_case_layers(val, case)]
    ours = [s.metadata["dice"] for s in layers if " errors (" in s.name]
    assert len(ours) == len(v1) == 3
    compared = 0
    for mine, theirs in zip(ours, v1):
        assert sorted(mine) == [1, 2]  # labels from summary.json's mean, background excluded
        for label, value in mine.items():
            expected = theirs[str(label)]
            if np.isnan(value):
                assert np.isnan(expected)
            else:
                assert value == pytest.approx(expected, abs=1e-12)
            compared += 1
    assert compared == 6


@pytest.mark.parity
def test_sliding_window_steps_and_gaussian_match_v1():
    pytest.importorskip("nnunet")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nnunet.network_architecture.neural_network import SegmentationNetwork
    cases = [((128, 128, 128), (200, 300, 128), 0.5), ((30, 224, 224), (162, 529, 529), 0.5),
             ((20, 40, 40), (43, 64, 52), 0.5), ((20, 40, 40), (20, 40, 40), 0.5), ((64, 64), (100, 210), 0.3),
             ((16, 24, 24), (50, 31, 97), 1.0)]
    for patch, image, step in cases:
        assert L.sliding_window_steps(patch, image, step) == SegmentationNetwork._compute_steps_for_sliding_window(
            patch, image, step)
    for patch in ((20, 40, 40), (16, 24, 24), (64, 64), (7, 9, 11)):
        ours, theirs = L.gaussian_importance_map(patch), SegmentationNetwork._get_gaussian(patch, 1. / 8)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


def test_sliding_window_layers_pad_like_v1_and_sum_the_weights():
    specs = L.sliding_window_layers((16, 39, 39), (20, 40, 40), spacing=(3.0, 0.8, 0.8), translate=(0.0, 5.0, 0.0))
    tiles = specs[-1]
    meta = tiles.metadata
    assert meta["padded_shape"] == (20, 40, 40) and meta["pad_below"] == (2, 0, 0)
    assert meta["num_tiles"] == 1
    weight = next(s for s in specs if s.name == "summed weight")
    # a single tile: v1 uses a map of ones instead of the Gaussian
    assert np.all(weight.data == 1)
    np.testing.assert_allclose(weight.meta["translate"], (-6.0, 5.0, 0.0))
    many = L.sliding_window_layers((30, 60, 50), (20, 40, 40))
    summed = next(s for s in many if s.name == "summed weight").data
    gaussian = L.gaussian_importance_map((20, 40, 40))
    expected = np.zeros((30, 60, 50), np.float32)
    for start in many[-1].metadata["tile_starts"]:
        expected[tuple(slice(s, s + p) for s, p in zip(start, (20, 40, 40)))] += gaussian
    np.testing.assert_allclose(summed, expected)
    assert len(many[-1].data) == many[-1].metadata["num_tiles"] * 20
    two_d = L.sliding_window_layers((3, 60, 50), (40, 40))
    assert two_d[-1].metadata["num_tiles"] == 4 and len(two_d[-1].data) == 4 * 3
    # a 2D network on a 3D case: v1 decides Gaussian or ones per slice, so one tile per slice sums ones
    one_per_slice = L.sliding_window_layers((5, 40, 40), (40, 40))
    assert np.all(next(s for s in one_per_slice if s.name == "summed weight").data == 1)


def test_deep_supervision_layers_place_each_scale_over_the_patch():
    rng = np.random.default_rng(0)
    outputs = [rng.normal(size=(2, 3, 8, 16, 16)), rng.normal(size=(2, 3, 8, 8, 8)), rng.normal(size=(2, 3, 4, 4, 4))]
    targets = [rng.integers(0, 3, (2, 1) + o.shape[2:]) for o in outputs]
    specs = L.deep_supervision_layers(outputs, targets, sample=1, spacing=(2.0, 1.0, 1.0), weights=[0.57, 0.29, 0])
    assert len(specs) == 6
    np.testing.assert_array_equal(specs[2].data, outputs[1][1].argmax(0))
    np.testing.assert_array_equal(specs[3].data, targets[1][1, 0])
    assert specs[4].meta["scale"] == (4.0, 4.0, 4.0) and specs[4].meta["translate"] == (1.0, 1.5, 1.5)
    with pytest.raises(DatasetError, match="target 1"):
        L.deep_supervision_layers(outputs, [targets[0], targets[2]])


def test_batch_source_and_draw_batch_follow_v1s_loader(ws):
    stage = ws.preprocessed_task_dir(CT) / "nnUNetData_plans_v2.1_stage0"
    source = L.batch_source(stage)
    plans = load_pickle(stage.parent / "nnUNetPlansv2.1_plans_3D.pkl")
    assert source.patch_size == tuple(plans["plans_per_stage"][0]["patch_size"])
    assert source.batch_size == plans["plans_per_stage"][0]["batch_size"]
    names = source.transform_names
    assert names[1] == "01 SpatialTransform" and names[-1].endswith("NumpyToTensor")
    assert not source.is_toggleable(0) and source.is_toggleable(1)
    state = np.random.get_state()
    a = L.draw_batch(source, seed=7)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the caller's random state is untouched
    b = L.draw_batch(source, seed=7)
    np.testing.assert_array_equal(a["data"], b["data"])
    assert a["data"].shape[2:] == source.patch_size and len(a["target"]) == len(source.deep_supervision_scales)
    specs = L.batch_layers(a, spacing=source.spacing, modality_names=source.modality_names)
    assert [s.name for s in specs] == ["batch CT", "batch seg"]
    assert specs[0].meta["scale"] == (1.0, *source.spacing)
    assert len(specs[0].metadata["provenance"]) == source.batch_size
    network = L.source_network(source, seed=0)
    outputs = L.network_outputs(network, a["data"][:1])
    assert [o.shape[2:] for o in outputs] == [t.shape[2:] for t in a["target"]]


def test_read_path_dispatch_and_refusals(ws, tmp_path):
    assert L.classify_path(ws.raw_task_dir(CT)) == "raw_task"
    assert L.classify_path(ws.preprocessed_task_dir(CT) / "nnUNetData_plans_v2.1_stage0") == "stage_folder"
    first = L.read_path(ws.raw_task_dir(CT))
    assert first[0].metadata["case_id"] == "case_000"
    test_case = L.raw_file_layers(ws.raw_task_dir(CT) / "imagesTs" / "test_000_0000.nii.gz")
    assert [s.kind for s in test_case] == ["image"]  # no labelsTs for the synthetic test case
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(DatasetError, match="not an nnU-Net artefact"):
        L.read_path(tmp_path / "x.txt")
    with pytest.raises(DatasetError, match="lists no|not listed"):
        L.raw_case_layers(ws.raw_task_dir(CT), "case_999")
    np.save(tmp_path / "lonely.npy", np.zeros((2, 3, 3, 3)))
    with pytest.raises(DatasetError, match="pkl"):
        L.case_layers(tmp_path / "lonely.npy")
    with pytest.raises(ExplorerError, match="smaller"):
        L.sliding_window_steps((10, 10), (5, 12))
    with pytest.raises(TypeError, match="no layers"):
        L.layers_for(object())


def test_trace_and_sliding_window_result_layers(ws):
    """An AugmentationTrace and an inference SlidingWindowResult both become layers via layers_for."""
    from nnunet_explorer.network_architecture.sliding_window import predict_sliding_window
    from nnunet_explorer.training.augmentation import trace_augmentation
    from nnunet_explorer.training.dataloading import case_batch

    stage = ws.preprocessed_task_dir(CT) / "nnUNetData_plans_v2.1_stage0"
    source = L.batch_source(stage)
    batch = case_batch(source.dataset, "case_000", source.basic_generator_patch_size, source.patch_size, seed=1)
    trace = trace_augmentation(batch, source.transforms, seed=1)
    specs = L.layers_for(trace, spacing=source.spacing)
    assert len(specs) == len(trace.layers()) and specs[-1].meta["visible"] and not specs[0].meta["visible"]
    last = specs[-1]
    np.testing.assert_array_equal(last.data, trace.steps[-1].seg.astype(np.int32))
    # the network patch sits at the centre of the loader's larger patch
    expected = (np.array(source.basic_generator_patch_size) - np.array(source.patch_size)) / 2 * source.spacing
    np.testing.assert_allclose(last.meta["translate"], expected)
    array, _props, _path = L.load_case_array(stage / "case_000.npz")
    network = L.source_network(source)
    result = predict_sliding_window(network, array[:-1], source.patch_size, do_mirroring=False)
    layers = L.layers_for(result)
    names = [s.name for s in layers]
    assert names[-3:] == ["foreground probability", "segmentation", "tiles"]
    np.testing.assert_array_equal(layers[-2].data, result.segmentation)
    assert layers[-1].metadata["num_tiles"] == result.num_tiles


def test_walkthrough_batch_record_becomes_layers():
    """The training walkthrough's Batch (torch tensors, one target per deep-supervision output) is shown too."""
    import torch

    from nnunet_explorer.walkthrough import Batch

    data = torch.rand(2, 2, 4, 8, 8)
    targets = (torch.randint(0, 3, (2, 1, 4, 8, 8)).float(), torch.zeros(2, 1, 4, 4, 4))
    batch = Batch(data, targets, ("case_000", "case_001"), (2, 2, 6, 10, 10), ("SpatialTransform(...)",))
    specs = L.layers_for(batch, modality_names=["T1", "T2"])
    assert [s.name for s in specs] == ["batch T1", "batch T2", "batch seg"]
    np.testing.assert_array_equal(specs[1].data, data[:, 1].numpy())
    np.testing.assert_array_equal(specs[2].data, targets[0][:, 0].numpy().astype(np.int32))
    assert specs[0].metadata["provenance"] == ["case_000", "case_001"]


def test_a_folder_of_predictions_without_ground_truth_opens_its_first_file(ws, tmp_path):
    source = ws.preprocessed_task_dir(CT) / "gt_segmentations"
    out = tmp_path / "predictions"
    shutil.copytree(source, out)
    assert L.classify_path(out) == "nifti_folder"
    specs = L.read_path(out)
    assert [s.kind for s in specs] == ["labels"]
    assert specs[0].metadata["case_id"] == sorted(p.name for p in out.glob("*.nii.gz"))[0][:-7]


def test_a_raw_tasks_own_folders_are_not_mistaken_for_predictions(ws):
    raw = ws.raw_task_dir(CT)
    assert L.classify_path(raw / "labelsTr") == "nifti_folder"
    assert L.classify_path(raw / "imagesTr") == "nifti_folder"
    specs = L.read_path(raw / "imagesTr")
    assert [s.kind for s in specs] == ["image", "labels"]  # the first file's whole case
    assert L.classify_path(ws.preprocessed_task_dir(CT) / "gt_segmentations") == "nifti_folder"
