"""Which intensity normalization each modality gets, and whether it is restricted to the nonzero mask.

Both decisions are made once per dataset by the planner and stored in the plans
(``normalization_schemes``, ``use_mask_for_norm``) and in every cropped case pkl
(``use_nonzero_mask_for_norm``).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import numpy as np

from ..language import tr
from ..provenance import mirrors
from .explain import fmt, record


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_3DUNet:ExperimentPlanner.determine_normalization_scheme")
def determine_normalization_scheme(modalities: Mapping[int, str], *, planner: str = "3d",
                                   trace: list | None = None) -> "OrderedDict[int, str]":
    """``"CT"`` for a modality named exactly ``CT`` or ``ct``, ``"noNorm"`` for ``noNorm``, else ``"nonCT"``.

    * CT: clip to the dataset's foreground 0.5/99.5 percentiles, z-score with the dataset foreground mean/sd.
    * nonCT: z-score each case with its own mean/sd (+1e-8), optionally inside the nonzero mask only.
    * noNorm: leave the intensities as they are.
    """
    schemes: OrderedDict[int, str] = OrderedDict()
    for i in range(len(list(modalities.keys()))):
        name = modalities[i]
        if name == "CT" or name == "ct":
            schemes[i] = "CT"
        elif name == "noNorm":
            schemes[i] = "noNorm"
        else:
            schemes[i] = "nonCT"
    record(trace, planner, None, "normalization_schemes", "modality name", dict(schemes),
           lambda: tr("; ", ";").join(tr(f"modality {i} {modalities[i]!r} -> {s}", f"模态 {i} {modalities[i]!r} -> {s}")
                                      for i, s in schemes.items())
                   + tr(" (CT: clip to the dataset's foreground 0.5/99.5 percentiles, z-score with its foreground "
                        "mean/sd; nonCT: z-score per case)",
                        "(CT:截断到数据集前景的 0.5/99.5 百分位,再用前景的均值/标准差做 z-score;"
                        "nonCT:每个病例各自做 z-score)"))
    return schemes


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_3DUNet:ExperimentPlanner.determine_whether_to_use_mask_for_norm")
def determine_whether_to_use_mask_for_norm(modalities: Mapping[int, str], size_reductions: Mapping[str, float],
                                           *, planner: str = "3d",
                                           trace: list | None = None) -> "OrderedDict[int, bool]":
    """Normalize inside the nonzero mask only if cropping shrank the median case to < 3/4 of its size.

    A strong size reduction means the images have a zero background around the object (skull-stripped
    brains, as in BraTS); z-scoring the background would waste the intensity range. A modality whose name
    *contains* ``CT`` (note: substring, unlike the scheme rule) never uses the mask. The test is
    case-sensitive, so a modality named ``ct`` gets the CT scheme *and* may get the mask (a v1 quirk, kept).
    """
    use_mask: OrderedDict[int, bool] = OrderedDict()
    reductions = [size_reductions[k] for k in size_reductions.keys()]
    for i in range(len(list(modalities.keys()))):
        if "CT" in modalities[i]:
            use_mask[i] = False
        else:
            use_mask[i] = bool(np.median(reductions) < 3 / 4.)
    median = float(np.median(reductions)) if reductions else float("nan")
    record(trace, planner, None, "use_mask_for_norm", "median size reduction < 3/4", dict(use_mask),
           lambda: tr(f"cropping to the nonzero region kept a median fraction {fmt(median)} of each case's voxels "
                      f"({'<' if median < 0.75 else '>='} 3/4); modalities whose name contains 'CT' never use the mask",
                      f"裁剪到非零区域后,各病例保留的体素比例的中位数为 {fmt(median)}（{'<' if median < 0.75 else '>='} "
                      f"3/4）;名称中含 'CT' 的模态从不使用掩膜"),
           median_size_reduction=median)
    return use_mask
