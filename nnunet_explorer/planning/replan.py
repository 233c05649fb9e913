"""Explain plans that already exist (made by nnU-Net v1 or by the explorer) by planning them again.

A v1 plans pickle carries its own fingerprint (``dataset_properties``) and case list, which is everything the
v2.1 planners read. :func:`replan` runs the explorer's planner on those inputs with a trace, and compares the
result with the stored plans: if they agree, the trace explains the stored values; if not, the differences are
listed (the plans were then made by another planner or edited by hand).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import PlansError
from ..fileio import PathLike
from .explain import Decision, explain_trace
from .normalization import determine_normalization_scheme, determine_whether_to_use_mask_for_norm
from .plans import load_plans


@dataclass(frozen=True)
class Replanned:
    """The outcome of :func:`replan`: the re-derived plans, the decision trace and any differences."""

    plans: dict
    trace: tuple[Decision, ...]
    differences: tuple[str, ...]

    @property
    def matches(self) -> bool:
        return not self.differences

    def explain(self) -> str:
        head = ("re-planning reproduces the stored plans; the decisions were:" if self.matches else
                "re-planning does NOT reproduce the stored plans:\n" + "\n".join(f"  - {d}" for d in self.differences)
                + "\nthe decisions of the v2.1 planner on the same fingerprint were:")
        return head + "\n" + explain_trace(self.trace)


def _stage_differences(ours: Mapping, theirs: Mapping, where: str) -> list[str]:
    out = []
    for key in theirs:
        if key not in ours:
            out.append(f"{where}: {key} missing")
            continue
        a, b = ours[key], theirs[key]
        if key in ("current_spacing", "original_spacing"):
            same = bool(np.allclose(np.asarray(a, float), np.asarray(b, float)))
        else:
            same = np.shape(a) == np.shape(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))
        if not same:
            out.append(f"{where}: {key} stored {b!r}, re-planned {a!r}")
    return out


def replan(plans_or_path: PathLike | Mapping[str, Any]) -> Replanned:
    """Re-run the v2.1 planner (3D or 2D, from ``data_identifier``) on a plans dict's own fingerprint."""
    from . import planner2d, planner3d

    plans = load_plans(plans_or_path) if isinstance(plans_or_path, (str, Path)) else dict(plans_or_path)
    props = plans.get("dataset_properties")
    if not props:
        raise PlansError("these plans carry no dataset_properties, so they cannot be re-planned",
                         fix="use a plans file written by nnUNet_plan_and_preprocess or the explorer")
    is_2d = str(plans["data_identifier"]).endswith("_2D")
    trace: list = []
    planner = "2d" if is_2d else "3d"
    use_mask = determine_whether_to_use_mask_for_norm(props["modalities"], props["size_reductions"],
                                                      planner=planner, trace=trace)
    schemes = determine_normalization_scheme(props["modalities"], planner=planner, trace=trace)
    kwargs = dict(list_of_npz_files=list(plans["list_of_npz_files"]),
                  preprocessed_output_folder=plans.get("preprocessed_data_folder", ""),
                  normalization_schemes=schemes, use_mask_for_norm=use_mask, trace=trace)
    ours = (planner2d.plan_experiment_2d if is_2d else planner3d.plan_experiment_3d)(props, **kwargs)
    differences: list[str] = []
    for key in ("num_stages", "normalization_schemes", "use_mask_for_norm", "base_num_features"):
        if key in plans and dict(ours).get(key) != plans[key] and not (
                isinstance(plans[key], Mapping) and dict(ours[key]) == dict(plans[key])):
            differences.append(f"{key}: stored {plans[key]!r}, re-planned {ours[key]!r}")
    if [int(i) for i in ours["transpose_forward"]] != [int(i) for i in plans["transpose_forward"]]:
        differences.append(f"transpose_forward: stored {plans['transpose_forward']}, re-planned "
                           f"{ours['transpose_forward']}")
    stored_stages, our_stages = plans["plans_per_stage"], ours["plans_per_stage"]
    if len(stored_stages) != len(our_stages):
        differences.append(f"stages: stored {len(stored_stages)}, re-planned {len(our_stages)}")
    else:
        for stage in stored_stages:
            differences += _stage_differences(our_stages[stage], stored_stages[stage], f"stage {stage}")
    return Replanned(ours, tuple(trace), tuple(differences))
