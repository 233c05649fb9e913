"""Give a small task a low-resolution stage, so the cascade (3d_lowres -> 3d_cascade_fullres) can be tried.

v1's 3D planner (``ExperimentPlanner3D_v21``) tries a low-resolution stage only when the full-resolution patch
covers at most a quarter of the median case, and keeps it only when the stage's median case has fewer than half
the full-resolution voxels (in practice: median cases of more than ~17 M voxels). A sample that
fits on a laptop never gets one, so ``3d_lowres`` and ``3d_cascade_fullres`` are refused for it. This module
is a *teaching* tool: :func:`add_lowres_stage` turns the task's one-stage 3D plan into a two-stage plan and
preprocesses both stages exactly as ``nnUNet_plan_and_preprocess`` would for such a plan.

Layout before and after (``nnUNet_preprocessed/TaskXXX``)::

    before: plans_per_stage = {0: full}             nnUNetData_plans_v2.1_stage0 = full resolution
    after:  plans_per_stage = {0: low, 1: full}     nnUNetData_plans_v2.1_stage0 = low resolution
                                                    nnUNetData_plans_v2.1_stage1 = full resolution
"""
from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import tasks
from ..errors import PlansError
from ..fileio import load_pickle, write_pickle
from ..language import tr
from ..paths import Workspace, get_workspace
from .plans import configuration_names, load_plans
from .run import cropped_case_identifiers, run_preprocessing

TEMP_PREFIX = ".add_lowres_stage."
BACKUP_SUFFIX = ".before_add_lowres_stage"


@dataclass(frozen=True)
class StageInfo:
    """One stage of a 3D plan: its spacing and patch, and the preprocessed shape of one example case."""

    index: int
    configurations: tuple[str, ...]
    current_spacing: tuple[float, ...]
    patch_size: tuple[int, ...]
    example_case: str | None
    example_shape: tuple[int, ...] | None  # (z, y, x) after resampling, from the case's .pkl

    def describe(self) -> str:
        spacing = ", ".join(f"{s:.3g}" for s in self.current_spacing)
        shape = (f"{self.example_case}: {self.example_shape}" if self.example_case
                 else tr("no preprocessed case", "没有预处理好的病例"))
        configurations = " / ".join(self.configurations)
        return tr(f"stage {self.index} ({configurations}): spacing ({spacing}) mm, patch {self.patch_size}, {shape}",
                  f"stage {self.index} ({configurations}):spacing 为 ({spacing}) mm,patch 为 {self.patch_size},"
                  f"{shape}")


@dataclass(frozen=True)
class LowresStageReport:
    """What :func:`add_lowres_stage` did."""

    task_name: str
    plans_file: Path
    spacing_factor: tuple[float, ...]
    old_stages: tuple[StageInfo, ...]
    new_stages: tuple[StageInfo, ...]
    folders: tuple[Path, ...]
    seconds: float

    @property
    def summary(self) -> str:
        task, plans, factor = self.task_name, self.plans_file.name, self.spacing_factor
        if len(self.old_stages) == 1:
            head = tr(f"{task}: added a low-resolution stage (spacing x {factor}) to {plans} -- a TEACHING plan: "
                      "nnU-Net v1 would not plan a low-resolution stage for cases this small, and its real one has "
                      "its own patch size and pooling.",
                      f"{task}:给 {plans} 加入了一个低分辨率 stage,spacing 逐轴乘以 {factor}——这是一份仅供教学的 "
                      "plans:nnU-Net v1 不会为这么小的病例规划低分辨率 stage,而且它真正规划的低分辨率 stage 有自己的 "
                      "patch 大小和池化。")
        else:  # overwrite=True on a plan that already had two stages
            head = tr(f"{task}: replaced the low-resolution stage of {plans} by a TEACHING one (spacing x {factor} "
                      "of the full-resolution stage); the stage it replaced had its own patch size and pooling.",
                      f"{task}:把 {plans} 的低分辨率 stage 换成了一个仅供教学的 stage(全分辨率 stage 的 spacing "
                      f"逐轴乘以 {factor});被替换的 stage 有自己的 patch 大小和池化。")
        lines = [head, tr("before:", "之前:")]
        lines += [f"  {s.describe()}" for s in self.old_stages]
        lines.append(tr("after:", "之后:"))
        lines += [f"  {s.describe()}" for s in self.new_stages]
        folders = ", ".join(f.name for f in self.folders)
        lines.append(tr(f"wrote: {folders} ({self.seconds:.1f} s); splits_final.pkl kept (the folds depend only on "
                        "the case names)",
                        f"已写出:{folders}(用时 {self.seconds:.1f} s);保留 splits_final.pkl(各折的划分只取决于"
                        "病例名)"))
        if len(self.old_stages) == 1:
            lines.append(tr("note: v1 now trains 3d_fullres (stage 1) with batch Dice; on the one-stage plan it used "
                            "sample Dice",
                            "注意:现在 v1 用批 Dice 训练 3d_fullres(即 stage 1);在单 stage 的 plans 上它用的是样本 Dice"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary


def _stage_infos(plans: dict, folder_of: dict[int, Path]) -> tuple[StageInfo, ...]:
    names: dict[int, list[str]] = {}
    for name, index in configuration_names(plans).items():
        names.setdefault(index, []).append(name)
    out = []
    for index, stage in plans["plans_per_stage"].items():
        case, shape = None, None
        folder = folder_of.get(index)
        if folder is not None and folder.is_dir():
            pkls = sorted(folder.glob("*.pkl"))
            if pkls:
                case = pkls[0].name[:-4]
                props = load_pickle(pkls[0])
                if "size_after_resampling" in props:
                    shape = tuple(int(v) for v in props["size_after_resampling"])
        out.append(StageInfo(int(index), tuple(names.get(index, ())),
                             tuple(float(v) for v in np.asarray(stage["current_spacing"], dtype=float)),
                             tuple(int(v) for v in stage["patch_size"]), case, shape))
    return tuple(out)


def _backup_of(path: Path) -> Path:
    return path.with_name(TEMP_PREFIX + path.name + BACKUP_SUFFIX)


def _finish_interrupted_swap(pre_dir: Path, plans_file: Path) -> None:
    """Bring a task folder left by an interrupted call back to one consistent state.

    Temporary folders of an interrupted preprocessing are deleted. If the swap itself was interrupted (the
    plans backup exists): when the plans file still equals its backup, the new plan was never committed, so the
    old stage folders are put back; otherwise the new plan and folders are complete and the backups go.
    """
    backup_plans = _backup_of(plans_file)
    backups = sorted(pre_dir.glob(TEMP_PREFIX + "*" + BACKUP_SUFFIX))
    if backup_plans.is_file():
        committed = plans_file.is_file() and plans_file.read_bytes() != backup_plans.read_bytes()
        for backup in backups:
            if backup == backup_plans:
                continue
            original = pre_dir / backup.name[len(TEMP_PREFIX):-len(BACKUP_SUFFIX)]
            if committed:
                shutil.rmtree(backup, ignore_errors=True)
            else:
                if original.exists():
                    shutil.rmtree(original)
                os.replace(backup, original)
        if not committed:
            os.replace(backup_plans, plans_file)
            old_plans = load_pickle(plans_file)
            keep = {f"{old_plans['data_identifier']}_stage{i}" for i in old_plans["plans_per_stage"]}
            for folder in pre_dir.glob(f"{old_plans['data_identifier']}_stage*"):
                if folder.is_dir() and folder.name not in keep:  # moved in for the plan that never came
                    shutil.rmtree(folder)
        backup_plans.unlink(missing_ok=True)
    for leftover in pre_dir.glob(TEMP_PREFIX + "*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def add_lowres_stage(task: str | int, *, workspace: Workspace | None = None,
                     spacing_factor: Sequence[float] = (1.0, 2.0, 2.0), plans_identifier: str = "nnUNetPlansv2.1",
                     num_threads: int = 1, overwrite: bool = False) -> LowresStageReport:
    """Add a low-resolution stage 0 to a task's one-stage 3D plan and preprocess both stages.

    EXPLORER-ONLY teaching tool: nnU-Net v1 never adds a stage to a plan that did not need one. Its planner
    keeps a low-resolution stage only for median cases of more than ~17 M voxels; this function makes one for any
    task, so that the cascade can be run on a small sample.

    The new stage 0 is a copy of the full-resolution stage with ``current_spacing`` multiplied by
    ``spacing_factor`` (per axis of the *transposed* plan, so ``(1, 2, 2)`` halves the in-plane resolution).
    ``patch_size``, ``pool_op_kernel_sizes``, ``conv_kernel_sizes`` and ``batch_size`` are kept. That is fine for
    teaching: the network only needs a patch that is divisible by the pooling, which the copied values are, and
    the coarser grid simply makes that patch cover twice as many millimetres in-plane — exactly the point of
    the low-resolution stage. v1's real low-resolution stage differs: the planner raises the spacing step by
    step until the median case shrinks enough, then plans patch size, pooling and batch size anew for that
    spacing (``median_patient_size_in_voxels`` too; here it is copied unchanged, it is used only while planning).

    The full-resolution stage becomes stage 1, ``num_stages`` becomes 2. Both stages are preprocessed from the
    cropped data with the explorer's ``run_preprocessing`` (proven identical to v1's ``GenericPreprocessor``):
    the old ``<data_identifier>_stage0`` held full-resolution data and is replaced by the low-resolution data,
    the full-resolution data goes to ``_stage1``. ``splits_final.pkl`` is kept: the folds depend only on the
    case names, which do not change. Note a side effect that follows v1's rules: with two stages, ``3d_fullres``
    trains on stage 1 (the same data as before) but with Dice over the whole batch (``batch_dice`` is True for
    every 3D network but ``3d_lowres`` once a plan has more than one stage; it was False on the one-stage plan).

    Interruptions: the new folders are written under temporary names first; only when both are complete are
    the old folders renamed away, the new ones renamed in and the plans file replaced (a few renames; any
    error undoes them), so an interrupted run leaves the old plan with its old data. After a hard kill in the
    middle of the renames, the next call finishes or undoes them (the plans backup tells which) and removes
    temporary folders before doing anything else.

    Args:
        task: task id or ``TaskXXX_Name``.
        workspace: the nnU-Net folders (default: :func:`~nnunet_explorer.paths.get_workspace`).
        spacing_factor: per-axis factor from the full-resolution spacing to the low-resolution one (each >= 1).
        plans_identifier: plans file ``<plans_identifier>_plans_3D.pkl``.
        num_threads: processes for preprocessing each stage (v1's ``-tl`` / ``-tf``).
        overwrite: rebuild stage 0 from the last stage of a plan that already has 2 stages (replacing its
            low-resolution stage, also one that v1 planned).

    Returns:
        a :class:`LowresStageReport` (``print(report)`` explains it).

    Raises:
        PlansError: no 3D plans for the task, plans that already have 2 stages (without ``overwrite``), or a
            bad ``spacing_factor``.
    """
    start = time.perf_counter()
    workspace = workspace or get_workspace(announce=False)
    task_name = tasks.resolve_task_name(task, workspace)
    pre_dir = workspace.preprocessed_task_dir(task_name)
    plans_file = pre_dir / f"{plans_identifier}_plans_3D.pkl"
    if not plans_file.is_file():
        raise PlansError(tr(f"{task_name} has no 3D plans ({plans_file} does not exist)",
                            f"{task_name} 没有 3D plans({plans_file} 不存在)"),
                         fix=tr(f"run `nnunet-explorer plan_and_preprocess -t {task_name} -tl 1 -tf 1` first",
                                f"先运行 `nnunet-explorer plan_and_preprocess -t {task_name} -tl 1 -tf 1`"))
    _finish_interrupted_swap(pre_dir, plans_file)
    plans = load_plans(plans_file)
    if str(plans["data_identifier"]).endswith("_2D"):
        raise PlansError(tr(f"{plans_file} holds 2D plans", f"{plans_file} 中是 2D plans"),
                         fix=tr("the cascade is 3D: use the _plans_3D.pkl file", "级联是 3D 的:请使用 _plans_3D.pkl 文件"))
    stages = plans["plans_per_stage"]
    factor = np.asarray(spacing_factor, dtype=float)
    full = stages[max(stages)]
    if factor.shape != np.shape(full["current_spacing"]) or not np.all(factor >= 1) or not np.any(factor > 1):
        axes = len(full["current_spacing"])
        raise PlansError(tr(f"spacing_factor {tuple(spacing_factor)} must give one factor >= 1 per axis ({axes} axes), "
                            "at least one > 1",
                            f"spacing_factor {tuple(spacing_factor)} 必须每个轴给一个 >= 1 的因子(共 {axes} 个轴),"
                            "且至少一个 > 1"),
                         fix=tr("use e.g. spacing_factor=(1, 2, 2) to halve the in-plane resolution",
                                "例如用 spacing_factor=(1, 2, 2) 把平面内分辨率减半"))
    if len(stages) >= 2 and not overwrite:
        names = ", ".join(configuration_names(plans))
        raise PlansError(tr(f"{plans_file.name} of {task_name} already has {len(stages)} stages (configurations "
                            f"{names}); 3d_lowres and 3d_cascade_fullres can be trained as they are",
                            f"{task_name} 的 {plans_file.name} 已经有 {len(stages)} 个 stage(配置 {names});"
                            "3d_lowres 和 3d_cascade_fullres 可以直接训练"),
                         fix=tr("train them directly, or pass overwrite=True to rebuild stage 0 from the last stage",
                                "直接训练它们,或传入 overwrite=True,从最后一个 stage 重建 stage 0"))
    identifier = plans["data_identifier"]
    old_folders = {i: pre_dir / f"{identifier}_stage{i}" for i in stages}
    old_infos = _stage_infos(plans, old_folders)

    new_plans = copy.deepcopy(plans)
    low = copy.deepcopy(full)
    low["current_spacing"] = np.asarray(full["current_spacing"]) * factor
    # differs from v1: a low-resolution stage that v1's planner would not make (the case is too small), a copy
    # of the full-resolution stage at a coarser spacing with the same patch, pooling and batch size (v1 plans
    # those anew for its low-resolution spacing); a teaching tool for the cascade on small samples.
    new_plans["plans_per_stage"] = {0: low, 1: copy.deepcopy(full)}
    new_plans["num_stages"] = 2

    cropped_dir = workspace.cropped_task_dir(task_name)
    if not cropped_dir.is_dir() or not cropped_case_identifiers(cropped_dir):
        raise PlansError(tr(f"{cropped_dir} holds no cropped cases of {task_name} (preprocessing reads them)",
                            f"{cropped_dir} 中没有 {task_name} 的裁剪后病例(预处理要读取它们)"),
                         fix=tr(f"run `nnunet-explorer plan_and_preprocess -t {task_name} -tl 1 -tf 1` first",
                                f"先运行 `nnunet-explorer plan_and_preprocess -t {task_name} -tl 1 -tf 1`"))
    # Preprocess into a temporary nnUNet_preprocessed root inside the task folder (same file system, so the
    # final moves are renames); the cropped data are read from the real workspace.
    tmp_root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=pre_dir))
    try:
        tmp_ws = dataclasses.replace(workspace, preprocessed=tmp_root)
        (tmp_root / task_name).mkdir()
        threads = max(1, int(num_threads))
        written = run_preprocessing(new_plans, task_name, tmp_ws, (threads, threads), progress=False)
        tmp_plans = tmp_root / plans_file.name
        write_pickle(new_plans, tmp_plans)
        folders = _swap_in(pre_dir, written, list(old_folders.values()), tmp_plans, plans_file)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    new_infos = _stage_infos(new_plans, {i: f for i, f in enumerate(folders)})
    return LowresStageReport(task_name, plans_file, tuple(float(v) for v in factor), old_infos, new_infos,
                             tuple(folders), time.perf_counter() - start)


def _swap_in(pre_dir: Path, written: Sequence[Path], old: Sequence[Path], tmp_plans: Path,
             plans_file: Path) -> list[Path]:
    """Rename the old stage folders away, the new ones in, then replace the plans; undo all if a step fails.

    The plans backup is written first and removed last, so :func:`_finish_interrupted_swap` can tell, after a
    hard interruption (power cut, SIGKILL), whether the new plan was committed.
    """
    moved_away: list[tuple[Path, Path]] = []
    moved_in: list[Path] = []
    backup_plans = _backup_of(plans_file)
    shutil.copy2(plans_file, backup_plans)
    try:
        targets = list(old) + [pre_dir / f.name for f in written if pre_dir / f.name not in old]
        for folder in targets:  # also a stage folder on disk that the old plan did not list
            if folder.exists():
                os.replace(folder, _backup_of(folder))
                moved_away.append((folder, _backup_of(folder)))
        for folder in written:
            os.replace(folder, pre_dir / folder.name)
            moved_in.append(pre_dir / folder.name)
        os.replace(tmp_plans, plans_file)  # the commit point: from here on the new plan and data are in place
    except BaseException:
        for target in reversed(moved_in):
            shutil.rmtree(target, ignore_errors=True)
        for original, backup in reversed(moved_away):
            os.replace(backup, original)
        os.replace(backup_plans, plans_file)
        raise
    for _, backup in moved_away:
        shutil.rmtree(backup, ignore_errors=True)
    backup_plans.unlink(missing_ok=True)
    return moved_in
