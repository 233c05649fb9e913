"""``plan_and_preprocess``: v1's ``nnUNet_plan_and_preprocess`` as one plain function, step by step.

Order (as in v1's ``nnunet/experiment_planning/nnUNet_plan_and_preprocess.py``):

1. for every task: integrity check (v1: only with ``--verify_dataset_integrity``; here the headers are always
   read - an explorer addition - and the voxels too with ``verify_dataset_integrity=True``), then
   **crop** every training case into ``nnUNet_cropped_data/TaskXXX`` (finished cases are skipped, as in v1);
2. for every task: **fingerprint** (``dataset_properties.pkl``, ``intensityproperties.pkl`` for CT), copied
   with ``dataset.json`` to ``nnUNet_preprocessed/TaskXXX``;
3. **3D plans** (``nnUNetPlansv2.1_plans_3D.pkl``) and their preprocessing (``nnUNetData_plans_v2.1_stage0``
   and ``_stage1`` when there is a low-res stage), then the same for **2D** (``nnUNetPlansv2.1_plans_2D.pkl``,
   ``nnUNetData_plans_v2.1_2D_stage0``).

Re-running: cases whose cropped ``CASE.npz`` and ``CASE.pkl`` exist are not cropped again, and an existing
``intensityproperties.pkl`` is reused (both as in v1); after changing raw images, delete
``nnUNet_cropped_data/TaskXXX`` first. Planning and preprocessing always run again.

Process counts: cropping and the fingerprint use ``tf`` processes; a 2-stage 3D plan preprocesses stage 0
(low-res) with ``tl`` and stage 1 with ``tf``; single-stage 3D and 2D use ``tf``.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .. import tasks
from ..errors import DatasetError, ExplorerError, PlansError
from ..fileio import copy_atomic, load_json, load_pickle, save_npz_atomic, write_pickle
from ..language import tr
from ..image_io import verify_image_file
from ..paths import Workspace, get_workspace
from ..provenance import mirrors
from . import planner2d, planner3d
from .cropping import crop_case
from .fingerprint import analyze_dataset, foreground_voxels, intensity_properties, needs_intensity_properties
from .normalization import determine_normalization_scheme, determine_whether_to_use_mask_for_norm
from .preprocessing import preprocessor_for

DEFAULT_PLANNER_3D = "ExperimentPlanner3D_v21"
DEFAULT_PLANNER_2D = "ExperimentPlanner2D_v21"


@dataclass(frozen=True)
class TaskResult:
    """What :func:`plan_and_preprocess` did for one task."""

    task_name: str
    cropped_dir: Path
    preprocessed_dir: Path
    plans_3d: Path | None
    plans_2d: Path | None
    trace_3d: tuple = ()
    trace_2d: tuple = ()
    cropped_now: tuple[str, ...] = ()
    cropped_skipped: tuple[str, ...] = ()
    seconds: dict = field(default_factory=dict)


# --- process pools ------------------------------------------------------------------------------------------

def _context():
    # fork is what v1 gets on Linux and starts workers instantly; elsewhere (macOS, Windows) spawn is the
    # safe choice. The planning code holds no threads or locks that fork could copy mid-use.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def run_parallel(fn: Callable, items: Sequence, processes: int, *, desc: str, progress: bool = True) -> list:
    """``[fn(item) for item in items]`` over ``processes`` workers (in this process when 1), tqdm on stderr.

    Results come back in item order.
    """
    from tqdm import tqdm

    bar = tqdm(total=len(items), desc=desc, file=sys.stderr, disable=not progress, leave=False)
    try:
        if processes <= 1 or len(items) <= 1:
            out = []
            for item in items:
                out.append(fn(item))
                bar.update()
            return out
        with _context().Pool(min(processes, len(items))) as pool:
            results: list = [None] * len(items)
            for index, value in pool.imap_unordered(partial(_indexed, fn), list(enumerate(items))):
                results[index] = value
                bar.update()
            return results
    finally:
        bar.close()


def _indexed(fn: Callable, pair: tuple[int, Any]) -> tuple[int, Any]:
    return pair[0], fn(pair[1])


def _guarded(fn: Callable, item: Any) -> tuple[Any, tuple[str, str | None] | None]:
    """Run ``fn(item)``; an ExplorerError becomes ``(None, (cause, fix))`` so all cases can be reported."""
    try:
        return fn(item), None
    except ExplorerError as exc:
        return None, (exc.cause, exc.fix)


# --- step 0: are the raw files whole? ----------------------------------------------------------------------

def verify_raw_files(task_name: str, workspace: Workspace, num_processes: int, *, progress: bool = True) -> int:
    """Read every training image and label of a raw task to its end; returns the number of files checked.

    SimpleITK reads a ``.nii.gz`` cut short by an interrupted copy without an error (the missing voxels
    become 0), and v1 would then crop, plan and train on it. This pass (:func:`~nnunet_explorer.image_io.
    verify_image_file`) runs before anything is written.

    Raises:
        DatasetError: listing every file that is cut short, damaged or not NIfTI, each with its fix.
    """
    raw_dir = workspace.raw_task_dir(task_name)
    cases = tasks.training_cases(raw_dir)
    files = [str(p) for case in cases for p in (*case.images, case.label)]
    # differs from v1: v1 reads cut-short files silently (as zeros); the explorer refuses them up front.
    results = run_parallel(partial(_guarded, verify_image_file), files, num_processes,
                           desc=tr(f"reading {task_name} to the end", f"完整读取 {task_name}"), progress=progress)
    failures = [err for _, err in results if err is not None]
    if failures:
        lines = "\n".join(f"  - {cause}" for cause, _fix in failures)
        raise DatasetError(tr(f"{len(failures)} of {len(files)} raw files of {task_name} are not whole images; "
                              f"nothing was written:\n{lines}",
                              f"{task_name} 的 {len(files)} 个原始文件中有 {len(failures)} 个不是完整的图像; "
                              f"什么也没有写出:\n{lines}"),
                           fix=failures[0][1] or tr("replace the files listed above", "请替换上面列出的文件"))
    return len(files)


# --- step 1: cropping -----------------------------------------------------------------------------------------

def _crop_one(job: tuple, *, output_dir: str, declared: list[int], want_fg: bool) -> tuple[str, bool, dict | None]:
    case_id, images, label = job
    npz, pkl = Path(output_dir) / f"{case_id}.npz", Path(output_dir) / f"{case_id}.pkl"
    if npz.is_file() and pkl.is_file():
        return case_id, False, None  # v1 skips cases whose npz and pkl both exist
    all_data, properties = crop_case(images, label, case_id, declared)
    save_npz_atomic(npz, data=all_data)
    write_pickle(properties, pkl)
    fg = {m: foreground_voxels(all_data, m) for m in range(all_data.shape[0] - 1)} if want_fg else None
    return case_id, True, fg


@mirrors("nnunet.experiment_planning.utils:crop")
def crop_task(task_name: str, workspace: Workspace, num_processes: int, *, progress: bool = True,
              want_foreground: bool = False) -> tuple[list[str], list[str], dict]:
    """Crop every training case of a raw task into the cropped folder; returns (cropped, skipped, fg samples).

    Also copies the label files to ``gt_segmentations/`` and ``dataset.json`` next to the cases, as v1 does.

    Raises:
        DatasetError: listing every case that could not be cropped (the others are written and will be
            skipped next time).
    """
    raw_dir = workspace.raw_task_dir(task_name)
    out_dir = workspace.cropped_task_dir(task_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = tasks.load_dataset_json(raw_dir)
    declared = [int(k) for k in dataset["labels"]]
    cases = tasks.training_cases(raw_dir, dataset)
    gt = out_dir / "gt_segmentations"
    gt.mkdir(exist_ok=True)
    for case in cases:
        copy_atomic(case.label, gt)
    # v1 builds the file names with os.path.join on the raw folder; keep them as plain strings
    jobs = [(c.case_id, [str(p) for p in c.images], str(c.label)) for c in cases]
    worker = partial(_guarded, partial(_crop_one, output_dir=str(out_dir), declared=declared,
                                       want_fg=want_foreground))
    results = run_parallel(worker, jobs, num_processes, desc=tr(f"cropping {task_name}", f"裁剪 {task_name}"),
                           progress=progress)
    failures = [(job[0], err) for job, (_, err) in zip(jobs, results) if err is not None]
    if failures:
        lines = "\n".join(f"  - {cause}" + (tr(f" (fix: {fix})", f" (解决办法: {fix})") if fix else "")
                          for _, (cause, fix) in failures)
        raise DatasetError(tr(f"{len(failures)} of {len(jobs)} cases of {task_name} could not be cropped:\n{lines}",
                              f"{task_name} 的 {len(jobs)} 个病例中有 {len(failures)} 个无法裁剪:\n{lines}"),
                           fix=tr("correct the cases listed above and run the command again (cases already "
                                  "cropped are kept and skipped)",
                                  "请修正上面列出的病例, 然后再次运行该命令(已经裁剪好的病例会保留并跳过)"))
    copy_atomic(raw_dir / "dataset.json", out_dir)
    done = [r[0] for r, _ in results if r[1]]
    skipped = [r[0] for r, _ in results if not r[1]]
    fg = {r[0]: r[2] for r, _ in results if r[2] is not None}
    return done, skipped, fg


# --- step 2: fingerprint --------------------------------------------------------------------------------------

def cropped_case_identifiers(cropped_dir: Path) -> list[str]:
    """Identifiers of the cropped ``*.npz`` files in v1's order (``subfiles(..., suffix='.npz')``).

    v1 sorts the *file names*, so ``a-b.npz`` comes before ``a.npz`` ('-' < '.'); sorting the identifiers
    would put ``a`` first and change the order of ``all_sizes`` and ``list_of_npz_files``.
    """
    names = sorted(p.name for p in cropped_dir.iterdir() if p.name.endswith(".npz") and p.is_file())
    return [n[:-4] for n in names]


def _fg_of_case(case_id: str, *, cropped_dir: str, num_modalities: int) -> dict:
    with np.load(Path(cropped_dir) / f"{case_id}.npz") as npz:
        all_data = npz["data"]
    return {m: foreground_voxels(all_data, m) for m in range(num_modalities)}


@mirrors("nnunet.experiment_planning.DatasetAnalyzer:DatasetAnalyzer.analyze_dataset")
def fingerprint_task(task_name: str, workspace: Workspace, num_processes: int, *, fg_cache: dict | None = None,
                     progress: bool = True) -> dict:
    """Write ``dataset_properties.pkl`` (and ``intensityproperties.pkl`` for CT) into the cropped folder.

    Like v1 (``DatasetAnalyzer(overwrite=False)``), an existing ``intensityproperties.pkl`` is reused.
    Foreground samples gathered while cropping (``fg_cache``) save re-reading those cases.
    """
    cropped_dir = workspace.cropped_task_dir(task_name)
    dataset_json = load_json(cropped_dir / "dataset.json")
    ids = cropped_case_identifiers(cropped_dir)
    if not ids:
        raise DatasetError(tr(f"{cropped_dir} holds no cropped cases", f"{cropped_dir} 中没有裁剪好的病例"),
                           fix=tr("check dataset.json 'training'", "请检查 dataset.json 的 'training'"))
    props = OrderedDict((i, load_pickle(cropped_dir / f"{i}.pkl")) for i in ids)
    intensity = None
    if needs_intensity_properties(dataset_json):
        ip_file = cropped_dir / "intensityproperties.pkl"
        if ip_file.is_file():
            intensity = load_pickle(ip_file)
        else:
            n_mod = len(dataset_json["modality"])
            cache = fg_cache or {}
            missing = [i for i in ids if i not in cache]
            loaded = run_parallel(partial(_fg_of_case, cropped_dir=str(cropped_dir), num_modalities=n_mod), missing,
                                  num_processes, desc=tr(f"intensities {task_name}", f"强度统计 {task_name}"),
                                  progress=progress) if missing else []
            cache = {**cache, **dict(zip(missing, loaded))}
            intensity = intensity_properties([cache[i] for i in ids], ids, n_mod)
            write_pickle(intensity, ip_file)
    dataset_properties = analyze_dataset(props, dataset_json, intensity)
    write_pickle(dataset_properties, cropped_dir / "dataset_properties.pkl")
    return dataset_properties


# --- step 3: planning and preprocessing -------------------------------------------------------------------------

def _write_use_mask_to_cases(cropped_dir: Path, ids: Iterable[str], use_mask: OrderedDict) -> None:
    """v1 stores the mask decision in every cropped case pkl (``use_nonzero_mask_for_norm``)."""
    for i in ids:
        path = cropped_dir / f"{i}.pkl"
        properties = load_pickle(path)
        properties["use_nonzero_mask_for_norm"] = use_mask
        write_pickle(properties, path)


def plan_task(task_name: str, workspace: Workspace, dim: int, *, trace: list | None = None) -> tuple[dict, Path]:
    """Run the 3D (``dim=3``) or 2D planner on a fingerprinted task and write its plans pickle."""
    cropped_dir = workspace.cropped_task_dir(task_name)
    pre_dir = workspace.preprocessed_task_dir(task_name)
    dataset_properties = load_pickle(cropped_dir / "dataset_properties.pkl")
    ids = cropped_case_identifiers(cropped_dir)
    planner = f"{dim}d"
    use_mask = determine_whether_to_use_mask_for_norm(dataset_properties["modalities"],
                                                      dataset_properties["size_reductions"], planner=planner,
                                                      trace=trace)
    _write_use_mask_to_cases(cropped_dir, ids, use_mask)
    schemes = determine_normalization_scheme(dataset_properties["modalities"], planner=planner, trace=trace)
    npz_files = [str(cropped_dir / f"{i}.npz") for i in ids]
    kwargs = dict(list_of_npz_files=npz_files, preprocessed_output_folder=str(pre_dir),
                  normalization_schemes=schemes, use_mask_for_norm=use_mask, trace=trace)
    if dim == 3:
        plans = planner3d.plan_experiment_3d(dataset_properties, **kwargs)
        path = pre_dir / planner3d.PLANS_FILENAME_3D
    else:
        plans = planner2d.plan_experiment_2d(dataset_properties, **kwargs)
        path = pre_dir / planner2d.PLANS_FILENAME_2D
    write_pickle(plans, path)
    return plans, path


def _copy_tree_atomic(src: Path, dst: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def _preprocess_one(case_id: str, *, preprocessor, spacing, out_dir: str, cropped_dir: str, all_classes) -> str:
    return preprocessor.run_case(spacing, case_id, out_dir, cropped_dir, None, all_classes)


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_3DUNet:ExperimentPlanner.run_preprocessing")
def run_preprocessing(plans: dict, task_name: str, workspace: Workspace, threads: tuple[int, int], *,
                      progress: bool = True) -> list[Path]:
    """Preprocess every cropped case for every stage of ``plans``; returns the stage folders.

    ``threads = (tl, tf)``: see the module docstring for which stage uses which.
    """
    cropped_dir = workspace.cropped_task_dir(task_name)
    pre_dir = workspace.preprocessed_task_dir(task_name)
    _copy_tree_atomic(cropped_dir / "gt_segmentations", pre_dir / "gt_segmentations")
    preprocessor = preprocessor_for(plans)
    ids = cropped_case_identifiers(cropped_dir)
    if not ids:
        raise PlansError(tr(f"{cropped_dir} holds no cropped cases", f"{cropped_dir} 中没有裁剪好的病例"),
                         fix=tr("run the cropping step first", "请先运行裁剪这一步"))
    all_classes = load_pickle(cropped_dir / "dataset_properties.pkl")["all_classes"]
    stages = list(plans["plans_per_stage"].values())
    tl, tf = threads
    if preprocessor.is_2d or len(stages) == 1:
        per_stage = [tf] * len(stages)
    else:
        per_stage = [tl, tf] + [tf] * (len(stages) - 2)
    folders = []
    for index, stage in enumerate(stages):
        out_dir = pre_dir / f"{plans['data_identifier']}_stage{index}"
        out_dir.mkdir(parents=True, exist_ok=True)
        fn = partial(_preprocess_one, preprocessor=preprocessor, spacing=np.array(stage["current_spacing"]),
                     out_dir=str(out_dir), cropped_dir=str(cropped_dir), all_classes=all_classes)
        run_parallel(fn, ids, per_stage[index], desc=f"{out_dir.name}", progress=progress)
        folders.append(out_dir)
    return folders


# --- the command ------------------------------------------------------------------------------------------------

@mirrors("nnunet.experiment_planning.nnUNet_plan_and_preprocess:main")
def plan_and_preprocess(task_ids: Sequence[int | str], *, planner3d_name: str | None = DEFAULT_PLANNER_3D,
                        planner2d_name: str | None = DEFAULT_PLANNER_2D, no_pp: bool = False, tl: int = 8,
                        tf: int = 8, verify_dataset_integrity: bool = False, workspace: Workspace | None = None,
                        progress: bool = True, log: Callable[[str], None] | None = None) -> list[TaskResult]:
    """Crop, fingerprint, plan and preprocess tasks, writing v1's folders and files.

    Args:
        task_ids: task ids (or ``TaskXXX_Name`` names).
        planner3d_name / planner2d_name: only v1's v2.1 planners are implemented; None skips that planner
            (v1's ``-pl3d None`` / ``-pl2d None``).
        no_pp: plan only, do not preprocess (v1's ``-no_pp``).
        tl / tf: process counts (v1's ``-tl`` / ``-tf``, default 8 each).
        verify_dataset_integrity: also read every voxel in the integrity check (label values, NaN).
        workspace: the nnU-Net folders (default: :func:`~nnunet_explorer.paths.get_workspace`).
        progress: tqdm progress bars on stderr.
        log: where one-line status messages go (default: stderr).
    """
    for name, default in ((planner3d_name, DEFAULT_PLANNER_3D), (planner2d_name, DEFAULT_PLANNER_2D)):
        if name is not None and name != default:
            raise PlansError(tr(f"planner {name!r} is not implemented by the explorer",
                                f"explorer 没有实现规划器 {name!r}"),
                             fix=tr(f"use the default {default} or 'None' to skip",
                                    f"请使用默认的 {default}, 或用 'None' 跳过它"))
    workspace = (workspace or get_workspace()).ensure()
    say = log or (lambda msg: print(msg, file=sys.stderr))
    names = [tasks.resolve_task_name(t, workspace) for t in task_ids]
    # Every task's raw files are checked before the first one is cropped, so bad input writes nothing.
    verify_seconds = {}
    for name in names:
        t0 = time.perf_counter()
        raw_dir = workspace.raw_task_dir(name)
        report = tasks.verify_dataset_integrity(raw_dir, read_voxels=verify_dataset_integrity)
        for warning in getattr(report, "warnings", ()):
            say(f"{name}: warning: {warning}")
        verify_raw_files(name, workspace, tf, progress=progress)
        verify_seconds[name] = time.perf_counter() - t0
    crop_info = {}
    for name in names:
        t0 = time.perf_counter() - verify_seconds[name]  # "crop" keeps counting the checks, as before
        raw_dir = workspace.raw_task_dir(name)
        dataset = tasks.load_dataset_json(raw_dir)
        want_fg = needs_intensity_properties(dataset) and not (
            workspace.cropped_task_dir(name) / "intensityproperties.pkl").is_file()
        done, skipped, fg = crop_task(name, workspace, tf, progress=progress, want_foreground=want_fg)
        say(tr(f"{name}: cropped {len(done)} case(s), {len(skipped)} already cropped",
               f"{name}:裁剪了 {len(done)} 个病例,{len(skipped)} 个已经裁剪过"))
        crop_info[name] = (done, skipped, fg, time.perf_counter() - t0)
    results = []
    for name in names:
        done, skipped, fg, crop_seconds = crop_info[name]
        seconds = {"crop": crop_seconds}
        t0 = time.perf_counter()
        fingerprint_task(name, workspace, tf, fg_cache=fg, progress=progress)
        pre_dir = workspace.preprocessed_task_dir(name)
        pre_dir.mkdir(parents=True, exist_ok=True)
        copy_atomic(workspace.cropped_task_dir(name) / "dataset_properties.pkl", pre_dir)
        copy_atomic(workspace.raw_task_dir(name) / "dataset.json", pre_dir)
        seconds["fingerprint"] = time.perf_counter() - t0
        traces: dict[int, list] = {3: [], 2: []}
        paths: dict[int, Path | None] = {3: None, 2: None}
        for dim, planner_name in ((3, planner3d_name), (2, planner2d_name)):
            if planner_name is None:
                continue
            t0 = time.perf_counter()
            plans, paths[dim] = plan_task(name, workspace, dim, trace=traces[dim])
            say(tr(f"{name}: wrote {paths[dim].name} ({plans['num_stages']} stage(s))",
                   f"{name}:已写出 {paths[dim].name}(共 {plans['num_stages']} 个 stage)"))
            if not no_pp:
                run_preprocessing(plans, name, workspace, (tl, tf), progress=progress)
            seconds[f"plan+preprocess {dim}d"] = time.perf_counter() - t0
        results.append(TaskResult(name, workspace.cropped_task_dir(name), pre_dir, paths[3], paths[2],
                                  tuple(traces[3]), tuple(traces[2]), tuple(done), tuple(skipped), seconds))
    return results
