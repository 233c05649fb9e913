"""nnU-Net v1's most frequent error messages, explained against this machine: ``doctor --explain``.

A user with a failed ``nnUNet_train`` has one line to go on, often far from its cause ("One or more background
workers are no longer alive" hides the real error above it; "Could not find a task with the ID 4" is usually a
shell without the environment variables). :func:`explain` recognises the messages below in a pasted message or
a whole log, says what v1 was doing and why it fails, and checks *now*, on this machine, what the message
depends on (the folders, the task, the plans, the label file, memory and workers), each finding with its fix.

Recognised (v1 1.7.1's, batchgenerators' and numpy's own words): ``Could not find a task with the ID``, ``... is not
defined and nnU-Net can ...`` (a folder variable unset), ``only applies if there is more than one stage``, ``Cannot
run final stage of cascade``, ``Could not find trainer class``, ``No such file or directory: '..._plans_3D.pkl'``
(no plans under that identifier), ``You requested fold ... but splits contain only ... folds`` (v1 then trains on a
random split), ``One or more background workers are no longer alive``, ``mmap length is greater than file size`` (an
unpacked case cut short), ``Unexpected labels found in file``, ``Error(s) in loading state_dict for Generic_UNet``
(what differs, read off the shapes), ``Pretrained weights are not compatible``, ``assert isinstance(self.network,
(SegmentationNetwork`` (a network of one's own that is a plain nn.Module), ``x must be either tuple or list`` (a
network without deep supervision under V2's loss), ``Expected target size`` / ``size mismatch (got input: ...``
(torch's cross-entropy, 3D / 2D: a deep-supervision output and its target differ in size), ``Sizes of tensors must
match except in dimension 1`` (a patch the pooling does not divide: edited plans), ``train loss : nan`` (v1's log:
where the NaN began, and whether it stayed), ``CUDA out of memory``, ``CUDA error: out of memory`` (a GPU already
full), ``cuDNN error: CUDNN_STATUS_...`` / ``Unable to find a valid cuDNN algorithm`` (this torch's CUDA and kernels
against each GPU), ``no kernel image is available for execution on the device`` (a torch without kernels for the
GPU), ``Cannot do mirroring as test time augmentation`` (a trainer trained without mirroring),
``Weights only load failed`` (torch >= 2.6 loading a v1 checkpoint), ``device-side assert triggered`` and
``zero-size array to reduction operation``; around prediction, ``model output folder not found`` (the trained
models and the flags that name them),
``No such file or directory: '.../fold_N/NAME.model.pkl'`` (a checkpoint the fold lacks: ``-chk``), ``list of folds
specified but not all output folders are present``, ``Final checkpoint not found`` (``-val``), ``No checkpoint found``
(``-c``) and ``missing files in input_folder`` (an image without its channel number, and the case id v1 read from it);
and ``--verify_dataset_integrity``'s stops: ``could not find label file`` / ``some image files are missing`` / ``not
listed in dataset.json`` (the names that would fit; macOS ``._`` copies), ``GEOMETRY MISMATCH FOUND`` (which field, by
how much, header rounding or not), ``The modalities of the image ... do not seem to be registered`` (a test case),
``The first label must be 0`` / ``Labels must be in consecutive order``, ``found duplicate training cases`` and ``Some
images have nan values``; and damaged files (v1 writes none atomically): ``File is not a zip file`` (a ``.npz``),
``Cannot load file containing pickled data when allow_pickle=False`` (a case whose first bytes are not numpy's),
``Ran out of input`` / ``pickle data was truncated`` (a ``.pkl``), ``PytorchStreamReader failed reading zip archive`` (a
checkpoint) and ``No space left on device``; and plans that do not fit the network or the cases: ``Expected more than
1 spatial element`` (a patch too small for its pooling), ``expected input[...] to have N channels`` (num_modalities)
and ``index N is out of bounds for dimension 1`` / ``Target N is out of bounds`` (a label beyond num_classes).
"""
from __future__ import annotations

import itertools
import os
import re
from glob import escape as glob_escape
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Callable, Iterator, Mapping

from .errors import ExplorerError
from .inspection import RANDOM_SPLIT_LINE
from .language import and_more, tr
from .training.splits import splits_held
from .paths import default_plans_identifier


@dataclass(frozen=True)
class Diagnosis:
    """One recognised message: the line quoted, the cause, what was found on this machine now, the fix."""

    name: str
    quoted: str
    cause: str
    found: tuple[str, ...]
    fix: str
    v2: str = ""

    def text(self) -> str:
        lines = [tr("recognised: ", "识别出:") + self.quoted, tr("cause: ", "原因:") + self.cause]
        if self.found:
            lines.append(tr("checked now, on this machine:", "现在在这台机器上检查到:"))
            lines += [f"  - {line}" for line in self.found]
        lines.append(tr("fix: ", "解决办法:") + self.fix)
        if self.v2:
            lines.append(tr("in nnU-Net v2: ", "在 nnU-Net v2 中:") + self.v2)
        return "\n".join(lines)


@dataclass(frozen=True)
class _Context:
    text: str
    task: str | None
    environ: Mapping[str, str]
    plans_identifier: str


@dataclass(frozen=True)
class _Known:
    name: str
    shown: str  # the message as v1 prints it (its variable parts as ...)
    pattern: re.Pattern
    cause: Callable[[re.Match], str]
    fix: Callable[[re.Match], str]
    check: Callable[[re.Match, _Context], list[str]]
    v2: Callable[[], str] = lambda: ""
    #: whether a command's own failure with this message is this problem, given where it was raised (the
    #: traceback's (file, function) frames, innermost last): False for words torch or numpy say in many places
    raised_here: Callable[[list[tuple[str, str]]], bool] = lambda frames: True


def _in_a_loss(frames: list[tuple[str, str]]) -> bool:
    """Whether a frame of the traceback is a loss function (its file or function named so)."""
    return any("loss" in PurePath(file).name.lower() or "loss" in function.lower() for file, function in frames)


def _said_in_many_places(frames: list[tuple[str, str]]) -> bool:
    """Never: the words alone do not tell this problem from a bug of one's own."""
    return False


def _workspace(ctx: _Context):
    from .paths import resolve_workspace

    return resolve_workspace(ctx.environ)


def _task_name(ctx: _Context, workspace) -> str | None:
    from .tasks import resolve_task_name

    return resolve_task_name(ctx.task, workspace) if ctx.task else None


def _guarded(check: Callable[[re.Match, _Context], list[str]]) -> Callable[[re.Match, _Context], list[str]]:
    """A check that meets an explained problem (no workspace, no such task) reports it instead of failing."""
    def run(match: re.Match, ctx: _Context) -> list[str]:
        try:
            return check(match, ctx)
        except ExplorerError as exc:
            return [exc.cause.splitlines()[0] + (tr(" (fix: ", "(解决办法:") + exc.fix.splitlines()[0] + ")"
                                                 if exc.fix else "")]
        except OSError as exc:  # a folder or file this user cannot read: say so, never a traceback
            where = exc.filename or tr("a file", "某个文件")
            return [tr(f"{where} cannot be read here: {exc.strerror or exc}", f"这里无法读取 {where}:{exc.strerror or exc}")]
    return run


def _needs_task(check: Callable[[re.Match, _Context, object, str], list[str]]) -> Callable:
    """A check that reads the task's files: names ``-t`` when it was not given."""
    def run(match: re.Match, ctx: _Context) -> list[str]:
        workspace = _workspace(ctx)
        name = _task_name(ctx, workspace)
        if name is None:
            return [tr("add -t TASK to check the task's files as well", "加上 -t TASK,也检查这个任务的文件")]
        return check(match, ctx, workspace, name)
    return run


# ---------------------------------------------------------------------------------------------- the checks
def _check_task_id(match: re.Match, ctx: _Context) -> list[str]:
    from .tasks import convert_id_to_task_name, list_tasks

    found = []
    # v1 prints the three variables as it saw them; the shell that ran it may not be this one
    for variable, seen in re.findall(r"^\s*(nnUNet_preprocessed|RESULTS_FOLDER|nnUNet_raw_data_base)=(.*)$",
                                     ctx.text, re.M):
        now = ctx.environ.get(variable)
        if seen.strip() != (now or "None"):
            found.append(tr(f"v1 saw {variable}={seen.strip()}; in this shell it is {now or 'unset'}: the shell "
                            "(or job script) that ran v1 had other variables",
                            f"v1 看到的是 {variable}={seen.strip()};在这个 shell 中它是 {now or '未设置'}:运行 v1 的 "
                            "shell(或作业脚本)用的是别的环境变量"))
    workspace = _workspace(ctx)
    if workspace.uses_defaults:
        found.append(tr("this shell does not set all three variables either: the explorer filled the missing ones "
                        "from its default workspace, which v1 does not know",
                        "这个 shell 也没有设置全部三个变量:explorer 用它的默认工作区补上了缺少的那些,v1 并不知道这个位置"))
    try:
        name = convert_id_to_task_name(int(match.group(1)), workspace)
    except ExplorerError as exc:
        return found + [str(exc)]
    places = ", ".join(list_tasks(workspace).get(name, []))
    return found + [tr(f"here the id resolves to {name} ({places}), so the folders v1 used were not these",
                       f"在这里这个编号对应 {name}({places}),所以 v1 用的不是这些文件夹")]


def _check_folders(match: re.Match, ctx: _Context) -> list[str]:
    from .doctor import run_doctor

    found = []
    variable = match.group(1)
    if ctx.environ.get(variable):  # set here, unset where v1 ran
        found.append(tr(f"{variable} is set in this shell ({ctx.environ[variable]}): the shell or job that ran v1 "
                        "did not have it (a job script, sudo, cron, or a notebook or IDE started without your shell "
                        "profile)",
                        f"{variable} 在这个 shell 中已设置({ctx.environ[variable]}):运行 v1 的 shell 或作业没有它"
                        "(作业脚本、sudo、cron,或者没有加载你的 shell 配置就启动的 notebook 或 IDE)"))
    report = run_doctor(ctx.environ, verify_tasks=False)
    return found + ([f"{p.what} ({tr('fix: ', '解决办法:')}{p.fix})" for p in report.problems + report.notes] or
                    [tr("the folders resolve here: see `nnunet-explorer doctor`",
                        "这里的文件夹都能确定:见 `nnunet-explorer doctor`")])


def _space(free: int, total: int, digits: int = 1) -> str:
    """``"12.3 GiB free of 40.0 GiB"``; in MiB for a disk under 1 GiB (a container's 64 MiB /dev/shm, a small
    volume), where GiB would read 0.0."""
    unit, size = ("GiB", 2**30) if total >= 2**30 else ("MiB", 2**20)
    return tr(f"{free / size:.{digits}f} {unit} free of {total / size:.{digits}f} {unit}",
              f"{total / size:.{digits}f} {unit} 中剩余 {free / size:.{digits}f} {unit}")


def _not_here(path: object) -> str:
    """What the checks say of a file or folder the message names that is not here (a log pasted from another
    machine, or a path since moved)."""
    return tr(f"{path} is not on this machine (or not at this path)", f"{path} 不在这台机器上(或不在这个路径)")


def _plans(workspace, name: str, plans_identifier: str, network: str = "3d_fullres") -> tuple[Path, dict]:
    """The plans file ``network`` of task ``name`` reads, and its contents (a PlansError with the fix if missing)."""
    from .errors import PlansError
    from .planning.plans import load_plans
    from .run.default_configuration import plans_file_for

    path = plans_file_for(network, name, plans_identifier, workspace)
    if not path.is_file():
        raise PlansError(tr(f"{path} does not exist", f"{path} 不存在"),
                         fix=tr(f"nnunet-explorer plan_and_preprocess -t {name}",
                                f"运行 nnunet-explorer plan_and_preprocess -t {name}") + (
                             "" if plans_identifier == default_plans_identifier else
                             tr(f" (or give -p the identifier the plans were saved under; {plans_identifier!r} "
                                "was asked for)",
                                f"(或者给 -p 传入保存 plans 时用的标识;现在要的是 {plans_identifier!r})")))
    return path, load_plans(path)


@_needs_task
def _check_stages(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    import numpy as np

    from .run.default_configuration import stage_for

    path, plans = _plans(workspace, name, ctx.plans_identifier)
    stages = plans["plans_per_stage"]
    last = stages[stage_for("3d_fullres", sorted(stages))]
    ratio = float(np.prod(last["median_patient_size_in_voxels"])) / float(np.prod(last["patch_size"]))
    return [tr(f"{path.name} of {name} has {len(stages)} stage(s); the median case is {ratio:.2f} full-resolution "
               "patches (v1 tries a low-resolution stage from 4)",
               f"{name} 的 {path.name} 有 {len(stages)} 个 stage;中位病例是全分辨率 patch 的 {ratio:.2f} 倍"
               "(v1 从 4 倍起才尝试低分辨率 stage)")]


def _cascade_reads(workspace, name: str, plans_identifier: str) -> Path:
    """The one folder v1's cascade reads, shared by the 3d_lowres folds of the experiment nnUNetTrainerV2__PLANS
    (nnUNet_train has no option for another previous trainer)."""
    return workspace.training_output_folder("3d_lowres", name, "nnUNetTrainerV2", plans_identifier) / "pred_next_stage"


@_needs_task
def _check_lowres_predictions(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    import json

    lowres = workspace.network_training_output_dir / "3d_lowres" / name
    read = _cascade_reads(workspace, name, ctx.plans_identifier)
    found = []
    if read.is_dir():
        have = len(list(read.glob("*_segFromPrevStage.npz")))
        dataset_json = workspace.preprocessed_task_dir(name) / "dataset.json"
        try:
            need = len(json.loads(dataset_json.read_text(encoding="utf-8"))["training"])
        except (OSError, ValueError, KeyError, TypeError):
            need = None
        found.append(tr(f"{read.relative_to(lowres)} holds {have} _segFromPrevStage.npz"
                        + (f" of the {need} the cascade needs (one per training case)" if need else ""),
                        f"{read.relative_to(lowres)} 中有 {have} 个 _segFromPrevStage.npz"
                        + (f"，级联需要 {need} 个（每个训练病例一个）" if need else "")))
    else:
        found.append(tr(f"no {read} (the folder the cascade reads)", f"没有 {read}（级联读取的文件夹）"))
    for other in sorted(lowres.glob("*/pred_next_stage")):
        if other != read:
            found.append(tr(f"{other.relative_to(lowres)} exists, but the cascade does not read it",
                            f"{other.relative_to(lowres)} 存在，但级联不读取它"))
    folds = sorted(lowres.glob("*/fold_*")) + sorted(lowres.glob("*/all"))
    found.append(tr("3d_lowres fold folders: ", "3d_lowres 的 fold 文件夹：")
                 + (", ".join(str(f.relative_to(lowres)) for f in folds) if folds else tr("none", "没有")))
    return found


@_needs_task
def _check_lowres_case(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    from .training.splits import load_splits

    path = Path(match.group("path").strip())
    case = path.name.removesuffix("_segFromPrevStage.npz")
    folder, experiment = path.parent, path.parent.parent  # .../3d_lowres/TASK/TRAINER__PLANS/pred_next_stage
    if folder.is_dir():
        have = len(list(folder.glob("*_segFromPrevStage.npz")))
        found = [tr(f"{folder} holds {have} _segFromPrevStage.npz; {path.name} is "
                    + ("there now" if path.is_file() else "not there"),
                    f"{folder} 中有 {have} 个 _segFromPrevStage.npz;{path.name} "
                    + ("现在在那里" if path.is_file() else "不在那里"))]
    else:
        found = [_not_here(folder)]
    if (experiment / "all").is_dir():
        found.append(tr(f"{experiment.name}/all exists: a 3d_lowres fold 'all' validates, and so predicts, every "
                        "case",
                        f"{experiment.name}/all 存在:3d_lowres 的 fold 'all' 验证、因而也预测每个病例"))
    splits_file = workspace.preprocessed_task_dir(name) / "splits_final.pkl"
    if not splits_file.is_file():
        found.append(tr(f"no {splits_file}: the cascade's do_split writes it before this check unless its fold is "
                        "'all', so the run used other folders (or fold 'all')",
                        f"没有 {splits_file}:除非 fold 是 'all',级联的 do_split 会在这个检查之前写出它,所以那次运行用的"
                        "是别的文件夹(或 fold 'all')"))
        return found
    try:
        splits = load_splits(splits_file)
    except ExplorerError as exc:
        return found + [exc.cause.splitlines()[0]]
    folds = [i for i, split in enumerate(splits) if case in {str(k) for k in split["val"]}]
    for i in folds:
        trained = (experiment / f"fold_{i}").is_dir()
        found.append(tr(f"{case} is a validation case of fold {i}: 3d_lowres fold {i} writes its prediction after "
                        f"its validation ({experiment.name}/fold_{i} " + ("exists" if trained else "does not exist")
                        + ")",
                        f"{case} 是 fold {i} 的验证病例:3d_lowres 的 fold {i} 在验证之后写出它的预测"
                        f"({experiment.name}/fold_{i} " + ("存在" if trained else "不存在") + ")"))
    if not folds:
        found.append(tr(f"{case} is in no validation set of {splits_file.name}",
                        f"{case} 不在 {splits_file.name} 的任何验证集中"))
    return found


def _check_workers(match: re.Match, ctx: _Context) -> list[str]:
    from .training.augmenter import usable_cpu_count

    found = []
    # the worker's own error is printed above the message (if it had time to print one)
    above = ctx.text[:match.start()]
    # batchgenerators prints "Exception in background worker N:" and the traceback, whose last line (the first
    # unindented one after "Traceback ...") names the error
    worker = re.search(r"^Exception in background worker (\d+):", above, re.M)
    traceback = re.search(r"^Traceback \(most recent call last\):\n(?:[ \t].*\n)*(\S.*)$", above, re.M)
    if traceback:
        who = tr(f" (worker {worker.group(1)})", f"(工作进程 {worker.group(1)})") if worker else ""
        found.append(tr(f"the first error above it in this text{who}: {traceback.group(1).strip()}",
                        f"这段文字中它上面的第一个错误{who}:{traceback.group(1).strip()}"))
    else:
        found.append(tr("no error above it in this text: a worker that prints nothing was usually killed from "
                        "outside (the kernel's OOM killer: `dmesg | grep -i kill`)",
                        "这段文字中它上面没有错误:什么也没打印就消失的工作进程通常是被外部杀掉的(内核的 OOM killer:"
                        "`dmesg | grep -i kill`)"))
    workers = ctx.environ.get("nnUNet_n_proc_DA")
    unset_en = "unset (outside its DKFZ host table v1 then starts 12 workers, 6 for validation)"
    unset_zh = "未设置(在它的 DKFZ 主机表之外,v1 于是启动 12 个工作进程,验证用 6 个)"
    found.append(tr(f"nnUNet_n_proc_DA is {workers or unset_en}; this machine has {usable_cpu_count()} CPU core(s)",
                    f"nnUNet_n_proc_DA 为 {workers or unset_zh};这台机器有 {usable_cpu_count()} 个 CPU 核"))
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = dict(re.findall(r"^(\w+):\s+(\d+)", meminfo.read_text(), re.M))
        if "MemAvailable" in kib:
            found.append(tr(f"memory available now: {int(kib['MemAvailable']) / 2**20:.1f} GiB",
                            f"现在可用的内存:{int(kib['MemAvailable']) / 2**20:.1f} GiB"))
    if os.path.isdir("/dev/shm"):
        shm = os.statvfs("/dev/shm")
        found.append(tr(f"/dev/shm: {shm.f_frsize * shm.f_blocks / 2**30:.2f} GiB (Docker's default is 64 MiB)",
                        f"/dev/shm:{shm.f_frsize * shm.f_blocks / 2**30:.2f} GiB(Docker 的默认值是 64 MiB)"))
    return found


@_needs_task
def _check_npy_files(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    import shutil

    from .training.dataloading import incomplete_npy_files

    # the unpacked cases of every stage, and the cascade's 3d_lowres predictions (read as .npy when present)
    folders = [workspace.preprocessed_task_dir(name), _cascade_reads(workspace, name, ctx.plans_identifier)]
    found, complete, damaged = [], False, False
    for folder in folders:
        if not folder.is_dir():
            continue
        checked = incomplete_npy_files(folder)
        files, cut = checked.files, checked.cut
        if not files:
            found.append(tr(f"no .npy under {folder}", f"{folder} 下没有 .npy"))
            continue
        bad = len(cut) + len(checked.unreadable)
        damaged = damaged or bad
        if not bad:
            complete = True
            found.append(tr(f"{folder}: all {files} .npy files are complete",
                            f"{folder}：{files} 个 .npy 文件都是完整的"))
            continue
        found.append(tr(f"{folder}: {bad} of {files} .npy files are incomplete or unreadable: "
                        + checked.listed(folder, most=10),
                        f"{folder}：{files} 个 .npy 文件中有 {bad} 个不完整或无法读取：" + checked.listed(folder, most=10)))
        if not cut:
            continue
        free = shutil.disk_usage(folder).free
        found.append(tr(f"free on that disk now: {free / 2**30:.1f} GiB", f"那块磁盘现在的剩余空间：{free / 2**30:.1f} GiB"))
    if not found:
        found.append(tr(f"no preprocessed folder {folders[0]}", f"没有预处理文件夹 {folders[0]}"))
    elif complete and not damaged:
        # v1 unpacks at every start, writing each .npy in place and skipping those that exist
        found.append(tr("so no .npy is cut now: if none was mended since, the failed run read one while it was "
                        "being written, which happens when runs of one task start together (each unpacks, and "
                        "reads the files the others are writing): start one fold, and the others once it trains",
                        "所以现在没有被截断的 .npy:如果此后没有修复过文件,那么失败的运行读到的是一个正在写入的文件;"
                        "同一个任务的几次运行一起启动时就会这样(每次运行都会解压,并读取其他运行正在写的文件):先启动"
                        "一个 fold,等它开始训练后再启动其他的"))
    return found


# a path in a message or log that names one of v1's data or checkpoint files ('loading checkpoint PATH train=')
_NAMED_FILE = re.compile(r"(?<![\w/.~-])(/[^\s'\",]+?\.(?:npz|npy|pkl|model))(?![\w.])")


#: damage inside an .npz's compressed data (zipfile's CRC check, zlib): only reading each .npz to its end finds it
_DAMAGED_DATA = re.compile(r"Bad CRC-32 for file|Error -3 while decompressing data")


def _npz_damage_kind(match: re.Match) -> str:
    """The first sentence of a damaged .npz's cause: its zip directory missing, or its compressed data changed."""
    if _DAMAGED_DATA.match(match.group(0)):
        return tr("numpy read a .npz whose zip directory is whole but whose array data is damaged (zipfile's CRC "
                  "check or zlib refused it): the data was damaged after the directory was written, by a copy error "
                  "(a network drive, a USB disk), a failing disk or bad memory, a crash before the data reached the "
                  "disk, or two runs writing the same file. ",
                  "numpy 读取的 .npz 的 zip 目录是完整的,但数组数据损坏了(zipfile 的 CRC 检查或 zlib 拒绝了它):数据是"
                  "在目录写好之后损坏的,来自复制错误(网络驱动器、U 盘)、有故障的磁盘或内存、数据写到磁盘之前的崩溃,"
                  "或者两次运行同时写同一个文件。")
    return tr("numpy opened a .npz that is not a whole zip archive. v1's cropping and preprocessing write each case's "
              "CASE.npz straight into place (np.savez_compressed, not atomically), so a run killed while writing, a "
              "full disk or a copy cut short leaves one damaged. ",
              "numpy 打开的 .npz 不是完整的 zip 压缩包。v1 的裁剪和预处理把每个病例的 CASE.npz 直接写到目标位置"
              "(np.savez_compressed,不是原子写入),所以写入时被杀掉的运行、已满的磁盘或没有拷完的复制都会留下损坏的"
              "文件。")


def _check_damaged_files(match: re.Match, ctx: _Context) -> list[str]:
    """The files the text names, and with -t every .npz, .npy, .pkl and checkpoint of the task: which are damaged."""
    from .file_damage import damaged_files, remedies, task_files_folders, whole_or_why
    from .training.dataloading import incomplete_npy_files

    found, damaged, whole = [], [], []
    # anywhere in the text, not only in this match: a log may first show a cut .npz, then one damaged inside
    read_whole = bool(_DAMAGED_DATA.search(ctx.text))
    try:
        workspace = _workspace(ctx)
        name = _task_name(ctx, workspace)
    except ExplorerError as exc:  # the folders or the task are not here: the files the text names still are
        workspace, name = None, None
        if ctx.task:
            found.append(exc.cause.splitlines()[0])
    folders = task_files_folders(workspace, name) if name else []
    # a log names the files v1 was reading ('loading checkpoint PATH'); those of the task are in its lines below
    for named in dict.fromkeys(_NAMED_FILE.findall(ctx.text)):
        path = Path(named)
        if any(path.is_relative_to(folder) for folder in folders):
            continue
        why = whole_or_why(path, whole=read_whole) if path.is_file() else None
        if not path.is_file():
            found.append(_not_here(path))
        elif why:
            found.append(tr(f"{path} (named in the text): {why}", f"{path}（文字中提到的）：{why}"))
            damaged.append((path, why))
        else:
            whole.append(str(path))
    if whole:
        found.append(tr(f"whole now, of the files the text names: {', '.join(whole)}",
                        f"文字中提到的文件中，现在完整的有：{'、'.join(whole)}"))
    if name is None:
        return found + remedies(damaged, None, workspace) + ([] if ctx.task else [
            tr("add -t TASK to check the task's files as well", "加上 -t TASK,也检查这个任务的文件")])
    for folder in folders:
        if not folder.is_dir():
            continue
        files, bad = damaged_files(folder, whole=read_whole)
        npy = incomplete_npy_files(folder)
        bad, files = sorted(bad + npy.reasons()), files + npy.files
        if not bad:
            found.append(tr(f"{folder}: all {files} .npz/.npy/.pkl/.model files are whole"
                            + (", every .npz read to its end" if read_whole else ""),
                            f"{folder}：{files} 个 .npz/.npy/.pkl/.model 文件都是完整的"
                            + ("，每个 .npz 都读到了末尾" if read_whole else "")))
            continue
        listed = [tr(f"{f.relative_to(folder)} ({why})", f"{f.relative_to(folder)}（{why}）") for f, why in bad[:10]]
        found.append(tr(f"{folder}: {len(bad)} of {files} files damaged: ", f"{folder}：{files} 个文件中有 {len(bad)} "
                        "个已损坏：") + tr(", ", "、").join(listed) + and_more(10, len(bad)))
        damaged += bad
    return found + remedies(damaged, name, workspace)


def _check_damaged_pickle(match: re.Match, ctx: _Context) -> list[str]:
    # on Windows a worker process starts first and then receives its arguments pickled through a pipe: when they
    # cannot be pickled the worker dies reading them with this EOFError, and no file is damaged (on Linux and macOS
    # spawn pickles before starting the process, so only the parent's TypeError shows)
    spawn = re.search(r"(?:[Cc]an't|[Cc]annot) pickle[^\n]*", ctx.text)
    found = [tr(f"the text also says \"{spawn.group(0).strip()}\": on Windows a worker process is started first and "
                "then sent its arguments, and when they cannot be pickled the EOFError is that worker dying while it "
                "read them; mend the object that cannot be pickled (one of your own trainer's, often)",
                f"文字中还有 \"{spawn.group(0).strip()}\":在 Windows 上工作进程先启动,再接收它的参数;参数不能被 "
                "pickle 时,这个 EOFError 就是该工作进程读参数时死掉;要修的是不能被 pickle 的那个对象(常常是你自己"
                "的 trainer 里的)")] if spawn else []
    return found + _check_damaged_files(match, ctx)


def _check_disk_full(match: re.Match, ctx: _Context) -> list[str]:
    import shutil
    import zipfile

    found = []
    if "</torch_" in ctx.text or "/dev/shm" in ctx.text:
        found.append(tr("the write that failed was to /dev/shm (torch's shared memory, '</torch_...>'): v1's "
                        "augmentation workers hand each batch (torch tensors, after NumpyToTensor) to the training "
                        "process through it; Docker gives a container 64 MiB there unless run with --shm-size (or "
                        "--ipc=host)",
                        "写入失败的是 /dev/shm(torch 的共享内存,'</torch_...>'):v1 的数据增强工作进程通过它把每个 "
                        "batch(NumpyToTensor 之后的 torch 张量)交给训练进程;Docker 默认只给容器 64 MiB,除非用 "
                        "--shm-size(或 --ipc=host)运行"))
    if os.path.isdir("/dev/shm"):
        shm = shutil.disk_usage("/dev/shm")
        found.append(tr(f"/dev/shm: {_space(shm.free, shm.total, 2)}", f"/dev/shm：{_space(shm.free, shm.total, 2)}"))
    named = re.search(r"No space left on device: '([^']+)'", ctx.text)
    places = [(tr("the named file's folder", "报错中文件所在的文件夹"), Path(named.group(1)).parent)] if named else []
    places += [(variable, Path(ctx.environ[variable])) for variable in
               ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER") if ctx.environ.get(variable)]
    disks: dict[int, list[tuple[str, Path]]] = {}
    for what, folder in places:
        while not folder.is_dir() and folder != folder.parent:  # the file's folder may be what was not written
            folder = folder.parent
        disks.setdefault(folder.stat().st_dev, []).append((what, folder))
    for on_disk in disks.values():
        usage = shutil.disk_usage(on_disk[0][1])
        names = tr(", ", "、").join(what for what, _ in on_disk)
        found.append(tr(f"{names} ({on_disk[0][1]}{', one disk' if len(on_disk) > 1 else ''}): "
                        f"{_space(usage.free, usage.total)}",
                        f"{names}（{on_disk[0][1]}{'，同一块磁盘' if len(on_disk) > 1 else ''}）："
                        f"{_space(usage.free, usage.total)}"))
    try:
        workspace = _workspace(ctx)
        name = _task_name(ctx, workspace)
    except ExplorerError:  # no folders or no such task here: the check of damaged files below says which
        name = None
    if name is not None:
        # v1 unpacks the stage it trains (every CASE.npz of it to CASE.npy) at each start
        for stage in sorted(workspace.preprocessed_task_dir(name).glob("*_stage*")):
            packed = [npz for npz in sorted(stage.glob("*.npz")) if not npz.with_suffix(".npy").is_file()]
            need = 0
            for npz in packed:
                try:
                    with zipfile.ZipFile(npz) as archive:
                        need += sum(info.file_size for info in archive.infolist())
                except (zipfile.BadZipFile, OSError):
                    continue  # named by the check of damaged files below
            if packed:
                size = f"{need / 2**30:.1f} GiB" if need >= 2**30 else f"{need / 2**20:.1f} MiB"
                found.append(tr(f"{stage.name}: {len(packed)} case(s) not unpacked yet; training this stage writes "
                                f"their .npy files, {size}",
                                f"{stage.name}：{len(packed)} 个病例还没有解压；训练这个 stage 时会写出它们的 .npy "
                                f"文件，共 {size}"))
    return found + _check_damaged_files(match, ctx)


def _check_plans_file(match: re.Match, ctx: _Context) -> list[str]:
    path = Path(match.group("path"))
    if path.is_file():
        return [tr(f"{path} exists in this shell: the run that failed saw other folders (its nnUNet_preprocessed) "
                   "or ran before the planning finished",
                   f"在这个 shell 中 {path} 是存在的:失败的那次运行看到的是别的文件夹(它的 nnUNet_preprocessed),"
                   "或者运行时规划还没有完成")]
    folder = path.parent
    if not folder.is_dir():
        return [tr(f"no {folder}: the task was not preprocessed there (nnUNet_preprocessed in this shell: "
                   f"{ctx.environ.get('nnUNet_preprocessed', 'unset')})",
                   f"没有 {folder}:这个任务没有在那里预处理过(这个 shell 中的 nnUNet_preprocessed:"
                   f"{ctx.environ.get('nnUNet_preprocessed', '未设置')})")]
    plans = sorted(f.name for f in folder.glob("*_plans_*.pkl"))
    if not plans:
        return [tr(f"{folder} holds no plans file: the task was not planned (nnUNet_plan_and_preprocess)",
                   f"{folder} 中没有 plans 文件:这个任务还没有规划过(nnUNet_plan_and_preprocess)")]
    identifiers = sorted({re.sub(r"_plans_(2D|3D)\.pkl$", "", name) for name in plans})
    return [tr(f"{folder} holds {', '.join(plans)}", f"{folder} 中有 {'、'.join(plans)}"),
            tr(f"so -p can be: {', '.join(identifiers)}", f"所以 -p 可以是:{'、'.join(identifiers)}")]


@_needs_task
def _check_splits(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    from .training.dataloading import get_case_identifiers, stage_folders
    from .training.splits import load_splits, random_80_20_split

    fold = int(match.group(1))
    task_dir = workspace.preprocessed_task_dir(name)
    splits_file = task_dir / "splits_final.pkl"
    if not splits_file.is_file():
        found = [tr(f"no {splits_file} now (v1 writes its five folds there at the first run)",
                    f"现在没有 {splits_file}(v1 在第一次运行时把它的五个 fold 写在那里)")]
    else:
        splits = load_splits(splits_file)
        sizes = [len(s["val"]) for s in splits]
        found = [tr(f"{splits_file.name} of {name} holds {splits_held(len(splits))}"
                    + (f", validating on {sizes} cases" if splits else ""),
                    f"{name} 的 {splits_file.name} 有 {splits_held(len(splits))}"
                    + (f",验证病例数分别为 {sizes}" if splits else ""))]
    stages = stage_folders(task_dir)
    keys = get_case_identifiers(stages[0]) if stages else []
    if keys:
        _train, val = random_80_20_split(keys, fold)
        shown = ", ".join(val[:10]) + (tr(f" and {len(val) - 10} more", f",另有 {len(val) - 10} 个")
                                       if len(val) > 10 else "")
        found.append(tr(f"fold {fold}'s random 80:20 split of the {len(keys)} cases validates on {len(val)}: {shown}",
                        f"fold {fold} 对 {len(keys)} 个病例的随机 80:20 划分在 {len(val)} 个病例上验证:{shown}"))
    return found


@_needs_task
def _check_case_count(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    from .training.dataloading import get_case_identifiers, stage_folders

    task_dir = workspace.preprocessed_task_dir(name)
    stages = stage_folders(task_dir)
    if not stages:
        return [tr(f"{task_dir} holds no stage folder (plan and preprocess the task first)",
                   f"{task_dir} 中没有 stage 文件夹(先规划和预处理这个任务)")]
    found = [tr(f"{stage.name}: {len(get_case_identifiers(stage))} training case(s)",
                f"{stage.name}:{len(get_case_identifiers(stage))} 个训练病例") for stage in stages]
    splits_file = task_dir / "splits_final.pkl"
    found.append(tr(f"{splits_file} exists now: v1 takes its folds instead of making the 5-fold split"
                    if splits_file.is_file() else f"no {splits_file} now",
                    f"现在已有 {splits_file}:v1 用它的 fold,不再做 5 折划分" if splits_file.is_file()
                    else f"现在没有 {splits_file}"))
    return found


def _check_labels(match: re.Match, ctx: _Context) -> list[str]:
    import numpy as np
    import SimpleITK as sitk

    from .tasks import load_dataset_json

    path = Path(match.group(1))
    if not path.is_file():
        return [_not_here(path)]
    try:
        values = sorted(np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(path)))).tolist())
    except RuntimeError as exc:  # SimpleITK's error for a file it cannot read
        return [tr(f"{path} cannot be read: {str(exc).strip().splitlines()[-1]}",
                   f"{path} 无法读取:{str(exc).strip().splitlines()[-1]}")]
    found = [tr(f"{path.name} holds the values {values}", f"{path.name} 含有这些值 {values}")]
    task_dir = path.parent.parent
    if (task_dir / "dataset.json").is_file():
        declared = sorted(int(k) for k in load_dataset_json(task_dir)["labels"])
        found.append(tr(f"dataset.json declares {declared}; not declared: "
                        f"{[v for v in values if v not in declared]}",
                        f"dataset.json 声明的是 {declared};未声明的:{[v for v in values if v not in declared]}"))
    return found


def _smi(ctx: _Context, fields: str) -> list[list[str]] | str | None:
    """``nvidia-smi --query-gpu=FIELDS``'s rows, each its comma-separated values; a line saying why not when it
    failed; None when there is no nvidia-smi on this PATH."""
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi", path=ctx.environ.get("PATH"))
    if smi is None:
        return None
    try:
        done = subprocess.run([smi, f"--query-gpu={fields}", "--format=csv,noheader,nounits"], capture_output=True,
                              text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return tr(f"nvidia-smi did not answer ({type(exc).__name__})", f"nvidia-smi 没有回应({type(exc).__name__})")
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return tr(f"nvidia-smi failed: {said[-1] if said else done.returncode}",
                  f"nvidia-smi 失败了:{said[-1] if said else done.returncode}")
    return [[part.strip() for part in line.split(",")] for line in done.stdout.strip().splitlines()]


def _no_smi() -> str:
    return tr("nvidia-smi is not on this machine's PATH: run this check where the run failed",
              "这台机器的 PATH 上没有 nvidia-smi:请在运行失败的那台机器上做这个检查")


def _gpus(ctx: _Context) -> list[str] | None:
    """Each GPU's memory in use as ``nvidia-smi`` reports it now (None: no nvidia-smi on this PATH)."""
    rows = _smi(ctx, "index,name,memory.used,memory.total")
    if rows is None or isinstance(rows, str):
        return rows if rows is None else [rows]
    out = []
    for parts in rows:
        if len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
            used, total = int(parts[2]), int(parts[3])
            out.append(tr(f"GPU {parts[0]} ({parts[1]}): {used / 1024:.1f} of {total / 1024:.1f} GiB in use now",
                          f"GPU {parts[0]}({parts[1]}):现在已用 {used / 1024:.1f} / {total / 1024:.1f} GiB"))
    visible = ctx.environ.get("CUDA_VISIBLE_DEVICES")
    order = ctx.environ.get("CUDA_DEVICE_ORDER")
    first = (tr("the first of them in PCI bus order, nvidia-smi's", "按 PCI 总线顺序的第一块,即 nvidia-smi 的顺序")
             if order == "PCI_BUS_ID" else
             tr("CUDA's first, the fastest unless CUDA_DEVICE_ORDER=PCI_BUS_ID, so not always nvidia-smi's GPU 0",
                "CUDA 的第一块,除非设置了 CUDA_DEVICE_ORDER=PCI_BUS_ID,否则是最快的那块,所以不一定是 nvidia-smi 的 GPU 0"))
    out.append(tr(f"CUDA_VISIBLE_DEVICES is {visible!r}; the process uses {first}" if visible is not None else
                  f"CUDA_VISIBLE_DEVICES is unset: the process sees every GPU and uses {first}",
                  f"CUDA_VISIBLE_DEVICES 为 {visible!r};进程使用{first}" if visible is not None else
                  f"CUDA_VISIBLE_DEVICES 未设置:进程能看到所有 GPU,并使用{first}"))
    return out


def _check_gpu_full(match: re.Match, ctx: _Context) -> list[str]:
    found = _gpus(ctx)
    if found is None:
        return [_no_smi()]
    return found + (_guarded(_check_batch_and_patch)(match, ctx) if ctx.task else [])


def _cudnn_status(match: re.Match) -> str:
    """What the message says of the cause: torch's refusal of the cuDNN it found names it, and so do two of cuDNN's
    status words; the others name only the step that failed."""
    status = match.group(1)
    if match.group("refused"):
        return tr(" before its first use: torch refused the cuDNN it found (the message says why, and the check "
                  "below quotes torch's words on this machine); this is the cause",
                  ",发生在第一次使用之前:torch 拒绝了它找到的 cuDNN(报错说明了原因,下面的检查会引用 torch 在这台机器"
                  "上的说法);这就是原因")
    if status == "CUDNN_STATUS_ALLOC_FAILED":
        return tr(" (ALLOC_FAILED: it could not get memory, the first cause below)",
                  "(ALLOC_FAILED:它没能分配到显存,即下面的第一种原因)")
    if status == "CUDNN_STATUS_ARCH_MISMATCH":
        return tr(" (ARCH_MISMATCH: this cuDNN lacks a feature or the architecture of this GPU, which is too old for "
                  "it; a newer GPU, or a torch with an older cuDNN, mends it)",
                  "(ARCH_MISMATCH:这个 cuDNN 缺少这块 GPU 的某个特性或架构,GPU 对它来说太旧了;换更新的 GPU,或者用带"
                  "较旧 cuDNN 的 torch 才能解决)")
    return tr("; its status names the step that failed, rarely the cause", ";它的状态码说的是失败的那一步,很少是原因")


def _check_torch_build(match: re.Match, ctx: _Context) -> list[str]:
    """This environment's torch (its CUDA and cuDNN), whether it has kernels for each GPU, each GPU's memory in
    use, and with -t the plans' batch and patch."""
    import torch

    from .device import cannot_start, cudnn_refused, cudnn_version, missing_kernels

    if torch.version.cuda is None:
        return [tr(f"torch {torch.__version__} here is built without CUDA, so it cannot have raised this: run the "
                   "check in the environment of the failed run",
                   f"这里的 torch {torch.__version__} 没有 CUDA 支持,不可能报出这个错误:请在运行失败的环境里做这个检查")]
    try:
        cudnn = cudnn_version()
    except RuntimeError as exc:  # torch's words: another cuDNN on LD_LIBRARY_PATH, or one too new for a GPU
        cudnn = tr("unusable", "无法使用")
        unusable = [cudnn_refused(exc) + tr(": this is the cause", ":这就是原因")]
    else:
        unusable = []
    arches = torch.cuda.get_arch_list()
    found = [tr(f"torch {torch.__version__} built for CUDA {torch.version.cuda}, cuDNN {cudnn or 'not found'}, "
                + (f"with kernels for {', '.join(arches)}" if arches else
                   "its kernels unknown here (torch.cuda.is_available() is False)"),
                f"torch {torch.__version__} 为 CUDA {torch.version.cuda} 构建,cuDNN {cudnn or '未找到'},"
                + (f"带有 {', '.join(arches)} 的内核" if arches else
                   "这里不知道它带有哪些内核(torch.cuda.is_available() 为 False)"))] + unusable
    rows = _smi(ctx, "index,name,compute_cap")
    if rows is None:
        return found + [_no_smi()]
    if isinstance(rows, str):  # drivers before 510 do not know compute_cap: ask torch, which sees the same GPUs
        found.append(rows)
        rows = []
        for index in range(torch.cuda.device_count()) if torch.cuda.is_available() else ():
            try:
                rows.append([str(index), torch.cuda.get_device_name(index),
                             "{}.{}".format(*torch.cuda.get_device_capability(index))])
            except RuntimeError as exc:  # CUDA counts the GPU but cannot start on it
                found.append(cannot_start(index, exc))
    for parts in rows:
        capability = re.fullmatch(r"(\d+)\.(\d+)", parts[2]) if len(parts) == 3 else None
        if capability is None or not arches:
            continue
        fix = missing_kernels(arches, (int(capability.group(1)), int(capability.group(2))))
        # nvidia-smi lists every GPU, also those the run did not use (CUDA_VISIBLE_DEVICES, CUDA's own order)
        cause = (tr("this is the cause", "这就是原因") if len(rows) == 1 else
                 tr("the cause if the run used this GPU", "如果运行用的是这块 GPU,这就是原因"))
        found.append(tr(f"GPU {parts[0]} ({parts[1]}): compute capability {parts[2]}, which this torch runs on",
                        f"GPU {parts[0]}({parts[1]}):计算能力 {parts[2]},这个 torch 能在上面运行") if fix is None else
                     tr(f"GPU {parts[0]} ({parts[1]}): compute capability {parts[2]}, for which this torch has no "
                        f"kernels: {cause} ({fix})",
                        f"GPU {parts[0]}({parts[1]}):计算能力 {parts[2]},这个 torch 没有它的内核:{cause}({fix})"))
    return found + (_gpus(ctx) or []) + (_guarded(_check_batch_and_patch)(match, ctx) if ctx.task else [])


@_needs_task
def _check_batch_and_patch(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    path, plans = _plans(workspace, name, ctx.plans_identifier)
    return [tr(f"stage {k} of {path.name}: batch {s['batch_size']}, patch {list(map(int, s['patch_size']))}",
               f"{path.name} 的 stage {k}:batch {s['batch_size']},patch {list(map(int, s['patch_size']))}")
            for k, s in plans["plans_per_stage"].items()]


def _check_oom(match: re.Match, ctx: _Context) -> list[str]:
    """The plans' batch and patch (with -t), then each GPU's memory in use now (where nvidia-smi is)."""
    return _guarded(_check_batch_and_patch)(match, ctx) + (_gpus(ctx) or [])


_ENCODER_CONV = re.compile(r"^conv_blocks_context\.(\d+)\.(?:0\.)?blocks\.0\.conv\.weight$")


def _encoder(state: Mapping) -> list[tuple[int, int, list[int]]]:
    """Each encoder level's first convolution of a Generic_UNet state dict: (input channels, features, kernel)."""
    levels = {}
    for key, value in state.items():
        found = _ENCODER_CONV.match(key[7:] if key.startswith("module.") else key)
        if found and getattr(value, "ndim", 0) >= 3:
            levels[int(found.group(1))] = (int(value.shape[1]), int(value.shape[0]), [int(s) for s in value.shape[2:]])
    return [levels[i] for i in sorted(levels)]


def _plans_encoder(ctx: _Context) -> tuple[str, tuple | None]:
    """A line on the task's plans (the network named in the log, else 3d_fullres) and their (inputs, kernels)."""
    from .errors import PlansError
    from .run.default_configuration import stage_for

    workspace = _workspace(ctx)
    name = _task_name(ctx, workspace)
    network = re.search(r"I am running the following nnUNet: (\S+)", ctx.text)
    network = network.group(1) if network else "3d_fullres"
    try:
        path, plans = _plans(workspace, name, ctx.plans_identifier, network)
    except PlansError as exc:
        return exc.cause.splitlines()[0], None
    stages = plans["plans_per_stage"]
    kernels = [list(map(int, k)) for k in stages[stage_for(network, list(stages))]["conv_kernel_sizes"]]
    inputs = int(plans.get("num_modalities") or len(plans.get("modalities", {})))
    return tr(f"{path.name} of {name} ({network}): {inputs} input modalit{'y' if inputs == 1 else 'ies'}, "
              f"{len(kernels)} encoder levels, conv kernels {kernels}",
              f"{name} 的 {path.name}（{network}）：{inputs} 个输入模态,{len(kernels)} 个编码器层级,卷积核 {kernels}"
              ), (inputs, kernels)


def _checkpoint_encoder(path: str) -> tuple[str | None, tuple | None]:
    """A line on a checkpoint's encoder and its (inputs, kernels); no line when it holds no Generic_UNet."""
    from .training.pretrained import read_checkpoint

    if not Path(path).is_file():
        return _not_here(path), None
    levels = _encoder(read_checkpoint(path)["state_dict"])
    if not levels:
        return None, None
    inputs, kernels, features = levels[0][0], [k for _, _, k in levels], [f for _, f, _ in levels]
    return tr(f"{path}: {inputs} input channel(s), {len(levels)} encoder levels, conv kernels {kernels}, features "
              f"{features}",
              f"{path}:{inputs} 个输入通道,{len(levels)} 个编码器层级,卷积核 {kernels},特征数 {features}"
              ), (inputs, kernels)


def _check_pretrained(match: re.Match, ctx: _Context) -> list[str]:
    mine = theirs = None
    found = []
    if ctx.task:
        line, mine = _plans_encoder(ctx)
        found.append(line)
    weights = re.search(r"-pretrained_weights[ =](\S+)", ctx.text)
    if weights:
        line, theirs = _checkpoint_encoder(weights.group(1))
        found += [line] if line else []
    if mine and theirs and mine == theirs:
        found.append(tr("inputs, levels and kernels match: compare the features (the plans' base_num_features, "
                        "capped at 320 in 3D, 480 in 2D) and the convolutions per stage (the plans' conv_per_stage)",
                        "输入、层级和卷积核都一致:再比较特征数(plans 的 base_num_features;3D 中上限为 320、2D 中为 "
                        "480)和每个 stage 的卷积数(plans 的 conv_per_stage)"))
    elif mine and theirs:
        found.append(tr("they differ: the two networks were built from different plans",
                        "两者不同:这两个网络是由不同的 plans 构建的"))
    if not ctx.task:
        found.append(tr("add -t TASK to compare with the task's plans", "加上 -t TASK,与这个任务的 plans 比较"))
    return found


_SIZE_MISMATCH = re.compile(r"size mismatch for (?P<key>[\w.]+): copying a param with shape "
                            r"torch\.Size\(\[(?P<ckpt>[\d, ]*)\]\) from checkpoint, the shape in current model is "
                            r"torch\.Size\(\[(?P<now>[\d, ]*)\]\)")
_KEYS = re.compile(r"(Missing|Unexpected) key\(s\) in state_dict: ((?:\"[\w.]+\"(?:, )?)+)")


def _check_state_dict(match: re.Match, ctx: _Context) -> list[str]:
    """Read the shapes torch lists under "Error(s) in loading state_dict": what differs between the two networks."""
    lines = ctx.text[match.start():].split("\n")
    said = "\n".join([lines[0]] + list(itertools.takewhile(lambda line: line[:1] in (" ", "\t"), lines[1:])))
    pairs = [(m.group("key"), _shape(m.group("ckpt")), _shape(m.group("now"))) for m in _SIZE_MISMATCH.finditer(said)]
    keys = {kind: len(re.findall(r"\"[\w.]+\"", listed)) for kind, listed in _KEYS.findall(said)}
    found, seen = [], set()
    if keys:  # other levels shift every later layer: their feature and kernel mismatches follow from that
        seen.update({"features", "kernels"})

    def once(kind: str, line: str) -> None:
        if kind not in seen:
            seen.add(kind)
            found.append(line)

    for key, ckpt, now in pairs:
        if len(ckpt) != len(now) and min(len(ckpt), len(now)) >= 3:
            was, built = len(ckpt) - 2, len(now) - 2
            once("dims", tr(f"{key}: {was}D kernels in the checkpoint, {built}D in the network built now: a {was}D "
                            f"network's weights loaded into a {built}D one (2d vs 3d_fullres / 3d_lowres / "
                            "3d_cascade_fullres)",
                            f"{key}:检查点中是 {was}D 卷积核,现在构建的网络中是 {built}D:把一个 {was}D 网络的权重"
                            f"载入了一个 {built}D 网络(2d 与 3d_fullres / 3d_lowres / 3d_cascade_fullres)"))
            continue
        if len(ckpt) != len(now) or len(ckpt) < 2:
            continue
        encoder = _ENCODER_CONV.match(key)
        if encoder and int(encoder.group(1)) == 0 and ckpt[1] != now[1]:
            once("inputs", tr(f"the first convolution takes {ckpt[1]} input channel(s) in the checkpoint, {now[1]} in "
                              "the network now: the number of input modalities differs (a 3d_cascade_fullres network "
                              "also takes one channel per foreground class of the 3d_lowres prediction)",
                              f"第一个卷积在检查点中接收 {ckpt[1]} 个输入通道,现在的网络中是 {now[1]} 个:输入模态数不同"
                              "(3d_cascade_fullres 网络还为 3d_lowres 预测的每个前景类别多接收一个通道)"))
        elif key.startswith("seg_outputs.") and ckpt[0] != now[0]:
            once("classes", tr(f"the checkpoint predicts {ckpt[0]} classes (background included), the network now "
                               f"{now[0]}: the labels of dataset.json differ from those it was trained with (a model "
                               "of another task?)",
                               f"检查点预测 {ckpt[0]} 个类别(含背景),现在的网络是 {now[0]} 个:dataset.json 的标签与训练时"
                               "不同(是另一个任务的模型吗?)"))
        elif ckpt[:2] != now[:2] and not key.startswith("seg_outputs."):
            once("features", tr(f"{key}: {ckpt[0]} feature maps in the checkpoint, {now[0]} now: the network was "
                                "built with other feature counts (the plans' base_num_features, 32 by default, "
                                "doubling per level up to Generic_UNet's cap of 320 in 3D and 480 in 2D; a trainer "
                                "may set others)",
                                f"{key}:检查点中有 {ckpt[0]} 个特征图,现在是 {now[0]} 个:网络是用不同的特征数构建的"
                                "(plans 的 base_num_features,默认 32,每层翻倍,Generic_UNet 在 3D 中最多 320、2D 中"
                                "最多 480;trainer 可以另设)"))
        elif ckpt[2:] != now[2:]:
            once("kernels", tr(f"{key}: kernel {ckpt[2:]} in the checkpoint, {now[2:]} now: the plans' "
                               "conv_kernel_sizes (for tu.*, the pool_op_kernel_sizes) differ from those it was "
                               "trained with",
                               f"{key}:检查点中的卷积核是 {ckpt[2:]},现在是 {now[2:]}:plans 的 conv_kernel_sizes"
                               "(对 tu.* 来说是 pool_op_kernel_sizes)与训练时不同"))
    if keys:
        found.append(tr(f"{keys.get('Missing', 0)} weight(s) of the network built now are not in the checkpoint, "
                        f"{keys.get('Unexpected', 0)} of the checkpoint are not in the network: a different number of "
                        "resolution levels (the plans' pool_op_kernel_sizes) or another architecture",
                        f"现在构建的网络中有 {keys.get('Missing', 0)} 个权重不在检查点里,检查点中有 "
                        f"{keys.get('Unexpected', 0)} 个不在网络里:分辨率层级数不同(plans 的 pool_op_kernel_sizes)"
                        "或者是另一种结构"))
    if pairs:
        found.insert(0, tr(f"{len(pairs)} size mismatch(es); the first: {pairs[0][0]} {pairs[0][1]} in the checkpoint, "
                           f"{pairs[0][2]} in the network now",
                           f"{len(pairs)} 处形状不符;第一处:{pairs[0][0]},检查点中为 {pairs[0][1]},现在的网络中为 "
                           f"{pairs[0][2]}"))
    return found


def _shape(text: str) -> list[int]:
    return [int(v) for v in re.findall(r"\d+", text)]


def _check_target_size(match: re.Match, ctx: _Context) -> list[str]:
    """Which deep-supervision output and target the two shapes of the message are, from the message and the plans."""
    import numpy as np

    from .run.default_configuration import stage_for
    from .training.deep_supervision import ds_target_shapes

    if match.group("expected"):  # torch's words for 3D (and 1D) networks: the shapes without the channel axis
        output, target = _shape(match.group("expected"))[1:], _shape(match.group("got"))[1:]
    else:  # 2D networks: the input with its channel axis, the target without
        output = _shape(match.group("input") or match.group("input_old"))[2:]
        target = _shape(match.group("target") or match.group("target_old"))[1:]
    found = [tr(f"the network output has the spatial size {output}, its target {target}",
                f"网络输出的空间大小是 {output},它的目标是 {target}")]
    if len(output) == len(target) and all(t > 0 for t in target):
        factors = [round(o / t, 3) for o, t in zip(output, target)]
        found.append(tr(f"per axis the output is {factors} times its target's size",
                        f"每个轴上输出是目标大小的 {factors} 倍"))
    if not ctx.task:
        return found + [tr("add -t TASK to compare the two sizes with the targets of the task's plans",
                           "加上 -t TASK,把这两个大小与这个任务的 plans 给出的目标比较")]
    workspace = _workspace(ctx)
    name = _task_name(ctx, workspace)
    network = re.search(r"I am running the following nnUNet: (\S+)", ctx.text)
    network = network.group(1) if network else "3d_fullres"
    path, plans = _plans(workspace, name, ctx.plans_identifier, network)
    stages = plans["plans_per_stage"]
    stage = stages[stage_for(network, list(stages))]
    patch = [int(v) for v in stage["patch_size"]]
    shapes = [list(s) for s in ds_target_shapes(patch, np.asarray(stage["pool_op_kernel_sizes"]).tolist())]
    found.append(tr(f"{path.name} of {name} ({network}): patch {patch}, so the loader's deep-supervision targets "
                    f"are {shapes} (target i is compared with output i)",
                    f"{name} 的 {path.name}({network}):patch {patch},所以数据加载器给出的深度监督目标是 {shapes}"
                    "(目标 i 与输出 i 比较)"))
    if target in shapes and output in shapes:
        i, j = shapes.index(target), shapes.index(output)
        found.append(tr(f"the target is target {i}, but the output has the size of target {j}: the network returned "
                        f"output {i} at the resolution of level {j}"
                        + (" (its deep-supervision outputs are upsampled to the patch: upscale_logits=True)"
                           if j == 0 else ""),
                        f"这个目标是目标 {i},而输出的大小是目标 {j} 的:网络返回的输出 {i} 是第 {j} 层的分辨率"
                        + ("(它把深度监督输出上采样到了 patch 大小:upscale_logits=True)" if j == 0 else "")))
    elif target in shapes:
        found.append(tr(f"the target is target {shapes.index(target)}; the output's size is none of the plans' "
                        "targets: the network pools otherwise than the plans' pool_op_kernel_sizes",
                        f"这个目标是目标 {shapes.index(target)};输出的大小不是 plans 的任何一个目标:网络的池化与 "
                        "plans 的 pool_op_kernel_sizes 不同"))
    else:
        found.append(tr("the target's size is none of these: the loader cut patches of other plans (another "
                        "-p, stage or an edited plans file) than these",
                        "目标的大小不是其中任何一个:数据加载器切 patch 用的 plans(别的 -p、stage 或改过的 plans 文件)"
                        "不是这一份"))
    return found


def _stages(workspace, name: str, plans_identifier: str) -> Iterator[tuple[Path, dict, int, dict]]:
    """Each stage of the task's 3D and 2D plans under the identifier: (plans file, plans, stage number, stage)."""
    for network in ("3d_fullres", "2d"):
        try:
            path, plans = _plans(workspace, name, plans_identifier, network)
        except ExplorerError:
            continue
        for k, stage in plans["plans_per_stage"].items():
            yield path, plans, k, stage


def _no_plans(name: str, ctx: _Context) -> list[str]:
    return [tr(f"no plans of {name} under the identifier {ctx.plans_identifier!r}",
               f"{name} 没有标识为 {ctx.plans_identifier!r} 的 plans")]


@_needs_task
def _check_patch_divisible(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    from .planning.topology import pooling_product

    found = []
    for path, plans, k, stage in _stages(workspace, name, ctx.plans_identifier):
        patch = [int(v) for v in stage["patch_size"]]
        divisor = list(pooling_product(stage["pool_op_kernel_sizes"]))
        bad = [i for i, (p, d) in enumerate(zip(patch, divisor)) if p % d]
        found.append(tr(f"stage {k} of {path.name}: patch {patch}, product of the poolings {divisor}: "
                        + (f"axis {bad} is no multiple: this is the cause" if bad else "divisible"),
                        f"{path.name} 的 stage {k}:patch {patch},池化核的乘积 {divisor}:"
                        + (f"轴 {bad} 不是整数倍:这就是原因" if bad else "能整除")))
    return found or _no_plans(name, ctx)


@_needs_task
def _check_deepest_level(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    from .planning.topology import planner_topology, pooling_product, pools_late

    found = []
    for path, plans, k, stage in _stages(workspace, name, ctx.plans_identifier):
        patch = [int(v) for v in stage["patch_size"]]
        divisor = list(pooling_product(stage["pool_op_kernel_sizes"]))
        deepest = [-(-p // d) for p, d in zip(patch, divisor)]  # strided convolutions (v1's trainers) round up
        floored = [p // d for p, d in zip(patch, divisor)]  # max pooling rounds down
        one, one_pooled = all(v == 1 for v in deepest), all(v == 1 for v in floored)
        found.append(tr(f"stage {k} of {path.name}: patch {patch}, product of the poolings {divisor}, deepest "
                        f"level {deepest}" + (": one voxel, this is the cause" if one else
                                              f" ({floored} under max pooling: one voxel, the cause when the "
                                              "network pools so)" if one_pooled else ""),
                        f"{path.name} 的 stage {k}:patch {patch},池化核的乘积 {divisor},最深一层 {deepest}"
                        + (":只有一个体素,这就是原因" if one else
                           f"(最大池化下为 {floored}:只有一个体素,如果网络这样池化,这就是原因)" if one_pooled else "")))
        if (one or one_pooled) and "current_spacing" in stage:
            spacing = [float(v) for v in stage["current_spacing"]][-len(patch):]
            topology = planner_topology(spacing, patch, path.name)
            shown = [round(v, 3) for v in spacing]
            late = pools_late(path.name)
            who = (tr("v1's planner of these plans (ExperimentPlanner's rule: pooling late)",
                      "写出这份 plans 的 v1 规划器(ExperimentPlanner 的规则:晚池化)") if late
                   else tr("v1's planner", "v1 的规划器"))
            if topology is None:
                found.append(tr(f"{who} cannot plan {patch}: an axis under 4 voxels gets a negative number of "
                                "poolings there (v1's planner never proposes such a patch)",
                                f"{who}无法规划 {patch}:不足 4 个体素的轴在那里得到负的池化次数(v1 的规划器从不"
                                "给出这样的 patch)"))
                continue
            planned, padded = topology.pool_op_kernel_sizes, [int(v) for v in topology.patch_size]
            found.append(tr(f"{who} pools {patch} at spacing {shown} as {planned} and pads the patch to {padded}",
                            f"在 spacing {shown} 下,{who}对 {patch} 的池化是 {planned},并把 patch 填充到 {padded}"))
    return found or _no_plans(name, ctx)


def _case_channels(stage: Path) -> tuple[str, int] | None:
    """One preprocessed case of a stage folder and its channel count without the segmentation (read from the
    .npy header, else the .npz's), or None when the folder has no readable case."""
    import zipfile

    import numpy as np

    from .training.dataloading import read_npy_header

    for npz in sorted(stage.glob("*.npz")):
        if "segFromPrevStage" in npz.name:
            continue
        try:
            npy = npz.with_suffix(".npy")
            if npy.is_file():
                shape = np.load(npy, mmap_mode="r").shape
            else:
                with zipfile.ZipFile(npz) as archive, archive.open("data.npy") as handle:
                    shape = read_npy_header(handle)[0]
        except Exception:  # noqa: BLE001 - a damaged case: the next one says it as well
            continue
        return npz.stem, int(shape[0]) - 1  # the last channel is the segmentation
    return None


@_needs_task
def _check_input_channels(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    found = []
    for path, plans, k, _ in _stages(workspace, name, ctx.plans_identifier):
        stage = workspace.preprocessed_task_dir(name) / f"{plans['data_identifier']}_stage{k}"
        case = _case_channels(stage) if stage.is_dir() else None
        if case is None:
            found.append(tr(f"{path.name} stage {k}: num_modalities {plans['num_modalities']}; no readable "
                            f"case in {stage}",
                            f"{path.name} 的 stage {k}:num_modalities 为 {plans['num_modalities']};{stage} 中"
                            "没有可读的病例"))
            continue
        fits = case[1] == int(plans["num_modalities"])
        found.append(tr(f"{path.name} stage {k}: num_modalities {plans['num_modalities']}; {stage.name}/"
                        f"{case[0]} holds {case[1]} image channel(s) and the segmentation"
                        + ("" if fits else ": they differ, this is the cause"),
                        f"{path.name} 的 stage {k}:num_modalities 为 {plans['num_modalities']};{stage.name}/"
                        f"{case[0]} 有 {case[1]} 个图像通道和分割" + ("" if fits else ":两者不同,这就是原因")))
    return found or _no_plans(name, ctx)


@_needs_task
def _check_label_values(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    import numpy as np

    from .fileio import load_pickle

    found = []
    if "Target" not in match.group(0) and not re.search(r"loss|get_tp_fp_fn_tn|scatter", ctx.text[:match.start()]):
        found.append(tr("the text shows no loss in a traceback above the message: any tensor indexed on dimension 1 "
                        "gives these words (paste the whole traceback to see where)",
                        "文字中这条报错上方的调用栈里没有损失函数:任何在第 1 维上索引的张量都会给出这句话(粘贴整个调用栈"
                        "才能看出在哪里)"))
    for path, plans, k, _ in _stages(workspace, name, ctx.plans_identifier):
        stage = workspace.preprocessed_task_dir(name) / f"{plans['data_identifier']}_stage{k}"
        beyond: dict[int, list[str]] = {}
        read = 0
        for pkl in sorted(stage.glob("*.pkl")) if stage.is_dir() else []:
            try:
                values = [int(v) for v in np.asarray(load_pickle(pkl).get("classes", [])).ravel()]
            except (ExplorerError, OSError, AttributeError, TypeError, ValueError):
                continue  # a damaged or foreign .pkl: not a case's properties
            read += 1
            for value in (v for v in values if v > int(plans["num_classes"])):
                beyond.setdefault(value, []).append(pkl.stem)
        labels = tr(f"labels 0..{plans['num_classes']}", f"标签 0..{plans['num_classes']}")
        if not read:
            found.append(tr(f"{path.name} stage {k}: num_classes {plans['num_classes']} ({labels}); no readable case "
                            f"in {stage}",
                            f"{path.name} 的 stage {k}:num_classes 为 {plans['num_classes']}({labels});{stage} 中没有"
                            "可读的病例"))
            continue
        if not beyond:
            found.append(tr(f"{path.name} stage {k}: num_classes {plans['num_classes']} ({labels}); no case of "
                            f"{stage.name} holds a label beyond it",
                            f"{path.name} 的 stage {k}:num_classes 为 {plans['num_classes']}({labels});"
                            f"{stage.name} 中没有病例含有超出它的标签"))
            continue
        cases = tr("; ", ";").join(f"{v}: {', '.join(c[:4])}" + and_more(4, len(c))
                                  for v, c in sorted(beyond.items()))
        found.append(tr(f"{path.name} stage {k}: num_classes {plans['num_classes']} ({labels}), but cases of "
                        f"{stage.name} hold label(s) beyond it ({cases}): this is the cause",
                        f"{path.name} 的 stage {k}:num_classes 为 {plans['num_classes']}({labels}),但 "
                        f"{stage.name} 中的病例含有超出它的标签({cases}):这就是原因"))
    return found or _no_plans(name, ctx)


def _check_nan_log(match: re.Match, ctx: _Context) -> list[str]:
    """Where the NaN began in a v1 log, and whether it stayed (broken weights) or was one overflowed iteration."""
    from .inspection import nonfinite_losses, parse_log_text

    records: dict = {}
    parse_log_text(ctx.text, "pasted", records)  # inspect's reading of v1's log lines
    if not any(r.train_loss is not None for r in records.values()):
        return [tr("no epoch lines (\"epoch: N\", \"train loss : ...\") in this text: paste the whole "
                   "training_log_*.txt to see where the NaN began",
                   "这段文字里没有 epoch 行(\"epoch: N\"、\"train loss : ...\"):粘贴整个 training_log_*.txt,"
                   "才能看出 NaN 从哪里开始")]
    epochs = sorted(records)
    found = nonfinite_losses(epochs, [records[e].train_loss for e in epochs],
                             [records[e].learning_rate for e in epochs])
    if found is None:
        return [tr("every train loss in this text is a number; only a validation loss is not",
                   "这段文字中的 train loss 都是数字;不是数字的只有验证损失")]
    return found.lines()


# ------------------------------------------------------------------------- prediction and checkpoint checks
_TASK_FOLDER = re.compile(r"^Task\d{3}_")


def _message_path(text: str) -> PurePath:
    """A path as a message prints it: a Windows path (doubled backslashes in a repr) as a Windows path."""
    if "\\" in text:
        return PureWindowsPath(text.replace("\\\\", "\\"))
    return PurePosixPath(text)


def _model_folder_parts(path: PurePath) -> tuple[str, str, str] | None:
    """``(configuration, task, trainer__plans)`` of ``RESULTS_FOLDER/nnUNet/CONFIGURATION/TASK/TRAINER__PLANS``."""
    if len(path.parts) < 4 or not _TASK_FOLDER.match(path.parent.name):
        return None
    trainer, _, plans = path.name.partition("__")
    return (path.parent.parent.name, path.parent.name, path.name) if trainer and plans else None


def _experiment_flags(configuration: str, experiment: str) -> str:
    """The nnUNet_predict flags that name a model folder: ``-m 3d_fullres -tr nnUNetTrainerV2 -p nnUNetPlansv2.1``
    (the cascade's trainer is given with ``-ctr``; its ``-tr`` names the 3d_lowres model)."""
    trainer, _, plans = experiment.partition("__")
    flag = "-ctr" if configuration == "3d_cascade_fullres" else "-tr"
    return f"-m {configuration} {flag} {trainer} -p {plans}"


def _difference_line(finding: "object", *, largest: bool = True) -> str:
    """One geometry difference of :func:`.dataset_check.geometry_findings`: the files, the field, both values
    (and the largest difference)."""
    n = finding.extra
    value, reference_value = ([round(float(v), 6) for v in n[k]] for k in ("value", "reference_value"))
    most = (tr(f", largest difference {n['max_difference']:.3g}", f",最大差值 {n['max_difference']:.3g}")
            if largest and n["max_difference"] is not None else "")
    return tr(f"{n['file']} vs {n['reference']}: {n['field']} {value} vs {reference_value}{most}",
              f"{n['file']} 与 {n['reference']}:{n['field']} {value} 与 {reference_value}{most}")


def _more_line(shown: int, total: int) -> list[str]:
    """A last line for a list cut at ``shown`` of ``total``."""
    return [tr(f"and {total - shown} more", f"另有 {total - shown} 个")] if total > shown else []


def _fold_number(fold: Path) -> tuple[int, str]:
    """fold_2 before fold_10; 'all' and odd names last."""
    number = re.fullmatch(r"fold_(\d+)", fold.name)
    return (int(number.group(1)) if number else 10**9, fold.name)


def _fold_state(fold: Path) -> str:
    """A fold folder's v1 checkpoints (in ``-c``'s order) and the last epoch its training logs reached."""
    from .inspection import parse_log, training_logs
    from .training.checkpoint_saving import RESUME_ORDER

    have = [name.removesuffix(".model") + ("" if (fold / f"{name}.pkl").is_file()
                                           else tr(" (without its .model.pkl)", "(没有 .model.pkl)"))
            for name in RESUME_ORDER if (fold / name).is_file()]
    epochs = []
    for log in training_logs(fold):
        try:
            last = parse_log(log, {}).last_epoch
        except OSError:
            continue
        if last is not None:
            epochs.append(last)
    state = tr("checkpoints: ", "检查点:") + (", ".join(have) if have else tr("none", "没有"))
    if epochs:
        state += tr(f"; its training log's last epoch: {max(epochs)}", f";训练日志的最后一个 epoch:{max(epochs)}")
    return state


def _folds_of(experiment: Path, most: int = 8) -> list[str]:
    """One line per fold folder (``fold_N`` and ``all``) of a model folder: what it holds."""
    folds = sorted((f for f in experiment.iterdir() if f.is_dir() and (f.name.startswith("fold") or f.name == "all")),
                   key=_fold_number)
    if not folds:
        return [tr(f"{experiment} holds no fold folder (fold_0 ... fold_4, all)",
                   f"{experiment} 中没有 fold 文件夹(fold_0 ... fold_4、all)")]
    lines = [f"{fold}: {_fold_state(fold)}" for fold in folds[:most]]
    if len(folds) > most:
        lines.append(tr(f"{experiment}: {len(folds) - most} more fold folder(s)",
                        f"{experiment}:另有 {len(folds) - most} 个 fold 文件夹"))
    return lines


def _trained_experiments(models: Path, task: str) -> list[tuple[str, str]]:
    """``(configuration, trainer__plans)`` of every model folder of ``task`` under ``RESULTS_FOLDER/nnUNet``."""
    if not models.is_dir():
        return []
    return sorted((m.name, e.name) for m in models.iterdir() if m.is_dir() and (m / task).is_dir()
                  for e in (m / task).iterdir() if e.is_dir() and "__" in e.name)


def _last_before(pattern: str, text: str, end: int, flags: int = 0) -> re.Match | None:
    """The last match of ``pattern`` before ``end`` (a log may hold several runs: the error's own is the last)."""
    found = None
    for found in re.finditer(pattern, text[:end], flags):
        pass
    return found


def _not_a_model_folder(path: PurePath) -> list[str]:
    return [tr(f"{path} is not a model folder as v1 builds it (RESULTS_FOLDER/nnUNet/CONFIGURATION/TaskXXX_Name/"
               "TRAINER__PLANS): nothing to check",
               f"{path} 不是 v1 所构造的模型文件夹(RESULTS_FOLDER/nnUNet/CONFIGURATION/TaskXXX_Name/"
               "TRAINER__PLANS):无从检查")]


def _check_model_folder(match: re.Match, ctx: _Context) -> list[str]:
    printed = _message_path(match.group("path").strip())
    parts = _model_folder_parts(printed)
    if parts is None:
        return _not_a_model_folder(printed)
    path = Path(printed)
    configuration, task, _experiment = parts
    models = path.parent.parent.parent  # RESULTS_FOLDER/nnUNet
    if path.is_dir():
        return [tr(f"{path} exists in this shell: the run that failed saw another RESULTS_FOLDER, or the model was "
                   "trained since",
                   f"{path} 在这个 shell 中存在:失败的那次运行看到的是另一个 RESULTS_FOLDER,或者模型是之后才训练的")]
    found = []
    if configuration == "3d_lowres" and "Attempting to predict 3d_lowres first" in ctx.text[:match.start()]:
        found.append(tr("the output shows the cascade predicting with 3d_lowres first (no -l given): the missing "
                        "folder is the 3d_lowres model's, named by -tr",
                        "这段输出显示级联正先用 3d_lowres 预测(没有给 -l):缺少的是 3d_lowres 模型的文件夹,由 -tr 指定"))
    trained = _trained_experiments(models, task)
    if trained:
        shown = [f"{c}/{e} ({_experiment_flags(c, e)})" for c, e in trained[:8]]
        found.append(tr(f"models of {task} under {models}: ", f"{models} 下 {task} 的模型:")
                     + "; ".join(shown) + and_more(len(shown), len(trained)))
    elif models.is_dir():
        found.append(tr(f"{models} holds no model of {task}", f"{models} 中没有 {task} 的模型"))
    else:
        found.append(_not_here(models))
    results = ctx.environ.get("RESULTS_FOLDER")
    if not results:
        found.append(tr("RESULTS_FOLDER is not set in this shell", "这个 shell 中没有设置 RESULTS_FOLDER"))
    elif Path(results) / "nnUNet" != models:
        found.append(tr(f"RESULTS_FOLDER here is {results}; the folder v1 expected is under {models}",
                        f"这里的 RESULTS_FOLDER 是 {results};v1 要找的文件夹在 {models} 下"))
    return found


def _check_stage_folder(match: re.Match, ctx: _Context) -> list[str]:
    from .planning.plans import missing_stage_folders
    from .training.dataloading import stage_folders

    folder = Path(_message_path(match.group("path")))
    task_dir = folder.parent
    if folder.is_dir():
        return [tr(f"{folder} exists in this shell: the run that failed saw another nnUNet_preprocessed, or the task "
                   "was preprocessed since",
                   f"{folder} 在这个 shell 中存在:失败的那次运行看到的是另一个 nnUNet_preprocessed,或者任务是之后才"
                   "预处理的")]
    if not task_dir.is_dir():
        return [_not_here(task_dir)]
    stages = [f.name for f in stage_folders(task_dir)]
    found = [tr(f"{task_dir} holds the stage folders: {', '.join(stages)}" if stages
                else f"{task_dir} holds no stage folder: the task was planned but not preprocessed",
                f"{task_dir} 中有这些 stage 文件夹:{'、'.join(stages)}" if stages
                else f"{task_dir} 中没有 stage 文件夹:这个任务规划过,但没有预处理")]
    found += [tr(f"{plans} plans stage {stage} from {path.name}, which is not there",
                 f"{plans} 的 stage {stage} 要用 {path.name},但它不在那里")
              for plans, stage, path in missing_stage_folders(task_dir)]
    return found


def _check_model_plans(match: re.Match, ctx: _Context) -> list[str]:
    from .paths import resolve_workspace

    experiment = _message_path(match.group("path")).parent
    parts = _model_folder_parts(experiment)
    if parts is None:
        return _not_a_model_folder(experiment)
    configuration, task, name = parts
    if not Path(experiment).is_dir():
        return [_not_here(experiment)]
    found = []
    if (Path(experiment) / "plans.pkl").is_file():
        found.append(tr(f"{experiment / 'plans.pkl'} exists in this shell now",
                        f"{experiment / 'plans.pkl'} 现在在这个 shell 中存在"))
    found += _folds_of(Path(experiment), most=5)
    plans_file = f"{name.partition('__')[2]}_plans_{'2D' if configuration == '2d' else '3D'}.pkl"
    try:
        source = resolve_workspace(ctx.environ).preprocessed_task_dir(task) / plans_file
    except ExplorerError:
        return found + [tr(f"the plans v1 copied: nnUNet_preprocessed/{task}/{plans_file} (nnUNet_preprocessed is "
                           "not set here)",
                           f"v1 复制的 plans:nnUNet_preprocessed/{task}/{plans_file}(这里没有设置 nnUNet_preprocessed)")]
    found.append(tr(f"the plans v1 copied: {source}" + ("" if source.is_file() else " (not on this machine)"),
                    f"v1 复制的 plans:{source}" + ("" if source.is_file() else "(不在这台机器上)")))
    return found


def _check_checkpoint_file(match: re.Match, ctx: _Context) -> list[str]:
    printed = _message_path(match.group("path"))
    if _from_pretrained_weights(match):
        path = Path(printed)
        return [tr(f"{path} exists in this shell", f"{path} 在这个 shell 中存在") if path.is_file() else _not_here(path)]
    experiment = printed.parent.parent
    if _model_folder_parts(experiment) is None:
        return _not_a_model_folder(experiment)
    if not Path(experiment).is_dir():
        return [_not_here(experiment)]
    return _folds_of(Path(experiment))


def _from_pretrained_weights(match: re.Match) -> bool:
    """The missing checkpoint is nnUNet_train's ``-pretrained_weights`` (its traceback passes through v1's loader)."""
    return "load_pretrained_weights" in match.string[:match.start()]


def _check_final_checkpoint(match: re.Match, ctx: _Context) -> list[str]:
    fold = _message_path(match.group("path")).parent
    if _model_folder_parts(fold.parent) is None:
        return _not_a_model_folder(fold.parent)
    if not Path(fold).is_dir():
        return [_not_here(fold)]
    from .training.checkpoint_saving import RESUME_ORDER

    found = [f"{fold}: {_fold_state(Path(fold))}"]
    if not any((Path(fold) / name).is_file() for name in RESUME_ORDER):
        found.append(tr(f"{fold.name} holds no checkpoint, so -c cannot continue it either (v1: \"No checkpoint "
                        "found\"): train this fold from the start, without -c",
                        f"{fold.name} 中没有任何检查点,所以 -c 也无法继续它(v1:\"No checkpoint found\"):不加 -c,"
                        "从头训练这个 fold"))
    # the other folds of the model folder: one of them finished, or -val named another folder than the training's
    found += [line for line in _folds_of(Path(fold).parent) if not line.startswith(f"{fold}: ")]
    return found


@_needs_task
def _check_task_checkpoints(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    models = workspace.network_training_output_dir
    trained = _trained_experiments(models, name)
    if not trained:
        return [tr(f"{models} holds no model of {name}", f"{models} 中没有 {name} 的模型")]
    found = []
    for configuration, experiment in trained[:4]:
        found += _folds_of(models / configuration / name / experiment, most=5)
    if len(trained) > 4:
        found.append(tr(f"{len(trained) - 4} more model folder(s) of {name} under {models}",
                        f"{models} 下 {name} 另有 {len(trained) - 4} 个模型文件夹"))
    return found


def _check_fold_folders(match: re.Match, ctx: _Context) -> list[str]:
    used = _last_before(r"using model stored in\s+(\S[^\n]*)", ctx.text, match.start())
    if used is None:
        return [tr("no \"using model stored in\" line above it in this text (nnUNet_predict prints it before it "
                   "loads the folds, except in the cascade's 3d_lowres step): paste the whole output to have the "
                   "model folder's folds listed",
                   "这段文字中它上面没有 \"using model stored in\" 这一行(nnUNet_predict 在加载各个 fold 之前打印它,"
                   "级联的 3d_lowres 步骤除外):贴上完整输出,就能列出模型文件夹的各个 fold")]
    experiment = Path(_message_path(used.group(1).strip()))
    if not experiment.is_dir():
        return [_not_here(experiment)]
    return _folds_of(experiment)


def _names(printed: str) -> list[str]:
    """The file names of a printed list or numpy array (``['a.nii.gz', ...]`` or ``['a.nii.gz' "b's.nii.gz"]``)."""
    return [m.group(2) for m in re.finditer(r"(['\"])([^\n]+?)\1", printed)]


def _check_input_files(match: re.Match, ctx: _Context) -> list[str]:
    expects = _last_before(r"This model expects (\d+) input modalities", ctx.text, match.start())
    channels = int(expects.group(1)) if expects else None
    found = []
    if channels:
        last = tr(f" to CASE_{channels - 1:04d}.nii.gz", f" 到 CASE_{channels - 1:04d}.nii.gz") if channels > 1 else ""
        found.append(tr(f"the model expects {channels} channel file(s) per case: CASE_0000.nii.gz{last}",
                        f"模型要求每个病例 {channels} 个通道文件:CASE_0000.nii.gz{last}"))
    missing = _last_before(r"Some files are missing:\s*\n\s*(\[[^\]]*\])", ctx.text, match.start())
    if missing:
        names = _names(missing.group(1))
        found.append(tr(f"v1 looked for {len(names)} file(s) it did not find: {', '.join(names[:6])}",
                        f"v1 找不到的文件有 {len(names)} 个:{'、'.join(names[:6])}") + and_more(6, len(names)))
    remaining = _last_before(r"found (\d+) unexpected remaining files in the folder\. Here are some examples: "
                             r"(\[[^\]]*\])", ctx.text, match.start())
    shown = list(dict.fromkeys(_names(remaining.group(2)))) if remaining else []
    if remaining and len(shown) < int(remaining.group(1)):  # v1 prints up to 10, drawn at random with repeats
        found.append(tr(f"v1 could not place {remaining.group(1)} file(s) and printed {len(shown)} of them (drawn at "
                        "random); those:",
                        f"v1 有 {remaining.group(1)} 个文件无法归入病例,它打印了其中 {len(shown)} 个(随机抽取):"))
    for name in shown:
        channel = re.search(r"_(\d{4})\.nii\.gz$", name)
        if channel is None:
            found.append(tr(f"{name} has no channel number: v1 read it as case '{name[:-12]}' (the name without its "
                            f"last 12 characters) and looked for {name[:-12]}_0000.nii.gz; rename it "
                            f"{name[:-7]}_0000.nii.gz",
                            f"{name} 没有通道编号:v1 把它读作病例 '{name[:-12]}'(去掉最后 12 个字符的文件名),"
                            f"并去找 {name[:-12]}_0000.nii.gz;把它改名为 {name[:-7]}_0000.nii.gz"))
        elif channels is not None and int(channel.group(1)) >= channels:
            # v1 gives every CASE_XXXX.nii.gz of a case to it: its preprocessing fails, v1 prints "error in" and
            # skips the case
            found.append(tr(f"{name} is channel {int(channel.group(1))}, beyond the model's {channels} (0 to "
                            f"{channels - 1}): v1 would give it to its case as an extra input channel, whose "
                            "preprocessing then fails, so that case gets no prediction; move it out",
                            f"{name} 是通道 {int(channel.group(1))},超出了模型的 {channels} 个通道(0 到 "
                            f"{channels - 1}):v1 会把它作为额外的输入通道交给它的病例,那个病例的预处理随之失败,"
                            "于是得不到预测;把它移出去"))
    if not found:
        found.append(tr("no \"This model expects ...\" lines above it in this text: paste nnUNet_predict's whole "
                        "output to have the file names checked",
                        "这段文字中它上面没有 \"This model expects ...\" 等行:贴上 nnUNet_predict 的完整输出,就能检查"
                        "文件名"))
    return found


# ----------------------------------------------------------------- v1's --verify_dataset_integrity messages
def _close_names(folder: Path, name: str) -> list[str]:
    """Up to three files of ``folder`` named like the case of ``name`` (its case name, then anything after it:
    a channel number too many or too few, another extension)."""
    case = re.sub(r"(_\d{4})?\.nii\.gz$", "", name).lower()
    if not folder.is_dir() or not case:
        return []
    return sorted(f.name for f in folder.iterdir() if f.name != name and f.name.lower().startswith(case)
                  and not f.name[len(case):len(case) + 1].isdigit())[:3]


def _check_raw_files(match: re.Match, ctx: _Context) -> list[str]:
    from .tasks import missing_file_hint, unlisted_file_hint

    if match.group("label"):
        label = Path(_message_path(match.group("label").strip()))
        found = []
        if re.search(r"_\d{4}$", match.group("case")):
            found.append(tr(f"the case name '{match.group('case')}' ends with a channel number: dataset.json names "
                            "a case by its image without _0000 ('./imagesTr/CASE.nii.gz'; the files on disk have it)",
                            f"病例名 '{match.group('case')}' 以通道编号结尾:dataset.json 用不带 _0000 的图像名来称呼"
                            "病例('./imagesTr/CASE.nii.gz';磁盘上的文件才带 _0000)"))
        if label.is_file():
            return found + [tr(f"{label} is there now", f"{label} 现在存在")]
        close = _close_names(label.parent, label.name)
        return found + [_not_here(label)
                        + (tr("; named like it there: ", ";那里名字相近的:") + ", ".join(close) if close else "")]
    if match.group("images"):
        paths = [Path(_message_path(name)) for name in _names(match.group("images"))]
        lines = [tr(f"{p} is there now", f"{p} 现在存在") if p.is_file()
                 else _not_here(p) + missing_file_hint(p, p.parent.parent)
                 for p in paths]
        return lines[:6] + _more_line(6, len(lines))
    where, names = match.group("where"), _names(match.group("extra"))
    if where == "imagesTs":
        return [tr("v1 prints the imagesTr list here, not the imagesTs files it means (by then the imagesTr list "
                   "is empty): compare imagesTs with dataset.json's 'test' list (`nnunet-explorer check_dataset -t "
                   "TASK` names them)",
                   "v1 在这里打印的是 imagesTr 的列表,而不是它要说的 imagesTs 文件(那时 imagesTr 的列表已经是空的):"
                   "请把 imagesTs 与 dataset.json 的 'test' 列表对比(`nnunet-explorer check_dataset -t TASK` 会列出"
                   "它们)")]
    lines = [tr(f"{name} is not listed in dataset.json", f"{name} 没有列在 dataset.json 中")
             + unlisted_file_hint(Path(where) / name) for name in names]
    return [tr(f"{len(names)} file(s) in {where} belong to no training case of dataset.json",
               f"{where} 中有 {len(names)} 个文件不属于 dataset.json 的任何训练病例")] + lines[:6] + _more_line(6, len(lines))


def _check_image_missing(match: re.Match, ctx: _Context) -> list[str]:
    from .tasks import missing_file_hint

    path = Path(_message_path(match.group("path")))
    if path.is_file():
        return [tr(f"{path} is there now", f"{path} 现在存在")]
    task_dir = path.parent.parent
    found = [_not_here(path) + (missing_file_hint(path, task_dir) if path.parent.is_dir() else "")]
    if path.parent.name in ("imagesTr", "labelsTr", "imagesTs") and re.fullmatch(r"Task\d{3,}_.+", task_dir.name):
        found.append(tr(f"`nnunet-explorer check_dataset -t {task_dir.name}` lists every file problem of the task",
                        f"`nnunet-explorer check_dataset -t {task_dir.name}` 会列出这个任务的所有文件问题"))
    return found


def _grid_shift(image: "object", label: "object") -> float | None:
    """How far apart (in the image's voxels) the two grids' corners can be when only origin and spacing differ:
    the largest ``|d origin| + (size - 1) |d spacing|`` over the axes; None when size or direction differ."""
    import numpy as np

    if tuple(image.size) != tuple(label.size) or not np.allclose(image.direction, label.direction):
        return None
    size, spacing = np.asarray(image.size, float), np.asarray(image.spacing, float)
    shift = (np.abs(np.subtract(image.origin, label.origin))
             + (size - 1) * np.abs(np.subtract(image.spacing, label.spacing)))
    return float(np.max(shift / spacing))


def _check_geometry(match: re.Match, ctx: _Context) -> list[str]:
    from .dataset_check import read_header, geometry_findings

    cases = list(dict.fromkeys(m.group(1) for m in re.finditer(
        r"The geometry of the image (.+?) does not match the geometry of the label file", ctx.text)))
    if not cases:
        return [tr("no \"The geometry of the image ... does not match\" lines in this text (v1 prints one per case "
                   "above this message): paste the whole output, or run `nnunet-explorer check_dataset -t TASK`",
                   "这段文字中没有 \"The geometry of the image ... does not match\" 这样的行(v1 在这条消息上面为每个"
                   "病例打印一行):贴上完整输出,或者运行 `nnunet-explorer check_dataset -t TASK`")]
    found = []
    for case in cases[:5]:
        stem = Path(_message_path(case))  # v1 prints imagesTr/CASE (the first image's name without _0000.nii.gz)
        label = stem.parent.parent / "labelsTr" / f"{stem.name}.nii.gz"
        images = sorted(stem.parent.glob(f"{glob_escape(stem.name)}_[0-9][0-9][0-9][0-9].nii.gz"))
        if not label.is_file() or not images:
            found.append(tr(f"{stem.name}: its files are not on this machine ({label})",
                            f"{stem.name}:它的文件不在这台机器上({label})"))
            continue
        unread: list = []
        reference = read_header(str(label), label.name, unread)
        pairs = [(image, read_header(str(image), image.name, unread)) for image in images]
        if reference is None or unread:
            found += [f.message for f in unread][:2]
            continue
        differences = [f for image, geometry in pairs
                       for f in geometry_findings("image_vs_label", geometry, reference, image.name, label.name)]
        found += [_difference_line(f) for f in differences[:3]]
        if not differences:
            found.append(tr(f"{stem.name}: image and label agree now", f"{stem.name}:图像和标签现在一致"))
            continue
        shifts = [_grid_shift(geometry, reference) for _image, geometry in pairs]
        if all(s is not None and s < 0.1 for s in shifts):
            found.append(tr(f"{stem.name}: the two grids lie within {max(shifts):.2g} voxel of each other everywhere "
                            "(header rounding, e.g. a file written by another tool): copying the image's header to "
                            "the label changes nothing that matters",
                            f"{stem.name}:两个网格处处相距不到 {max(shifts):.2g} 个体素(文件头的舍入误差,例如由另一个"
                            "工具写出的文件):把图像的文件头复制给标签不会改变任何要紧的东西"))
    return found + _more_line(5, len(cases))


def _check_test_modalities(match: re.Match, ctx: _Context) -> list[str]:
    from .dataset_check import read_header, geometry_findings

    named = Path(_message_path(match.group("path")))
    stem = re.sub(r"_\d{4}\.nii\.gz$", "", named.name)
    files = sorted(named.parent.glob(f"{glob_escape(stem)}_[0-9][0-9][0-9][0-9].nii.gz"))
    if len(files) < 2:
        return [tr(f"{stem}: its files are not on this machine ({named.parent})",
                   f"{stem}:它的文件不在这台机器上({named.parent})")]
    unread: list = []
    geometries = [read_header(str(f), f.name, unread) for f in files]
    if unread:
        return [f.message for f in unread][:2]
    found = [tr(f"v1 names {named.name}, but compares each later modality with {files[0].name} and prints the name "
                "of the one before the modality that differs",
                f"v1 报出的是 {named.name},但它把后面的每个模态与 {files[0].name} 比较,打印的是不一致的那个模态的"
                "前一个文件名")]
    for f, geometry in zip(files[1:], geometries[1:]):
        found += [_difference_line(d, largest=False) for d in geometry_findings(
            "modality_vs_modality", geometry, geometries[0], f.name, files[0].name, test_case=True)[:3]]
    if len(found) == 1:
        found.append(tr(f"{stem}: its modalities agree now", f"{stem}:它的各个模态现在一致"))
    return found


def _check_nan_files(match: re.Match, ctx: _Context) -> list[str]:
    import SimpleITK as sitk

    from .image_io import scan_nifti

    found = [tr(f"SimpleITK here: {sitk.Version_VersionString()} (2.5 reads a NIfTI's NaN voxels as 0)",
                f"这里的 SimpleITK:{sitk.Version_VersionString()}(2.5 把 NIfTI 中的 NaN 体素读成 0)")]
    named = list(dict.fromkeys(re.findall(r"There are NAN values in (?:image|segmentation) (.+?)\s*$", ctx.text,
                                          re.M)))
    for name in named[:6]:
        path = Path(_message_path(name))
        if not path.is_file():
            found.append(_not_here(path))
            continue
        try:
            scan = scan_nifti(path)
        except ExplorerError as exc:  # not NIfTI, or its gzip stream broken
            found.append(f"{path.name}: " + exc.cause.splitlines()[0])
            continue
        if scan.problem:
            found.append(tr(f"{path.name}: not whole: {scan.problem}", f"{path.name}:文件不完整:{scan.problem}"))
        elif scan.nonfinite:
            found.append(tr(f"{path.name}: {scan.nan} NaN and {scan.inf} Inf voxel(s) in the file",
                            f"{path.name}:文件中有 {scan.nan} 个 NaN 和 {scan.inf} 个 Inf 体素"))
        else:
            found.append(tr(f"{path.name}: whole, no NaN in the file now", f"{path.name}:文件完整,现在没有 NaN"))
    if not named:
        found.append(tr("no \"There are NAN values in ...\" lines in this text: paste the whole output, or run "
                        "`nnunet-explorer check_dataset -t TASK` (it reads every file to its end)",
                        "这段文字中没有 \"There are NAN values in ...\" 这样的行:贴上完整输出,或者运行 "
                        "`nnunet-explorer check_dataset -t TASK`(它把每个文件读到结尾)"))
    return found + _more_line(6, len(named))


def _dataset_json_lines(workspace, name: str, about: Callable[[str], bool]) -> list[str]:
    """The problems of the task's dataset.json (the checks ``check_dataset`` runs) that ``about`` selects."""
    import json

    from .tasks import dataset_json_problems

    dataset_json = workspace.raw_task_dir(name) / "dataset.json"
    try:
        data = json.loads(dataset_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [tr(f"{dataset_json} cannot be read ({type(exc).__name__})",
                   f"{dataset_json} 读不了({type(exc).__name__})")]
    if not isinstance(data, dict):
        return [tr(f"{dataset_json} is not a JSON object", f"{dataset_json} 不是一个 JSON 对象")]
    return [line for line in dataset_json_problems(data) if about(line)] or [
        tr(f"{dataset_json}: nothing of this kind wrong now", f"{dataset_json}:现在没有这类问题")]


@_needs_task
def _check_label_numbers(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    return _dataset_json_lines(workspace, name, lambda line: "'labels'" in line)


@_needs_task
def _check_duplicate_cases(match: re.Match, ctx: _Context, workspace, name: str) -> list[str]:
    return _dataset_json_lines(workspace, name, lambda line: "duplicate training cases" in line)


def _nothing(match: re.Match, ctx: _Context) -> list[str]:
    return []


# ------------------------------------------------------------------------------------------- the messages
KNOWN: tuple[_Known, ...] = (
    _Known("task_id", "Could not find a task with the ID ...",
           re.compile(r"Could not find a task with the ID (\d+)"),
           lambda m: tr("v1 looks for a folder named Task{:03d}_* in nnUNet_cropped_data, "
                        "nnUNet_preprocessed, nnUNet_raw_data and the results folders, as the environment variables "
                        "of the running process name them, and found none".format(int(m.group(1))),
                        "v1 在进程的环境变量所指的 nnUNet_cropped_data、nnUNet_preprocessed、nnUNet_raw_data 和结果文件夹中"
                        "查找名为 Task{:03d}_* 的文件夹,一个也没有找到".format(int(m.group(1)))),
           lambda m: tr("export nnUNet_raw_data_base, nnUNet_preprocessed and RESULTS_FOLDER where v1 runs (a job "
                        "script does not read your .bashrc), and name the folder with three digits "
                        "(Task004_Hippocampus)",
                        "在运行 v1 的地方 export nnUNet_raw_data_base、nnUNet_preprocessed 和 RESULTS_FOLDER(作业脚本"
                        "不读你的 .bashrc),并用三位数字命名文件夹(Task004_Hippocampus)"),
           _guarded(_check_task_id),
           lambda: tr("\"Could not find a dataset with the ID\" (v2 names tasks DatasetXXX_Name)",
                      "\"Could not find a dataset with the ID\"(v2 把任务命名为 DatasetXXX_Name)")),
    _Known("folder_unset", "nnUNet_raw_data_base / nnUNet_preprocessed / RESULTS_FOLDER is not defined ...",
           re.compile(r"(nnUNet_raw_data_base|nnUNet_preprocessed|RESULTS_FOLDER) is not defined"),
           lambda m: tr(f"v1 read the environment variable {m.group(1)} at import and found it unset: the steps "
                        "that need that folder will fail later",
                        f"v1 在导入时读取环境变量 {m.group(1)},发现它没有设置:需要这个文件夹的步骤之后会失败"),
           lambda m: tr(f"export {m.group(1)}=/path/to/folder in the shell (or job script) that runs v1",
                        f"在运行 v1 的 shell(或作业脚本)中 export {m.group(1)}=/path/to/folder"),
           _guarded(_check_folders),
           lambda: tr("the variables are nnUNet_raw, nnUNet_preprocessed, nnUNet_results",
                      "这些变量是 nnUNet_raw、nnUNet_preprocessed、nnUNet_results")),
    _Known("one_stage", "3d_lowres/3d_cascade_fullres only applies if there is more than one stage",
           re.compile(r"only applies if there is more than one stage"),
           lambda m: tr("3d_lowres and 3d_cascade_fullres need a plans file with two stages; the planner made one, "
                        "because the median case is less than about 4 full-resolution patches (or the low-resolution "
                        "stage's median case would not have had fewer than half the voxels of the full-resolution "
                        "one)",
                        "3d_lowres 和 3d_cascade_fullres 需要有两个 stage 的 plans;规划器只做了一个,因为中位病例不到"
                        "约 4 个全分辨率 patch(或者低分辨率 stage 的中位病例体素数不会少于全分辨率中位病例的一半)"),
           lambda m: tr("train 3d_fullres (this task needs no cascade); to try the cascade on a small task for "
                        "learning: nnunet_explorer.planning.lowres_stage.add_lowres_stage (notebook 08)",
                        "训练 3d_fullres(这个任务不需要级联);想在小任务上学习级联:"
                        "nnunet_explorer.planning.lowres_stage.add_lowres_stage(notebook 08)"),
           _guarded(_check_stages)),
    _Known("cascade_folder", "Cannot run final stage of cascade ...",
           re.compile(r"Cannot run final stage of cascade"),
           lambda m: tr("3d_cascade_fullres trains on the 3d_lowres predictions in one folder, "
                        "3d_lowres/TASK/nnUNetTrainerV2__PLANS/pred_next_stage, shared by the 3d_lowres folds: each "
                        "fold writes its validation cases there after training (or -val); that folder is missing",
                        "3d_cascade_fullres 用一个文件夹中的 3d_lowres 预测训练:"
                        "3d_lowres/TASK/nnUNetTrainerV2__PLANS/pred_next_stage,各个 3d_lowres fold 共用它:每个 fold "
                        "在训练(或 -val)之后把它的验证病例写进去;这个文件夹不存在"),
           lambda m: tr("train all 5 folds of 3d_lowres with nnUNetTrainerV2 (without --disable_next_stage_pred), "
                        "or run `nnUNet_train 3d_lowres nnUNetTrainerV2 TASK FOLD -val` for each trained fold: the "
                        "cascade needs a prediction for every training case (else it stops at \"seg from prev stage "
                        "missing\")",
                        "用 nnUNetTrainerV2 训练 3d_lowres 的全部 5 个 fold(不要加 --disable_next_stage_pred),或者对每个"
                        "训练好的 fold 运行 `nnUNet_train 3d_lowres nnUNetTrainerV2 TASK FOLD -val`:级联需要每个训练"
                        "病例的预测(否则会停在 \"seg from prev stage missing\")"),
           _guarded(_check_lowres_predictions)),
    _Known("cascade_case", "seg from prev stage missing: ..._segFromPrevStage.npz",
           re.compile(r"seg from prev stage missing: (?P<path>[^\n]+?_segFromPrevStage\.npz)"),
           lambda m: tr("3d_cascade_fullres needs the 3d_lowres prediction of every training case in the "
                        "pred_next_stage folder of the 3d_lowres experiment it reads (nnUNetTrainerV2's for "
                        "nnUNetTrainerV2CascadeFullRes); each 3d_lowres fold writes those of its own validation "
                        "cases in a step after its validation (after training, or with -val), so a case is missing "
                        "when the fold that validates it did not run that step: not trained, run with "
                        "--disable_next_stage_pred, or stopped by an error in validate",
                        "3d_cascade_fullres 需要它读取的那个 3d_lowres 实验(nnUNetTrainerV2CascadeFullRes 读 "
                        "nnUNetTrainerV2 的)的 pred_next_stage 文件夹中每个训练病例的 3d_lowres 预测;每个 3d_lowres "
                        "fold 在验证之后的一个单独步骤中(训练之后,或用 -val 时)写出它自己那些验证病例的预测,所以如果"
                        "验证这个病例的 fold 没有运行这一步,这个病例就会缺失:没有训练、用了 --disable_next_stage_pred,"
                        "或者在 validate 中出错而停下"),
           lambda m: tr("train (or validate with -val) the 3d_lowres fold that validates this case, in the "
                        "experiment the cascade reads, then train the cascade again; all 5 folds cover every case",
                        "在级联读取的那个实验中训练(或用 -val 验证)验证这个病例的那个 3d_lowres fold,再重新训练级联;"
                        "5 个 fold 合起来覆盖每个病例"),
           _guarded(_check_lowres_case)),
    _Known("trainer_class", "Could not find trainer class in nnunet.training.network_training",
           re.compile(r"Could not find trainer class"),
           lambda m: tr("v1 searches only the installed nnunet/training/network_training package for a class of "
                        "that name (recursive_find_python_class); a trainer file elsewhere, or a typo, is not found",
                        "v1 只在安装的 nnunet/training/network_training 包里查找这个名字的类"
                        "(recursive_find_python_class);放在别处的 trainer 文件或拼错的名字都找不到"),
           lambda m: tr("put the file inside that package of the nnunet v1 install, or with the explorer: "
                        "`nnunet-explorer train NETWORK YourTrainer TASK FOLD --trainer_file your_trainer.py`",
                        "把文件放进 nnunet v1 安装目录的这个包里,或者用 explorer:"
                        "`nnunet-explorer train NETWORK YourTrainer TASK FOLD --trainer_file your_trainer.py`"),
           _nothing),
    _Known("workers_died", "One or more background workers are no longer alive ...",
           re.compile(r"background workers are no longer alive"),
           lambda m: tr("an augmentation worker process died; batchgenerators only notices that it is gone. Its own "
                        "error, if it could print one, is above this line (a broken case file, a bug in a "
                        "transform); a worker killed for memory prints nothing",
                        "一个数据增强工作进程死掉了;batchgenerators 只发现它不在了。它自己的错误(如果来得及打印)在这一行"
                        "上面(损坏的病例文件、变换中的错误);因为内存被杀掉的进程什么也不打印"),
           lambda m: tr("read the first error above it; for memory, lower nnUNet_n_proc_DA (and give Docker "
                        "--shm-size); for a broken case, delete its .npy so that it is unpacked again",
                        "先看它上面的第一个错误;内存问题就调低 nnUNet_n_proc_DA(Docker 要给 --shm-size);"
                        "病例文件损坏就删掉它的 .npy,让它重新解压"),
           _check_workers),
    _Known("npy_incomplete", "mmap length is greater than file size / No data left in file",
           re.compile(r"mmap length is greater than file size|No data left in file"
                      r"|EOF: reading (?:array header|magic string)|Failed to read all data for array"),
           lambda m: tr("a loader opened an unpacked case (CASE.npy) that is cut short (its header, or the array "
                        "after it, ends early): v1 unpacks every "
                        "CASE.npz to CASE.npy before training and skips each .npy that already exists, so a file "
                        "cut short once (an unpacking interrupted, a full disk) stays, and fails each time a loader "
                        "draws that case",
                        "数据加载器打开了一个被截断的已解压病例(CASE.npy,它的文件头或文件头之后的数组提前结束了):"
                        "v1 在训练前把每个 CASE.npz "
                        "解压成 CASE.npy,并跳过每个已经存在的 .npy,所以一个曾经被截断的文件(解压被中断、磁盘已满)"
                        "会一直留着,每当数据加载器抽到这个病例就失败"),
           lambda m: tr("make room on the disk if it was full and delete the incomplete .npy files (with -t the "
                        "check names them): v1 unpacks a missing .npy again from its .npz at the next start; the "
                        "explorer's `train` unpacks an incomplete one again by itself",
                        "如果磁盘满了就先腾出空间,再删除不完整的 .npy 文件(加上 -t 时检查会列出它们):v1 下次启动时会从 "
                        ".npz 重新解压缺少的 .npy;explorer 的 `train` 会自己重新解压不完整的 .npy"),
           _guarded(_check_npy_files),
           lambda: tr("v2 users meet the same message (MIC-DKFZ/nnUNet#291, #2581); its maintainers' advice there is "
                      "to preprocess again",
                      "v2 的用户也会遇到同样的报错(MIC-DKFZ/nnUNet#291、#2581);维护者在那里的建议是重新预处理")),
    _Known("damaged_npz", "zipfile.BadZipFile: File is not a zip file / Bad CRC-32 for file ... / zlib.error: Error -3 "
           "while decompressing data",
           re.compile(r"File is not a zip file|Bad CRC-32 for file|Error -3 while decompressing data"),
           lambda m: _npz_damage_kind(m) + tr(
               "v1 reads a case's .npz when it unpacks the cases at the start of training, in a loader where the case "
               "has no .npy, and in validation. (A model zip given to nnUNet_install_pretrained_model_from_zip fails "
               "with the same words: download it again.)",
               "v1 在训练开始解压病例时、在病例没有 .npy 的数据加载器中、以及在验证时读取病例的 .npz。(交给 "
               "nnUNet_install_pretrained_model_from_zip 的模型 zip 也会报同样的错:重新下载它。)"),
           lambda m: tr("make room on the disk if it was full, then mend each damaged file as the check says "
                        "(with -t it checks every .npz, .npy, .pkl and checkpoint of the task; after a CRC or "
                        "decompression error it reads each .npz to its end)"
                        + ("; damaged data behind a whole directory points to the disk, the copy or two runs at "
                           "once: check them before making the file again" if _DAMAGED_DATA.match(m.group(0)) else ""),
                        "如果磁盘满了就先腾出空间,再按检查给出的办法修复每个损坏的文件(加上 -t 时它检查这个任务的"
                        "每个 .npz、.npy、.pkl 和检查点;遇到 CRC 或解压错误时,会把每个 .npz 读到末尾)"
                        + (";目录完整而数据损坏,说明磁盘、复制或同时进行的两次运行有问题:重新生成文件之前先检查它们"
                           if _DAMAGED_DATA.match(m.group(0)) else "")),
           _guarded(_check_damaged_files)),
    _Known("not_an_array", "Cannot load file containing pickled data when allow_pickle=False",
           re.compile(r"Cannot load file containing pickled data when allow_pickle=False"
                      r"|This file contains pickled \(object\) data"),
           lambda m: tr("np.load found neither a .npy's beginning nor a .npz's in the file a loader opened, took it "
                        "for a pickle and refused it (allow_pickle=False): an unpacked CASE.npy or a CASE.npz whose "
                        "first bytes are not numpy's, such as zeros a crash left in a file being written, or a file "
                        "overwritten at its start. It is no pickled case: v1 never writes one",
                        "np.load 在数据加载器打开的文件里既没有找到 .npy 的开头,也没有找到 .npz 的开头,于是把它当成 "
                        "pickle 并拒绝了(allow_pickle=False):这是开头不是 numpy 格式的已解压 CASE.npy 或 CASE.npz,"
                        "例如崩溃时正在写入的文件里留下的零字节,或开头被覆盖的文件。它不是 pickle 格式的病例:v1 从不"
                        "写这种文件"),
           lambda m: tr("mend each damaged file as the check says (with -t it checks every .npz, .npy, .pkl and "
                        "checkpoint of the task): a .npy deleted is unpacked again from its .npz at the next start",
                        "按检查给出的办法修复每个损坏的文件(加上 -t 时它检查这个任务的每个 .npz、.npy、.pkl 和检查点):"
                        "删掉的 .npy 下次启动时会从它的 .npz 重新解压"),
           _guarded(_check_damaged_files)),
    _Known("damaged_pickle", "EOFError: Ran out of input / pickle data was truncated",
           re.compile(r"EOFError: Ran out of input|pickle data was truncated|invalid load key"),
           lambda m: tr("pickle met the end of a file before the end of its data, or a first byte no pickle has: "
                        "one of v1's .pkl files is empty, cut short or overwritten (the plans, a case's "
                        "properties, splits_final.pkl, a checkpoint's .model.pkl), or for 'invalid load key' a "
                        "checkpoint that is none (torch.load of a Git LFS pointer says 'v'). v1 writes them straight "
                        "into place, so a run killed while writing, a full disk or a copy cut short leaves them so",
                        "pickle 在数据结束之前就到了文件末尾,或者遇到了 pickle 不会有的第一个字节:v1 的某个 .pkl 文件"
                        "是空的、被截断或被覆盖(plans、病例属性、splits_final.pkl、检查点的 .model.pkl);如果是 "
                        "'invalid load key',则是一个并非检查点的文件(torch.load 读 Git LFS 指针时说 'v')。v1 把它们"
                        "直接写到目标位置,所以写入时被杀掉的运行、已满的磁盘或没有拷完的复制都会留下这样的文件"),
           lambda m: tr("mend each damaged file as the check says (with -t it checks every .npz, .npy, .pkl and "
                        "checkpoint of the task)",
                        "按检查给出的办法修复每个损坏的文件(加上 -t 时它检查这个任务的每个 .npz、.npy、.pkl 和检查点)"),
           _guarded(_check_damaged_pickle)),
    _Known("damaged_checkpoint", "PytorchStreamReader failed reading zip archive: failed finding central directory",
           re.compile(r"PytorchStreamReader failed reading zip archive|filename 'storages' not found"),
           lambda m: tr("torch.load found no whole zip archive in a checkpoint. v1 saves model_latest.model (every "
                        "50 epochs), model_best.model and model_final_checkpoint.model with torch.save straight "
                        "into place, so a run stopped during a save, a full disk or a copy cut short leaves one "
                        "damaged; -c fails on it (v1 loads model_final_checkpoint, else model_latest, else "
                        "model_best), and so do -val and prediction",
                        "torch.load 在检查点里没有找到完整的 zip 压缩包。v1 用 torch.save 把 model_latest.model(每 "
                        "50 个 epoch)、model_best.model 和 model_final_checkpoint.model 直接写到目标位置,所以保存时"
                        "被停下的运行、已满的磁盘或没有拷完的复制都会留下损坏的检查点;-c 会在它上面失败(v1 依次找 "
                        "model_final_checkpoint、model_latest、model_best),-val 和预测也一样"),
           lambda m: tr("move the damaged checkpoint out of its fold folder: -c then continues from the next one in "
                        "v1's order, and nnUNet_predict takes another with -chk (the check names the damaged ones and "
                        "the one -c would load; with -t it checks every checkpoint of the task)",
                        "把损坏的检查点移出它的 fold 文件夹:-c 于是按 v1 的顺序从下一个继续,nnUNet_predict 可以用 -chk "
                        "选另一个(检查会列出损坏的检查点和 -c 将加载的那个;加上 -t 时检查这个任务的每个检查点)"),
           _guarded(_check_damaged_files)),
    _Known("disk_full", "OSError: [Errno 28] No space left on device",
           re.compile(r"No space left on device"),
           lambda m: tr("a write failed because its disk is full. In v1 that is most often the unpacking at the "
                        "start of training (every CASE.npz becomes a CASE.npy as large as its array, often "
                        "several times the .npz), a checkpoint being saved or predictions being exported; the file "
                        "being written stays cut short and fails a later run with one of the messages of damaged "
                        "files. In a container /dev/shm often fills first (torch's shared memory, through which "
                        "v1's workers hand over their batches): its message names a file '</torch_...>'",
                        "写入失败,因为磁盘满了。在 v1 中最常见的是训练开始时的解压(每个 CASE.npz 都变成与数组一样大的 "
                        "CASE.npy,常常是 .npz 的好几倍)、正在保存的检查点或正在导出的预测;正在写的文件会保持截断的"
                        "状态,之后的运行会以某条文件损坏的报错失败。在容器中常常先满的是 /dev/shm(torch 的共享内存,"
                        "v1 的工作进程通过它交出 batch):这时报错中的文件名是 '</torch_...>'"),
           lambda m: tr("make room, or move the folder that filled up to a larger disk and point its variable there; "
                        "then mend the files the check names. nnUNet_train --use_compressed_data reads the .npz "
                        "without unpacking (no .npy on disk, more CPU and RAM while training). For /dev/shm: run the "
                        "container with a larger --shm-size (or --ipc=host), or lower nnUNet_n_proc_DA",
                        "腾出空间,或者把满了的文件夹移到更大的磁盘上并让对应的环境变量指向那里;然后修复检查列出的文件。"
                        "nnUNet_train --use_compressed_data 不解压、直接读 .npz(磁盘上没有 .npy,训练时多用 CPU 和"
                        "内存)。如果是 /dev/shm:用更大的 --shm-size(或 --ipc=host)运行容器,或调低 nnUNet_n_proc_DA"),
           _guarded(_check_disk_full)),
    _Known("plans_missing", "No such file or directory: '..._plans_3D.pkl'",
           re.compile(r"No such file or directory: '(?P<path>[^']*_plans_(?:2D|3D)\.pkl)'"),
           lambda m: tr("nnUNet_train reads the plans from nnUNet_preprocessed/TASK/<plans identifier>_plans_3D.pkl "
                        "(_plans_2D.pkl for 2d), which nnUNet_plan_and_preprocess writes; the file is not there: the "
                        "task was not planned, -p names an identifier it was not planned under, or "
                        "nnUNet_preprocessed points elsewhere than when it was planned",
                        "nnUNet_train 从 nnUNet_preprocessed/TASK/<plans 标识>_plans_3D.pkl(2d 用 _plans_2D.pkl)读取 "
                        "plans,这个文件由 nnUNet_plan_and_preprocess 写出;它不在那里:任务还没有规划过,-p 给的标识不是"
                        "规划时用的,或者 nnUNet_preprocessed 指向的不是规划时的文件夹"),
           lambda m: tr("plan and preprocess the task first (nnUNet_plan_and_preprocess -t ID, or "
                        "`nnunet-explorer plan_and_preprocess -t ID`), or give -p an identifier whose plans exist "
                        "(the default is nnUNetPlansv2.1)",
                        "先规划和预处理这个任务(nnUNet_plan_and_preprocess -t ID,或 "
                        "`nnunet-explorer plan_and_preprocess -t ID`),或者给 -p 一个 plans 存在的标识"
                        "(默认是 nnUNetPlansv2.1)"),
           _guarded(_check_plans_file),
           lambda: tr("v2 reads nnUNet_preprocessed/DatasetXXX_Name/nnUNetPlans.json (-p nnUNetPlans)",
                      "v2 读取 nnUNet_preprocessed/DatasetXXX_Name/nnUNetPlans.json(-p nnUNetPlans)")),
    _Known("fold_beyond_splits", "INFO: You requested fold ... for training but splits contain only ... folds",
           RANDOM_SPLIT_LINE,
           lambda m: tr(f"splits_final.pkl holds {splits_held(int(m.group(2)))} and fold {m.group(1)} was asked "
                        "for. v1 does not stop: it trains this fold on a random 80:20 split seeded with the fold "
                        "number (RandomState(12345 + fold)), which is none of the file's splits; with v1's five-fold "
                        "file its validation cases overlap those of the five folds, so it is no extra "
                        "cross-validation fold",
                        f"splits_final.pkl 有 {splits_held(int(m.group(2)))},而要的是 fold {m.group(1)}。v1 不会停下:"
                        "它用以 fold 编号为种子的随机 80:20 划分(RandomState(12345 + fold))训练这个 fold,这个划分不是"
                        "文件中的任何一个;用 v1 的五折文件时,它的验证病例与这五个 fold 的验证病例重叠,所以它不是多出来"
                        "的交叉验证 fold"),
           lambda m: tr((f"for the file's folds use -f 0 to {int(m.group(2)) - 1} (-f all trains on every case); "
                         if int(m.group(2)) else "-f all trains on every case; ")
                        + "for a split of your own, add it to splits_final.pkl before training (a list of "
                        "{'train': array, 'val': array}; fold i is entry i)",
                        (f"文件中的 fold 用 -f 0 到 {int(m.group(2)) - 1}(-f all 用全部病例训练);"
                         if int(m.group(2)) else "-f all 用全部病例训练;")
                        + "要用你自己的划分,就在训练前把它加进 splits_final.pkl(一个由 {'train': array, 'val': array} "
                        "组成的列表;fold i 就是第 i 个条目)"),
           _guarded(_check_splits),
           lambda: tr("v2 does the same with splits_final.json", "v2 对 splits_final.json 也是这样处理的")),
    _Known("too_few_cases", "ValueError: Cannot have number of splits n_splits=5 greater than the number of samples: "
           "n_samples=...",
           re.compile(r"Cannot have number of splits n_splits=(?P<folds>\d+) greater than the number of samples: "
                      r"n_samples=(?P<cases>\d+)"),
           lambda m: tr(f"the task has {m.group('cases')} training case(s), fewer than {m.group('folds')}. Training a "
                        "numbered fold without splits_final.pkl in the task's preprocessed folder, v1's do_split makes "
                        "its 5-fold cross-validation split there first (scikit-learn's KFold(n_splits=5, shuffle=True, "
                        "random_state=12345) over the cases of the stage folder), and KFold refuses fewer cases than "
                        "folds",
                        f"这个任务只有 {m.group('cases')} 个训练病例,少于 {m.group('folds')} 个。训练编号的 fold 时,如果"
                        "任务的预处理文件夹里没有 splits_final.pkl,v1 的 do_split 会先在那里做 5 折交叉验证划分"
                        "(scikit-learn 的 KFold(n_splits=5, shuffle=True, random_state=12345),作用于 stage 文件夹中的"
                        "病例),而 KFold 拒绝病例数少于折数"),
           lambda m: tr("train fold all (-f all: v1 trains on every case and validates on the same ones, no split "
                        "needed), or write your own splits_final.pkl with fewer folds into the task's preprocessed "
                        "folder before training (a list of {'train': array, 'val': array}; fold i is entry i), or add "
                        "training cases (5 or more) and plan and preprocess again",
                        "训练 fold all(-f all:v1 用全部病例训练,并在同样的病例上验证,不需要划分),或者在训练前自己把"
                        "折数更少的 splits_final.pkl 写进任务的预处理文件夹(一个由 {'train': array, 'val': array} 组成"
                        "的列表;fold i 就是第 i 个条目),或者添加训练病例(5 个或更多)后重新规划和预处理"),
           _guarded(_check_case_count),
           lambda: tr("v2's do_split has the same KFold and the same limit (splits_final.json)",
                      "v2 的 do_split 用同样的 KFold,也有同样的限制(splits_final.json)")),
    _Known("raw_files", "could not find label file for case ... / some image files are missing for case ... / there "
           "are training cases in imagesTr that are not listed in dataset.json",
           re.compile(r"could not find label file for case (?P<case>[^\n]+?)\. Expected file:\s*(?P<label>[^\n]+)"
                      r"|some image files are missing for case [^\n]+?\. Expected files:\s*(?P<images>\[[^\]]*\])"
                      r"|there are training cases in (?P<where>imagesTr|labelsTr|imagesTs) that are not listed in "
                      r"dataset\.json: (?P<extra>\[[^\]]*\])"),
           lambda m: tr("v1's --verify_dataset_integrity takes each training case of dataset.json ('image': "
                        "'./imagesTr/CASE.nii.gz') and expects its images as imagesTr/CASE_0000.nii.gz, "
                        "CASE_0001.nii.gz, ... (one per modality) and its label as labelsTr/CASE.nii.gz (the case's "
                        "name, no channel number); it stops at the first case whose file is missing, and then at "
                        "files no listed case owns; the test cases of dataset.json's 'test' list likewise, in "
                        "imagesTs",
                        "v1 的 --verify_dataset_integrity 取 dataset.json 中的每个训练病例('image': "
                        "'./imagesTr/CASE.nii.gz'),要求它的图像是 imagesTr/CASE_0000.nii.gz、CASE_0001.nii.gz、……"
                        "(每个模态一个),标签是 labelsTr/CASE.nii.gz(病例名,没有通道编号);它在第一个缺文件的病例处"
                        "停下,之后还会在不属于任何所列病例的文件处停下;dataset.json 的 'test' 列表中的测试病例也一样,"
                        "在 imagesTs 中"),
           lambda m: tr("name the files as above and list every case in dataset.json (training and test, numTraining "
                        "and numTest); delete stray files; `nnunet-explorer check_dataset -t TASK` lists every "
                        "problem at once instead of the first",
                        "按上面的规则命名文件,并在 dataset.json 中列出每个病例(training 和 test,以及 numTraining 和 "
                        "numTest);删除多余的文件;`nnunet-explorer check_dataset -t TASK` 一次列出所有问题,而不只是"
                        "第一个"),
           _guarded(_check_raw_files)),
    _Known("image_missing", "sitk::ERROR: The file \"...\" does not exist.",
           re.compile(r"The file \"(?P<path>[^\"\n]+)\" does not exist"),
           lambda m: tr("SimpleITK was asked to read an image file that is not there. In v1 that is most often "
                        "nnUNet_plan_and_preprocess cropping the training cases without --verify_dataset_integrity: "
                        "it builds each case's file names from dataset.json (imagesTr/CASE_0000.nii.gz, ... one per "
                        "modality, and labelsTr/CASE.nii.gz) and reads them as they come, so the first missing or "
                        "misnamed file stops it",
                        "SimpleITK 被要求读取一个不存在的图像文件。在 v1 中,最常见的是 nnUNet_plan_and_preprocess 在没有 "
                        "--verify_dataset_integrity 的情况下裁剪训练病例:它按 dataset.json 拼出每个病例的文件名"
                        "(imagesTr/CASE_0000.nii.gz……每个模态一个,以及 labelsTr/CASE.nii.gz),读到哪个算哪个,所以第一个"
                        "缺少或命名错误的文件就会让它停下"),
           lambda m: tr("add or rename the file as the check says; `nnUNet_plan_and_preprocess -t ID "
                        "--verify_dataset_integrity` (or `nnunet-explorer check_dataset -t ID`) checks every case's "
                        "files before cropping and names every problem at once",
                        "按检查给出的办法添加或重命名这个文件;`nnUNet_plan_and_preprocess -t ID "
                        "--verify_dataset_integrity`(或 `nnunet-explorer check_dataset -t ID`)会在裁剪之前检查每个病例"
                        "的文件,并一次列出所有问题"),
           _guarded(_check_image_missing)),
    _Known("geometry_mismatch", "GEOMETRY MISMATCH FOUND! / The geometry of the image ... does not match the geometry "
           "of the label file",
           re.compile(r"GEOMETRY MISMATCH FOUND|The geometry of the image .+? does not match the geometry of the "
                      r"label file"),
           lambda m: tr("v1's --verify_dataset_integrity compares each image of a training case with its label: "
                        "size, spacing, origin and direction must agree (numpy.isclose: rtol 1e-5, atol 1e-8), "
                        "because nnU-Net pairs the arrays voxel by voxel; it prints each case that differs and, "
                        "unless the label values or the test cases stop it first, stops at the end (a Warning "
                        "raised, so the run ends)",
                        "v1 的 --verify_dataset_integrity 把训练病例的每个图像与它的标签比较:size、spacing、origin "
                        "和 direction 必须一致(numpy.isclose:rtol 1e-5,atol 1e-8),因为 nnU-Net 逐个体素配对数组;"
                        "它打印每个不一致的病例,如果标签值或测试病例的检查没有先让它停下,它最后停下(抛出 Warning,"
                        "运行就此结束)"),
           lambda m: tr("resample or co-register each label onto its image's voxel grid; where only the header "
                        "differs (the check says so when the two grids lie within a tenth of a voxel of each other), "
                        "copy it: label.CopyInformation(image) in SimpleITK",
                        "把每个标签重采样或配准到它的图像的体素网格上;如果只是文件头不同(两个网格相距不到十分之一个"
                        "体素时检查会说明),就复制文件头:SimpleITK 中的 label.CopyInformation(image)"),
           _guarded(_check_geometry)),
    _Known("test_modalities", "The modalities of the image ... do not seem to be registered",
           re.compile(r"The modalities of the image (?P<path>.+?) do not seem to be registered"),
           lambda m: tr("v1's --verify_dataset_integrity compares the modalities of each test case (imagesTs) with "
                        "its first one, _0000 (size, spacing, origin, direction, numpy.isclose), and stops at once "
                        "at the first case whose modalities differ: the network stacks them voxel by voxel",
                        "v1 的 --verify_dataset_integrity 把每个测试病例(imagesTs)的各个模态与它的第一个模态 _0000 "
                        "比较(size、spacing、origin、direction,numpy.isclose),在第一个模态不一致的病例处立即停下:"
                        "网络逐个体素地把它们堆叠起来"),
           lambda m: tr("resample or co-register the case's modalities onto its _0000 image; if only the header is "
                        "wrong, copy it (moving.CopyInformation(reference) in SimpleITK)",
                        "把这个病例的各个模态重采样或配准到它的 _0000 图像上;如果只是文件头错了,就复制文件头"
                        "(SimpleITK 中的 moving.CopyInformation(reference))"),
           _guarded(_check_test_modalities)),
    _Known("label_numbers", "The first label must be 0 / Labels must be in consecutive order (0, 1, 2, ...)",
           re.compile(r"The first label must be 0|Labels must be in consecutive order"),
           lambda m: tr("v1 gives the network one output channel per entry of dataset.json's 'labels' and uses "
                        "each voxel's label value as the index of its channel (in the loss and the Dice), so the "
                        "values must be 0 (background), 1, 2, ... without gaps",
                        "v1 为 dataset.json 中 'labels' 的每一项给网络一个输出通道,并把每个体素的标签值当作它的通道"
                        "索引(在损失和 Dice 中),所以这些值必须是 0(背景)、1、2、……,不能有空缺"),
           lambda m: tr("renumber the label values in every label file and in dataset.json to 0, 1, 2, ... (keep "
                        "each structure's name with its new value)",
                        "把每个标签文件中和 dataset.json 中的标签值重新编号为 0、1、2、……(每个结构的名字跟着它的"
                        "新值)"),
           _guarded(_check_label_numbers)),
    _Known("duplicate_cases", "found duplicate training cases in dataset.json",
           re.compile(r"found duplicate training cases in dataset\.json"),
           lambda m: tr("dataset.json's 'training' list names one case twice (v1 takes the case name from each "
                        "'image' entry's file name without .nii.gz), and v1's --verify_dataset_integrity refuses it "
                        "before checking anything else",
                        "dataset.json 的 'training' 列表把同一个病例列了两次(v1 从每个 'image' 条目的文件名去掉 .nii.gz "
                        "得到病例名),v1 的 --verify_dataset_integrity 在检查其它任何东西之前就拒绝了它"),
           lambda m: tr("list each case once in 'training' (and set numTraining to the number of entries)",
                        "在 'training' 中每个病例只列一次(并把 numTraining 设为条目数)"),
           _guarded(_check_duplicate_cases)),
    _Known("nan_values", "Some images have nan values in them",
           re.compile(r"Some images have nan values in them"),
           lambda m: tr("v1's --verify_dataset_integrity found NaN in an image or label as SimpleITK read it; NaN "
                        "voxels make the normalisation and the loss NaN. SimpleITK 2.5 reads a NIfTI's NaN voxels "
                        "as 0, so with it the check hardly fires; the check reads the named files themselves",
                        "v1 的 --verify_dataset_integrity 在 SimpleITK 读出的图像或标签中发现了 NaN;NaN 体素会让归一化"
                        "和损失变成 NaN。SimpleITK 2.5 把 NIfTI 中的 NaN 体素读成 0,所以用它时这项检查很少触发;检查"
                        "会直接读取列出的文件"),
           lambda m: tr("replace the NaN voxels (with the image's minimum, or numpy.nan_to_num with posinf and "
                        "neginf given: by default it turns Inf into +-3.4e38) and write the files again; fetch again a "
                        "file that is not whole",
                        "替换掉 NaN 体素(用图像的最小值,或用给出 posinf 和 neginf 的 numpy.nan_to_num:默认它把 Inf "
                        "变成 +-3.4e38)后重新写出文件;不完整的文件要重新获取"),
           _guarded(_check_nan_files)),
    _Known("unexpected_labels", "Unexpected labels found in file ... Found these unexpected values ...",
           re.compile(r"Unexpected labels found in file (\S+?)\.? Found these unexpected "
                      r"values \(they should not be there\) (.+)"),
           lambda m: tr(f"--verify_dataset_integrity found values {m.group(2).strip()} in a label file that "
                        "dataset.json does not declare; training would see a class that does not exist",
                        f"--verify_dataset_integrity 在一个标签文件中发现了 dataset.json 没有声明的值 "
                        f"{m.group(2).strip()};训练会看到一个不存在的类别"),
           lambda m: tr("relabel the file (e.g. resampled labels hold interpolated values: resample them with "
                        "nearest neighbour) or declare the label (dataset.json's labels must stay consecutive: "
                        "0, 1, 2, ...); `nnunet-explorer check_dataset -t TASK` checks every case",
                        "重新标注这个文件(例如重采样过的标签带有插值出来的值:用最近邻重采样),或者声明这个标签"
                        "(dataset.json 的标签必须保持连续:0, 1, 2, ...);`nnunet-explorer check_dataset -t TASK` "
                        "会检查每个病例"),
           _guarded(_check_labels)),
    _Known("no_deep_supervision", "x must be either tuple or list",
           re.compile(r"x must be either tuple or list"),
           lambda m: tr("V2 wraps its loss in MultipleOutputLoss2, which needs one output per deep-supervision "
                        "level; the network returned a single tensor (built with deep_supervision=False, a custom "
                        "network that ignores do_ds, or code that switches do_ds off during training: V2's "
                        "run_training switches it on before it starts)",
                        "V2 把损失包装在 MultipleOutputLoss2 中,它需要每个深度监督层级一个输出;网络只返回了一个张量"
                        "(用 deep_supervision=False 构建的网络、忽略 do_ds 的自定义网络,或在训练中途把 do_ds 关掉的"
                        "代码:V2 的 run_training 在开始前会把它打开)"),
           lambda m: tr("return one output per level while training (do_ds), or train without deep supervision "
                        "(a trainer that does not wrap the loss); notebook 07 checks a network against the contract",
                        "训练时每个层级返回一个输出(do_ds),或者不用深度监督训练(不包装损失的 trainer);notebook 07 "
                        "会按约定检查一个网络"),
           _nothing),
    _Known("not_segmentation_network", "assert isinstance(self.network, (SegmentationNetwork, nn.DataParallel))",
           re.compile(r"assert isinstance\(self\.network, (?:\(SegmentationNetwork|tuple\(valid\))"),
           lambda m: tr("a bare AssertionError from this line of v1: the trainer's network is not a "
                        "SegmentationNetwork (nor an nn.DataParallel; the DDP trainer also accepts its DDP wrapper). "
                        "V2's initialize ends with this check, and "
                        "v1's validation and nnUNet_predict check again, because they call the network's own "
                        "predict_3D / predict_2D (SegmentationNetwork's sliding window); a network of your own built "
                        "in initialize_network as a plain nn.Module fails here",
                        "这是 v1 这一行抛出的不带信息的 AssertionError:trainer 的网络不是 SegmentationNetwork(也不是 "
                        "nn.DataParallel;DDP trainer 还接受它的 DDP 包装)。V2 的 initialize 最后做这个检查,v1 的验证和 "
                        "nnUNet_predict 还会再查一次,因为它们调用网络自己的 predict_3D / predict_2D"
                        "(SegmentationNetwork 的滑动窗口);在 "
                        "initialize_network 中构建、只是普通 nn.Module 的自定义网络会在这里失败"),
           lambda m: tr("derive the network from nnunet.network_architecture.neural_network.SegmentationNetwork, call "
                        "its __init__ first and set conv_op, num_classes and do_ds as Generic_UNet's __init__ does, "
                        "and inference_apply_nonlin = softmax_helper as V2's initialize_network does (the base class "
                        "leaves it the identity); nnunet_explorer.training.contract.check_network_contract (notebook "
                        "07) checks a network against everything else v1 assumes of it",
                        "让网络派生自 nnunet.network_architecture.neural_network.SegmentationNetwork,先调用它的 "
                        "__init__,再像 Generic_UNet 的 __init__ 那样设置 conv_op、num_classes 和 do_ds,并像 V2 的 "
                        "initialize_network 那样设置 inference_apply_nonlin = softmax_helper(基类把它留作恒等函数);"
                        "nnunet_explorer.training.contract.check_network_contract(notebook 07)会检查 v1 对网络的其他"
                        "所有假设"),
           _nothing),
    _Known("target_size", "Expected target size ..., got ... / size mismatch (got input: ..., target: ...)",
           re.compile(r"Expected target size [(\[](?P<expected>[\d, ]+)[)\]], got (?:torch\.Size\()?\[?(?P<got>[\d, ]+)"
                      r"|size mismatch \(got input: \[(?P<input>[\d, ]+)\] ?, target: \[(?P<target>[\d, ]+)\]"
                      r"|input and target batch or spatial sizes don't match: target \[(?P<target_old>[\d, ]+)\], "
                      r"input \[(?P<input_old>[\d, ]+)\]"),
           lambda m: tr("the cross-entropy compares each network output with a label map of the same size; V2 pairs "
                        "output i with target i, the label map DownsampleSegForDSTransform2 shrank by "
                        "deep_supervision_scales[i] (from the plans' pool_op_kernel_sizes), and here an output and "
                        "its target differ in size. The network's outputs and the loader's targets follow different "
                        "scales: a network that upsamples its extra outputs (Generic_UNet's upscale_logits=True), "
                        "returns them in another order or pools otherwise than the plans say, or a trainer that "
                        "changed deep_supervision_scales or the pooling on one side only. (Under V2's Dice + CE loss "
                        "the soft Dice, computed first, does not notice a smaller target: it fills only a corner of "
                        "its one-hot map)",
                        "交叉熵把每个网络输出与同样大小的标签图比较;V2 把输出 i 与目标 i 配对,目标 i 是 "
                        "DownsampleSegForDSTransform2 按 deep_supervision_scales[i](来自 plans 的 "
                        "pool_op_kernel_sizes)缩小的标签图,而这里一个输出和它的目标大小不同。网络的输出和数据加载器"
                        "的目标用了不同的尺度:网络把额外的输出上采样了(Generic_UNet 的 upscale_logits=True)、以别的"
                        "顺序返回它们,或池化与 plans 不同;或者 trainer 只在一边改了 deep_supervision_scales 或池化。"
                        "(在 V2 的 Dice + CE 损失中,先计算的 soft Dice 察觉不到较小的目标:它只填充了 one-hot 图的一角)"),
           lambda m: tr("return output i at the resolution of target i, highest first (V2 builds Generic_UNet with "
                        "upscale_logits=False), pooled as the plans' pool_op_kernel_sizes; change the scales and the "
                        "network together. nnunet_explorer.training.contract.check_network_contract (notebook 07) "
                        "checks a network's outputs against the targets",
                        "让输出 i 的分辨率与目标 i 相同,最高分辨率在前(V2 构建 Generic_UNet 时 upscale_logits=False),"
                        "池化与 plans 的 pool_op_kernel_sizes 一致;尺度和网络要一起改。"
                        "nnunet_explorer.training.contract.check_network_contract(notebook 07)会把网络的输出与目标"
                        "对照检查"),
           _guarded(_check_target_size)),
    _Known("patch_not_divisible", "Sizes of tensors must match except in dimension 1 ...",
           re.compile(r"Sizes of tensors must match except in dimension 1"),
           lambda m: tr("in nnU-Net v1 training this torch.cat is nearly always the one in Generic_UNet's decoder, "
                        "which joins the upsampled features with the encoder's skip connection; their sizes differ "
                        "when an axis of the patch is no multiple of the product of the plans' pool_op_kernel_sizes "
                        "along it: a strided convolution halves an odd size, rounding up, and the transposed "
                        "convolution doubles it back one voxel too large. v1's planner always gives a divisible "
                        "patch, so the plans were edited (or a custom network pools otherwise)",
                        "在 nnU-Net v1 的训练中,这个 torch.cat 几乎总是 Generic_UNet 解码器中的那个,它把上采样后的特征与"
                        "编码器的跳跃连接拼在一起;当 patch 某个轴"
                        "不是该轴上 plans 的 pool_op_kernel_sizes 乘积的整数倍时,两者大小不同:带步长的卷积把奇数大小"
                        "减半并向上取整,转置卷积再翻倍就多了一个体素。v1 的规划器给出的 patch 总能整除,所以是 plans 被改过"
                        "(或自定义网络的池化不同)"),
           lambda m: tr("make every axis of the edited patch_size a multiple of the product of the poolings along "
                        "it (or edit pool_op_kernel_sizes with it); `nnunet-explorer train ... -p ID --until network` "
                        "names the axis and the nearest valid patches",
                        "让改过的 patch_size 每个轴都是该轴池化核乘积的整数倍(或同时修改 pool_op_kernel_sizes);"
                        "`nnunet-explorer train ... -p ID --until network` 会指出是哪个轴以及最接近的合法 patch"),
           _guarded(_check_patch_divisible),
           raised_here=_said_in_many_places),
    _Known("one_voxel_deepest", "Expected more than 1 spatial element when training, got input size ...",
           re.compile(r"Expected more than 1 spatial element when training, got input size"),
           lambda m: tr("instance norm normalises each channel of each sample over its voxels, and a feature map of "
                        "one voxel has nothing to normalise over. In nnU-Net v1 that is Generic_UNet's deepest level "
                        "when the patch divided by the product of the plans' pool_op_kernel_sizes leaves one voxel "
                        "on every axis: the patch_size was made smaller in the plans and the pooling was not. v1's "
                        "planner pools an axis only while it has at least 8 voxels, so its deepest level keeps at "
                        "least 4 on every pooled axis",
                        "instance norm 对每个样本的每个通道在它的体素上做归一化,只有一个体素的特征图无从归一化。在 "
                        "nnU-Net v1 中这是 Generic_UNet 的最深一层:patch 除以 plans 中 pool_op_kernel_sizes 的乘积后,"
                        "每个轴都只剩一个体素,也就是 plans 中的 patch_size 被改小了,池化却没有改。v1 的规划器只在某个"
                        "轴至少有 8 个体素时才在该轴上池化,所以最深一层每个被池化的轴至少保留 4 个体素"),
           lambda m: tr("give the edited plans a patch of at least 4 times the product of the poolings on each axis, "
                        "or the pooling v1's planner derives from the smaller patch and the patch it pads that to "
                        "(with -t the check computes both); "
                        "`nnunet-explorer train ... -p ID --until network` says the same before a run",
                        "给改过的 plans 一个每个轴至少是池化核乘积 4 倍的 patch,或者用 v1 规划器从这个更小的 patch 推出的"
                        "池化和它填充后的 patch(加上 -t 时检查会算出这两者);`nnunet-explorer train ... -p ID --until network` 在运行之前就会"
                        "这样说"),
           _guarded(_check_deepest_level)),
    _Known("input_channels", "expected input[...] to have N channels, but got M channels instead",
           re.compile(r"expected input\[[\d, ]+\] to have (\d+) channels, but got (\d+) channels instead"),
           lambda m: tr(f"the network's first convolution takes {m.group(1)} input channel(s) and the batch has "
                        f"{m.group(2)}. In nnU-Net v1 the first number is the plans' num_modalities (the cascade's "
                        "full-resolution stage adds the previous stage's segmentation as one channel per "
                        "foreground class) and the second the channels of the preprocessed cases: the plans do not "
                        "describe these cases (num_modalities edited, or plans of other preprocessed data), or a "
                        "trainer of one's own changed the network's input",
                        f"网络的第一个卷积接受 {m.group(1)} 个输入通道,而 batch 有 {m.group(2)} 个。在 nnU-Net v1 中,"
                        "前者是 plans 的 num_modalities(级联的全分辨率阶段会为每个前景类别加一个通道,放上一阶段的"
                        "分割),后者是预处理后病例的通道数:plans 描述的不是这些病例(num_modalities 被改过,或 plans "
                        "属于另一份预处理数据),或者你自己的 trainer 改了网络的输入"),
           lambda m: tr("train with the plans the cases were preprocessed with (or preprocess again with the edited "
                        "plans); with -t/-p the check compares each stage's num_modalities with a preprocessed case",
                        "用预处理这些病例时的 plans 训练(或者用改过的 plans 重新预处理);加上 -t/-p 时检查会把每个 "
                        "stage 的 num_modalities 与一个预处理后的病例对比"),
           _guarded(_check_input_channels)),
    _Known("label_beyond_classes", "index N is out of bounds for dimension 1 with size M / Target N is out of bounds",
           re.compile(r"index (\d+) is out of bounds for dimension 1 with size (\d+)|Target (\d+) is out of bounds"),
           lambda m: tr("torch's words for an index beyond a dimension's size; in nnU-Net training, when the "
                        "traceback passes through the loss, a label value reached the loss of a network with fewer "
                        "output channels (one per label 0..num_classes): v1's Dice puts each label into a one-hot map "
                        "(its scatter says 'index N is out of bounds for dimension 1') and the cross-entropy reads it "
                        "as a class ('Target N is out of bounds'). Then the segmentation holds a label beyond the "
                        "plans' num_classes: "
                        "num_classes edited in the plans, or a label value dataset.json does not list (v1's "
                        "preprocessing keeps every value it finds; --verify_dataset_integrity would have stopped on "
                        "it). On a GPU the same error is a 'device-side assert triggered'",
                        "这是 torch 对超出某一维大小的索引的说法;在 nnU-Net 训练中,如果调用栈经过损失函数,就是某个"
                        "标签值进入了输出通道更少的网络的损失(每个标签 0..num_classes 一个通道):v1 的 Dice 把每个"
                        "标签放进 one-hot 图(它的 scatter 说 'index N is out of bounds for dimension 1'),交叉熵把它当作"
                        "类别读取('Target N is out of bounds')。这时分割里有超出 plans 的 num_classes 的"
                        "标签:plans 中的 num_classes 被改过,或者 dataset.json 没有列出某个标签值(v1 的预处理保留它"
                        "见到的每个值;--verify_dataset_integrity 本会在这里停下)。在 GPU 上同一个错误是 'device-side "
                        "assert triggered'"),
           lambda m: tr("train with the plans' own num_classes, or list every label value in dataset.json and plan "
                        "and preprocess again; with -t/-p the check names the cases that hold labels beyond the "
                        "plans' num_classes",
                        "用 plans 原本的 num_classes 训练,或者在 dataset.json 中列出每个标签值并重新规划和预处理;加上 "
                        "-t/-p 时检查会列出含有超出 plans 的 num_classes 的标签的病例"),
           _guarded(_check_label_values),
           raised_here=_in_a_loss),
    _Known("nan_loss", "train loss : nan",
           re.compile(r"(?:train|validation) loss ?: -?(?:nan|inf)\b"),
           lambda m: tr("v1 logs a NaN loss and trains on (nothing stops it): once a weight is NaN every later loss "
                        "is NaN and the run produces nothing. A NaN that stays comes from NaN/Inf voxels in an "
                        "image (v1's normalisation does not remove them), a loss or learning rate that diverges, or "
                        "a custom network or loss; a single NaN epoch under fp16 can be one overflowed iteration "
                        "the GradScaler skipped",
                        "v1 记录下 NaN 损失后继续训练(没有什么会让它停下):一旦某个权重变成 NaN,之后每个损失都是 NaN,"
                        "这次训练不会有任何结果。持续的 NaN 来自图像中的 NaN/Inf 体素(v1 的归一化不会去掉它们)、发散的"
                        "损失或学习率,或者自定义的网络或损失;fp16 下单独一个 NaN 的 epoch 可能只是 GradScaler 跳过的"
                        "一次溢出的迭代"),
           lambda m: tr("if it stays NaN: `nnunet-explorer check_dataset -t TASK` lists NaN/Inf voxels per case; "
                        "the explorer's own training (`nnunet-explorer train ...`) stops at the first NaN/Inf and "
                        "names where it appeared (input, target, output, loss part or gradient); after the fix "
                        "train again: -c would continue from model_latest.model (rewritten every 50 epochs), which "
                        "holds NaN weights if it was written after the NaN began",
                        "如果一直是 NaN，`nnunet-explorer check_dataset -t TASK` 会列出每个病例的 NaN/Inf 体素;"
                        "explorer 自己的训练(`nnunet-explorer train ...`)在第一次出现 NaN/Inf 时停下,并指出它出现的位置"
                        "(输入、目标、输出、损失的某一项或梯度);修好之后重新训练:-c 会从 model_latest.model(每 50 个 "
                        "epoch 重写一次)继续,如果它是在 NaN 出现之后写的,里面就是 NaN 权重"),
           _check_nan_log),
    _Known("cuda_oom", "CUDA out of memory / OutOfMemoryError",
           re.compile(r"CUDA out of memory|OutOfMemoryError"),
           lambda m: tr("the plans' batch x patch does not fit into this GPU's free memory: v1 plans for about "
                        "8 GB, and another process on the GPU takes its share",
                        "plans 的 batch x patch 放不进这块 GPU 的空闲显存:v1 按约 8 GB 规划,GPU 上的其他进程还会"
                        "占用一部分"),
           lambda m: tr("free the GPU (nvidia-smi), or plan for less memory: a smaller batch or patch in a copy "
                        "of the plans saved under a new identifier, passed with -p (v1's "
                        "experiment_planning/change_batch_size.py is an example of such an edit, with its paths "
                        "written in)",
                        "释放 GPU(nvidia-smi),或者按更少的显存规划:把 plans 复制一份、改小 batch 或 patch,以新的标识"
                        "保存,再用 -p 传入(v1 的 experiment_planning/change_batch_size.py 就是这样一个修改的例子,"
                        "路径是写死的)"),
           _check_oom),
    _Known("gpu_full", "CUDA error: out of memory",
           re.compile(r"CUDA error: out of memory"),
           lambda m: tr("CUDA itself could not allocate, outside torch's caching allocator (whose failures say "
                        "\"CUDA out of memory. Tried to allocate ...\"): typically while the process sets up the GPU "
                        "or moves the network onto it, so the plans' batch and patch are usually not the cause (they "
                        "can be when it happens later, at a library's first use in the first iteration, the "
                        "allocator already holding the batch's memory); the GPU is already (nearly) full: another "
                        "process holds it (another training, a notebook kernel, a finished run's zombie), or this "
                        "process sees another GPU than the one meant",
                        "CUDA 自己没能分配到显存,这发生在 torch 的缓存分配器之外(分配器失败时说的是 \"CUDA out of "
                        "memory. Tried to allocate ...\"):通常是在进程初始化 GPU 或把网络移到 GPU 上的时候,所以原因通常"
                        "不是 plans 的 batch 和 patch(如果它发生得更晚,在第一次迭代中某个库第一次使用时,而分配器已经"
                        "占着这个 batch 的显存,那就可能是);GPU 已经(几乎)满了:别的进程占着它(另一次训练、notebook "
                        "内核、已结束运行的僵尸进程),或者这个进程看到的不是想用的那块 GPU"),
           lambda m: tr("`nvidia-smi` shows who holds the GPU: stop that process, or run on a free GPU with "
                        "CUDA_VISIBLE_DEVICES=N nnUNet_train ...",
                        "`nvidia-smi` 会显示谁占着 GPU:停掉那个进程,或者用 CUDA_VISIBLE_DEVICES=N nnUNet_train ... "
                        "在空闲的 GPU 上运行"),
           _check_gpu_full),
    _Known("cudnn", "cuDNN error: CUDNN_STATUS_... / Unable to find a valid cuDNN algorithm to run convolution",
           re.compile(r"cuDNN error: (CUDNN_STATUS_\w+)|Unable to find a valid cuDNN algorithm to run convolution|"
                      r"no valid convolution algorithms available in CuDNN|"
                      r"(?:GET|FIND) was unable to find an engine to execute this computation|"
                      r"(?P<refused>cuDNN version incompatibility|is not compatible with devices with SM < 7\.5)"),
           lambda m: tr("cuDNN, NVIDIA's library under every convolution torch runs on a GPU, failed"
                        + _cudnn_status(m) + ". In nnU-Net reports three causes stand out: the GPU's "
                        "memory (cuDNN needs work memory beside the batch, and v1 sets cudnn.benchmark unless "
                        "--deterministic, so the first iterations try several algorithms with their own; when another "
                        "process holds the GPU, such as a second training started on it, or the batch x patch nearly "
                        "fills it, cuDNN often says this instead of 'CUDA out of memory'); a torch without kernels for "
                        "the GPU (it fails at the first convolution, often EXECUTION_FAILED); or, after many good "
                        "epochs on a GPU of its own, the GPU or its driver (an Xid error in the kernel log)",
                        "cuDNN 是 torch 在 GPU 上做每个卷积时调用的 NVIDIA 库,它失败了" + _cudnn_status(m)
                        + "。在 nnU-Net 的报告里主要有三种原因:GPU 显存(cuDNN 在 batch 之外还需要工作显存,而 v1 在没有 "
                        "--deterministic 时打开了 cudnn.benchmark,前几次迭代会尝试多种算法,各自要工作显存;当别的进程"
                        "占着 GPU,比如在它上面又启动了一个训练,或者 batch x patch 几乎占满它时,cuDNN 常常报的是这个,"
                        "而不是 'CUDA out of memory');没有这块 GPU 内核的 torch(在第一个卷积就失败,常见的是 "
                        "EXECUTION_FAILED);或者在一块独占的 GPU 上许多正常的 epoch 之后,是 GPU 或它的驱动的问题(内核"
                        "日志里有 Xid 错误)"),
           lambda m: tr("free the GPU or train on another (`nvidia-smi`; one training per GPU with "
                        "CUDA_VISIBLE_DEVICES=N); install a torch with kernels for the GPU when the check says it has "
                        "none (and which); plan for less memory (a copy of the plans with a smaller batch "
                        "or patch under a new identifier, -p) when the GPU is nearly full with nothing else on it; "
                        "after many good epochs, look for GPU errors (`sudo dmesg | grep -i xid`) and resume with -c. "
                        "CUDA_LAUNCH_BLOCKING=1 makes the failing call the one reported",
                        "释放 GPU 或换一块训练(`nvidia-smi`;用 CUDA_VISIBLE_DEVICES=N 让每块 GPU 只跑一个训练);如果"
                        "检查说这个 torch 没有 GPU 的内核,就安装带有它的内核的 torch(检查会说明装哪种);如果 GPU 上没有"
                        "别的进程却几乎满了,就按更少的显存规划(把 plans 复制一份、改小 batch 或 patch,以新的标识保存,"
                        "用 -p 传入);如果是在许多正常的 epoch 之后,查看 GPU 错误(`sudo dmesg | grep -i xid`)并用 -c "
                        "继续。CUDA_LAUNCH_BLOCKING=1 会让报出的就是出错的那个调用"),
           _guarded(_check_torch_build)),
    _Known("no_kernel_image", "CUDA error: no kernel image is available for execution on the device / ... with CUDA "
           "capability sm_NN is not compatible with the current PyTorch installation",
           re.compile(r"no kernel image is available for execution on the device|"
                      r"with CUDA capability sm_(\d+) is not compatible with the current PyTorch installation|"
                      r"which is of compute capability \(CC\) \d+\.\d+\."),
           lambda m: tr("this torch was built without kernels for the GPU: each torch build carries compiled code for "
                        "a list of GPU generations (compute capabilities), and a GPU of a newer generation than any "
                        "of them (an RTX 30xx under a CUDA 10 build, an H100 under CUDA 11.7, an RTX 50xx under CUDA "
                        "12.6), one older than the oldest (a Kepler GPU under a recent build) or a Jetson under a "
                        "desktop build has none. torch warns when it first sees the GPU ('not compatible with the "
                        "current PyTorch installation', or 'Found GPU0 ... which is of compute capability (CC) ...' "
                        "with the builds that would fit); the first kernel then fails with this CUDA error (or a "
                        "cuDNN EXECUTION_FAILED)",
                        "这个 torch 构建时没有这块 GPU 的内核:每个 torch 构建只带着一组 GPU 架构(计算能力)的编译代码,"
                        "比其中任何一代都新的 GPU(CUDA 10 构建上的 RTX 30xx、CUDA 11.7 上的 H100、CUDA 12.6 上的 RTX "
                        "50xx)、比最旧的一代还旧的 GPU(较新构建上的 Kepler GPU)或者桌面版构建上的 Jetson 都没有内核。"
                        "torch 第一次看到这块 GPU 时会警告('not compatible with the current PyTorch installation',或者 "
                        "'Found GPU0 ... which is of compute capability (CC) ...' 并列出合适的构建);"
                        "随后第一个内核就以这个 CUDA 错误(或 cuDNN 的 EXECUTION_FAILED)失败"),
           lambda m: tr("install a torch whose build has kernels for the GPU (the check says which, per GPU; for a "
                        "newer GPU pytorch.org's selector gives the pip command, and the driver must support that CUDA "
                        "release), then train again; nothing of nnU-Net needs to change",
                        "安装带有这块 GPU 内核的 torch 构建(检查会逐块 GPU 说明装哪种;对较新的 GPU,pytorch.org 的选择器"
                        "会给出 pip 命令,驱动也必须支持那个 CUDA 版本),然后重新训练;nnU-Net 的任何东西都不需要改"),
           _guarded(_check_torch_build)),
    _Known("state_dict", "Error(s) in loading state_dict for Generic_UNet",
           re.compile(r"Error\(s\) in loading state_dict for (\w+)"),
           lambda m: tr(f"the checkpoint's weights do not fit the {m.group(1)} built now. v1 builds the network from "
                        "plans and the trainer class and then copies the weights in: nnUNet_predict builds it once, "
                        "from the plans and trainer saved in the first fold's .model.pkl, and loads every fold's "
                        "weights into it; nnUNet_train -c / -val build it from the plans file as it is now. So the "
                        "network differs from the one trained when the plans file was made again after training "
                        "(-c, -val), when the folds were trained with different plans (predict: a later fold "
                        "fails), when the installed trainer or Generic_UNet builds otherwise than the code that "
                        "trained it (a downloaded or modified model), or when a .model file was copied into another "
                        "model's folder",
                        f"检查点的权重与现在构建的 {m.group(1)} 不符。v1 先用 plans 和 trainer 类构建网络,再把权重复制进去:"
                        "nnUNet_predict 只构建一次网络,用的是第一个 fold 的 .model.pkl 里保存的 plans 和 trainer,再把每个 "
                        "fold 的权重载入它;nnUNet_train -c / -val 用 plans 文件现在的内容构建网络。所以下面这些情况下网络会"
                        "与训练时不同:训练之后 plans 文件被重新生成过(-c、-val);各个 fold 是用不同的 plans 训练的"
                        "(predict:后面的某个 fold 失败);安装的 trainer 或 Generic_UNet 的构建方式与训练它的代码不同"
                        "(下载的或改过的模型);或者 .model 文件被复制到了另一个模型的文件夹里"),
           lambda m: tr("load the weights into the network they were trained with: the plans file as it was when "
                        "the fold trained (its .model.pkl holds a copy), the code that trained it, and for "
                        "nnUNet_predict folds trained with the same plans (-f names the folds to use)",
                        "把权重载入训练时的那个网络:这个 fold 训练时的 plans 文件(它的 .model.pkl 里有一份副本)、训练它的"
                        "那份代码;对 nnUNet_predict 来说,还要用以相同 plans 训练的 fold(-f 指定使用哪些 fold)"),
           _check_state_dict),
    _Known("pretrained", "Pretrained weights are not compatible with the current network architecture",
           re.compile(r"Pretrained weights are not compatible with the current network architecture"),
           lambda m: tr("-pretrained_weights copies a checkpoint into the network built from this task's plans only "
                        "when every conv_blocks weight of that network is in the file with the same shape (the "
                        "segmentation heads and transposed convolutions are not checked); nnU-Net builds each "
                        "task's own U-Net, so another task's network has other kernels, levels or inputs",
                        "-pretrained_weights 只有在这个任务的 plans 构建出的网络的每个 conv_blocks 权重都以相同形状出现在"
                        "文件中时,才把检查点复制进去(分割头和转置卷积不检查);nnU-Net 为每个任务构建自己的 U-Net,"
                        "所以另一个任务的网络有不同的卷积核、层级或输入"),
           lambda m: tr("build both networks from the same plans: preprocess the target task with the source's plans "
                        "(nnUNet_plan_and_preprocess -t TARGET -pl3d ExperimentPlanner3D_v21_Pretrained "
                        "-overwrite_plans SOURCE_PLANS.pkl -overwrite_plans_identifier ID, v1's beta path, 3D only), "
                        "then train with -p nnUNetPlans_pretrained_ID -pretrained_weights FILE; the number of "
                        "input modalities must be the same",
                        "用同一份 plans 构建两个网络:用源任务的 plans 预处理目标任务(nnUNet_plan_and_preprocess -t TARGET "
                        "-pl3d ExperimentPlanner3D_v21_Pretrained -overwrite_plans SOURCE_PLANS.pkl "
                        "-overwrite_plans_identifier ID,v1 的 beta 功能,只限 3D),再用 -p nnUNetPlans_pretrained_ID "
                        "-pretrained_weights FILE 训练;输入模态数必须相同"),
           _guarded(_check_pretrained)),
    _Known("no_mirroring", "Cannot do mirroring as test time augmentation when training was done without mirroring / "
           "We did not train with mirroring so you cannot do inference with mirroring enabled",
           re.compile(r"Cannot do mirroring as test time augmentation when training was done without mirroring"
                      r"|We did not train with mirroring so you cannot do inference with mirroring enabled"),
           lambda m: tr("the trainer trained without mirroring (its data_aug_params['do_mirror'] is False: v1's "
                        "nnUNetTrainerV2_noMirroring or nnUNetTrainerV2_noDA, or a trainer of your own, e.g. a DA5 "
                        "subclass with do_mirroring = False), and v1 refuses to mirror at test time what the network "
                        "never saw mirrored. nnUNet_predict mirrors unless told --disable_tta (\"Cannot do mirroring "
                        "...\"); noMirroring and noDA switch mirroring off in their validate, but a trainer of your "
                        "own that sets do_mirror to False without doing so (DA5 does not) fails at the end of "
                        "training, in validate (\"We did not train with mirroring ...\"; its weights are saved by "
                        "then: model_final_checkpoint)",
                        "这个 trainer 训练时没有做镜像(它的 data_aug_params['do_mirror'] 为 False:v1 的 "
                        "nnUNetTrainerV2_noMirroring 或 nnUNetTrainerV2_noDA,或者你自己的 trainer,例如 "
                        "do_mirroring = False 的 DA5 子类),而 v1 拒绝在测试时对网络从没见过的镜像做预测。nnUNet_predict "
                        "默认会镜像,除非给了 --disable_tta(\"Cannot do mirroring ...\");noMirroring 和 noDA 会在"
                        "它们的 validate 中关掉镜像,而你自己的 trainer 如果把 do_mirror 设为 False 却没有这样做(DA5 "
                        "没有这样做),就会在训练结束时的 validate 中失败(\"We did not train with mirroring ...\";"
                        "那时权重已经保存:model_final_checkpoint)"),
           lambda m: tr("predict with nnUNet_predict ... --disable_tta; for a trainer of your own, override validate "
                        "to pass do_mirroring=False (as nnUNetTrainerV2_noMirroring does), then validate the saved "
                        "weights with nnUNet_train ... -val",
                        "用 nnUNet_predict ... --disable_tta 预测;对你自己的 trainer,重写 validate,传入 "
                        "do_mirroring=False(nnUNetTrainerV2_noMirroring 就是这样做的),再用 nnUNet_train ... -val "
                        "验证已保存的权重"),
           _nothing),
    _Known("model_folder", "model output folder not found. Expected: ...",
           re.compile(r"model output folder not found\. Expected: (?P<path>[^\n]+)"),
           lambda m: tr("nnUNet_predict looks for the trained model in "
                        "RESULTS_FOLDER/nnUNet/<-m>/<task>/<trainer>__<-p> (-tr, default nnUNetTrainerV2; -p, default "
                        "nnUNetPlansv2.1; for -m 3d_cascade_fullres the trainer is -ctr, default "
                        "nnUNetTrainerV2CascadeFullRes, and without -l it first predicts with the 3d_lowres model "
                        "in 3d_lowres/<task>/<-tr>__<-p>, whose folder it checks first); that folder does not exist: "
                        "the model was trained with another configuration, trainer or plans, or RESULTS_FOLDER points "
                        "elsewhere than during training",
                        "nnUNet_predict 在 RESULTS_FOLDER/nnUNet/<-m>/<任务>/<trainer>__<-p> 中找训练好的模型"
                        "(-tr 默认 nnUNetTrainerV2;-p 默认 nnUNetPlansv2.1;-m 3d_cascade_fullres 的 trainer 由 -ctr "
                        "指定,默认 nnUNetTrainerV2CascadeFullRes,不给 -l 时它先用 3d_lowres/<任务>/<-tr>__<-p> 中的 "
                        "3d_lowres 模型预测,并先检查那个文件夹);这个文件夹不存在:模型是用别的配置、trainer 或 plans "
                        "训练的,或者 RESULTS_FOLDER 指向的不是训练时的文件夹"),
           lambda m: tr("give nnUNet_predict the -m, -tr (-ctr) and -p the model was trained with (the check lists "
                        "the trained ones), or export RESULTS_FOLDER as during training; for the cascade without a "
                        "3d_lowres model, pass -l with low-resolution segmentations",
                        "给 nnUNet_predict 训练模型时用的 -m、-tr(-ctr)和 -p(检查会列出已训练的模型),或者像训练时"
                        "那样 export RESULTS_FOLDER;级联没有 3d_lowres 模型时,用 -l 给出低分辨率分割"),
           _guarded(_check_model_folder),
           lambda: tr("v2 reads nnUNet_results/DatasetXXX_Name/<trainer>__<plans>__<configuration>",
                      "v2 读取 nnUNet_results/DatasetXXX_Name/<trainer>__<plans>__<configuration>")),
    _Known("fold_folders", "list of folds specified but not all output folders are present / output folder missing "
           "for fold ...",
           re.compile(r"list of folds specified but not all output folders are present"
                      r"|output folder missing for fold \d+|no output folder for fold .* found"),
           lambda m: tr("nnUNet_predict -f names folds whose folder (fold_N, or all for -f all) is not in the model "
                        "folder; without -f it takes every subfolder whose name starts with 'fold' and ensembles "
                        "them",
                        "nnUNet_predict 的 -f 指定的 fold 在模型文件夹里没有对应的文件夹(fold_N,-f all 对应 all);"
                        "不给 -f 时它取名字以 'fold' 开头的每个子文件夹并把它们集成起来"),
           lambda m: tr("give -f only folds that were trained (the check lists them), or train the missing ones; -f "
                        "all needs a model trained with fold all",
                        "-f 只给训练过的 fold(检查会列出它们),或者把缺少的训练出来;-f all 需要用 fold all 训练的模型"),
           _guarded(_check_fold_folders)),
    _Known("stage_folder", "No such file or directory: '.../nnUNetData_plans_v2.1_stage0'",
           re.compile(r"No such file or directory: '(?P<path>[^'\n]*(?:/|\\{1,2})(?P<stage>[^/\\'\n]+_stage\d+))"
                      r"(?:/|\\{1,2})?'"),
           lambda m: tr(f"v1's training reads its cases from the stage folder its plans name ({m.group('stage')}: "
                        "the plans' data_identifier and the stage) in the task's preprocessed folder, listing it "
                        "when the trainer loads the dataset; it is not there: the task was planned with -no_pp (plans "
                        "only), the preprocessing stopped before this stage, the folder was deleted, or "
                        "nnUNet_preprocessed points at another copy than the one preprocessed",
                        f"v1 的训练从 plans 所指的 stage 文件夹({m.group('stage')}:plans 的 data_identifier 加上 "
                        "stage)中读取病例,这个文件夹在任务的预处理文件夹里,trainer 加载数据集时会列出它的内容;它不在那里:"
                        "任务规划时用了 -no_pp(只规划)、预处理在这个 stage 之前就停了、文件夹被删掉了,或者 "
                        "nnUNet_preprocessed 指向的不是预处理过的那一份"),
           lambda m: tr("preprocess the task: `nnUNet_plan_and_preprocess -t ID` without -no_pp (it plans again as "
                        "well, the same plans for the same data, and writes the default plans files again: keep a "
                        "copy of plans edited by hand) or `nnunet-explorer plan_and_preprocess -t ID`; if the folder "
                        "is in another copy of nnUNet_preprocessed, point the variable there",
                        "预处理这个任务:`nnUNet_plan_and_preprocess -t ID`,不加 -no_pp(它也会重新规划,同样的数据得到"
                        "同样的 plans,并重写默认的 plans 文件:手工改过的 plans 要先留一份副本),或 "
                        "`nnunet-explorer plan_and_preprocess -t ID`;如果这个文件夹在另一份 nnUNet_preprocessed 中,"
                        "就让这个变量指向那里"),
           _guarded(_check_stage_folder)),
    _Known("model_plans", "No such file or directory: '.../TRAINER__PLANS/plans.pkl'",
           re.compile(r"No such file or directory: '(?P<path>[^'\n]*__[^'\n/\\]+(?:/|\\{1,2})plans\.pkl)'"),
           lambda m: tr("v1's trainer copies its plans file into the model folder as plans.pkl when its training "
                        "starts (save_debug_information), next to the fold folders; nnUNet_predict first copies that "
                        "plans.pkl into the output folder and reads the expected number of modalities from it (so does "
                        "the cascade's 3d_lowres step, from its own model folder; nnUNet_find_best_configuration reads "
                        "it for the labels). It is not there: only the fold folders were copied from the machine that "
                        "trained, or it was deleted",
                        "v1 的 trainer 在训练开始时(save_debug_information)把它的 plans 文件以 plans.pkl 的名字复制到"
                        "模型文件夹里,放在各个 fold 文件夹旁边;nnUNet_predict 先把这个 plans.pkl 复制到输出文件夹,再从"
                        "中读出预期的模态数(级联的 3d_lowres 步骤也从它自己的模型文件夹读它;nnUNet_find_best_configuration "
                        "读它取标签)。它不在那里:从训练的机器上只复制了"
                        "各个 fold 文件夹,或者它被删掉了"),
           lambda m: tr("copy plans.pkl along with the fold folders from the machine that trained; if it is lost, "
                        "copy the plans the model was trained with there as plans.pkl (the check names the task's "
                        "plans file; v1 copied exactly that file, so it is the same unless the plans were planned "
                        "again since)",
                        "从训练的机器上把 plans.pkl 和各个 fold 文件夹一起复制过来;如果它丢了,就把训练这个模型时用的 "
                        "plans 复制到那里并命名为 plans.pkl(检查会给出这个任务的 plans 文件;v1 复制的正是这个文件,"
                        "所以除非之后重新规划过,它们是同一个)"),
           _guarded(_check_model_plans)),
    _Known("checkpoint_missing", "No such file or directory: '.../fold_N/model_final_checkpoint.model.pkl'",
           re.compile(r"No such file or directory: '(?P<path>[^'\n]*(?:/|\\{1,2})(?:fold_\d+|all)(?:/|\\{1,2})"
                      r"(?P<name>[^/\\'\n]+)\.model(?:\.pkl)?)'"),
           lambda m: tr("nnUNet_train -pretrained_weights names a checkpoint file that is not there (the traceback "
                        "passes through v1's load_pretrained_weights)"
                        if _from_pretrained_weights(m) else
                        f"nnUNet_predict loads the checkpoint -chk names ({m.group('name')} here; the default is "
                        "model_final_checkpoint, which v1 writes only when a training ends): NAME.model.pkl (the "
                        "trainer and its plans, to build the network) from the first fold, then NAME.model (the "
                        "weights) from every fold; that file is not there: the training has not finished, or -chk "
                        "names a checkpoint that fold never wrote (the cascade's 3d_lowres step does not pass -chk "
                        "on: it always loads model_final_checkpoint)",
                        "nnUNet_train 的 -pretrained_weights 指定的检查点文件不在那里(traceback 经过 v1 的 "
                        "load_pretrained_weights)"
                        if _from_pretrained_weights(m) else
                        f"nnUNet_predict 加载 -chk 指定的检查点(这里是 {m.group('name')};默认是 "
                        "model_final_checkpoint,v1 只在训练结束时才写出它):从第一个 fold 读 NAME.model.pkl(trainer "
                        "和它的 plans,用来搭建网络),再从每个 fold 读 NAME.model(权重);这个文件不在那里:训练还没有"
                        "结束,或者 -chk 指定的检查点这个 fold 从来没有写过(级联的 3d_lowres 步骤不传递 -chk:它总是"
                        "加载 model_final_checkpoint)"),
           lambda m: tr("give -pretrained_weights the path of a checkpoint file that exists (NAME.model)"
                        if _from_pretrained_weights(m) else
                        "predict with a -chk every fold has (the check lists them; without -chk v1 asks for "
                        "model_final_checkpoint), or finish the training first (nnUNet_train with -c continues from "
                        "model_latest, else model_best); model_latest (written every 50 epochs, deleted when the "
                        "training ends) and model_best (the epoch with the best moving average of the online pseudo "
                        "Dice, not a validated choice) are not the final model",
                        "给 -pretrained_weights 一个存在的检查点文件(NAME.model)的路径"
                        if _from_pretrained_weights(m) else
                        "用每个 fold 都有的检查点作 -chk 预测(检查会列出它们;不给 -chk 时 v1 要的是 "
                        "model_final_checkpoint),或者先把训练跑完(nnUNet_train 加 -c 会从 model_latest 继续,没有它"
                        "就从 model_best 继续);model_latest(每 50 个 epoch 写一次,训练结束时被删除)和 model_best"
                        "(在线伪 Dice 的滑动平均最好的那个 epoch,并不是验证过的选择)都不是最终模型"),
           _guarded(_check_checkpoint_file),
           lambda: tr("v2's checkpoints are checkpoint_final.pth, checkpoint_latest.pth and checkpoint_best.pth "
                      "(-chk)",
                      "v2 的检查点是 checkpoint_final.pth、checkpoint_latest.pth 和 checkpoint_best.pth(-chk)")),
    _Known("final_checkpoint", "Final checkpoint not found. Expected: ... Please finish the training first.",
           re.compile(r"Final checkpoint not found\. Expected: (?P<path>[^\n]+?\.model)\. Please finish"),
           lambda m: tr("nnUNet_train -val (validation only) loads model_final_checkpoint.model from the fold "
                        "folder, which v1 writes only when run_training ends; it is not there: this fold's training "
                        "has not finished (stopped, crashed or still running), it ran with --disable_saving (which "
                        "writes no final checkpoint), or -val names another folder than the training's "
                        "(configuration, trainer, -p, fold or RESULTS_FOLDER; v1 creates the fold folder when it "
                        "initializes, so an empty one proves nothing)",
                        "nnUNet_train -val(只做验证)从 fold 文件夹加载 model_final_checkpoint.model,v1 只在 "
                        "run_training 结束时才写出它;它不在那里:这个 fold 的训练还没有结束(被停下、崩溃或者还在运行)、"
                        "训练时用了 --disable_saving(它不写最终检查点),或者 -val 指向的不是训练时的文件夹(配置、"
                        "trainer、-p、fold 或 RESULTS_FOLDER;v1 初始化时会创建 fold 文件夹,所以一个空文件夹说明不了"
                        "什么)"),
           lambda m: tr("finish the training first: where the fold has model_latest or model_best (the check "
                        "lists them), the same command with -c instead of -val continues from model_latest (else "
                        "model_best) and validates at its end; where it has none, train it from the start without -c "
                        "(v1's --valbest validates model_best instead, but its help says hands off, and it writes into "
                        "the same validation_raw unless --val_folder names another)",
                        "先把训练跑完:如果这个 fold 有 model_latest 或 model_best(检查会列出它们),同样的命令把 -val "
                        "换成 -c,会从 model_latest(没有它就从 model_best)继续,并在结束时验证;如果一个也没有,就不加 "
                        "-c 从头训练(v1 的 --valbest 改为验证 model_best,但它的帮助说不要碰它,而且除非 --val_folder "
                        "另给名字,它写进同一个 validation_raw)"),
           _guarded(_check_final_checkpoint)),
    _Known("no_checkpoint", "No checkpoint found",
           re.compile(r"\bNo checkpoint found\b"),
           lambda m: tr("-c (continue training) loads, from the fold folder, model_final_checkpoint.model, else "
                        "model_latest.model, else model_best.model (-val --valbest falls back to the same search "
                        "when model_best is missing); none is there: the run being continued wrote none yet "
                        "(model_latest every 50 epochs, model_best when the moving average of the online pseudo Dice "
                        "improves), or the configuration, trainer, -p, fold or RESULTS_FOLDER differ from the "
                        "training's, so v1 looked in another folder",
                        "-c(继续训练)从 fold 文件夹加载 model_final_checkpoint.model,没有就加载 model_latest.model,"
                        "再没有就加载 model_best.model(-val --valbest 在缺少 model_best 时也退回到同样的查找);一个也"
                        "不在:要继续的那次运行还没有写出检查点(model_latest 每 50 个 epoch 写一次,model_best 在在线"
                        "伪 Dice 的滑动平均提高时写出),或者配置、trainer、-p、fold 或 RESULTS_FOLDER 与训练时不同,"
                        "所以 v1 找的是另一个文件夹"),
           lambda m: tr("run the training's own command (network, trainer, task, fold, -p and RESULTS_FOLDER as "
                        "then) with -c; where no checkpoint was written, start again without -c",
                        "用训练时的命令(网络、trainer、任务、fold、-p 和 RESULTS_FOLDER 都和当时一样)加 -c 运行;"
                        "如果根本没有写出过检查点,就不加 -c 重新开始"),
           _guarded(_check_task_checkpoints)),
    _Known("input_files", "missing files in input_folder / input folder did not contain any images",
           re.compile(r"missing files in input_folder|input folder did not contain any images"),
           lambda m: tr("nnUNet_predict wants each case as one file per input channel, CASE_0000.nii.gz, "
                        "CASE_0001.nii.gz, ... (as many as the model's modalities); it takes the case ids from the "
                        "file names without their last 12 characters (the '_XXXX.nii.gz' part) and stops when a "
                        "case lacks a channel file, so a file named without its channel number becomes a case whose "
                        "id is its name cut short (several such files can share one)"
                        if m.group(0).startswith("missing") else
                        "nnUNet_predict reads only files ending in .nii.gz directly in -i (not in its subfolders), "
                        "and found none: the folder is wrong or empty, or its images are .nii, .mha, .nrrd or DICOM",
                        "nnUNet_predict 要求每个病例的每个输入通道一个文件:CASE_0000.nii.gz、CASE_0001.nii.gz、……"
                        "(数量等于模型的模态数);它把文件名去掉最后 12 个字符('_XXXX.nii.gz' 部分)当作病例 id,某个"
                        "病例缺少通道文件时就停下,所以一个没有通道编号的文件会成为一个病例,它的 id 是被截短的文件名"
                        "(几个这样的文件可能截成同一个 id)"
                        if m.group(0).startswith("missing") else
                        "nnUNet_predict 只读取直接位于 -i 中(不含子文件夹)、以 .nii.gz 结尾的文件,一个也没有找到:"
                        "文件夹不对或者是空的,或者图像是 .nii、.mha、.nrrd 或 DICOM"),
           lambda m: tr("name every image CASE_XXXX.nii.gz with the channel numbers of dataset.json's modality, as "
                        "in imagesTr (CASE_0000.nii.gz for a one-channel model)"
                        if m.group(0).startswith("missing") else
                        "point -i at the folder of images, and convert other formats to .nii.gz (SimpleITK's "
                        "ReadImage and WriteImage keep the geometry)",
                        "按 dataset.json 的 modality 通道编号把每个图像命名为 CASE_XXXX.nii.gz,和 imagesTr 一样"
                        "(单通道模型用 CASE_0000.nii.gz)"
                        if m.group(0).startswith("missing") else
                        "让 -i 指向图像文件夹,并把其它格式转成 .nii.gz(SimpleITK 的 ReadImage 和 WriteImage 保留几何"
                        "信息)"),
           _check_input_files,
           lambda: tr("v2 reads the file ending from dataset.json (file_ending) and the channel numbers from "
                      "channel_names",
                      "v2 从 dataset.json 读取文件扩展名(file_ending),从 channel_names 读取通道编号")),
    _Known("weights_only", "Weights only load failed",
           re.compile(r"Weights only load failed"),
           lambda m: tr("torch 2.6 and later load checkpoints with weights_only=True, and v1's checkpoints hold "
                        "numpy objects (its loss curves), which that refuses",
                        "torch 2.6 及以后的版本用 weights_only=True 加载检查点,而 v1 的检查点里有 numpy 对象(损失曲线),"
                        "于是被拒绝"),
           lambda m: tr("export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for v1 (only for checkpoints you trust); the "
                        "explorer reads v1's checkpoints with an allow-list instead",
                        "为 v1 设置 export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1(只用于你信任的检查点);explorer 改用"
                        "白名单读取 v1 的检查点"),
           _nothing),
    _Known("device_assert", "device-side assert triggered",
           re.compile(r"device-side assert triggered"),
           lambda m: tr("a CUDA kernel's check failed; in nnU-Net training it is nearly always a label value outside "
                        "0..num_classes-1 reaching the cross-entropy (labels not consecutive, or not in dataset.json)",
                        "一个 CUDA 内核的检查失败了;在 nnU-Net 训练中几乎总是某个超出 0..num_classes-1 的标签值进入了"
                        "交叉熵(标签不连续,或不在 dataset.json 中)"),
           lambda m: tr("`nnunet-explorer check_dataset -t TASK` lists the label values of every case; run with "
                        "CUDA_LAUNCH_BLOCKING=1 to see the failing line",
                        "`nnunet-explorer check_dataset -t TASK` 会列出每个病例的标签值;用 CUDA_LAUNCH_BLOCKING=1 "
                        "运行可以看到出错的那一行"),
           _nothing),
    _Known("empty_image", "zero-size array to reduction operation",
           re.compile(r"zero-size array to reduction operation"),
           lambda m: tr("a numpy reduction got an empty array; in v1's cropping that is an image whose nonzero mask "
                        "is empty (all zeros), so the crop box has no voxels",
                        "一个 numpy 归约得到了空数组;在 v1 的裁剪中,这是非零掩码为空(全为零)的图像,裁剪框里没有体素"),
           lambda m: tr("`nnunet-explorer check_dataset -t TASK` names the empty case; fix or remove it",
                        "`nnunet-explorer check_dataset -t TASK` 会指出空的病例;修复或删除它"),
           _nothing,
           raised_here=_said_in_many_places),
)


def _first_said(pattern: re.Pattern, text: str) -> re.Match | None:
    """The first match that is not a traceback's echo of source code (Python prints the line that raised, such as
    ``raise RuntimeError("One or more background workers ...``, under its ``File "..."`` line, before the message
    itself), else the first match."""
    first = None
    for match in pattern.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        previous = text[text.rfind("\n", 0, max(line_start - 1, 0)) + 1:max(line_start - 1, 0)]
        if not previous.lstrip().startswith('File "'):
            return match
        first = first or match
    return first


def explain(text: str, *, task: str | None = None, environ: Mapping[str, str] | None = None,
            plans_identifier: str = default_plans_identifier,
            raised_at: list[tuple[str, str]] | None = None, report_check_errors: bool = False) -> list[Diagnosis]:
    """Every known message in ``text`` (a message or a whole log), first occurrence each, in the text's order.

    ``task`` (a name or id, like ``-t``) lets the checks read that task's plans and results; ``plans_identifier``
    (like v1's ``-p``) names the plans file they read, ``<plans_identifier>_plans_3D.pkl`` (``_plans_2D.pkl``
    for a 2d run); ``environ`` is the environment the checks use (default: this process's). ``raised_at`` is for an
    error this process raised (the command line's): its traceback's (file, function) frames, innermost last; a
    message is then explained only where it is its problem's (not words torch or numpy say in many places, not an
    index error outside a loss). ``report_check_errors`` turns a check's own unexpected error into a line of its
    findings (the command line's way: the cause and the fix still show) instead of raising it (the tests' way).
    """
    ctx = _Context(text, task, os.environ if environ is None else environ, plans_identifier)
    hits = sorted(((m.start(), known, m) for known in KNOWN if (m := _first_said(known.pattern, text))
                   and (raised_at is None or known.raised_here(raised_at))),
                  key=lambda hit: hit[0])
    out = []
    for _, known, match in hits:
        line_start = text.rfind("\n", 0, match.start()) + 1
        line_end = text.find("\n", match.end())
        quoted = text[line_start:line_end if line_end >= 0 else len(text)].strip()
        try:
            found = tuple(known.check(match, ctx))
        except Exception as exc:  # noqa: BLE001 - raised on unless asked; the line names it as ours to mend
            if not report_check_errors:
                raise
            found = (tr(f"this check stopped on an error of nnunet-explorer's own ({type(exc).__name__}: {exc}); "
                        "the cause above and the fix below do not depend on it (`nnunet-explorer doctor --explain` "
                        "with `--debug` shows where it stopped; please report it)",
                        f"这项检查因 nnunet-explorer 自身的错误而中止({type(exc).__name__}: {exc});上面的原因和"
                        "下面的解决办法不依赖于它(`nnunet-explorer doctor --explain` 加上 `--debug` 可以看到它在哪里"
                        "中止;请报告它)"),)
        same = next((d for d in out if found and d.found == found), None)  # two messages of one problem in a log
        if same is not None:
            found = (tr(f"the same as checked for '{same.quoted}' above", f"与上面对 '{same.quoted}' 的检查相同"),)
        out.append(Diagnosis(known.name, quoted, known.cause(match), found, known.fix(match), known.v2()))
    return out


#: the lines where v1 prints a path inside a task's folders: nnUNet_train's data folder, nnUNet_predict's model
_TASK_PATH_LINE = re.compile(r"^[^\n]*?(?P<line>(?:I am using data from this folder:|using model stored in)"
                             r"\s+(?P<path>\S[^\n]*?))\s*$", re.M)


def task_named_in(text: str) -> tuple[str, str] | None:
    """The task a v1 log names where nnUNet_train prints its data folder ("I am using data from this folder: ...")
    or nnUNet_predict its model ("using model stored in ..."), the last such line first: (task name, the line).
    None when the log has neither (the checks then ask for ``-t``)."""
    for found in reversed(list(_TASK_PATH_LINE.finditer(text))):
        for part in reversed(_message_path(found.group("path").strip()).parts):
            if re.fullmatch(r"Task\d{3,}_.+", part):
                return part, found.group("line").strip()
    return None


def known_messages() -> list[str]:
    """The recognised messages as v1 prints them (for the "nothing recognised" answer)."""
    return [k.shown for k in KNOWN]


__all__ = ["Diagnosis", "KNOWN", "explain", "known_messages", "task_named_in"]
