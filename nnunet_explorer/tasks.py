"""Tasks: ``TaskXXX_Name`` folders, their ids, and v1's raw layout.

nnU-Net v1 names every task ``Task`` + a zero-padded id (at least three digits) + ``_`` + a name, and finds a
task from its id by looking for folders whose name starts with ``Task%03d`` in the cropped, preprocessed, raw
and results folders (``convert_id_to_task_name``). Exactly one distinct name must turn up.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np

from .errors import DatasetError, ExplorerError, TaskError
from .language import tr
from .fileio import load_json
from .paths import NETWORKS, Workspace, get_workspace
from .provenance import mirrors

TASK_NAME_PATTERN = re.compile(r"^Task(\d{3,})_(.+)$")


def task_prefix(task_id: int) -> str:
    """``"Task%03.0d" % task_id``: 4 -> ``Task004``, 1234 -> ``Task1234`` (no underscore)."""
    return "Task%03.0d" % task_id


def _subdirs_with_prefix(folder: Path, prefix: str) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith(prefix))


def task_search_folders(workspace: Workspace) -> list[tuple[str, Path]]:
    """The folders v1 searches for task names, in v1's order (cropped, preprocessed, raw, results)."""
    folders = [("cropped", workspace.nnUNet_cropped_data), ("preprocessed", workspace.preprocessed),
               ("raw", workspace.nnUNet_raw_data)]
    folders += [(f"results/{net}", workspace.network_training_output_dir / net) for net in NETWORKS]
    return folders


def list_tasks(workspace: Workspace | None = None) -> dict[str, list[str]]:
    """Every ``Task*`` folder name found, mapped to the places it exists (``raw``, ``cropped`` ...)."""
    workspace = workspace or get_workspace()
    found: dict[str, list[str]] = {}
    for place, folder in task_search_folders(workspace):
        for name in _subdirs_with_prefix(folder, "Task"):
            found.setdefault(name, []).append(place)
    return dict(sorted(found.items()))


@mirrors("nnunet.utilities.task_name_id_conversion:convert_id_to_task_name")
def convert_id_to_task_name(task_id: int, workspace: Workspace | None = None) -> str:
    """Find the one task folder name for ``task_id`` (e.g. 4 -> ``Task004_Hippocampus``).

    Raises :class:`TaskError` listing the tasks that exist if none matches, or the clashing names if the id
    is ambiguous (v1 raises ``RuntimeError`` in both cases).
    """
    workspace = workspace or get_workspace()
    prefix = task_prefix(task_id)
    candidates: list[str] = []
    for _place, folder in task_search_folders(workspace):
        candidates += _subdirs_with_prefix(folder, prefix)
    # v1 matches the ``Task%03d`` prefix only; we keep its rule but require '_' right after the prefix.
    # differs from v1: v1's prefix match makes id 100 also match Task1000_* (id 1000), and a hand-named
    # Task0041_* match id 4; with the '_' check each id finds only its own folders.
    unique = sorted({c for c in candidates if c[len(prefix):len(prefix) + 1] == "_"})
    if len(unique) > 1:
        raise TaskError(tr(f"more than one task name found for task id {task_id}: {', '.join(unique)}",
                           f"任务编号 {task_id} 找到了不止一个任务名:{', '.join(unique)}"),
                        fix=tr("rename or remove all but one of these folders; searched:",
                               "只保留其中一个文件夹,其余的改名或删除;查找过的文件夹:") + "\n" + _searched(workspace))
    if not unique:
        known = list_tasks(workspace)
        listing = ("\n".join(f"    {name}  ({', '.join(places)})" for name, places in known.items())
                   or "    " + tr("(none)", "(无)"))
        hints = "".join(f"\n  {tr('hint: ', '提示:')}{h}" for h in _id_hints(task_id, workspace))
        sample = _sample_hint(task_id)
        ids = {int(m.group(1)): name for name in known if (m := TASK_NAME_PATTERN.match(name))}
        near = [i for i in ids if _typo_of(task_id, i)]
        if near:  # most often a typo: the nearest id first
            nearest = min(near, key=lambda i: (abs(i - task_id), i))
            sample.insert(0, tr(f"the nearest task id here is {nearest} ({ids[nearest]}), if that is the one you "
                                "meant", f"这里最接近的任务编号是 {nearest}({ids[nearest]}),如果你指的是它"))
        raise TaskError(
            tr(f"could not find a task with the ID {task_id} (looked for folders named {prefix}_*)",
               f"找不到编号为 {task_id} 的任务(查找的是名为 {prefix}_* 的文件夹;v1 的报错:could not find a task "
               f"with the ID {task_id})")
            + "\n  " + tr("tasks that exist:", "已有的任务:") + f"\n{listing}\n  "
            + tr("folders searched:", "查找过的文件夹:") + f"\n{_searched(workspace)}{hints}",
            fix="".join(hint + tr("; or ", ";或者") for hint in sample) +
            tr("check the id, or put the task at nnUNet_raw_data_base/nnUNet_raw_data/TaskXXX_Name "
               "(`nnunet-explorer sample` writes one; `nnunet-explorer doctor` shows the folders in use)",
               "检查编号,或把任务放到 nnUNet_raw_data_base/nnUNet_raw_data/TaskXXX_Name"
               "(`nnunet-explorer sample` 可以写出一个;`nnunet-explorer doctor` 显示正在使用的文件夹)"),
        )
    return unique[0]


# The task ids ``nnunet-explorer sample KIND`` writes by default (commands/sample.py builds its kinds on these).
SAMPLE_TASK_IDS: dict[str, int] = {"synthetic-ct": 901, "synthetic-mr": 902, "real": 903, "kits19": 40}


def _sample_hint(task_id: int) -> list[str]:
    """The ``sample`` command that writes ``task_id``, if one does (40: the blog's KiTS19 case)."""
    for kind, sample_id in SAMPLE_TASK_IDS.items():
        if sample_id == task_id:
            if kind == "kits19":
                return [tr(f"`nnunet-explorer sample {kind}` writes the blog's Task040_KiTS (run_training.py "
                           "3d_fullres nnUNetTrainerV2 40 1), planned and preprocessed, into this workspace",
                           f"`nnunet-explorer sample {kind}` 会把原博客的 Task040_KiTS(run_training.py 3d_fullres "
                           "nnUNetTrainerV2 40 1)写入这个工作区,并已规划和预处理好")]
            return [tr(f"`nnunet-explorer sample {kind}` writes Task{task_id:03d} into this workspace",
                       f"`nnunet-explorer sample {kind}` 会把 Task{task_id:03d} 写入这个工作区")]
    return []


def _typo_of(asked: int, existing: int) -> bool:
    """Whether ``existing`` may be the id meant by a mistyped ``asked``: within 10, or one digit changed."""
    a, e = f"{asked:03d}", f"{existing:03d}"
    return abs(asked - existing) <= 10 or (len(a) == len(e) and sum(x != y for x, y in zip(a, e)) == 1)


def _id_hints(task_id: int, workspace: Workspace) -> list[str]:
    """Why ``task_id`` may not have resolved: near misses v1 would silently ignore."""
    hints: list[str] = []
    near = re.compile(rf"^(Task|Dataset)0*{task_id}_(.+)$")
    proper = f"{task_prefix(task_id)}_"
    places = [(place, folder) for place, folder in task_search_folders(workspace)]
    for place, folder in places:
        for name in _subdirs_with_prefix(folder, ""):
            match = near.match(name)
            if match and not name.startswith(proper):
                if match.group(1) == "Dataset":
                    hints.append(tr(f"{folder / name} uses nnU-Net v2's naming; v1 needs {proper}{match.group(2)}",
                                    f"{folder / name} 用的是 nnU-Net v2 的命名;v1 需要 {proper}{match.group(2)}"))
                else:
                    hints.append(tr(f"{folder / name} is not zero-padded to three digits; v1 needs "
                                    f"{proper}{match.group(2)} (a Decathlon download: nnUNet_convert_decathlon_task)",
                                    f"{folder / name} 没有补零到三位数;v1 需要 {proper}{match.group(2)}"
                                    "(Decathlon 下载的数据:用 nnUNet_convert_decathlon_task)"))
    # the right name at the wrong level, e.g. straight in nnUNet_raw_data_base or one folder too deep
    wrong_levels = [workspace.raw_data_base, workspace.nnUNet_raw_data / "nnUNet_raw_data"]
    if workspace.nnUNet_raw_data.is_dir():
        wrong_levels += [p for p in workspace.nnUNet_raw_data.iterdir() if p.is_dir()]
    for folder in wrong_levels:
        for name in _subdirs_with_prefix(folder, proper):
            hints.append(tr(f"{folder / name} is at the wrong level; move it to {workspace.nnUNet_raw_data / name}",
                            f"{folder / name} 所在的层级不对;把它移到 {workspace.nnUNet_raw_data / name}"))
    return hints


def _searched(workspace: Workspace) -> str:
    return "\n".join(f"    {place:<22} {folder}" for place, folder in task_search_folders(workspace))


@mirrors("nnunet.utilities.task_name_id_conversion:convert_task_name_to_id")
def convert_task_name_to_id(task_name: str) -> int:
    """``Task004_Hippocampus`` -> 4 (v1 reads characters 4..6; we read all the digits)."""
    match = TASK_NAME_PATTERN.match(task_name)
    if not match:
        raise TaskError(tr(f"{task_name!r} is not a task name", f"{task_name!r} 不是任务名"),
                        fix=tr("task names look like Task004_Hippocampus", "任务名形如 Task004_Hippocampus"))
    # differs from v1: v1 returns int(task_name[4:7]), so Task1234_X would become 123; four-digit ids are
    # legal in v1 ("Task%03.0d"), so we read every digit.
    return int(match.group(1))


def resolve_task_name(task: str | int, workspace: Workspace | None = None) -> str:
    """v1's rule in ``run_training.py``: a value starting with ``Task`` is a name, anything else an id."""
    if isinstance(task, str) and task.startswith("Task"):
        convert_task_name_to_id(task)  # validates the format
        return task
    try:
        task_id = int(task)
    except (TypeError, ValueError):
        raise TaskError(tr(f"{task!r} is neither a task id nor a task name", f"{task!r} 既不是任务编号也不是任务名"),
                        fix=tr("give a number such as 4 or a name such as Task004_Hippocampus",
                               "给出一个数字(例如 4)或一个任务名(例如 Task004_Hippocampus)")) from None
    return convert_id_to_task_name(task_id, workspace)


# --- dataset.json -----------------------------------------------------------------------------------------

DATASET_JSON = "dataset.json"
# The keys of the Medical Segmentation Decathlon format that v1's documentation asks for. v1's code itself
# reads only ``modality``, ``labels``, ``training`` and ``test``; ``name`` and ``numTraining`` are checked
# because a dataset.json without them is almost always a half-written one.
REQUIRED_DATASET_KEYS = ("name", "modality", "labels", "numTraining", "training")
NIFTI_SUFFIX = ".nii.gz"


def _case_id_from_entry(path_in_json: str) -> str:
    """v1's rule: the basename of the ``image`` entry minus its last 7 characters (``.nii.gz``)."""
    return path_in_json.split("/")[-1][: -len(NIFTI_SUFFIX)]


def load_dataset_json(task_dir: str | Path) -> dict:
    """Read ``task_dir/dataset.json`` and check that v1 can use it; return it unchanged.

    v1 relies on these facts without checking most of them (a wrong value fails much later, or silently
    trains on the wrong files):

    * ``modality`` maps ``"0"``, ``"1"`` ... (consecutive, from 0) to names; ``"CT"`` switches on CT
      normalization. Image files carry the index as a 4-digit suffix: ``CASE_0000.nii.gz``.
    * ``labels`` maps ``"0"`` (background) and consecutive integers to names (v1 asserts this in
      ``verify_dataset_integrity``).
    * ``training`` is a list of ``{"image": "./imagesTr/CASE.nii.gz", "label": "./labelsTr/CASE.nii.gz"}``;
      the case id is the image basename without ``.nii.gz`` (no modality suffix here).
    * ``test`` (optional here) is a list of ``"./imagesTs/CASE.nii.gz"``.

    Raises:
        DatasetError: naming the file and every bad key at once, each with its fix.
    """
    task_dir = Path(task_dir)
    path = task_dir / DATASET_JSON
    if not path.is_file():
        raise DatasetError(tr(f"{path} does not exist", f"{path} 不存在"),
                           fix=tr("every raw task needs a dataset.json next to imagesTr/ and labelsTr/ (see "
                                  "`nnunet-explorer sample` for an example)",
                                  "每个原始任务都需要一个与 imagesTr/ 和 labelsTr/ 放在一起的 dataset.json（示例见 "
                                  "`nnunet-explorer sample`）"))
    try:
        dataset = load_json(path)
    except ExplorerError as exc:
        raise DatasetError(exc.cause, fix=exc.fix) from None
    if not isinstance(dataset, dict):
        raise DatasetError(tr(f"{path} holds a {type(dataset).__name__}, not a JSON object",
                              f"{path} 里是一个 {type(dataset).__name__}，而不是 JSON 对象"),
                           fix=tr("the file must be one object {\"name\": ..., \"modality\": ..., ...}",
                                  "这个文件必须是一个对象 {\"name\": ..., \"modality\": ..., ...}"))
    problems = dataset_json_problems(dataset)
    if problems:
        raise DatasetError(tr(f"{path} is not a usable dataset.json ({len(problems)} problem(s)):",
                              f"{path} 不是可用的 dataset.json（{len(problems)} 个问题）：")
                           + "\n" + "\n".join(f"  - {p}" for p in problems),
                           fix=tr("correct the keys listed above and run the command again",
                                  "改正上面列出的键，然后再运行一次命令"))
    return dataset


def _is_int_key(key: object) -> bool:
    return isinstance(key, str) and key.strip().lstrip("-").isdigit()


def dataset_json_problems(d: dict) -> list[str]:
    """What in a loaded ``dataset.json`` v1 (or the explorer) cannot use: missing keys, label numbers without 0
    or with a gap, modalities not numbered 0, 1 ..., cases listed twice; each with its fix."""
    # differs from v1: v1 never reads 'name' or 'numTraining'; the explorer asks for them (without them a
    # dataset.json is almost always a half-written one)
    ignored = {"name", "numTraining"}
    problems = [tr(f"key '{k}' is missing (fix: add it)" + (" (v1 ignores this key; the explorer requires it)"
                                                          if k in ignored else ""),
                   f"缺少键 '{k}'（解决办法：加上它）" + ("（v1 不读这个键；explorer 要求有它）" if k in ignored else ""))
                for k in REQUIRED_DATASET_KEYS if k not in d]
    modality = d.get("modality")
    if "modality" in d:
        if not isinstance(modality, dict) or not modality:
            problems.append(tr("key 'modality' must be a non-empty object like {\"0\": \"CT\"}",
                               "键 'modality' 必须是一个非空对象，例如 {\"0\": \"CT\"}"))
        elif sorted(modality) != [str(i) for i in range(len(modality))]:
            problems.append(tr(f"key 'modality' has keys {sorted(modality)}; v1 needs \"0\", \"1\", ... consecutive "
                               "from 0 (the index is the _0000 suffix of the image files)",
                               f"键 'modality' 的键是 {sorted(modality)}；v1 要求 \"0\"、\"1\"……从 0 开始连续编号"
                               "（这个编号就是图像文件的 _0000 后缀）"))
    labels = d.get("labels")
    if "labels" in d:
        if not isinstance(labels, dict) or not labels:
            problems.append(tr("key 'labels' must be a non-empty object like {\"0\": \"background\", \"1\": \"organ\"}",
                               "键 'labels' 必须是一个非空对象，例如 {\"0\": \"background\", \"1\": \"organ\"}"))
        elif not all(_is_int_key(k) for k in labels):
            bad = [k for k in labels if not _is_int_key(k)]
            problems.append(tr(f"key 'labels' has non-integer keys {bad}; keys are the label values as strings",
                               f"键 'labels' 有不是整数的键 {bad}；键应是写成字符串的标签值"))
        else:
            values = sorted(int(k) for k in labels)
            if values[0] != 0:
                problems.append(tr("key 'labels' has no \"0\"; v1 needs label 0 = background",
                                   "键 'labels' 中没有 \"0\"；v1 要求标签 0 = 背景"))
            elif values != list(range(len(values))):
                problems.append(tr(f"key 'labels' has values {values}; v1 needs consecutive values 0, 1, 2, ... "
                                   "(renumber the label files and this key)",
                                   f"键 'labels' 的值是 {values}；v1 要求连续的值 0, 1, 2, ...（请给标签文件和这个键"
                                   "重新编号）"))
    training = d.get("training")
    if "training" in d:
        if not isinstance(training, list) or not training:
            problems.append(tr("key 'training' must be a non-empty list of {\"image\": ..., \"label\": ...}",
                               "键 'training' 必须是由 {\"image\": ..., \"label\": ...} 组成的非空列表"))
        else:
            seen: set[str] = set()
            for i, entry in enumerate(training):
                if not isinstance(entry, dict) or not isinstance(entry.get("image"), str) \
                        or not isinstance(entry.get("label"), str):
                    problems.append(tr(f"training[{i}] must be {{\"image\": \"./imagesTr/CASE.nii.gz\", "
                                       f"\"label\": \"./labelsTr/CASE.nii.gz\"}}, not {entry!r}",
                                       f"training[{i}] 必须是 {{\"image\": \"./imagesTr/CASE.nii.gz\", "
                                       f"\"label\": \"./labelsTr/CASE.nii.gz\"}}，而不是 {entry!r}"))
                    continue
                for key in ("image", "label"):
                    if not entry[key].endswith(NIFTI_SUFFIX):
                        problems.append(tr(f"training[{i}]['{key}'] = {entry[key]!r} does not end with .nii.gz "
                                           "(v1 reads only .nii.gz)",
                                           f"training[{i}]['{key}'] = {entry[key]!r} 不以 .nii.gz 结尾"
                                           "（v1 只读 .nii.gz）"))
                case = _case_id_from_entry(entry["image"])
                if case in seen:
                    problems.append(tr(f"training[{i}]: case '{case}' is listed twice (v1: duplicate training cases)",
                                       f"training[{i}]：病例 '{case}' 被列了两次（v1：duplicate training cases）"))
                seen.add(case)
                if entry["label"].split("/")[-1] != entry["image"].split("/")[-1]:
                    problems.append(tr(f"training[{i}]: image {entry['image']!r} and label {entry['label']!r} have "
                                       "different file names; v1 crops with the label the entry names, but "
                                       "--verify_dataset_integrity and validation look for labelsTr/CASE.nii.gz "
                                       "under the image's case name",
                                       f"training[{i}]：图像 {entry['image']!r} 和标签 {entry['label']!r} 的文件名"
                                       "不同；v1 裁剪时用条目里写的标签，但 --verify_dataset_integrity 和验证会按图像的病例名去找 "
                                       "labelsTr/CASE.nii.gz"))
                if re.search(r"_\d{4}\.nii\.gz$", entry["image"]):
                    problems.append(tr(f"training[{i}]['image'] = {entry['image']!r} carries a modality suffix; "
                                       "dataset.json names the case without _0000 (the files on disk have it)",
                                       f"training[{i}]['image'] = {entry['image']!r} 带有模态后缀；dataset.json "
                                       "中的病例名不带 _0000（磁盘上的文件才带）"))
    if "numTraining" in d and isinstance(training, list):
        # differs from v1: v1 never reads numTraining; a mismatch usually means a half-edited dataset.json.
        if not isinstance(d["numTraining"], int) or d["numTraining"] != len(training):
            listed = len(training)
            problems.append(tr(f"key 'numTraining' is {d['numTraining']!r} but 'training' lists {listed} cases "
                               f"(fix: set numTraining to {listed})",
                               f"键 'numTraining' 是 {d['numTraining']!r}，但 'training' 列出了 {listed} 个病例"
                               f"（解决办法：把 numTraining 设为 {listed}）"))
    # differs from v1: v1's integrity check fails with KeyError without 'test'; an absent key means no test cases.
    test = d.get("test", [])
    if not isinstance(test, list) or not all(isinstance(t, str) and t.endswith(NIFTI_SUFFIX) for t in test):
        problems.append(tr("key 'test' must be a list of \"./imagesTs/CASE.nii.gz\" strings",
                           "键 'test' 必须是由 \"./imagesTs/CASE.nii.gz\" 字符串组成的列表"))
    return problems


class TrainingCase(NamedTuple):
    """One training case: its id, one image file per modality (index order), its label file."""

    case_id: str
    images: list[Path]
    label: Path


@mirrors("nnunet.experiment_planning.utils:create_lists_from_splitted_dataset")
def training_cases(task_dir: str | Path, dataset: dict | None = None) -> list[TrainingCase]:
    """The training cases of a raw task, with the file names v1 derives from ``dataset.json``.

    v1's rule: for ``{"image": "./imagesTr/la_003.nii.gz", "label": "./labelsTr/la_003.nii.gz"}`` and two
    modalities the images are ``imagesTr/la_003_0000.nii.gz`` and ``imagesTr/la_003_0001.nii.gz`` and the
    label is ``labelsTr/la_003.nii.gz``. Only basenames count; the folders in the entries are ignored.
    Files are not checked here (see :func:`verify_dataset_integrity`).
    """
    task_dir = Path(task_dir)
    dataset = load_dataset_json(task_dir) if dataset is None else dataset
    num_modalities = len(dataset["modality"])
    cases = []
    for entry in dataset["training"]:
        case = _case_id_from_entry(entry["image"])
        images = [task_dir / "imagesTr" / f"{case}_{m:04d}{NIFTI_SUFFIX}" for m in range(num_modalities)]
        cases.append(TrainingCase(case, images, task_dir / "labelsTr" / entry["label"].split("/")[-1]))
    return cases


def listed_test_cases(task_dir: str | Path, dataset: dict | None = None) -> list[tuple[str, list[Path]]]:
    """The test cases listed in ``dataset.json``: ``(case_id, [imagesTs/CASE_0000.nii.gz, ...])``."""
    task_dir = Path(task_dir)
    dataset = load_dataset_json(task_dir) if dataset is None else dataset
    num_modalities = len(dataset["modality"])
    return [(case, [task_dir / "imagesTs" / f"{case}_{m:04d}{NIFTI_SUFFIX}" for m in range(num_modalities)])
            for case in (_case_id_from_entry(t) for t in dataset.get("test", []))]


# --- integrity --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Geometry:
    """What v1 compares between an image and its label: size (x, y, z), spacing, origin, direction (ITK order)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @mirrors("nnunet.preprocessing.sanity_checks:verify_same_geometry")
    def mismatches(self, other: "Geometry") -> list[str]:
        """Names of the fields that differ beyond v1's tolerance (``np.isclose`` defaults: rtol 1e-5, atol 1e-8)."""
        out = []
        for name in ("size", "spacing", "origin", "direction"):
            a, b = getattr(self, name), getattr(other, name)
            if len(a) != len(b) or not np.all(np.isclose(a, b)):
                out.append(f"{name} {_fmt(a)} vs {_fmt(b)}")
        return out

    @property
    @mirrors("nnunet.preprocessing.sanity_checks:verify_all_same_orientation")
    def axis_codes(self) -> str:
        """Orientation as nibabel's ``aff2axcodes`` would say it (e.g. ``RAS``), from the ITK (LPS) direction."""
        dim = len(self.size)
        direction = np.asarray(self.direction, float).reshape(dim, dim)
        codes = ""
        for column in range(min(dim, 3)):
            vector = direction[:3, column].copy()
            vector[:2] *= -1  # ITK world is LPS, nibabel's is RAS
            axis = int(np.argmax(np.abs(vector)))
            codes += ("LR", "PA", "IS")[axis][int(vector[axis] > 0)]
        return codes


def _fmt(values: tuple) -> str:
    return "(" + ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values) + ")"


def read_geometry(path: Path) -> Geometry:
    """Read only the header of ``path`` (no voxels) with ``sitk.ImageFileReader.ReadImageInformation``."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return Geometry(tuple(reader.GetSize()), tuple(reader.GetSpacing()), tuple(reader.GetOrigin()),
                    tuple(reader.GetDirection()))


def _geometry_of_image(image) -> Geometry:
    return Geometry(tuple(image.GetSize()), tuple(image.GetSpacing()), tuple(image.GetOrigin()),
                    tuple(image.GetDirection()))


@dataclass(frozen=True)
class IntegrityReport:
    """What :func:`verify_dataset_integrity` checked (it raises instead of returning when something is wrong)."""

    task_dir: Path
    read_voxels: bool
    num_training: int
    num_test: int
    num_modalities: int
    labels: tuple[int, ...]
    files_checked: int
    orientations: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    # case id -> label values found in its label file (only when read_voxels): the per-case label audit
    label_values: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # case id -> geometry of its label file (size, spacing, origin, direction; ITK order x, y, z)
    geometries: Mapping[str, Geometry] = field(default_factory=dict)

    def summary(self) -> str:
        mode = (tr("full check (headers, voxels, label values, NaN)", "完整检查（文件头、体素、标签值、NaN）")
                if self.read_voxels else tr("header-only check", "只检查文件头"))
        training, test, modalities, files = self.num_training, self.num_test, self.num_modalities, self.files_checked
        lines = [f"{self.task_dir.name}: OK — {mode}",
                 tr(f"  {training} training and {test} test cases, {modalities} modalities, labels "
                    f"{list(self.labels)}, {files} files",
                    f"  {training} 个训练病例和 {test} 个测试病例，{modalities} 个模态，标签 {list(self.labels)}，"
                    f"{files} 个文件")]
        lines += [tr(f"  warning: {w}", f"  警告：{w}") for w in self.warnings]
        if self.label_values:
            lines.append(tr("  label values per case: ", "  各病例的标签值：") + ", ".join(
                f"{case} {list(values)}" for case, values in self.label_values.items()))
        return "\n".join(lines)


def _rel(path: Path, task_dir: Path) -> str:
    try:
        return str(path.relative_to(task_dir))
    except ValueError:
        return str(path)


@mirrors("nnunet.preprocessing.sanity_checks:verify_dataset_integrity")
def verify_dataset_integrity(task_dir: str | Path, *, read_voxels: bool = True) -> IntegrityReport:
    """Check a raw task the way v1's ``verify_dataset_integrity`` does, and report every problem at once.

    v1 checks, in this order: ``dataset.json``, ``imagesTr/`` and ``labelsTr/`` exist; no case is listed
    twice; for every training case the label ``labelsTr/CASE.nii.gz`` and one image per modality
    ``imagesTr/CASE_%04d.nii.gz`` exist; each image has the label's size, spacing, origin and direction
    (``np.isclose``); no NaN in images or labels; no ``.nii.gz`` in imagesTr/labelsTr that dataset.json does
    not list; the declared labels are 0, 1, 2 ... and each label file holds only declared values; test
    images exist (and agree in geometry across modalities); and, as a warning only, all training images
    share one orientation.

    Args:
        task_dir: the raw task folder ``.../nnUNet_raw_data/TaskXXX_Name``.
        read_voxels: False runs only the header checks (files, names, geometry, seconds even for large
            tasks; meant to run before every preprocessing). True adds v1's voxel checks: label values and NaN.

    Returns:
        An :class:`IntegrityReport` when nothing is wrong.

    Raises:
        DatasetError: listing every problem, one line per case and file, each with its fix.
    """
    # differs from v1: v1 stops at the first missing file (assert); an image/label geometry mismatch it prints
    # per case and, after the last case, aborts with raise Warning(...) (whose text says it is not an error); we
    # collect every problem into one error, one line per case and file, because the arrays would not align.
    task_dir = Path(task_dir)
    if not task_dir.is_dir():
        raise DatasetError(tr(f"{task_dir} is not a folder", f"{task_dir} 不是文件夹"),
                           fix=tr("give the raw task folder nnUNet_raw_data/TaskXXX_Name",
                                  "请给出原始任务文件夹 nnUNet_raw_data/TaskXXX_Name"))
    dataset = load_dataset_json(task_dir)
    problems: list[str] = []
    for sub in ("imagesTr", "labelsTr"):
        if not (task_dir / sub).is_dir():
            what = tr("images", "图像") if sub == "imagesTr" else tr("labels", "标签")
            problems.append(tr(f"{sub}/ is missing (fix: create {task_dir / sub} and put the training {what} there)",
                               f"{sub}/ 不存在（解决办法：创建 {task_dir / sub}，把训练{what}放进去）"))
    if problems:
        raise _integrity_error(task_dir, problems)
    num_modalities = len(dataset["modality"])
    labels = tuple(sorted(int(k) for k in dataset["labels"]))
    files_checked = 0
    orientations: dict[str, list[str]] = {}
    listed_images: set[str] = set()
    listed_labels: set[str] = set()
    label_values: dict[str, tuple[int, ...]] = {}
    case_geometries: dict[str, Geometry] = {}
    for case in training_cases(task_dir, dataset):
        listed_images.update(p.name for p in case.images)
        listed_labels.add(case.label.name)
        missing = [p for p in (*case.images, case.label) if not p.is_file()]
        for path in missing:
            problems.append(tr(f"case {case.case_id}: {_rel(path, task_dir)} is missing",
                               f"病例 {case.case_id}：{_rel(path, task_dir)} 不存在") + missing_file_hint(path, task_dir))
        if missing:
            continue
        try:
            case_problems, geometries, found, label_geometry = _check_case(case, labels, read_voxels, task_dir)
        except RuntimeError as exc:  # SimpleITK cannot read a file
            why = str(exc).strip().splitlines()[-1]
            problems.append(tr(f"case {case.case_id}: cannot read a file ({why}) (fix: replace the corrupt file)",
                               f"病例 {case.case_id}：有文件读不了（{why}）（解决办法：换掉损坏的文件）"))
            continue
        problems += case_problems
        if found is not None:
            label_values[case.case_id] = found
        case_geometries[case.case_id] = label_geometry
        files_checked += len(case.images) + 1
        for path, geometry in zip(case.images, geometries):
            orientations.setdefault(geometry.axis_codes, []).append(path.name)
    for sub, listed in (("imagesTr", listed_images), ("labelsTr", listed_labels)):
        for path in sorted((task_dir / sub).glob("*" + NIFTI_SUFFIX)):
            if path.name not in listed:
                problems.append(tr(f"{sub}/{path.name} is not listed in dataset.json",
                                   f"{sub}/{path.name} 没有列在 dataset.json 中") + unlisted_file_hint(path))
    test = listed_test_cases(task_dir, dataset)
    listed_test: set[str] = set()
    for case_id, images in test:
        listed_test.update(p.name for p in images)
        missing = [p for p in images if not p.is_file()]
        for path in missing:
            problems.append(tr(f"test case {case_id}: {_rel(path, task_dir)} is missing",
                               f"测试病例 {case_id}：{_rel(path, task_dir)} 不存在") + missing_file_hint(path, task_dir))
        if missing:
            continue
        files_checked += len(images)
        reference = read_geometry(images[0])
        for path in images[1:]:
            diff = read_geometry(path).mismatches(reference)
            if diff:
                found = "; ".join(diff)
                problems.append(tr(f"test case {case_id}: {_rel(path, task_dir)} does not match {images[0].name}: "
                                   f"{found} (fix: co-register the modalities)",
                                   f"测试病例 {case_id}：{_rel(path, task_dir)} 与 {images[0].name} 不一致：{found}"
                                   "（解决办法：把各模态配准）"))
    if test and (task_dir / "imagesTs").is_dir():
        for path in sorted((task_dir / "imagesTs").glob("*" + NIFTI_SUFFIX)):
            if path.name not in listed_test:
                problems.append(tr(f"imagesTs/{path.name} is not listed in dataset.json 'test' "
                                   "(fix: add it to 'test' or move it out of imagesTs)",
                                   f"imagesTs/{path.name} 没有列在 dataset.json 的 'test' 中"
                                   "（解决办法：把它加入 'test'，或把它移出 imagesTs）"))
    if problems:
        raise _integrity_error(task_dir, problems)
    warnings = []
    if len(orientations) > 1:
        # v1 prints this as a warning and goes on.
        detail = ", ".join(tr(f"{code}: {len(files)} file(s) e.g. {files[0]}", f"{code}：{len(files)} 个文件，例如 {files[0]}")
                           for code, files in orientations.items())
        warnings.append(tr(f"not all training images share one axis orientation ({detail}); v1 strongly recommends "
                           "reorienting them (e.g. fslreorient2std)",
                           f"训练图像的轴方向不全相同（{detail}）；v1 强烈建议先统一方向（例如用 fslreorient2std）"))
    return IntegrityReport(task_dir, read_voxels, len(dataset["training"]), len(test), num_modalities, labels,
                           files_checked, tuple(sorted(orientations)), tuple(warnings), label_values,
                           case_geometries)


def _check_case(case: TrainingCase, labels: tuple[int, ...], read_voxels: bool,
                task_dir: Path) -> tuple[list[str], list[Geometry], tuple | None, Geometry]:
    problems: list[str] = []
    found = None
    if read_voxels:
        import SimpleITK as sitk

        label_image = sitk.ReadImage(str(case.label))
        label_geometry = _geometry_of_image(label_image)
        label_array = sitk.GetArrayFromImage(label_image)
        # Like v1, NaN is looked for in what SimpleITK returns. Note: SimpleITK 2.5 (ITK 5.4) already reads
        # NaN voxels of a float NIfTI as 0, so with it this check can only fire for other readers' output.
        if label_array.dtype.kind == "f" and np.isnan(label_array).any():
            problems.append(tr(f"case {case.case_id}: {_rel(case.label, task_dir)} contains NaN "
                               "(fix: replace NaN with 0 or a declared label)",
                               f"病例 {case.case_id}：{_rel(case.label, task_dir)} 含有 NaN"
                               "（解决办法：把 NaN 换成 0 或一个已声明的标签）"))
        values = np.unique(label_array[~np.isnan(label_array)] if label_array.dtype.kind == "f" else label_array)
        found = tuple(v.item() for v in values)
        unexpected = [v for v in found if v not in labels]
        if unexpected:
            values, declared, fix = _short(unexpected), list(labels), _label_fix(found, labels)
            problems.append(tr(f"case {case.case_id}: {_rel(case.label, task_dir)} holds label values {values} that "
                               f"dataset.json does not declare (declared: {declared}) (fix: {fix})",
                               f"病例 {case.case_id}：{_rel(case.label, task_dir)} 含有 dataset.json 未声明的标签值 "
                               f"{values}（已声明：{declared}）（解决办法：{fix}）"))
        geometries = []
        for path in case.images:
            image = sitk.ReadImage(str(path))
            geometries.append(_geometry_of_image(image))
            array = sitk.GetArrayFromImage(image)
            if array.dtype.kind == "f" and np.isnan(array).any():
                count = int(np.isnan(array).sum())
                problems.append(tr(f"case {case.case_id}: {_rel(path, task_dir)} contains {count} NaN voxels (fix: "
                                   "replace them, e.g. with the background value; v1 crops them as nonzero, and NaN reaches "
                                   "the 2D data and the CT intensity statistics, so NaN losses there; only v1's 3D "
                                   "preprocessor replaces it with 0)",
                                   f"病例 {case.case_id}：{_rel(path, task_dir)} 含有 {count} 个 NaN 体素（解决办法："
                                   "把它们替换掉，例如换成背景值；v1 裁剪时把它们当作非零，NaN 会进入 2D 数据和 CT 的强度统计，"
                                   "那里会得到 NaN 损失；只有 v1 的 3D 预处理器会把它换成 0）"))
    else:
        label_geometry = read_geometry(case.label)
        geometries = [read_geometry(path) for path in case.images]
    for path, geometry in zip(case.images, geometries):
        if len(geometry.size) == 4:
            problems.append(tr(f"case {case.case_id}: {_rel(path, task_dir)} is 4D {geometry.size}; v1 wants one 3D "
                               "file per modality (fix: this is the Medical Segmentation Decathlon layout, convert "
                               "it with v1's nnUNet_convert_decathlon_task -i <TaskXX_Name folder>)",
                               f"病例 {case.case_id}：{_rel(path, task_dir)} 是 4D 的 {geometry.size}；v1 要求每个模态"
                               "一个 3D 文件（解决办法：这是 Medical Segmentation Decathlon 的布局，用 v1 的 "
                               "nnUNet_convert_decathlon_task -i <TaskXX_Name folder> 转换）"))
            continue
        diff = geometry.mismatches(label_geometry)
        if diff:
            found_diff = "; ".join(diff)
            problems.append(tr(f"case {case.case_id}: {_rel(path, task_dir)} does not match its label "
                               f"{_rel(case.label, task_dir)}: {found_diff} (fix: resample or co-register so image "
                               "and label share one voxel grid, or copy the label's header if only the header is "
                               "wrong)",
                               f"病例 {case.case_id}：{_rel(path, task_dir)} 与它的标签 {_rel(case.label, task_dir)} "
                               f"不一致：{found_diff}（解决办法：重采样或配准，使图像和标签共用一个体素网格；"
                               "如果只是文件头错了，就复制标签的文件头）"))
    return problems, geometries, found, label_geometry


def _short(values: list) -> str:
    return str(values) if len(values) <= 8 else f"[{', '.join(map(str, values[:8]))}, ... {len(values)} values]"


def _label_fix(found: tuple, labels: tuple[int, ...]) -> str:
    """The likely cause of undeclared label values, judged from the values themselves."""
    if set(found) <= {0, 255} or set(found) <= {0, 1, 255}:
        return tr("this is a 0/255 mask (often from PNG or an image editor); store foreground as 1, not 255",
                  "这是一个 0/255 的掩膜（常来自 PNG 或图像编辑软件）；前景应存为 1，而不是 255")
    if len(found) > 20 or any(isinstance(v, float) and not float(v).is_integer() for v in found):
        return tr("this looks like an image, not a label map (many or fractional values); check that labelsTr "
                  "holds the segmentation and imagesTr the scan",
                  "这看起来是一幅图像，而不是标签图（取值很多或有小数）；请确认 labelsTr 里放的是分割、imagesTr 里放的是扫描")
    return tr("correct the label file, or declare the values in 'labels' (consecutive from 0)",
              "改正标签文件，或在 'labels' 中声明这些值（从 0 开始连续编号）")


def _is_4d(path: Path) -> bool:
    try:
        return len(read_geometry(path).size) == 4
    except RuntimeError:
        return False


def is_macos_copy(name: str) -> bool:
    """``._NAME``: the resource copy macOS writes beside each file on a disk it does not own (a USB stick, a
    network share). v1 lists files by their ending only, so ``._case_000_0000.nii.gz`` counts as an image."""
    return name.startswith("._")


def macos_copy_fix() -> str:
    return tr("a macOS resource copy (made when copying from a Mac): delete it (find TASK_FOLDER -name '._*' -delete)",
              "macOS 的资源副本(从 Mac 拷贝时产生):删除它(find TASK_FOLDER -name '._*' -delete)")


def _decathlon_fix() -> str:
    return tr("it is 4D: the Medical Segmentation Decathlon layout (all modalities in one file); convert the task "
              "with v1's nnUNet_convert_decathlon_task -i <TaskXX_Name folder>",
              "它是 4D 的：Medical Segmentation Decathlon 的布局（所有模态在一个文件里）；用 v1 的 "
              "nnUNet_convert_decathlon_task -i <TaskXX_Name folder> 转换这个任务")


def missing_file_hint(path: Path, task_dir: Path) -> str:
    """The end of a "file missing" message: a file beside it that would fit (an image without its modality
    suffix, a Decathlon 4D image) and the rename, or adding the file."""
    if path.parent.name in ("imagesTr", "imagesTs"):
        unsuffixed = path.parent / (path.name[: -len("_0000" + NIFTI_SUFFIX)] + NIFTI_SUFFIX)
        if unsuffixed.is_file():
            if _is_4d(unsuffixed):
                return tr(f" (found {_rel(unsuffixed, task_dir)}, but {_decathlon_fix()})",
                          f"（找到了 {_rel(unsuffixed, task_dir)}，但{_decathlon_fix()}）")
            return tr(f" (fix: found {_rel(unsuffixed, task_dir)} without the modality suffix; rename it to "
                      f"{path.name}: v1 needs _0000, _0001 ... per modality)",
                      f"（解决办法：找到了没有模态后缀的 {_rel(unsuffixed, task_dir)}；把它改名为 {path.name}："
                      "v1 要求每个模态一个 _0000、_0001 ... 后缀）")
    return tr(" (fix: add the file, or remove the case from dataset.json)",
              "（解决办法：补上这个文件，或把这个病例从 dataset.json 中删除）")


def unlisted_file_hint(path: Path) -> str:
    """The end of a "not listed in dataset.json" message: a macOS ``._`` copy, a Decathlon 4D image, an image
    without its modality suffix, each with its fix."""
    name, sub = path.name, path.parent.name
    if is_macos_copy(name):
        return tr(f" (fix: {macos_copy_fix()})", f"（解决办法：{macos_copy_fix()}）")
    if sub == "imagesTr" and not re.search(r"_\d{4}\.nii\.gz$", name):
        if _is_4d(path):
            return tr(f" (fix: {_decathlon_fix()})", f"（解决办法：{_decathlon_fix()}）")
        stem = name[: -len(NIFTI_SUFFIX)]
        return tr(f" and has no modality suffix (fix: rename it to {stem}_0000.nii.gz, and list the case in "
                  "'training')",
                  f"，而且没有模态后缀（解决办法：把它改名为 {stem}_0000.nii.gz，并把这个病例列入 'training'）")
    return tr(" (fix: add the case to 'training' or move the file out of the task folder)",
              "（解决办法：把这个病例加入 'training'，或把文件移出任务文件夹）")


def _integrity_error(task_dir: Path, problems: list[str]) -> DatasetError:
    return DatasetError(
        tr(f"dataset integrity check of {task_dir} found {len(problems)} problem(s):",
           f"{task_dir} 的数据集完整性检查发现了 {len(problems)} 个问题：")
        + "\n" + "\n".join(f"  - {p}" for p in problems),
        fix=tr("correct the files listed above (each line names its fix), then run the command again",
               "改正上面列出的文件（每一行都写了解决办法），然后再运行一次命令"),
    )
