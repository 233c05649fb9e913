"""Tasks: ``TaskXXX_Name`` folders, their ids, and v1's raw layout.

nnU-Net v1 names every task ``Task`` + a zero-padded id (at least three digits) + ``_`` + a name, and finds a
task from its id by looking for folders whose name starts with ``Task%03d`` in the cropped, preprocessed, raw
and results folders (``convert_id_to_task_name``). Exactly one distinct name must turn up.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import TaskError
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
    # v1 matches on the prefix only, so Task004 would also match Task0041_X; we keep v1's rule but require
    # the character after the prefix to be '_' so that 4 never resolves to Task0041.
    # differs from v1: a prefix match without the '_' check would make id 4 ambiguous with id 41 (Task0041_*).
    unique = sorted({c for c in candidates if c[len(prefix):len(prefix) + 1] == "_"})
    if len(unique) > 1:
        raise TaskError(f"more than one task name found for task id {task_id}: {', '.join(unique)}",
                        fix="rename or remove all but one of these folders; searched:\n" + _searched(workspace))
    if not unique:
        known = list_tasks(workspace)
        listing = "\n".join(f"    {name}  ({', '.join(places)})" for name, places in known.items()) or "    (none)"
        raise TaskError(
            f"could not find a task with the ID {task_id} (looked for folders named {prefix}_*)\n"
            f"  tasks that exist:\n{listing}\n  folders searched:\n{_searched(workspace)}",
            fix="check the id, or put the task at nnUNet_raw_data_base/nnUNet_raw_data/TaskXXX_Name "
            "(`nnunet-explorer sample` writes one; `nnunet-explorer doctor` shows the folders in use)",
        )
    return unique[0]


def _searched(workspace: Workspace) -> str:
    return "\n".join(f"    {place:<22} {folder}" for place, folder in task_search_folders(workspace))


@mirrors("nnunet.utilities.task_name_id_conversion:convert_task_name_to_id")
def convert_task_name_to_id(task_name: str) -> int:
    """``Task004_Hippocampus`` -> 4 (v1 reads characters 4..6; we read all the digits)."""
    match = TASK_NAME_PATTERN.match(task_name)
    if not match:
        raise TaskError(f"{task_name!r} is not a task name", fix="task names look like Task004_Hippocampus")
    return int(match.group(1))


def resolve_task_name(task: str | int, workspace: Workspace | None = None) -> str:
    """v1's rule in ``run_training.py``: a value starting with ``Task`` is a name, anything else an id."""
    if isinstance(task, str) and task.startswith("Task"):
        convert_task_name_to_id(task)  # validates the format
        return task
    try:
        task_id = int(task)
    except (TypeError, ValueError):
        raise TaskError(f"{task!r} is neither a task id nor a task name",
                        fix="give a number such as 4 or a name such as Task004_Hippocampus") from None
    return convert_id_to_task_name(task_id, workspace)
