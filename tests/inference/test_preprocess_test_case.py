"""Preprocessing a new (unlabelled) case for prediction equals v1's ``preprocess_test_case``.

Covers the CT task (clip + dataset z-score, anisotropic spacing) and the MR task (two modalities, per-case
z-score inside the nonzero mask, which at inference comes from the crop alone: 0 inside, -1 outside).
"""
from __future__ import annotations

import numpy as np
import pytest

from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.inference.predict import check_input_folder_and_return_case_ids, preprocess_test_case

pytestmark = pytest.mark.parity


def _compare(task, plans_name: str) -> int:
    from nnunet.preprocessing.preprocessing import GenericPreprocessor, PreprocessorFor2D

    plans = load_pickle(task.preprocessed_dir / plans_name)
    stage = max(plans["plans_per_stage"].keys())
    images = task.raw_dir / "imagesTs"
    num_modalities = int(plans["num_modalities"])
    cases = check_input_folder_and_return_case_ids(images, num_modalities)
    v1_class = PreprocessorFor2D if plans["preprocessor_name"] == "PreprocessorFor2D" else GenericPreprocessor
    v1_pre = v1_class(plans["normalization_schemes"], plans["use_mask_for_norm"], plans["transpose_forward"],
                      plans["dataset_properties"]["intensityproperties"])
    for case in cases:
        files = [str(images / f"{case}_{m:04d}.nii.gz") for m in range(num_modalities)]
        ours, props = preprocess_test_case(files, plans, stage)
        theirs, _, v1_props = v1_pre.preprocess_test_case(files, plans["plans_per_stage"][stage]["current_spacing"])
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.float32
        assert np.abs(ours - theirs).max() <= 1e-5, case
        for key in ("crop_bbox", "size_after_cropping", "original_size_of_raw_data", "size_after_resampling"):
            assert np.array_equal(np.array(props[key]), np.array(v1_props[key])), key
        assert np.allclose(props["spacing_after_resampling"], v1_props["spacing_after_resampling"])
    return len(cases)


def test_ct_3d_and_2d_equal_v1(v1_ct_task):
    assert _compare(v1_ct_task, "nnUNetPlansv2.1_plans_3D.pkl") == 2
    assert _compare(v1_ct_task, "nnUNetPlansv2.1_plans_2D.pkl") == 2


def test_mr_masked_normalization_equals_v1(v1_mr_task):
    plans = load_pickle(v1_mr_task.preprocessed_dir / "nnUNetPlansv2.1_plans_3D.pkl")
    assert plans["num_modalities"] == 2 and all(plans["use_mask_for_norm"].values())
    assert _compare(v1_mr_task, "nnUNetPlansv2.1_plans_3D.pkl") == 2
