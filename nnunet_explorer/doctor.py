"""``nnunet-explorer doctor``: look at the environment the way nnU-Net v1 will see it, and name every problem.

Most failed nnU-Net v1 runs fail for reasons outside the network: a folder variable with quotes in it, a
task folder named ``Task01_...`` (Decathlon style, v1 wants three digits), a task id used by two names, a
dataset whose images miss their ``_0000`` suffix, or 12 training augmentation workers (plus 6 for
validation) on a 4-core laptop (v1's default when ``nnUNet_n_proc_DA`` is unset). :func:`run_doctor` checks all
of these without changing anything on disk and returns a :class:`DoctorReport`; each problem comes with its fix.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from . import __version__
from .errors import DatasetError, ExplorerError, PathsError
from .language import and_more, pad, tr
from .paths import ENV_PREPROCESSED, ENV_RAW, ENV_RESULTS, ENV_WORKSPACE, Workspace, resolve_workspace
from .tasks import TASK_NAME_PATTERN, list_tasks, resolve_task_name, verify_dataset_integrity
from .training.augmenter import usable_cpu_count

# v1's defaults when the variables are unset: nnunet/configuration.py; the 12 is default_data_augmentation.py's,
# used when nnunet/utilities/set_n_proc_DA.py finds neither the variable nor one of DKFZ's host names.
V1_DEFAULT_NUM_THREADS = 8
V1_DEFAULT_N_PROC_DA = 12
PINNED_BATCHGENERATORS = "0.25.5"


@dataclass(frozen=True)
class Finding:
    """One problem (or note) and how to fix it."""

    what: str
    fix: str


@dataclass(frozen=True)
class FolderStatus:
    """One of the folders v1 uses: its variable, path, where the value came from, and its state."""

    variable: str
    role: str
    path: Path
    origin: str
    state: str


@dataclass(frozen=True)
class DoctorReport:
    """Everything ``doctor`` found. ``problems`` decide the exit status; ``notes`` are advice."""

    folders: tuple[FolderStatus, ...]
    tasks: Mapping[str, tuple[str, ...]]
    versions: Mapping[str, str | None]
    threads: Mapping[str, str]
    problems: tuple[Finding, ...]
    notes: tuple[Finding, ...] = field(default=())
    #: with ``--read_whole``: how many .npz/.pkl/.model files of the tasks were read, every .npz to its end (None
    #: without it, or when the tasks could not be listed)
    read_whole: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        """The report as plain text, section by section."""
        lines = [tr("folders (nnU-Net v1 variables):", "文件夹(nnU-Net v1 的环境变量):")]
        for f in self.folders:
            lines.append(f"  {pad(_label(f.role), 34)} {f.path}")
            lines.append(f"  {'':<34} " + tr(f"from {f.origin}; {f.state}",
                                              f"来自 {_ORIGINS_ZH.get(f.origin, f.origin)};"
                                              f"{_STATES_ZH.get(f.state, f.state)}"))
        if not self.folders:
            lines.append("  " + tr("(could not be resolved, see problems)", "(无法确定,见问题)"))
        lines.append(tr("tasks (stages where each one exists):", "任务(各自存在于哪些阶段):"))
        lines += ([f"  {name:<34} {', '.join(places)}" for name, places in self.tasks.items()]
                  or ["  " + tr("(none yet)", "(还没有)")])
        if self.read_whole == 0:
            lines.append("  " + tr("(--read_whole: no .npz/.pkl/.model files to read)",
                                   "(--read_whole:没有可读取的 .npz/.pkl/.model 文件)"))
        elif self.read_whole is not None:
            lines.append("  " + tr(f"(--read_whole: {self.read_whole} .npz/.pkl/.model files read, every .npz "
                                   "decompressed to its end and every checkpoint compared with its CRCs; any damage is "
                                   "listed under problems)",
                                   f"(--read_whole:读取了 {self.read_whole} 个 .npz/.pkl/.model 文件,每个 .npz 都解压"
                                   "到了末尾,每个检查点都与它的 CRC 比较过;发现的损坏列在问题中)"))
        lines.append(tr("versions:", "版本:"))
        lines += [f"  {pad(_label(name), 34)} {value or tr('not installed', '未安装')}"
                  for name, value in self.versions.items()]
        lines.append(tr("processes and threads:", "进程与线程:"))
        lines += [f"  {pad(name, 34)} {value}" for name, value in self.threads.items()]
        for title, findings in ((tr("notes", "提示"), self.notes), (tr("problems", "问题"), self.problems)):
            if findings:
                lines.append(tr(f"{title} ({len(findings)}):", f"{title}(共 {len(findings)} 条):"))
                for finding in findings:
                    lines.append(f"  - {finding.what}")
                    lines.append(f"    {tr('fix: ', '解决办法:')}{finding.fix}")
        lines.append(tr("no problems found", "没有发现问题") if self.ok
                     else tr(f"{len(self.problems)} problem(s) found", f"发现 {len(self.problems)} 个问题"))
        return "\n".join(lines)


# The words in brackets after a folder or package name, for display (the names themselves stay keys).
_LABELS_ZH = {"(raw tasks)": "(原始任务)", "(trained models)": "(训练好的模型)", "(v1, for parity)": "(v1,用于一致性检查)"}


def _label(name: str) -> str:
    """``name`` with its bracketed explanation in the current language."""
    for english, chinese in _LABELS_ZH.items():
        if name.endswith(english):
            return name[: -len(english)] + tr(english, chinese)
    return name


_ORIGINS_ZH = {"environment": "环境变量", "default workspace": "默认工作区",
               f"default: {ENV_WORKSPACE}": f"默认值 {ENV_WORKSPACE}"}
_STATES_ZH = {"a FILE": "是一个文件", "exists, NOT writable": "已存在,不可写", "exists, writable": "已存在,可写",
              "CANNOT be created": "无法创建", "does not exist yet (created on first use)": "还不存在(首次使用时创建)"}


def _folder_state(variable: str, folder: Path, problems: list[Finding]) -> str:
    """Describe ``folder`` without creating it; add a problem if v1 could not create or write it."""
    fix = tr(f"point {variable} at a folder you can write to", f"让 {variable} 指向一个你有写权限的文件夹")
    if folder.exists():
        if not folder.is_dir():
            problems.append(Finding(tr(f"{variable}: {folder} is a file, not a folder",
                                       f"{variable}:{folder} 是一个文件,不是文件夹"), fix))
            return "a FILE"
        if not os.access(folder, os.W_OK | os.X_OK):
            problems.append(Finding(tr(f"{variable}: {folder} is not writable", f"{variable}:{folder} 不可写"), fix))
            return "exists, NOT writable"
        return "exists, writable"
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        problems.append(Finding(tr(f"{variable}: {folder} cannot be created because {ancestor} is a file",
                                   f"{variable}:无法创建 {folder},因为 {ancestor} 是一个文件"), fix))
        return "CANNOT be created"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        problems.append(Finding(tr(f"{variable}: {folder} cannot be created ({ancestor} is not writable)",
                                   f"{variable}:无法创建 {folder}({ancestor} 不可写)"), fix))
        return "CANNOT be created"
    return "does not exist yet (created on first use)"


def check_folders(workspace: Workspace, problems: list[Finding]) -> tuple[FolderStatus, ...]:
    """The folders v1 creates at import, each checked for existence and write access (nothing is created)."""
    rows = [
        (ENV_RAW, "nnUNet_raw_data_base", workspace.raw_data_base),
        (ENV_RAW, "  nnUNet_raw_data (raw tasks)", workspace.nnUNet_raw_data),
        (ENV_RAW, "  nnUNet_cropped_data", workspace.nnUNet_cropped_data),
        (ENV_PREPROCESSED, "nnUNet_preprocessed", workspace.preprocessed),
        (ENV_RESULTS, "RESULTS_FOLDER", workspace.results_folder),
        (ENV_RESULTS, "  nnUNet (trained models)", workspace.network_training_output_dir),
    ]
    return tuple(FolderStatus(variable, role, path, workspace.origin.get(variable, "?"),
                              _folder_state(variable, path, problems)) for variable, role, path in rows)


def _check_unpacked(workspace: Workspace, name: str, problems: list[Finding]) -> None:
    """A ``.npy`` cut short in the task's preprocessed folder fails v1's loaders whenever they draw that case."""
    from .training.dataloading import incomplete_npy_files

    folder = workspace.preprocessed_task_dir(name)
    checked = incomplete_npy_files(folder)
    bad = len(checked.cut) + len(checked.unreadable)
    if bad:
        shown = checked.listed(folder, most=5)
        problems.append(Finding(
            tr(f"preprocessed task {name}: {bad} unpacked case(s) cut short or unreadable: {shown}; v1 "
               "skips an existing .npy when it unpacks, and fails when it draws one, e.g. \"mmap length is greater "
               "than file size\"",
               f"预处理后的任务 {name}：{bad} 个已解压的病例被截断或无法读取：{shown}；v1 解压时跳过已存在"
               "的 .npy，抽到它们时会失败，例如 \"mmap length is greater than file size\""),
            tr("delete them (v1 unpacks a missing .npy again from its .npz; the explorer's train unpacks a cut one "
               "again itself); make room first if the disk is full",
               "删除它们（v1 会从 .npz 重新解压缺少的 .npy；explorer 的 train 会自己重新解压被截断的）；如果磁盘满了先"
               "腾出空间")))


def _check_stage_folders(workspace: Workspace, name: str, problems: list[Finding]) -> None:
    """Each stage of the task's plans trains from its own data folder; one not there fails v1's training."""
    from .planning.plans import missing_stage_folders

    missing = missing_stage_folders(workspace.preprocessed_task_dir(name))
    if not missing:
        return
    shown = tr("; ", "；").join(tr(f"{plans} stage {stage}: {folder.name}", f"{plans} 的 stage {stage}:{folder.name}")
                               for plans, stage, folder in missing[:5]) + and_more(5, len(missing))
    match = TASK_NAME_PATTERN.match(name)
    task_id = int(match.group(1)) if match else name
    problems.append(Finding(
        tr(f"preprocessed task {name}: the data folder of {len(missing)} planned stage(s) is not there ({shown}); v1's "
           "training of that configuration stops listing it (\"No such file or directory\")",
           f"预处理后的任务 {name}：{len(missing)} 个已规划的 stage 没有数据文件夹（{shown}）；v1 训练这个配置时会在列出"
           "它的内容时停下（\"No such file or directory\"）"),
        tr(f"preprocess the task: `nnUNet_plan_and_preprocess -t {task_id}` without -no_pp (it plans again as well, "
           "the same plans for the same data, and writes the default plans files again: keep a copy of plans edited "
           f"by hand) or `nnunet-explorer plan_and_preprocess -t {task_id}`; if the folders are in another copy of "
           "nnUNet_preprocessed, point the variable there",
           f"预处理这个任务：`nnUNet_plan_and_preprocess -t {task_id}`，不加 -no_pp（它也会重新规划，同样的数据得到"
           "同样的 plans，并重写默认的 plans 文件：手工改过的 plans 要先留一份副本），或 "
           f"`nnunet-explorer plan_and_preprocess -t {task_id}`；如果这些文件夹在另一份 nnUNet_preprocessed 中，"
           "就让这个变量指向那里")))


def _check_fold_count(workspace: Workspace, name: str, notes: list[Finding]) -> None:
    """Fewer training cases than v1's five folds, and no splits file: only fold ``all`` trains."""
    from .training.splits import too_few_for_folds

    task_dir = workspace.preprocessed_task_dir(name)
    cases = too_few_for_folds(task_dir)
    if cases is None or (task_dir / "splits_final.pkl").exists():
        return
    notes.append(Finding(
        tr(f"preprocessed task {name}: {cases} training case(s) and no splits_final.pkl; v1 makes a 5-fold split "
           "for any numbered fold, and scikit-learn refuses fewer cases than folds (\"Cannot have number of splits "
           "n_splits=5 greater than the number of samples\")",
           f"预处理后的任务 {name}：{cases} 个训练病例，且没有 splits_final.pkl；训练任何编号的 fold 时 v1 都要做 5 折"
           "划分，而 scikit-learn 拒绝病例数少于折数（\"Cannot have number of splits n_splits=5 greater than the number "
           "of samples\"）"),
        tr("train fold all, or write a splits_final.pkl with fewer folds into the task's preprocessed folder, or add "
           "cases", "训练 fold all，或者把折数更少的 splits_final.pkl 写进任务的预处理文件夹，或者添加病例")))


def _check_damaged(workspace: Workspace, name: str, problems: list[Finding], whole: bool = False) -> int:
    """A damaged .npz, .pkl or checkpoint of the task (v1 writes them in place) fails the run that reads it.
    ``whole``: each .npz decompressed to its end (damage inside its data, which only a CRC or zlib error shows
    otherwise) and each checkpoint's members compared with their CRCs (torch loads a changed one silently).
    Returns how many files were checked."""
    from .file_damage import damaged_files, remedies, task_files_folders

    damaged, checked = [], 0
    for folder in task_files_folders(workspace, name):
        if folder.is_dir():
            files, bad = damaged_files(folder, whole=whole)
            checked, damaged = checked + files, damaged + bad
    if not damaged:
        return checked
    roots = (workspace.raw_data_base, workspace.preprocessed, workspace.results_folder)  # the folders listed above
    named = [(next((f.relative_to(r) for r in roots if f.is_relative_to(r)), f), why) for f, why in damaged]
    shown = tr(", ", "、").join(tr(f"{f} ({why})", f"{f}（{why}）") for f, why in named[:5]) + and_more(5, len(named))
    # a checkpoint whose tensors changed behind their CRCs (the whole read) is the one kind v1 does not fail on
    silent = any(f.name.endswith(".model") and "CRC" in why for f, why in damaged)
    problems.append(Finding(
        tr(f"task {name}: {len(damaged)} damaged file(s): {shown}; v1 fails on each when it reads it"
           + (", except a checkpoint whose CRC does not match: torch loads it silently, with changed weights"
              if silent else "") + " (unless a run is writing it now: a checkpoint being saved, a case being unpacked)",
           f"任务 {name}：{len(damaged)} 个文件已损坏：{shown}；v1 读到其中任何一个都会失败"
           + ("，只有 CRC 不符的检查点例外：torch 会一声不吭地加载它，权重已被改动" if silent else "")
           + "（除非现在有运行正在写它：正在保存的检查点、正在解压的病例）"),
        tr("; ", "；").join(remedies(damaged, name, workspace))))
    return checked


def check_tasks(workspace: Workspace, problems: list[Finding], *, verify: bool = True, read_whole: bool = False,
                read: list[int] | None = None, only: str | None = None,
                notes: list[Finding] | None = None) -> dict[str, tuple[str, ...]]:
    """List the tasks per stage; flag badly named folders, ids used twice and broken raw tasks. ``read_whole``
    decompresses every .npz of every task to its end (slow on large tasks); ``read`` receives how many of the
    tasks' .npz, .pkl and .model files were checked; ``only`` (a task name) limits the file checks to it;
    ``notes`` receives advice (a task too small for v1's five folds)."""
    notes = [] if notes is None else notes
    found = {name: tuple(places) for name, places in list_tasks(workspace).items()}
    by_id: dict[int, list[str]] = {}
    for name, places in found.items():
        match = TASK_NAME_PATTERN.match(name)
        if not match:
            # v1's nnUNet_convert_decathlon_task asserts the underscore at index 6: exactly two digits
            decathlon = re.match(r"^Task(\d{2})_(.+)$", name)
            fix = (tr(f"convert it with v1's `nnUNet_convert_decathlon_task -i <path to {name}>`, which writes "
                      f"Task{int(decathlon.group(1)):03d}_{decathlon.group(2)}",
                      f"用 v1 的 `nnUNet_convert_decathlon_task -i <{name} 的路径>` 转换它,它会写出 "
                      f"Task{int(decathlon.group(1)):03d}_{decathlon.group(2)}") if decathlon
                   else tr("rename it TaskXXX_Name with at least three digits, e.g. Task004_Hippocampus",
                           "把它改名为至少三位数字的 TaskXXX_Name,例如 Task004_Hippocampus"))
            problems.append(Finding(tr(f"{name} ({', '.join(places)}) is not a valid v1 task name",
                                       f"{name}({', '.join(places)})不是有效的 v1 任务名"), fix))
            continue
        by_id.setdefault(int(match.group(1)), []).append(name)
    for task_id, names in sorted(by_id.items()):
        if len(names) > 1:
            problems.append(Finding(tr(f"task id {task_id} is used by {len(names)} names: {', '.join(names)} "
                                       "(v1 refuses an ambiguous id)",
                                       f"任务编号 {task_id} 被 {len(names)} 个名字使用:{', '.join(names)}"
                                       "(v1 拒绝有歧义的编号)"),
                                    tr("rename or remove all but one of them", "只保留其中一个,其余的改名或删除")))
    # A v1-named task straight in nnUNet_raw_data_base was meant for nnUNet_raw_data/ (a classic setup slip).
    if workspace.raw_data_base.is_dir():
        for path in sorted(workspace.raw_data_base.iterdir()):
            if path.is_dir() and TASK_NAME_PATTERN.match(path.name):
                problems.append(Finding(tr(f"{path} is a task folder at the wrong level; v1 does not look there",
                                           f"{path} 是放错了层级的任务文件夹;v1 不会在那里查找"),
                                        tr(f"move it to {workspace.nnUNet_raw_data / path.name}",
                                           f"把它移到 {workspace.nnUNet_raw_data / path.name}")))
    if verify:
        for name, places in found.items():
            if only is not None and name != only:
                continue
            if "preprocessed" in places:
                _check_unpacked(workspace, name, problems)
                _check_stage_folders(workspace, name, problems)
                _check_fold_count(workspace, name, notes)
            checked = _check_damaged(workspace, name, problems, whole=read_whole)
            if read is not None:
                read.append(checked)
            if "raw" not in places or not TASK_NAME_PATTERN.match(name):
                continue
            try:
                verify_dataset_integrity(workspace.raw_task_dir(name), read_voxels=False)
            except DatasetError as exc:
                problems.append(Finding(tr(f"raw task {name}: ", f"原始任务 {name}:") + exc.cause,
                                        exc.fix or tr("see above", "见上文")))
    return found


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_versions(problems: list[Finding], notes: list[Finding]) -> dict[str, str | None]:
    """Versions of Python and of the libraries v1 and the explorer depend on (torch imported for CUDA)."""
    from .parity import v1_version

    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "nnunet-explorer": __version__,
        "nnunet (v1, for parity)": v1_version(),
    }
    for dist in ("torch", "numpy", "SimpleITK", "batchgenerators", "scipy", "triton"):
        versions[dist] = _version(dist)
    try:
        import torch

        cuda = torch.cuda.is_available()
        if cuda:
            from .device import cudnn_refused, cudnn_version

            try:
                cudnn = cudnn_version() or tr("none", "无")
            except RuntimeError as exc:  # torch's words: another cuDNN on LD_LIBRARY_PATH, or one too new for a GPU
                cudnn = tr("unusable", "无法使用")
                problems.append(Finding(
                    cudnn_refused(exc),
                    tr("every convolution on the GPU needs it: do what torch's message asks (remove the other cuDNN "
                       "from LD_LIBRARY_PATH, or install a torch whose cuDNN supports every GPU of the machine)",
                       "GPU 上的每个卷积都需要它:照 torch 的报错去做(把另一个 cuDNN 从 LD_LIBRARY_PATH 中去掉,或者安装"
                       "其 cuDNN 支持这台机器每块 GPU 的 torch)")))
            versions["CUDA"] = tr(f"available ({torch.cuda.device_count()} device(s), CUDA {torch.version.cuda}, "
                                  f"cuDNN {cudnn})",
                                  f"可用({torch.cuda.device_count()} 个设备,CUDA {torch.version.cuda},cuDNN {cudnn})")
            _check_kernels(torch, problems)
            if versions["triton"] is None:
                notes.append(Finding(
                    tr("Triton is not installed: training with augmentation on the GPU runs the prefilters, the "
                       "interpolation, scikit-image's resize and numpy's float32 power and sums eagerly (a median of "
                       "~9,600 small kernel launches per batch at the blog's plans instead of ~320; the same "
                       "numbers)",
                       "没有安装 Triton:在 GPU 上做数据增强时,预滤波、插值、scikit-image 缩放以及 numpy 的 float32 幂与求和以 eager "
                       "方式逐个算子执行,不做内核融合(按原博客的规划,每个 batch 的小内核启动次数中位数约 9,600 次,而不是约 "
                       "320 次;结果相同)"),
                    "pip install triton"))
        elif torch.version.cuda:
            versions["CUDA"] = tr(f"not available (torch is built for CUDA {torch.version.cuda} but sees no GPU)",
                                  f"不可用(torch 是为 CUDA {torch.version.cuda} 构建的,但看不到 GPU)")
        else:
            versions["CUDA"] = tr("not available (CPU-only torch build)", "不可用(仅 CPU 的 torch 版本)")
    except ImportError:
        versions["CUDA"] = None
    for dist in ("torch", "numpy", "SimpleITK", "batchgenerators"):
        if versions[dist] is None:
            problems.append(Finding(tr(f"{dist} is not installed", f"{dist} 没有安装"),
                                    tr("pip install -e . (or `make install`)", "pip install -e .(或 `make install`)")))
    if versions["batchgenerators"] and versions["batchgenerators"] != PINNED_BATCHGENERATORS:
        notes.append(Finding(tr(f"batchgenerators {versions['batchgenerators']} is installed; parity with v1 was "
                                f"proven with {PINNED_BATCHGENERATORS} (0.25.4 changed segmentation interpolation)",
                                f"安装的是 batchgenerators {versions['batchgenerators']};与 v1 的一致性是用 "
                                f"{PINNED_BATCHGENERATORS} 验证的(0.25.4 改变了分割的插值)"),
                             f"pip install batchgenerators=={PINNED_BATCHGENERATORS}"))
    if versions["nnunet (v1, for parity)"] is None:
        notes.append(Finding(tr("nnU-Net v1 is not installed, so parity checks cannot run",
                                "没有安装 nnU-Net v1,所以无法运行一致性检查"),
                             "pip install -e '.[parity]' (nnunet==1.7.1)"))
    return versions


def _check_kernels(torch, problems: list[Finding]) -> None:
    """A GPU this torch build has no kernels for: torch only warns, and the first convolution then fails ("no kernel
    image is available", or cuDNN's EXECUTION_FAILED)."""
    from .device import cannot_start, missing_kernels

    arches = torch.cuda.get_arch_list()
    for index in range(torch.cuda.device_count()) if arches and torch.version.cuda else ():
        try:
            capability = tuple(torch.cuda.get_device_capability(index))
        except RuntimeError as exc:  # CUDA counts the GPU but cannot start on it: every run would fail the same way
            problems.append(Finding(
                cannot_start(index, exc),
                tr("`nvidia-smi` shows whether the driver sees the GPU and in what state; no run can use the GPU "
                   "until CUDA starts on it", "`nvidia-smi` 会显示驱动是否看得到这块 GPU 以及它的状态;在 CUDA 能在它"
                   "上面启动之前,任何运行都用不了它")))
            continue
        fix = missing_kernels(arches, capability)
        if fix is None:
            continue
        shown = ".".join(map(str, capability))
        problems.append(Finding(
            tr(f"GPU {index} ({torch.cuda.get_device_name(index)}) has compute capability {shown}, for which torch "
               f"{torch.__version__} (CUDA {torch.version.cuda}; kernels for {' '.join(arches)}) has no kernels: "
               "its first convolution fails",
               f"GPU {index}({torch.cuda.get_device_name(index)})的计算能力是 {shown},torch {torch.__version__}"
               f"(CUDA {torch.version.cuda};内核:{' '.join(arches)})没有它的内核:第一个卷积就会失败"),
            fix))


def check_threads(environ: Mapping[str, str], problems: list[Finding], notes: list[Finding]) -> dict[str, str]:
    """CPU cores, torch threads and v1's worker counts, as v1 will read them."""
    cpus = usable_cpu_count()
    out = {tr("CPU cores available", "可用的 CPU 核数"): str(cpus)}
    try:
        import torch

        out[tr("torch threads", "torch 线程数")] = str(torch.get_num_threads())
    except ImportError:
        pass
    for variable, default, role in (("nnUNet_n_proc_DA", V1_DEFAULT_N_PROC_DA,
                                     tr("augmentation workers", "个数据增强工作进程")),
                                    ("nnUNet_def_n_proc", V1_DEFAULT_NUM_THREADS,
                                     tr("default worker processes", "个默认工作进程"))):
        raw = environ.get(variable)
        if raw is None:
            out[variable] = tr(f"unset -> v1 uses {default} {role}", f"未设置 -> v1 使用 {default} {role}")
            if default > cpus:
                # v1 also starts max(n // 2, 1) validation workers (6 of 12); they mostly wait with a batch ready
                # while training iterations run, so the training workers are the ones compared with the cores
                extra = (tr(f" (and {max(default // 2, 1)} more for validation)",
                            f"(另有 {max(default // 2, 1)} 个用于验证)")
                         if variable == "nnUNet_n_proc_DA" else "")
                notes.append(Finding(tr(f"{variable} is unset, so v1 starts {default} {role}{extra} on {cpus} CPU "
                                        "cores",
                                        f"{variable} 未设置,所以 v1 在 {cpus} 个 CPU 核上启动 {default} {role}{extra}"),
                                     f"export {variable}={max(1, cpus)}"))
            continue
        try:
            value = int(raw)
        except ValueError:
            out[variable] = tr(f"{raw!r} (INVALID)", f"{raw!r}(无效)")
            problems.append(Finding(tr(f"{variable}={raw!r} is not a whole number (v1 calls int() on it and crashes)",
                                       f"{variable}={raw!r} 不是整数(v1 对它调用 int() 会崩溃)"),
                                    f"export {variable}={max(1, cpus)}"))
            continue
        out[variable] = f"{value} {role}"
        if value < 1 and variable == "nnUNet_n_proc_DA":
            problems.append(Finding(tr(f"{variable}={value}: v1 needs at least one augmentation worker",
                                       f"{variable}={value}:v1 至少需要一个数据增强工作进程"),
                                    f"export {variable}=1"))
        elif value > cpus and variable == "nnUNet_n_proc_DA":
            finding = Finding(tr(f"{variable}={value} is larger than the {cpus} CPU cores available; the workers "
                                 "compete for the cores and training slows down",
                                 f"{variable}={value} 大于可用的 {cpus} 个 CPU 核;工作进程争抢 CPU 核,训练变慢"),
                              f"export {variable}={cpus}")
            # Two workers on a one-core machine cost little (the Makefile's default of 2 must not fail there);
            # more than that is the slowdown users report.
            (problems if value > 2 else notes).append(finding)
        elif value > cpus:
            # v1's default_num_threads sizes the pools of unpacking, the validation's export, evaluation,
            # postprocessing, ensembling and --verify_dataset_integrity; not the training's augmentation, not
            # preprocessing (-tl/-tf) and not nnUNet_predict (--num_threads_preprocessing/_nifti_save): a note, as
            # its unset default of 8 is
            notes.append(Finding(tr(f"{variable}={value} is larger than the {cpus} CPU cores available; the "
                                    "processes of unpacking, validation export, evaluation, postprocessing and the "
                                    "integrity check compete for the cores (preprocessing uses -tl/-tf, "
                                    "nnUNet_predict its --num_threads_* options, training's augmentation "
                                    "nnUNet_n_proc_DA)",
                                    f"{variable}={value} 大于可用的 {cpus} 个 CPU 核;解压、验证导出、评估、后处理和完整性检查的"
                                    "进程争抢 CPU 核(预处理用 -tl/-tf,nnUNet_predict 用它的 --num_threads_* 选项,训练的"
                                    "数据增强用 nnUNet_n_proc_DA)"),
                                 f"export {variable}={cpus}"))
    return out


def _only_task(task: str | None, workspace: Workspace, problems: list[Finding]) -> str | None:
    """The task name ``-t`` gives (None without it); one that names no task is a problem, and then no task's
    files are checked (the empty name)."""
    if task is None:
        return None
    try:
        return resolve_task_name(task, workspace)
    except ExplorerError as exc:
        problems.append(Finding(tr("-t: ", "-t:") + exc.cause.splitlines()[0],  # the tasks are listed above
                                exc.fix or tr("give a task listed above", "给出上面列出的某个任务")))
        return ""


def run_doctor(environ: Mapping[str, str] | None = None, *, verify_tasks: bool = True,
               read_whole: bool = False, task: str | None = None) -> DoctorReport:
    """Check folders, tasks, versions and worker settings; change nothing on disk. ``read_whole``: the task check
    decompresses every .npz to its end instead of reading its zip directory and array header; ``task`` (a name or
    id, like ``-t``): only that task's files are checked (every task is still listed)."""
    env = os.environ if environ is None else environ
    problems: list[Finding] = []
    notes: list[Finding] = []
    folders: tuple[FolderStatus, ...] = ()
    tasks: dict[str, tuple[str, ...]] = {}
    read: list[int] | None = None  # files each task's damage check read, once the tasks could be listed
    try:
        workspace = resolve_workspace(env)
    except PathsError as exc:
        problems.append(Finding(exc.cause, exc.fix or tr(f"check {ENV_RAW}, {ENV_PREPROCESSED}, {ENV_RESULTS}",
                                                         f"检查 {ENV_RAW}、{ENV_PREPROCESSED}、{ENV_RESULTS}")))
        workspace = None
    if workspace is not None:
        folders = check_folders(workspace, problems)
        if workspace.uses_defaults:
            unset = [v for v, how in workspace.origin.items() if how != "environment"]
            notes.append(Finding(tr(f"{', '.join(unset)} not set: the explorer uses its default workspace, but the "
                                    "real nnU-Net v1 would not find these folders",
                                    f"{'、'.join(unset)} 未设置:explorer 使用它的默认工作区,但真正的 nnU-Net v1 "
                                    "找不到这些文件夹"),
                                 tr(f"export the three variables in your shell profile (v1 reads only them; "
                                    f"{ENV_WORKSPACE} is the explorer's own)",
                                    f"在 shell 配置文件中 export 这三个变量(v1 只读它们;{ENV_WORKSPACE} 是 "
                                    "explorer 自己的)")))
        try:
            only, counted = _only_task(task, workspace, problems), []
            tasks = check_tasks(workspace, problems, verify=verify_tasks, read_whole=read_whole, read=counted,
                                only=only, notes=notes)
            read = counted
        except (OSError, ExplorerError) as exc:
            problems.append(Finding(tr(f"could not list the tasks: {exc}", f"无法列出任务:{exc}"),
                                    tr("check the folders above", "检查上面的文件夹")))
    versions = check_versions(problems, notes)
    threads = check_threads(env, problems, notes)
    return DoctorReport(folders, tasks, versions, threads, tuple(problems), tuple(notes),
                        sum(read) if read_whole and verify_tasks and read is not None else None)
