"""The dataset fingerprint (v1's ``DatasetAnalyzer``): what the planners know about a task.

Collected from the *cropped* cases, written to ``dataset_properties.pkl`` (a plain dict, v1's keys):

==========================  ====================================================================================
``all_sizes``               shape of every cropped case (z, y, x), in case order (sorted case identifiers)
``all_spacings``            spacing of every case (z, y, x), in mm
``all_classes``             foreground labels declared in dataset.json (ints > 0)
``modalities``              ``{index: name}`` from dataset.json
``intensityproperties``     foreground intensity statistics of every modality when one is named exactly CT/ct
                            (else None)
``size_reductions``         ``{case: cropped voxels / raw voxels}`` (drives the nonzero-mask decision)
==========================  ====================================================================================

CT intensity statistics use every 10th foreground voxel (label > 0) of every case, pooled over the dataset:
median, mean, sd, min, max, 99.5th and 0.5th percentiles, plus the same per case (``local_props``).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping, Sequence

import numpy as np

from ..provenance import mirrors


@mirrors("nnunet.experiment_planning.DatasetAnalyzer:DatasetAnalyzer._get_voxels_in_foreground")
def foreground_voxels(all_data: np.ndarray, modality_id: int) -> np.ndarray:
    """Every 10th voxel (C order) of modality ``modality_id`` where the seg (last channel) is > 0."""
    return all_data[modality_id][all_data[-1] > 0][::10]


@mirrors("nnunet.experiment_planning.DatasetAnalyzer:DatasetAnalyzer._compute_stats")
def compute_stats(voxels: np.ndarray) -> tuple:
    """``(median, mean, sd, mn, mx, percentile_99_5, percentile_00_5)``; all NaN for no voxels."""
    if len(voxels) == 0:
        return (np.nan,) * 7
    return (np.median(voxels), np.mean(voxels), np.std(voxels), np.min(voxels), np.max(voxels),
            np.percentile(voxels, 99.5), np.percentile(voxels, 00.5))


_STAT_NAMES = ("median", "mean", "sd", "mn", "mx", "percentile_99_5", "percentile_00_5")


@mirrors("nnunet.experiment_planning.DatasetAnalyzer:DatasetAnalyzer.collect_intensity_properties")
def intensity_properties(voxels_per_case: Sequence[Mapping[int, np.ndarray]], case_identifiers: Sequence[str],
                         num_modalities: int) -> "OrderedDict[int, OrderedDict]":
    """Pool the per-case foreground samples into v1's ``intensityproperties`` dict.

    ``voxels_per_case[i][m]`` is :func:`foreground_voxels` of case ``i``, modality ``m``. The samples are pooled
    in case order as float32, exactly as v1 concatenates its per-case lists.
    """
    results: OrderedDict = OrderedDict()
    for m in range(num_modalities):
        per_case = [np.asarray(v[m]) for v in voxels_per_case]
        pooled = np.concatenate(per_case) if per_case else np.zeros(0, np.float32)
        stats = compute_stats(pooled)
        local = OrderedDict()
        for case, v in zip(case_identifiers, per_case):
            local[case] = OrderedDict(zip(_STAT_NAMES, compute_stats(v)))
        results[m] = OrderedDict()
        results[m]["local_props"] = local
        for name, value in zip(_STAT_NAMES, stats):
            results[m][name] = value
    return results


@mirrors("nnunet.experiment_planning.DatasetAnalyzer:DatasetAnalyzer.get_size_reduction_by_cropping")
def size_reductions(properties_per_case: Mapping[str, Mapping[str, Any]]) -> "OrderedDict[str, float]":
    """``prod(size_after_cropping) / prod(original_size_of_raw_data)`` per case."""
    out: OrderedDict = OrderedDict()
    for case, props in properties_per_case.items():
        out[case] = np.prod(props["size_after_cropping"]) / np.prod(props["original_size_of_raw_data"])
    return out


def modalities_from_dataset_json(dataset_json: Mapping[str, Any]) -> dict[int, str]:
    """``{int(k): name}`` of dataset.json's ``modality``."""
    return {int(k): v for k, v in dataset_json["modality"].items()}


def needs_intensity_properties(dataset_json: Mapping[str, Any]) -> bool:
    """v1 collects intensity statistics only when some modality is exactly ``CT`` or ``ct``."""
    names = list(dataset_json["modality"].values())
    return ("CT" in names) or ("ct" in names)


@mirrors("nnunet.experiment_planning.DatasetAnalyzer:DatasetAnalyzer.analyze_dataset")
def analyze_dataset(properties_per_case: Mapping[str, Mapping[str, Any]], dataset_json: Mapping[str, Any],
                    intensityproperties: Mapping | None) -> dict:
    """Assemble ``dataset_properties`` (keys in v1's order) from the cropped cases' properties.

    ``properties_per_case`` must be ordered by case identifier (sorted, as v1 lists the npz files).
    """
    sizes = [props["size_after_cropping"] for props in properties_per_case.values()]
    spacings = [props["original_spacing"] for props in properties_per_case.values()]
    return {
        "all_sizes": sizes,
        "all_spacings": spacings,
        "all_classes": [int(i) for i in dataset_json["labels"].keys() if int(i) > 0],
        "modalities": modalities_from_dataset_json(dataset_json),
        "intensityproperties": intensityproperties,
        "size_reductions": size_reductions(properties_per_case),
    }
