"""Explain plans that already exist (made by nnU-Net v1 or by the explorer) by planning them again.

A v1 plans pickle carries its own fingerprint (``dataset_properties``) and case list, which is everything the
v2.1 planners read. :func:`replan` runs the explorer's planner on those inputs with a trace, and compares the
result with the stored plans: if they agree, the trace explains the stored values; if not, the differences are
listed (the plans were then made by another planner or edited by hand).

:func:`check_plans` is the same comparison for cards and debugging: it never raises for plans it cannot
re-plan (it says why instead), lists every difference as a :class:`PlanDifference`, and applies the 3D batch
and dummy-2D rules to the *stored* patch (:class:`StageRules`), so that a hand-edited batch size shows what v1's
rule would have given for the patch that is actually trained.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import PlansError
from ..fileio import PathLike
from ..language import tr
from .explain import Decision, explain_trace, fmt
from .normalization import determine_normalization_scheme, determine_whether_to_use_mask_for_norm
from .plans import load_plans

#: plans-wide keys the comparison covers (the per-stage dicts are compared key by key)
PLANS_KEYS = ("num_stages", "num_modalities", "num_classes", "all_classes", "normalization_schemes",
              "use_mask_for_norm", "base_num_features", "conv_per_stage", "keep_only_largest_region",
              "min_region_size_per_class", "min_size_per_class", "transpose_forward", "transpose_backward",
              "data_identifier")
_SPACING_KEYS = ("current_spacing", "original_spacing")


@dataclass(frozen=True)
class PlanDifference:
    """One value in which stored plans differ from what the v2.1 planner computes from their fingerprint.

    Attributes:
        key: the plans key (``"batch_size"``, ``"transpose_forward"`` ...).
        stage: the stage index for a ``plans_per_stage`` value, None for a plans-wide key.
        stored: the value in the plans (None when the key is missing).
        recomputed: the planner's value (None when the planner has no such key).
    """

    key: str
    stage: int | None
    stored: Any
    recomputed: Any

    def text(self) -> str:
        where = tr(f"stage {self.stage}: ", f"stage {self.stage}:") if self.stage is not None else ""
        stored = tr("missing", "缺失") if self.stored is None else fmt(self.stored)
        return where + tr(f"{self.key}: stored {stored}, v1's planner computes {fmt(self.recomputed)}",
                          f"{self.key}:存储的是 {stored},v1 的规划器算出 {fmt(self.recomputed)}")


@dataclass(frozen=True)
class Replanned:
    """The outcome of :func:`replan`: the re-derived plans, the decision trace and any differences."""

    plans: dict
    trace: tuple[Decision, ...]
    changes: tuple[PlanDifference, ...] = ()

    @property
    def differences(self) -> tuple[str, ...]:
        """Each change as a sentence, in the language in effect when it is read."""
        return tuple(c.text() for c in self.changes)

    @property
    def matches(self) -> bool:
        return not self.changes

    def explain(self) -> str:
        head = (tr("re-planning reproduces the stored plans; the decisions were:",
                   "重新规划得到的结果与存储的 plans 相同;各项决定如下:") if self.matches else
                tr("re-planning does NOT reproduce the stored plans:", "重新规划得到的结果与存储的 plans 不同:")
                + "\n" + "\n".join(f"  - {d}" for d in self.differences)
                + "\n" + tr("the decisions of the v2.1 planner on the same fingerprint were:",
                             "v2.1 规划器在同一个数据集指纹上的各项决定如下:"))
        return head + "\n" + explain_trace(self.trace)


def _same(a: Any, b: Any, *, spacing: bool = False) -> bool:
    """Equal as plans values: arrays and lists by shape and content, mappings key by key, numpy scalars as values."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return (isinstance(a, Mapping) and isinstance(b, Mapping) and set(a) == set(b)
                and all(_same(a[k], b[k]) for k in a))
    if a is None or b is None:
        return a is None and b is None
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        return False
    if spacing:
        return bool(np.allclose(x.astype(float), y.astype(float)))
    return bool(np.array_equal(x, y))


def _stage_differences(ours: Mapping, theirs: Mapping, stage: int) -> list[PlanDifference]:
    out = []
    for key in list(theirs) + [k for k in ours if k not in theirs]:
        stored, recomputed = theirs.get(key), ours.get(key)
        if not _same(recomputed, stored, spacing=key in _SPACING_KEYS):
            out.append(PlanDifference(key, stage, stored, recomputed))
    return out


def matching_stages(stored: Mapping[int, Any], recomputed: Mapping[int, Any]) -> dict[int, int]:
    """Which recomputed stage each stored stage is compared with.

    Same number of stages: stage by stage. Otherwise only the full-resolution stages (the last of each) are
    compared, and ``num_stages`` carries the difference.
    """
    if len(stored) == len(recomputed):
        return {s: r for s, r in zip(sorted(stored), sorted(recomputed))}
    return {max(stored): max(recomputed)}


def replan(plans_or_path: PathLike | Mapping[str, Any], *,
           dataset_properties: Mapping[str, Any] | None = None) -> Replanned:
    """Re-run the v2.1 planner (3D or 2D, from ``data_identifier``) on a plans dict's own fingerprint.

    ``dataset_properties`` (the task's ``dataset_properties.pkl``) is used when the plans do not carry one.
    """
    from . import planner2d, planner3d

    plans = load_plans(plans_or_path) if isinstance(plans_or_path, (str, Path)) else dict(plans_or_path)
    props = plans.get("dataset_properties") or dataset_properties
    if not props:
        raise PlansError(tr("these plans carry no dataset_properties, so they cannot be re-planned",
                            "这份 plans 不含 dataset_properties,所以无法重新规划"),
                         fix=tr("use a plans file written by nnUNet_plan_and_preprocess or the explorer, or pass the "
                                "task's dataset_properties.pkl (nnUNet_cropped_data/<task>/)",
                                "使用 nnUNet_plan_and_preprocess 或 explorer 写出的 plans 文件,或者传入任务的 "
                                "dataset_properties.pkl(在 nnUNet_cropped_data/<task>/ 中)"))
    if not plans.get("list_of_npz_files"):
        raise PlansError(tr("these plans do not list their cases (list_of_npz_files), so the batch-size cap, which "
                            "counts the cases, cannot be recomputed",
                            "这份 plans 没有列出病例(list_of_npz_files),而 batch 大小的上限要数病例,所以无法重新计算"),
                         fix=tr("use a plans file written by nnUNet_plan_and_preprocess or the explorer",
                                "使用 nnUNet_plan_and_preprocess 或 explorer 写出的 plans 文件"))
    is_2d = str(plans.get("data_identifier", "")).endswith("_2D")
    trace: list = []
    planner = "2d" if is_2d else "3d"
    use_mask = determine_whether_to_use_mask_for_norm(props["modalities"], props["size_reductions"],
                                                      planner=planner, trace=trace)
    schemes = determine_normalization_scheme(props["modalities"], planner=planner, trace=trace)
    kwargs = dict(list_of_npz_files=list(plans["list_of_npz_files"]),
                  preprocessed_output_folder=plans.get("preprocessed_data_folder", ""),
                  normalization_schemes=schemes, use_mask_for_norm=use_mask, trace=trace)
    ours = (planner2d.plan_experiment_2d if is_2d else planner3d.plan_experiment_3d)(props, **kwargs)
    changes: list[PlanDifference] = []
    for key in PLANS_KEYS:
        if key in plans or key in ours:
            if not _same(ours.get(key), plans.get(key)):
                changes.append(PlanDifference(key, None, plans.get(key), ours.get(key)))
    stored_stages, our_stages = plans["plans_per_stage"], ours["plans_per_stage"]
    for stage, theirs in matching_stages(stored_stages, our_stages).items():
        changes += _stage_differences(our_stages[theirs], stored_stages[stage], stage)
    return Replanned(ours, tuple(trace), tuple(changes))


# ------------------------------------------------------------------------------------------- check_plans
@dataclass(frozen=True)
class StageRules:
    """v1's 3D batch-size and dummy-2D rules applied to one *stored* stage (its own patch and pooling).

    The planner chooses the batch size for the patch it chose; these are the numbers the same rule gives for
    the patch these plans actually hold, e.g. the blog's KiTS19 patch 80x160x160 (VRAM proxy 444,272,000
    against the reference 554,666,667: ``floor(1.248 * 2) = 2``).
    """

    stage: int
    patch_size: tuple[int, ...]
    vram_proxy: int
    vram_reference: float
    batch_by_vram: int
    batch_cap: int
    batch_size: int
    num_cases: int
    dataset_num_voxels: int
    dummy_2d_ratio: float
    do_dummy_2D_data_aug: bool


def stage_rules_3d(plans: Mapping[str, Any], stage: int) -> StageRules | None:
    """:class:`StageRules` for a stage of 3D plans (None for 2D plans or a stage lacking the keys needed)."""
    from .planner3d import batch_size_rule, conv_per_stage, dummy_2d_rule, unet_base_num_features, \
        unet_max_num_filters, vram_reference_3d
    from .vram import compute_approx_vram_consumption

    sp = plans["plans_per_stage"][stage]
    needed = ("patch_size", "num_pool_per_axis", "pool_op_kernel_sizes", "median_patient_size_in_voxels")
    if str(plans.get("data_identifier", "")).endswith("_2D") or any(k not in sp for k in needed) or \
            len(sp["patch_size"]) != 3 or not plans.get("list_of_npz_files"):
        return None
    patch = np.asarray(sp["patch_size"]).astype(int)
    num_cases = len(plans["list_of_npz_files"])
    # the planner's own constants (not the plans' values): the question is what *its* rule gives for this patch
    here = compute_approx_vram_consumption(patch, sp["num_pool_per_axis"], unet_base_num_features,
                                           unet_max_num_filters, int(plans["num_modalities"]),
                                           int(plans["num_classes"]) + 1, sp["pool_op_kernel_sizes"],
                                           conv_per_stage=conv_per_stage)
    voxels = np.prod(np.asarray(sp["median_patient_size_in_voxels"]).astype(int)) * num_cases
    by_vram, cap, batch = batch_size_rule(here, vram_reference_3d(), voxels, patch)
    return StageRules(int(stage), tuple(int(v) for v in patch), int(here), float(vram_reference_3d()), int(by_vram),
                      int(cap), int(batch), num_cases, int(voxels), float(max(patch) / patch[0]),
                      bool(dummy_2d_rule(patch)))


@dataclass(frozen=True)
class PlansCheck:
    """Stored plans against what v1's v2.1 planner computes from their fingerprint (see :func:`check_plans`).

    Attributes:
        available: False when the plans could not be re-planned; ``missing`` and ``detail`` say why.
        missing: ``"fingerprint"`` (no ``dataset_properties``), ``"cases"`` (no ``list_of_npz_files``) or
            ``"planner"`` (the planner failed on this fingerprint; ``detail`` holds its message); "" if available.
        replanned: the planner's plans and decision trace (None when not available).
        differences: every value that differs, plans-wide keys first, then stage by stage.
        rules: the 3D batch and dummy-2D rules applied to each stored stage (empty for 2D plans).
        stage_map: stored stage -> the planner's stage it was compared with (see :func:`matching_stages`).
    """

    available: bool
    missing: str = ""
    detail: str = ""
    replanned: Replanned | None = None
    differences: tuple[PlanDifference, ...] = ()
    rules: tuple[StageRules, ...] = ()
    stage_map: Mapping[int, int] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        """The planner reproduces every stored value (False when the check was not possible)."""
        return self.available and not self.differences

    def difference(self, key: str, stage: int | None = None) -> PlanDifference | None:
        """The difference for ``key`` (of ``stage``, or plans-wide), or None when the value agrees."""
        return next((d for d in self.differences if d.key == key and d.stage == stage), None)

    def for_stage(self, stage: int) -> tuple[PlanDifference, ...]:
        """The plans-wide differences and those of ``stage``."""
        return tuple(d for d in self.differences if d.stage in (None, stage))

    def recomputed_stage(self, stage: int) -> Mapping[str, Any] | None:
        """The planner's stage compared with stored ``stage`` (None when not available or not compared)."""
        if self.replanned is None or stage not in self.stage_map:
            return None
        return self.replanned.plans["plans_per_stage"][self.stage_map[stage]]

    def rules_for(self, stage: int) -> StageRules | None:
        return next((r for r in self.rules if r.stage == stage), None)

    def text(self) -> str:
        """One line per finding, in the language in effect (the cards' notes say more)."""
        if not self.available:
            return tr(f"not compared with v1's planner ({self.missing}): {self.detail}",
                      f"没有与 v1 的规划器对比({self.missing}):{self.detail}")
        if self.matches:
            return tr("every value is what v1's v2.1 planner computes from these plans' fingerprint",
                      "每个值都与 v1 的 v2.1 规划器根据这份 plans 的数据集指纹算出的相同")
        return (tr("differs from what v1's v2.1 planner computes:", "与 v1 的 v2.1 规划器算出的结果不同:") + "\n"
                + "\n".join(f"  - {d.text()}" for d in self.differences))


def check_plans(plans_or_path: PathLike | Mapping[str, Any], *,
                dataset_properties: Mapping[str, Any] | None = None) -> PlansCheck:
    """Compare plans with what v1's v2.1 planner computes from their fingerprint; never guess, never raise.

    Users edit plans by hand (v1 even ships ``experiment_planning/change_batch_size.py``, which rewrites a
    plans file's batch size), and other planners write plans under the same file names. Training reads the
    stored values whatever made them; this says which of them v1's planner would not have chosen.

    Args:
        plans_or_path: a plans dict (or :class:`~nnunet_explorer.planning.plans.Plans`) or a plans file.
        dataset_properties: the fingerprint, for plans that do not carry one (``dataset_properties.pkl`` of the
            task's cropped folder). Without either, the result says so (``available`` False).
    """
    plans = load_plans(plans_or_path) if isinstance(plans_or_path, (str, Path)) else plans_or_path
    plans = plans.to_dict() if hasattr(plans, "to_dict") else dict(plans)
    if not (plans.get("dataset_properties") or dataset_properties):
        return PlansCheck(False, "fingerprint", tr("the plans carry no dataset_properties and none was given",
                                                   "plans 不含 dataset_properties,也没有另外传入"))
    if not plans.get("list_of_npz_files"):
        return PlansCheck(False, "cases", tr("the plans do not list their cases (list_of_npz_files)",
                                             "plans 没有列出病例(list_of_npz_files)"))
    if "plans_per_stage" not in plans:
        return PlansCheck(False, "planner", tr("the plans have no plans_per_stage", "plans 中没有 plans_per_stage"))
    try:
        replanned = replan(plans, dataset_properties=dataset_properties)
    except (PlansError, KeyError, ValueError, TypeError) as error:  # a fingerprint the planner cannot plan
        return PlansCheck(False, "planner", f"{type(error).__name__}: {error}")
    rules = tuple(r for r in (stage_rules_3d(plans, s) for s in sorted(plans["plans_per_stage"])) if r is not None)
    stage_map = matching_stages(plans["plans_per_stage"], replanned.plans["plans_per_stage"])
    return PlansCheck(True, replanned=replanned, differences=replanned.changes, rules=rules, stage_map=stage_map)


__all__ = ["PLANS_KEYS", "PlanDifference", "PlansCheck", "Replanned", "StageRules", "check_plans",
           "matching_stages", "replan", "stage_rules_3d"]
