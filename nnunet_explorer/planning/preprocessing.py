"""Resample and normalize each cropped case for one stage, and record where each class lies.

``GenericPreprocessor`` (3D stages) and ``PreprocessorFor2D`` (the 2D stage) mirror v1's classes of the same
names. For one case (arrays ``(c, z, y, x)`` after ``transpose_forward``):

1. NaN voxels become 0 (v1 does this in 3D only; SimpleITK already reads NaN voxels of a NIfTI as 0).
2. Resample data (order 3) and seg (order 1) to the stage spacing (:mod:`.resampling`). The 2D preprocessor
   keeps each case's own spacing along the first (slice) axis.
3. Normalize each modality: ``CT`` clips to the dataset's foreground [0.5, 99.5] percentiles and z-scores with
   the dataset's foreground mean/sd; ``nonCT`` z-scores with the case's own mean/sd (+1e-8), inside the
   nonzero mask (``seg >= 0``) when ``use_nonzero_mask`` is set, writing 0 outside; ``noNorm`` leaves it.
4. ``class_locations``: for each foreground class, a seeded random sample (``RandomState(1234)``) of at most
   10 000 voxel coordinates, but at least 1 % of the class's voxels; the training loader's foreground
   oversampling draws patch centres from these.
5. Save ``CASE.npz`` (key ``data``: the normalized channels plus the seg as last channel, float32) and
   ``CASE.pkl`` (the cropped properties + ``size_after_resampling``, ``spacing_after_resampling``,
   ``class_locations``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..fileio import load_pickle, save_npz_atomic, write_pickle
from ..language import tr
from ..provenance import mirrors
from .resampling import RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD, resample_patient

CLASS_LOCATION_SAMPLES = 10000
CLASS_LOCATION_MIN_PERCENT = 0.01
CLASS_LOCATION_SEED = 1234


@mirrors("nnunet.preprocessing.preprocessing:GenericPreprocessor._run_internal")
def sample_class_locations(seg: np.ndarray, all_classes: Sequence[int], *,
                           num_samples: int = CLASS_LOCATION_SAMPLES,
                           min_percent_coverage: float = CLASS_LOCATION_MIN_PERCENT,
                           seed: int = CLASS_LOCATION_SEED) -> dict:
    """Sample voxel coordinates of each class in ``seg`` (z, y, x); one RandomState per case, used in class order.

    Returns ``{class: int64 array (n, 3)}`` with ``n = max(min(10000, N), ceil(0.01 * N))`` for N voxels of
    the class, or ``[]`` when the class is absent (as v1 stores it).
    """
    rndst = np.random.RandomState(seed)
    locations: dict = {}
    for c in all_classes:
        all_locs = np.argwhere(seg == c)
        if len(all_locs) == 0:
            locations[c] = []
            continue
        n = min(num_samples, len(all_locs))
        n = max(n, int(np.ceil(len(all_locs) * min_percent_coverage)))
        locations[c] = all_locs[rndst.choice(len(all_locs), n, replace=False)]
    return locations


def normalize(data: np.ndarray, seg: np.ndarray, schemes: Mapping[int, str], use_nonzero_mask: Mapping[int, bool],
              intensityproperties: Mapping | None, *, mask_all_ones_for_nonct: bool = False) -> np.ndarray:
    """Normalize each channel of ``data`` (c, z, y, x) in place per its scheme (see the module docstring).

    ``mask_all_ones_for_nonct``: the 2D preprocessor's form of nonCT without mask (z-score through an all-ones
    mask); numerically the same rule.
    """
    if len(schemes) != len(data) or len(use_nonzero_mask) != len(data):
        raise ValueError("normalization schemes / use_nonzero_mask need one entry per modality")
    for c in range(len(data)):
        scheme = schemes[c]
        if scheme == "CT":
            props = intensityproperties[c]
            data[c] = np.clip(data[c], props["percentile_00_5"], props["percentile_99_5"])
            data[c] = (data[c] - props["mean"]) / props["sd"]
            if use_nonzero_mask[c]:
                data[c][seg[-1] < 0] = 0
        elif scheme == "CT2":
            props = intensityproperties[c]
            lb, ub = props["percentile_00_5"], props["percentile_99_5"]
            mask = (data[c] > lb) & (data[c] < ub)
            data[c] = np.clip(data[c], lb, ub)
            mn, sd = data[c][mask].mean(), data[c][mask].std()
            data[c] = (data[c] - mn) / sd
            if use_nonzero_mask[c]:
                data[c][seg[-1] < 0] = 0
        elif scheme == "noNorm":
            pass
        elif use_nonzero_mask[c] or mask_all_ones_for_nonct:
            mask = seg[-1] >= 0 if use_nonzero_mask[c] else np.ones(seg.shape[1:], dtype=bool)
            data[c][mask] = (data[c][mask] - data[c][mask].mean()) / (data[c][mask].std() + 1e-8)
            data[c][mask == 0] = 0
        else:
            mn, std = data[c].mean(), data[c].std()
            data[c] = (data[c] - mn) / (std + 1e-8)
    return data


@mirrors("nnunet.preprocessing.preprocessing:GenericPreprocessor")
class GenericPreprocessor:
    """v1's 3D preprocessor: NaN -> 0, resample (3 / 1, separate z at ratio > 3), normalize, sample classes."""

    is_2d = False

    def __init__(self, normalization_scheme_per_modality: Mapping[int, str], use_nonzero_mask: Mapping[int, bool],
                 transpose_forward: Sequence[int], intensityproperties: Mapping | None = None) -> None:
        self.transpose_forward = transpose_forward
        self.intensityproperties = intensityproperties
        self.normalization_scheme_per_modality = normalization_scheme_per_modality
        self.use_nonzero_mask = use_nonzero_mask
        self.resample_separate_z_anisotropy_threshold = RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD
        self.resample_order_data = 3
        self.resample_order_seg = 1

    @staticmethod
    def load_cropped(cropped_dir: str | Path, case_identifier: str) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(data float32 (c, z, y, x), seg (1, z, y, x), properties)`` of a cropped case."""
        with np.load(Path(cropped_dir) / f"{case_identifier}.npz") as npz:
            all_data = npz["data"]
        return all_data[:-1].astype(np.float32), all_data[-1:], load_pickle(Path(cropped_dir) / f"{case_identifier}.pkl")

    def transpose(self, array: np.ndarray) -> np.ndarray:
        return array.transpose((0, *[i + 1 for i in self.transpose_forward]))

    @mirrors("nnunet.preprocessing.preprocessing:GenericPreprocessor.resample_and_normalize")
    def resample_and_normalize(self, data: np.ndarray, target_spacing: np.ndarray, properties: dict,
                               seg: np.ndarray | None = None, force_separate_z: bool | None = None):
        """Resample and normalize one transposed case; adds ``size_after_resampling``/``spacing_after_resampling``."""
        original_spacing_transposed = np.array(properties["original_spacing"])[self.transpose_forward]
        data[np.isnan(data)] = 0
        data, seg = resample_patient(data, seg, np.array(original_spacing_transposed), target_spacing,
                                     self.resample_order_data, self.resample_order_seg,
                                     force_separate_z=force_separate_z, order_z_data=0, order_z_seg=0,
                                     separate_z_anisotropy_threshold=self.resample_separate_z_anisotropy_threshold)
        if seg is not None:
            seg[seg < -1] = 0
        properties["size_after_resampling"] = data[0].shape
        properties["spacing_after_resampling"] = target_spacing
        normalize(data, seg, self.normalization_scheme_per_modality, self.use_nonzero_mask, self.intensityproperties)
        return data, seg, properties

    def preprocess_case(self, target_spacing: np.ndarray, case_identifier: str, cropped_dir: str | Path,
                        all_classes: Sequence[int], force_separate_z: bool | None = None) -> tuple[np.ndarray, dict]:
        """Load, transpose, resample, normalize one cropped case; returns ``(all_data float32, properties)``."""
        data, seg, properties = self.load_cropped(cropped_dir, case_identifier)
        data, seg = self.transpose(data), self.transpose(seg)
        data, seg, properties = self.resample_and_normalize(data, target_spacing, properties, seg, force_separate_z)
        all_data = np.vstack((data, seg)).astype(np.float32)
        properties["class_locations"] = sample_class_locations(all_data[-1], all_classes)
        return all_data, properties

    @mirrors("nnunet.preprocessing.preprocessing:GenericPreprocessor._run_internal")
    def run_case(self, target_spacing: np.ndarray, case_identifier: str, output_folder_stage: str | Path,
                 cropped_dir: str | Path, force_separate_z: bool | None, all_classes: Sequence[int]) -> str:
        """Preprocess one case and write ``CASE.npz`` + ``CASE.pkl`` atomically into the stage folder."""
        all_data, properties = self.preprocess_case(np.array(target_spacing), case_identifier, cropped_dir,
                                                    all_classes, force_separate_z)
        out = Path(output_folder_stage)
        save_npz_atomic(out / f"{case_identifier}.npz", data=all_data.astype(np.float32))
        write_pickle(properties, out / f"{case_identifier}.pkl")
        return case_identifier


@mirrors("nnunet.preprocessing.preprocessing:PreprocessorFor2D")
class PreprocessorFor2D(GenericPreprocessor):
    """v1's 2D preprocessor: like the 3D one, but no resampling along the first (slice) axis."""

    is_2d = True

    @mirrors("nnunet.preprocessing.preprocessing:PreprocessorFor2D.resample_and_normalize")
    def resample_and_normalize(self, data: np.ndarray, target_spacing: np.ndarray, properties: dict,
                               seg: np.ndarray | None = None, force_separate_z: bool | None = None):
        original_spacing_transposed = np.array(properties["original_spacing"])[self.transpose_forward]
        # v1 mutates the caller's array here; we copy (the value stored in the pkl is the same)
        target_spacing = np.array(target_spacing, copy=True)
        target_spacing[0] = original_spacing_transposed[0]
        # differs from v1: v1's 2D preprocessor does not replace NaN (all-NaN channels would result). With
        # SimpleITK reading NIfTI NaN as 0 and the cropping step refusing NaN, this only matters for odd input.
        data[np.isnan(data)] = 0
        data, seg = resample_patient(data, seg, np.array(original_spacing_transposed), target_spacing, 3, 1,
                                     force_separate_z=force_separate_z, order_z_data=0, order_z_seg=0,
                                     separate_z_anisotropy_threshold=self.resample_separate_z_anisotropy_threshold)
        if seg is not None:
            seg[seg < -1] = 0
        properties["size_after_resampling"] = data[0].shape
        properties["spacing_after_resampling"] = target_spacing
        normalize(data, seg, self.normalization_scheme_per_modality, self.use_nonzero_mask, self.intensityproperties,
                  mask_all_ones_for_nonct=True)
        return data, seg, properties


PREPROCESSORS: dict[str, type[GenericPreprocessor]] = {
    "GenericPreprocessor": GenericPreprocessor,
    "PreprocessorFor2D": PreprocessorFor2D,
}


def preprocessor_for(plans: Mapping[str, Any]) -> GenericPreprocessor:
    """Build the preprocessor a plans dict names (``preprocessor_name``) with the plans' settings."""
    name = plans["preprocessor_name"]
    if name not in PREPROCESSORS:
        from ..errors import PlansError

        raise PlansError(tr(f"preprocessor {name!r} is not one the explorer implements ({', '.join(PREPROCESSORS)})",
                            f"explorer 没有实现预处理器 {name!r}(已实现的: {', '.join(PREPROCESSORS)})"),
                         fix=tr("use plans written by the v2.1 planners (ExperimentPlanner3D_v21 / 2D_v21)",
                                "请使用 v2.1 规划器(ExperimentPlanner3D_v21 / 2D_v21)写出的 plans"))
    return PREPROCESSORS[name](plans["normalization_schemes"], plans["use_mask_for_norm"],
                               plans["transpose_forward"], plans["dataset_properties"]["intensityproperties"])
