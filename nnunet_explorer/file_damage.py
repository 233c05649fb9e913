"""v1's files damaged on disk: finding them, and what mends each.

nnU-Net v1 writes its data and checkpoints straight into place (``np.savez_compressed``, ``pickle.dump``,
``np.save``, ``torch.save``), never atomically. A run killed while writing, a disk that fills, a machine that
crashes or a copy cut short leaves a file that fails the next run with words far from its cause ("Ran out of
input", "File is not a zip file", "PytorchStreamReader failed reading zip archive"). :func:`damaged_files` finds such
files without running anything; :func:`remedy` says what mends each, by what wrote it. ``doctor`` and
``doctor --explain`` read both. (The explorer's own writes are atomic: :mod:`.fileio`.)
"""
from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .fileio import PathLike
from .language import tr

if TYPE_CHECKING:
    import zipfile

    from .paths import Workspace


_LFS_POINTER = b"version https://git-lfs"
_CHECKED_ENDINGS = (".npz", ".pkl", ".model")


def damaged_file(path: PathLike, *, whole: bool = False) -> str | None:
    """Why a v1 ``.npz``, ``.pkl`` or checkpoint (``.model``) cannot be what its name says, or None.

    v1 writes none of these atomically (``np.savez_compressed``, ``pickle.dump`` and ``torch.save`` straight into
    the target), so a run killed or a disk filled while writing leaves a file cut short, and a machine that
    crashed may leave one of zeros; a copy or a Git LFS checkout can leave a pointer instead of the file. The
    check reads little and runs nothing: an ``.npz``'s zip directory and its arrays' headers, a pickle's opcodes
    (walked with :mod:`pickletools`, not executed), a checkpoint's zip directory and its ``data.pkl``. An ``.npz``
    damaged only inside its array data behind a whole zip directory (a copy error, a failing disk) passes unless
    ``whole`` is set, which decompresses every array and checks its CRC as numpy would when it loads it, and
    compares every member of a checkpoint with its CRC (torch never does: a changed byte in a tensor loads as a
    changed weight); a checkpoint in torch's format before 1.6 (pickles one after the other, not a zip) that begins
    as one passes.

    Raises:
        OSError: the file cannot be read at all (a broken link, no permission).
    """
    path = Path(path)
    with open(path, "rb") as handle:
        start = handle.read(4096)
    if not start:
        return tr("empty (0 bytes)", "空文件(0 字节)")
    if start.startswith(_LFS_POINTER):
        return tr("a Git LFS pointer, not the file itself (fetch it: git lfs pull)",
                  "是 Git LFS 的指针,不是文件本身(先取回它:git lfs pull)")
    if not start.strip(b"\0"):
        return tr("its first bytes are zeros (a write the system did not finish before a crash)",
                  "开头全是零字节(系统崩溃前没有写完)")
    try:
        if path.name.endswith(".npz"):
            return _damaged_npz(path, whole)
        if path.name.endswith(".pkl"):
            return _damaged_pickle(path.read_bytes())
        if path.name.endswith(".model"):
            return _damaged_checkpoint(path, start, whole)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file makes zipfile, numpy and zlib fail in many ways
        return tr(f"cannot be read as what its name says ({type(exc).__name__}: {exc})",
                  f"无法按它的名字所说的格式读取（{type(exc).__name__}: {exc}）")
    return None


def _damaged_npz(path: Path, whole: bool) -> str | None:
    import zipfile
    import zlib

    from .training.dataloading import read_npy_header

    member = ""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            if not members:
                return tr("a zip archive without arrays", "是不含数组的 zip 压缩包")
            for member in members:
                with archive.open(member) as handle:
                    read_npy_header(handle)
                    while whole and handle.read(1 << 22):  # to its end, where zipfile compares the CRC
                        pass
    except zipfile.BadZipFile as exc:
        if str(exc).startswith("Bad CRC-32"):
            return tr(f"its array {member} is damaged behind a whole zip directory (its CRC does not match): a copy "
                      "error, a failing disk, a crash before the data reached the disk or two runs writing the file",
                      f"其中的数组 {member} 在完整的 zip 目录之后损坏(CRC 不符):复制错误、有故障的磁盘、数据写到磁盘"
                      "之前的崩溃,或者两次运行同时写这个文件")
        return tr(f"not a whole zip archive ({exc}): cut short or overwritten",
                  f"不是完整的 zip 压缩包({exc}):被截断或被覆盖")
    except (ValueError, EOFError, zlib.error, OSError) as exc:  # the file opened: an OSError here is its content
        return tr(f"its array {member} cannot be read ({exc})", f"其中的数组 {member} 无法读取({exc})")
    return None


def _damaged_pickle(data: bytes) -> str | None:
    import pickletools

    try:
        for _ in pickletools.genops(data):
            pass
    except ValueError as exc:  # pickletools' words for a stream cut short or one that is no pickle
        return tr(f"not a whole pickle ({exc})", f"不是完整的 pickle({exc})")
    return None


def _damaged_checkpoint(path: Path, start: bytes, whole: bool = False) -> str | None:
    import zipfile

    if not zipfile.is_zipfile(path):
        if start[:1] == b"\x80":  # torch's format before 1.6: pickles one after the other
            return None
        return tr("not a torch checkpoint (torch saves one as a zip archive): cut short or overwritten",
                  "不是 torch 的检查点(torch 把检查点存成 zip 压缩包):被截断或被覆盖")
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"]
    if not infos:
        return tr("a zip archive without torch's data.pkl", "是没有 torch 的 data.pkl 的 zip 压缩包")
    why = _damaged_pickle(_stored_member(path, infos[0]))
    if why:
        return tr(f"its data.pkl is {why}", f"其中的 data.pkl {why}")
    if whole:  # every tensor's bytes against the CRC torch wrote; torch itself never compares them
        with zipfile.ZipFile(path) as archive:
            changed = archive.testzip()
        if changed is not None:
            return tr(f"its {changed} does not match its CRC: torch loads it without checking, with tensor values "
                      "changed since it was saved (a copy error, a failing disk or bad memory)",
                      f"其中的 {changed} 与它的 CRC 不符:torch 加载时不检查,会读到保存之后被改动的张量值(复制错误、有"
                      "故障的磁盘或内存)")
    return None


def _stored_member(path: Path, info: "zipfile.ZipInfo") -> bytes:
    """The bytes of a member torch stored uncompressed, as torch reads them: without zipfile's CRC check, which
    torch does not make (a changed byte that still unpickles loads in torch, and is not called damaged here)."""
    import struct

    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        handle.seek(info.header_offset + 30 + name_length + extra_length)
        return handle.read(info.compress_size)


def damaged_files(folder: PathLike, *, whole: bool = False) -> tuple[int, list[tuple[Path, str]]]:
    """The ``.npz``, ``.pkl`` and ``.model`` files under ``folder``: how many, and those
    :func:`damaged_file` finds damaged (``whole``: each ``.npz`` decompressed to its end, each checkpoint compared
    with its CRCs) or that cannot be read at all, and every folder that cannot be listed, each with why (sorted by
    path)."""
    import sys

    from tqdm import tqdm

    damaged: list[tuple[Path, str]] = []

    def unlisted(error: OSError) -> None:  # a folder this user cannot list (pathlib's rglob would skip it silently)
        damaged.append((Path(error.filename), tr(f"a folder that cannot be listed: {error.strerror or error}",
                                                 f"无法列出内容的文件夹:{error.strerror or error}")))

    files = sorted(Path(root) / name for root, _, names in os.walk(folder, onerror=unlisted) for name in names
                   if name.endswith(_CHECKED_ENDINGS))
    # reading every .npz to its end takes minutes on a large task: a bar on a terminal (none in a log or a pipe)
    shown = tqdm(files, desc=tr(f"reading {Path(folder).name} whole", f"正在完整读取 {Path(folder).name}"),
                 file=sys.stderr, leave=False, disable=None if whole else True)
    for f in shown:
        try:
            why = damaged_file(f, whole=whole)
        except OSError as exc:
            why = tr(f"cannot be read: {exc.strerror or type(exc).__name__}",
                     f"无法读取:{exc.strerror or type(exc).__name__}")
        if why:
            damaged.append((f, why))
    return len(files), sorted(damaged)


def task_files_folders(workspace: "Workspace", name: str) -> list[Path]:
    """Where a task's v1 files lie: cropped and preprocessed data, and every trained model of it."""
    results = sorted(p for p in workspace.network_training_output_dir.glob(f"*/{glob.escape(name)}") if p.is_dir())
    return [workspace.cropped_task_dir(name), workspace.preprocessed_task_dir(name), *results]


def whole_or_why(path: Path, *, whole: bool = False) -> str | None:
    """Why one file is damaged (:func:`damaged_file`, and for a .npy whether it is cut), or None."""
    from .training.dataloading import npy_damage, npy_sizes

    if path.name.endswith(".npy"):
        size, complete = npy_sizes(path)
        return npy_damage(size, complete) if complete is None or size < complete else None
    return damaged_file(path, whole=whole)


def _task_id(name: str | None) -> str:
    """What nnUNet_plan_and_preprocess takes after -t: the task's number (v1 casts it with int())."""
    number = re.match(r"Task(\d{3})_", name or "")
    return str(int(number.group(1))) if number else "ID"


def _where(path: Path, workspace: "Workspace | None") -> str:
    """Which of v1's folders holds the file: cropped, preprocessed, results, or other."""
    if workspace is not None:
        for kind, root in (("cropped", workspace.nnUNet_cropped_data), ("preprocessed", workspace.preprocessed),
                           ("results", workspace.network_training_output_dir)):
            if path.is_relative_to(root):
                return kind
    parts = path.parts
    if "nnUNet_cropped_data" in parts:
        return "cropped"
    if any("__" in part for part in parts[:-1]):  # a model folder is TRAINER__PLANS
        return "results"
    if any(re.fullmatch(r".+_stage\d+", part) for part in parts[:-1]) or path.name == "splits_final.pkl":
        return "preprocessed"
    return "other"


def remedy(path: Path, name: str | None, damaged: set[Path], workspace: "Workspace | None" = None) -> str:
    """What mends one damaged v1 file, by what wrote it (``damaged``: all the damaged files found; ``name``: the
    task, when known)."""
    from .tasks import is_macos_copy, macos_copy_fix
    from .training.checkpoint_saving import RESUME_ORDER

    task, file, where = _task_id(name), path.name, _where(path, workspace)
    if path.is_dir():  # listed by damaged_files when this user cannot list it: nothing in it was checked
        return tr(f"{path}: a folder this user cannot list, so its files were not checked: give your user read and "
                  "execute permission on it (chmod -R u+rX, or ask its owner), then check again",
                  f"{path}:当前用户无法列出这个文件夹的内容,所以其中的文件没有被检查:给你的用户读取和执行权限"
                  "(chmod -R u+rX,或请它的所有者设置),然后再检查一遍")
    if is_macos_copy(file):
        return tr(f"{file} is {macos_copy_fix()}", f"{file} 是{macos_copy_fix()}")
    if file.endswith(".model"):
        # one line per fold: its damaged checkpoints, and the first whole one -c would load once they are gone
        file = tr(", ", "、").join(sorted(f.name for f in damaged if f.parent == path.parent and f.suffix == ".model"))
        others = [c for c in RESUME_ORDER if (path.parent / c).is_file() and path.parent / c not in damaged]
        if not others:
            return tr(f"a checkpoint: {path.parent} holds no other whole one (v1's -c order: model_final_checkpoint, "
                      f"model_latest, model_best), so move {file} aside and train this fold again without -c",
                      f"这是检查点：{path.parent} 中没有别的完整检查点（v1 的 -c 顺序：model_final_checkpoint、"
                      f"model_latest、model_best），所以把 {file} 移开，不加 -c 重新训练这个 fold")
        return tr(f"a checkpoint: move {file} out of {path.parent}; -c then loads {others[0]} (v1's order: "
                  "model_final_checkpoint, model_latest, model_best) and nnUNet_predict takes it with "
                  f"-chk {others[0].removesuffix('.model')}",
                  f"这是检查点：把 {file} 移出 {path.parent}；-c 于是加载 {others[0]}（v1 的顺序：model_final_checkpoint、"
                  f"model_latest、model_best），nnUNet_predict 用 -chk {others[0].removesuffix('.model')} 选它")
    if file.endswith(".model.pkl"):
        return tr("a checkpoint's .model.pkl (the trainer's arguments and plans; only nnUNet_predict reads it, from "
                  "the first fold given with -f; -c and -val read only the .model): copy over it another .model.pkl "
                  "of this fold, or of another fold of the same trainer and plans (v1 writes the same arguments and "
                  "plans next to each checkpoint)",
                  "这是检查点的 .model.pkl（trainer 的参数和 plans；只有 nnUNet_predict 读它，而且只读 -f 给出的第一个 "
                  "fold 的；-c 和 -val 只读 .model）：用这个 fold 的另一个 .model.pkl，或同一 trainer 和 plans 的另一个 "
                  "fold 的 .model.pkl 覆盖它（v1 在每个检查点旁边写的是同样的参数和 plans）")
    if file == "splits_final.pkl":
        from .training.splits import too_few_for_folds

        cases = too_few_for_folds(path.parent)
        if cases is not None:  # v1 could not make its five folds in place of the file
            return tr(f"splits_final.pkl: write it again by hand (the task has {cases} training case(s), too few for "
                      "the five folds v1 would make in its place), or train fold all",
                      f"splits_final.pkl:手工重新写出它(这个任务只有 {cases} 个训练病例,不够 v1 代替它做出的五折划分),"
                      "或者训练 fold all")
        return tr("splits_final.pkl: delete it and v1 writes its five folds again at the next start (write yours "
                  "again if it held splits of your own)",
                  "splits_final.pkl:删除它,v1 下次启动时会重新写出五折划分(如果里面是你自己的划分,就重新写一遍)")
    if "pred_next_stage" in path.parts:
        return tr("a 3d_lowres prediction for the cascade: `nnUNet_train 3d_lowres TRAINER TASK FOLD -val` of the "
                  "fold that validates the case writes it again",
                  "这是级联用的 3d_lowres 预测:验证这个病例的 fold 运行 `nnUNet_train 3d_lowres TRAINER TASK FOLD "
                  "-val` 会重新写出它")
    if where == "results":
        if file == "plans.pkl" and "__" in path.parent.name:
            config, plans = path.parent.parent.parent.name, path.parent.name.split("__", 1)[1]
            source = f"{plans}_plans_{'2D' if config == '2d' else '3D'}.pkl"
            source_path = (workspace.preprocessed_task_dir(name) / source if workspace is not None and name
                           else f"nnUNet_preprocessed/{name or 'TASK'}/{source}")
            return tr(f"the model folder's copy of the plans (v1 copies it there at the start of training): copy "
                      f"{source_path} over it",
                      f"这是模型文件夹中 plans 的副本（v1 在训练开始时把它复制到那里）：用 {source_path} 覆盖它")
        return tr("written by validation or prediction: delete it, and `nnUNet_train ... -val` (with --npz for the "
                  "softmax .npz and its .pkl) writes it again",
                  "这是验证或预测写出的文件：删除它，`nnUNet_train ... -val`（softmax 的 .npz 及其 .pkl 要加 --npz）会"
                  "重新写出它")
    plans_file = re.fullmatch(r"(.+)_plans_(?:2D|3D)\.pkl", file)
    if plans_file and plans_file.group(1) != "nnUNetPlansv2.1":
        return tr(f"plans under the identifier {plans_file.group(1)!r}, which v1's default planners do not write: "
                  "a copy of your own is written again by hand; one a planner wrote (-pl3d/-pl2d) comes back with "
                  f"`nnUNet_plan_and_preprocess -t {task}` and that planner",
                  f"这是标识为 {plans_file.group(1)!r} 的 plans，v1 默认的规划器不写它：你自己的副本要重新手写；由某个"
                  f"规划器（-pl3d/-pl2d）写出的，用 `nnUNet_plan_and_preprocess -t {task}` 加上那个规划器重新生成")
    if plans_file or file == "dataset_properties.pkl":
        return tr(f"written by the planning: `nnUNet_plan_and_preprocess -t {task}` writes it again (and rewrites "
                  "the default plans files: edits made in them are lost)",
                  f"这是规划写出的文件：`nnUNet_plan_and_preprocess -t {task}` 会重新写出它（也会重写默认的 plans "
                  "文件：在其中做的修改会丢失）")
    if file in ("intensityproperties.pkl", "props_per_case.pkl"):
        return tr(f"the dataset analysis of the cropped data, which v1 reuses when it exists: delete it, then "
                  f"`nnUNet_plan_and_preprocess -t {task}` computes it again",
                  f"这是对裁剪后数据的分析结果，存在时 v1 会直接沿用：删除它，再运行 `nnUNet_plan_and_preprocess -t "
                  f"{task}`，它会重新计算")
    if where == "cropped":
        return tr(f"a cropped case: delete its .npz and .pkl, then `nnUNet_plan_and_preprocess -t {task}` crops it "
                  "again (v1 skips a case whose two cropped files exist) and preprocesses every case again",
                  f"这是裁剪后的病例:删除它的 .npz 和 .pkl,再运行 `nnUNet_plan_and_preprocess -t {task}`,它会"
                  "重新裁剪这个病例(两个裁剪文件都在时 v1 会跳过),并重新预处理所有病例")
    if where == "preprocessed" and file.endswith(".npy"):
        return tr("an unpacked case: delete the .npy; v1 unpacks it again from its .npz at the next start (the "
                  "explorer's train unpacks a cut one again by itself)",
                  "这是已解压的病例:删除这个 .npy;v1 下次启动时会从它的 .npz 重新解压(explorer 的 train 会自己重新"
                  "解压被截断的)")
    if where == "preprocessed":
        return tr(f"a preprocessed case: delete it and the case's .npy, then `nnUNet_plan_and_preprocess -t {task}` "
                  "writes every case's .npz and .pkl again and the next start unpacks the .npy",
                  f"这是预处理后的病例:删除它和这个病例的 .npy,再运行 `nnUNet_plan_and_preprocess -t {task}`,它会"
                  "重新写出每个病例的 .npz 和 .pkl,下次启动时会重新解压出 .npy")
    return tr("delete it and run again the step that wrote it", "删除它，再重新运行写出它的那一步")


def remedies(damaged: list[tuple[Path, str]], name: str | None, workspace: "Workspace | None" = None) -> list[str]:
    """The remedy of each kind of damaged file, once each."""
    paths = set(path for path, _ in damaged)
    return list(dict.fromkeys(remedy(path, name, paths, workspace) for path, _ in damaged))
