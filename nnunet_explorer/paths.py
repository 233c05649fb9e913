"""Where nnU-Net v1 keeps its data, and the explorer's fallback when nothing is configured.

nnU-Net v1 reads three environment variables once, at import time (``nnunet/paths.py``):

==========================  ===============================================================================
``nnUNet_raw_data_base``    holds ``nnUNet_raw_data/TaskXXX_Name`` (raw) and ``nnUNet_cropped_data/`` (cropped)
``nnUNet_preprocessed``     holds ``TaskXXX_Name/`` with plans and the preprocessed stage folders
``RESULTS_FOLDER``          holds ``nnUNet/<network>/<task>/<trainer>__<plans>/fold_<k>/`` (trained models)
==========================  ===============================================================================

v1 prints a warning for an unset variable; a command that needs that folder fails later, usually with a
``TypeError`` on ``None`` (``nnUNet_train`` without ``nnUNet_preprocessed``, for example). The explorer
instead falls back to a *default workspace* (``./nnunet_workspace/{raw,preprocessed,results}``, or the folder
named by ``NNUNET_EXPLORER_WORKSPACE``), says once which folders it uses, and never fails at import time.
Variables are read when :func:`get_workspace` is called, not at import, so a notebook can set them first.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .errors import PathsError
from .language import tr
from .provenance import mirrors

# v1's module-level constants (nnunet/paths.py), same names and values.
my_output_identifier = "nnUNet"
default_plans_identifier = "nnUNetPlansv2.1"
default_data_identifier = "nnUNetData_plans_v2.1"
default_trainer = "nnUNetTrainerV2"
default_cascade_trainer = "nnUNetTrainerV2CascadeFullRes"

ENV_RAW = "nnUNet_raw_data_base"
ENV_PREPROCESSED = "nnUNet_preprocessed"
ENV_RESULTS = "RESULTS_FOLDER"
ENV_WORKSPACE = "NNUNET_EXPLORER_WORKSPACE"
DEFAULT_WORKSPACE_NAME = "nnunet_workspace"
_DEFAULT_SUBFOLDERS = {ENV_RAW: "raw", ENV_PREPROCESSED: "preprocessed", ENV_RESULTS: "results"}

NETWORKS = ("2d", "3d_lowres", "3d_fullres", "3d_cascade_fullres")


@dataclass(frozen=True)
class Workspace:
    """The three nnU-Net folders in use, and where each value came from (environment or default)."""

    raw_data_base: Path
    preprocessed: Path
    results_folder: Path
    origin: Mapping[str, str] = field(default_factory=dict)

    @property
    def nnUNet_raw_data(self) -> Path:
        return self.raw_data_base / "nnUNet_raw_data"

    @property
    def nnUNet_cropped_data(self) -> Path:
        return self.raw_data_base / "nnUNet_cropped_data"

    @property
    def preprocessing_output_dir(self) -> Path:
        """v1's name for the ``nnUNet_preprocessed`` folder."""
        return self.preprocessed

    @property
    def network_training_output_dir(self) -> Path:
        return self.results_folder / my_output_identifier

    @property
    def uses_defaults(self) -> bool:
        return any(value != "environment" for value in self.origin.values())

    def raw_task_dir(self, task: str) -> Path:
        return self.nnUNet_raw_data / task

    def cropped_task_dir(self, task: str) -> Path:
        return self.nnUNet_cropped_data / task

    def preprocessed_task_dir(self, task: str) -> Path:
        return self.preprocessed / task

    @mirrors("nnunet.run.default_configuration:get_default_configuration")
    def training_output_folder(self, network: str, task: str, trainer: str,
                               plans_identifier: str = default_plans_identifier) -> Path:
        """``RESULTS_FOLDER/nnUNet/<network>/<task>/<trainer>__<plans_identifier>`` (before the fold)."""
        return self.network_training_output_dir / network / task / f"{trainer}__{plans_identifier}"

    def ensure(self) -> "Workspace":
        """Create the folders v1 creates at import (raw, cropped, preprocessed, results/nnUNet).

        Raises :class:`PathsError` naming the variable if a folder is a file or cannot be written.
        """
        folders = ((ENV_RAW, self.nnUNet_raw_data), (ENV_RAW, self.nnUNet_cropped_data),
                   (ENV_PREPROCESSED, self.preprocessed), (ENV_RESULTS, self.network_training_output_dir))
        # Check all before creating any, so a bad third folder leaves no half-made workspace behind.
        for variable, folder in folders:
            _check_creatable(variable, folder)
        for variable, folder in folders:
            _make_writable_dir(variable, folder)
        return self

    def describe(self) -> str:
        """Multi-line text naming each folder and where its value came from."""
        rows = [
            (ENV_RAW, self.raw_data_base), (ENV_PREPROCESSED, self.preprocessed), (ENV_RESULTS, self.results_folder),
        ]
        return "\n".join(f"{name:<22} = {path}   ({_origin_text(self.origin.get(name, '?'))})" for name, path in rows)


def _origin_text(origin: str) -> str:
    """Where a folder's value came from, in the reader's language (the stored labels stay English)."""
    if origin == "environment":
        return tr(origin, "环境变量")
    if origin == "default workspace":
        return tr(origin, "默认工作区")
    if origin.startswith("default: "):
        return tr(origin, f"默认值：{origin[len('default: '):]}")
    return origin


def _check_creatable(variable: str, folder: Path) -> None:
    """Raise PathsError if ``folder`` or its nearest existing ancestor is a file (mkdir would fail)."""
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        what = (tr("is a file, not a folder", "是一个文件，不是文件夹") if ancestor == folder
                else tr(f"cannot be created: {ancestor} is a file", f"无法创建：{ancestor} 是一个文件"))
        raise PathsError(f"{variable}: {folder} {what}",
                         fix=tr(f"point {variable} at a folder (or remove the file)",
                                f"让 {variable} 指向一个文件夹（或删除该文件）"))


def _make_writable_dir(variable: str, folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise PathsError(tr(f"{variable}: {folder} is a file, not a folder", f"{variable}：{folder} 是一个文件，不是文件夹"),
                         fix=tr(f"point {variable} at a folder (or remove the file)",
                                f"让 {variable} 指向一个文件夹（或删除该文件）"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathsError(tr(f"{variable}: cannot create {folder} ({exc.strerror})",
                            f"{variable}：无法创建 {folder}（{exc.strerror}）"),
                         fix=tr(f"point {variable} at a folder you can write to",
                                f"让 {variable} 指向一个你有写权限的文件夹")) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PathsError(tr(f"{variable}: {folder} is not writable", f"{variable}：{folder} 不可写"),
                         fix=tr(f"fix its permissions or point {variable} at a folder you can write to",
                                f"修改它的权限，或让 {variable} 指向一个你有写权限的文件夹"))


def _check_value(variable: str, value: str) -> Path:
    stripped = value.strip()
    if not stripped:
        raise PathsError(tr(f"{variable} is set but empty", f"{variable} 已设置但为空"),
                         fix=tr(f"unset {variable} or set it to a folder", f"取消设置 {variable}，或把它设为一个文件夹"))
    if stripped[0] in "'\"" or stripped[-1] in "'\"":
        # A classic cause of "Could not find a task with the ID" (nnU-Net issue #1525).
        raise PathsError(tr(f"{variable}={value!r} contains quote characters, so it names a folder that does not exist",
                            f"{variable}={value!r} 含有引号，所以它指向一个不存在的文件夹"),
                         fix=tr(f"remove the quotes from the value of {variable}", f"去掉 {variable} 的值中的引号"))
    path = Path(os.path.expanduser(stripped))
    if path.exists() and not path.is_dir():
        raise PathsError(tr(f"{variable}={path} is a file, not a folder", f"{variable}={path} 是一个文件，不是文件夹"),
                         fix=tr(f"point {variable} at a folder", f"让 {variable} 指向一个文件夹"))
    return path


def resolve_workspace(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Workspace:
    """Resolve the three folders from ``environ`` (default ``os.environ``) without creating anything."""
    env = os.environ if environ is None else environ
    if env.get(ENV_WORKSPACE):
        default_root = _check_value(ENV_WORKSPACE, env[ENV_WORKSPACE])
        default_label = f"default: {ENV_WORKSPACE}"
    else:
        default_root = (cwd or Path.cwd()) / DEFAULT_WORKSPACE_NAME
        default_label = "default workspace"
    values: dict[str, Path] = {}
    origin: dict[str, str] = {}
    for variable, sub in _DEFAULT_SUBFOLDERS.items():
        if env.get(variable) is not None:
            values[variable] = _check_value(variable, env[variable])
            origin[variable] = "environment"
        else:
            values[variable] = default_root / sub
            origin[variable] = default_label
    return Workspace(values[ENV_RAW].absolute(), values[ENV_PREPROCESSED].absolute(),
                     values[ENV_RESULTS].absolute(), origin)


# Keyed on the three folders: Workspace itself is unhashable (its ``origin`` is a dict).
_announced: set[tuple[Path, Path, Path]] = set()


def get_workspace(environ: Mapping[str, str] | None = None, *, announce: bool = True) -> Workspace:
    """The workspace in use now. The first time a default is used, say so once on stderr."""
    workspace = resolve_workspace(environ)
    key = (workspace.raw_data_base, workspace.preprocessed, workspace.results_folder)
    if announce and workspace.uses_defaults and key not in _announced:
        _announced.add(key)
        unset = [name for name, how in workspace.origin.items() if how != "environment"]
        names = tr(", ", "、").join(unset)
        print(tr(f"nnunet-explorer: {names} not set; using these folders:",
                 f"nnunet-explorer：{names} 未设置；使用以下文件夹：") + f"\n{workspace.describe()}\n"
              + tr(f"(set {ENV_RAW}, {ENV_PREPROCESSED} and {ENV_RESULTS}, or {ENV_WORKSPACE}, to choose others)",
                   f"（设置 {ENV_RAW}、{ENV_PREPROCESSED} 和 {ENV_RESULTS}，或 {ENV_WORKSPACE}，可以选择其他文件夹）"),
              file=sys.stderr)
    return workspace


def environment_for(workspace: Workspace) -> dict[str, str]:
    """The three v1 variables for ``workspace``, e.g. to run the real nnU-Net v1 on the same folders."""
    return {ENV_RAW: str(workspace.raw_data_base), ENV_PREPROCESSED: str(workspace.preprocessed),
            ENV_RESULTS: str(workspace.results_folder)}
