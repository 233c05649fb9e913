"""The plans of one stage as the trainer reads them (v1's ``process_plans``), as a record.

:meth:`nnUNetTrainer.process_plans <nnunet_explorer.network_training.nnUNetTrainer.nnUNetTrainer.process_plans>`
sets these values as attributes of the trainer; inference and the views read a plans file without a trainer
through :func:`process_plans`, and the walkthrough shows a trainer's values with :func:`processed_from_trainer`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import PlansError
from ..language import tr
from ..planning.plans import check_stage_values
from ..provenance import mirrors


# -------------------------------------------------------------------------------------- process_plans
@dataclass(frozen=True)
class ProcessedPlans:
    """What ``nnUNetTrainer.process_plans`` takes from the plans (v1 stores each as ``self.<name>``).

    Shapes: ``patch_size`` is in the plans' transposed axis order (``transpose_forward``: the coarsest axis first, so
    (z, y, x) for typical scans; (y, x) in 2D), in voxels of the stage's target spacing.
    ``num_classes`` counts the background (``plans['num_classes'] + 1``).
    """

    stage: int
    batch_size: int
    net_pool_per_axis: tuple[int, ...]
    patch_size: tuple[int, ...]
    do_dummy_2D_aug: bool
    net_num_pool_op_kernel_sizes: tuple[tuple[int, ...], ...]
    net_conv_kernel_sizes: tuple[tuple[int, ...], ...]
    pad_all_sides: None
    intensity_properties: Any = field(repr=False)
    normalization_schemes: Mapping[int, str]
    base_num_features: int
    num_input_channels: int
    num_classes: int
    classes: Any
    use_mask_for_norm: Mapping[int, bool]
    only_keep_largest_connected_component: Any
    min_region_size_per_class: Any
    min_size_per_class: None
    transpose_forward: tuple[int, ...]
    transpose_backward: tuple[int, ...]
    threeD: bool
    conv_per_stage: int
    data_identifier: str
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        pools = [list(p) for p in self.net_num_pool_op_kernel_sizes]
        return (f"stage {self.stage}: patch_size {list(self.patch_size)}, batch_size {self.batch_size}, "
                + tr(f"{len(pools)} poolings {pools}", f"{len(pools)} 次池化 {pools}")
                + f", num_input_channels {self.num_input_channels}, num_classes {self.num_classes} "
                + tr("(with background)", "(含背景)") + ", "
                f"threeD {self.threeD}, do_dummy_2D_aug {self.do_dummy_2D_aug}, base_num_features "
                f"{self.base_num_features}, conv_per_stage {self.conv_per_stage}")


# v1's attribute names that process_plans sets on the trainer (every ProcessedPlans field but the notes)
_PROCESSED_FIELDS: tuple[str, ...] = tuple(f for f in ProcessedPlans.__dataclass_fields__ if f != "warnings")


def _ints(seq: Sequence[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in seq)


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.process_plans")
def process_plans(plans: Mapping[str, Any], stage: int | None = None) -> ProcessedPlans:
    """Read the values training needs from the plans, for one stage, like v1's ``process_plans``.

    * ``stage`` None is only allowed when the plans have a single stage (v1 asserts this).
    * ``patch_size`` becomes an int array; ``threeD`` is ``len(patch_size) == 3``.
    * ``num_classes`` = ``plans['num_classes'] + 1``: the plans count foreground classes only.
    * Old plans without ``pool_op_kernel_sizes`` / ``conv_kernel_sizes`` get v1's fallbacks (an axis with ``k``
      poolings is pooled by 2 in the last ``k`` levels, so axes with fewer poolings start later; all-3 kernels),
      and missing transposes default to [0, 1, 2]; each is noted in ``warnings``.
    * ``min_size_per_class`` is deliberately None (v1: "DONT USE THIS").
    """
    stages = list(plans["plans_per_stage"].keys())
    if stage is None:
        if len(stages) != 1:
            raise PlansError(tr(f"the plans have {len(stages)} stages, so the stage must be given",
                                f"plans 有 {len(stages)} 个 stage，所以必须指定 stage"),
                             fix=tr("pass stage= (get_default_configuration chooses it from the network)",
                                    "请传入 stage=（get_default_configuration 会根据网络选择它）"))
        stage = stages[0]
    if stage not in plans["plans_per_stage"]:
        raise PlansError(tr(f"stage {stage} is not in the plans (stages: {stages})",
                            f"plans 中没有 stage {stage}（已有的 stage：{stages}）"),
                         fix=tr("choose one of those stages", "请从这些 stage 中选一个"))
    sp = plans["plans_per_stage"][stage]
    check_stage_values(sp, stage)
    warnings: list[str] = []
    pool_per_axis = _ints(sp["num_pool_per_axis"])
    if "pool_op_kernel_sizes" not in sp:
        warnings.append("old plans file with missing pool_op_kernel_sizes; rebuilt from num_pool_per_axis")
        most = max(pool_per_axis)
        pools = [tuple(2 if most - j <= i else 1 for j in pool_per_axis) for i in range(most)]
    else:
        pools = [_ints(p) for p in sp["pool_op_kernel_sizes"]]
    if "conv_kernel_sizes" not in sp:
        warnings.append("old plans file with missing conv_kernel_sizes; using 3 everywhere")
        convs = [(3,) * len(pool_per_axis)] * (max(pool_per_axis) + 1)
    else:
        convs = [_ints(c) for c in sp["conv_kernel_sizes"]]
    patch_size = _ints(np.array(sp["patch_size"]).astype(int))
    if len(patch_size) not in (2, 3):
        raise PlansError(tr(f"invalid patch size in plans file: {list(patch_size)}",
                            f"plans 文件中的 patch 大小无效：{list(patch_size)}"),
                         fix=tr("re-run planning", "请重新运行规划"))
    transpose_forward = plans.get("transpose_forward")
    transpose_backward = plans.get("transpose_backward")
    if transpose_forward is None or transpose_backward is None:
        warnings.append("plans from an older nnU-Net without transpose_forward/backward; assuming [0, 1, 2]")
        transpose_forward = transpose_backward = [0, 1, 2]
    return ProcessedPlans(
        stage=int(stage),
        batch_size=int(sp["batch_size"]),
        net_pool_per_axis=pool_per_axis,
        patch_size=patch_size,
        do_dummy_2D_aug=bool(sp["do_dummy_2D_data_aug"]),
        net_num_pool_op_kernel_sizes=tuple(pools),
        net_conv_kernel_sizes=tuple(convs),
        pad_all_sides=None,
        intensity_properties=plans["dataset_properties"]["intensityproperties"],
        normalization_schemes=plans["normalization_schemes"],
        base_num_features=int(plans["base_num_features"]),
        num_input_channels=int(plans["num_modalities"]),
        num_classes=int(plans["num_classes"]) + 1,
        classes=plans["all_classes"],
        use_mask_for_norm=plans["use_mask_for_norm"],
        only_keep_largest_connected_component=plans["keep_only_largest_region"],
        min_region_size_per_class=plans["min_region_size_per_class"],
        min_size_per_class=None,
        transpose_forward=_ints(transpose_forward),
        transpose_backward=_ints(transpose_backward),
        threeD=len(patch_size) == 3,
        conv_per_stage=int(plans.get("conv_per_stage", 2)),
        data_identifier=str(plans["data_identifier"]),
        warnings=tuple(warnings),
    )


def processed_from_trainer(trainer: Any, warnings: Sequence[str] = ()) -> ProcessedPlans:
    """The values ``process_plans`` set on ``trainer`` (and an override may have changed), as a record."""
    values = {name: getattr(trainer, name) for name in _PROCESSED_FIELDS if name != "data_identifier"}
    values["patch_size"] = _ints(values["patch_size"])
    values["net_pool_per_axis"] = _ints(values["net_pool_per_axis"])
    values["net_num_pool_op_kernel_sizes"] = tuple(_ints(p) for p in values["net_num_pool_op_kernel_sizes"])
    values["net_conv_kernel_sizes"] = tuple(_ints(c) for c in values["net_conv_kernel_sizes"])
    values["transpose_forward"] = _ints(values["transpose_forward"])
    values["transpose_backward"] = _ints(values["transpose_backward"])
    values["data_identifier"] = str(trainer.plans["data_identifier"])
    values["stage"] = int(trainer.stage)
    return ProcessedPlans(**values, warnings=tuple(warnings))


__all__ = ["ProcessedPlans", "process_plans", "processed_from_trainer"]
