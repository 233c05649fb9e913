"""``nnunet-explorer doctor``: look at the environment the way nnU-Net v1 will see it, and name every problem.

Most failed nnU-Net v1 runs fail for reasons outside the network: a folder variable with quotes in it, a
task folder named ``Task01_...`` (Decathlon style, v1 wants three digits), a task id used by two names, a
dataset whose images miss their ``_0000`` suffix, or 12 augmentation workers on a 4-core laptop (v1's
default when ``nnUNet_n_proc_DA`` is unset). :func:`run_doctor` checks all of these without changing
anything on disk and returns a :class:`DoctorReport`; each problem comes with its fix.
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
from .paths import ENV_PREPROCESSED, ENV_RAW, ENV_RESULTS, ENV_WORKSPACE, Workspace, resolve_workspace
from .tasks import TASK_NAME_PATTERN, list_tasks, verify_dataset_integrity

# v1's defaults when the variables are unset (nnunet/configuration.py, nnunet/utilities/set_n_proc_DA.py).
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

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        """The report as plain text, section by section."""
        lines = ["folders (nnU-Net v1 variables):"]
        for f in self.folders:
            lines.append(f"  {f.role:<34} {f.path}")
            lines.append(f"  {'':<34} from {f.origin}; {f.state}")
        if not self.folders:
            lines.append("  (could not be resolved, see problems)")
        lines.append("tasks (stages where each one exists):")
        lines += [f"  {name:<34} {', '.join(places)}" for name, places in self.tasks.items()] or ["  (none yet)"]
        lines.append("versions:")
        lines += [f"  {name:<34} {value or 'not installed'}" for name, value in self.versions.items()]
        lines.append("processes and threads:")
        lines += [f"  {name:<34} {value}" for name, value in self.threads.items()]
        for title, findings in (("notes", self.notes), ("problems", self.problems)):
            if findings:
                lines.append(f"{title} ({len(findings)}):")
                for finding in findings:
                    lines.append(f"  - {finding.what}")
                    lines.append(f"    fix: {finding.fix}")
        lines.append("no problems found" if self.ok else f"{len(self.problems)} problem(s) found")
        return "\n".join(lines)


def _folder_state(variable: str, folder: Path, problems: list[Finding]) -> str:
    """Describe ``folder`` without creating it; add a problem if v1 could not create or write it."""
    fix = f"point {variable} at a folder you can write to"
    if folder.exists():
        if not folder.is_dir():
            problems.append(Finding(f"{variable}: {folder} is a file, not a folder", fix))
            return "a FILE"
        if not os.access(folder, os.W_OK | os.X_OK):
            problems.append(Finding(f"{variable}: {folder} is not writable", fix))
            return "exists, NOT writable"
        return "exists, writable"
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        problems.append(Finding(f"{variable}: {folder} cannot be created because {ancestor} is a file", fix))
        return "CANNOT be created"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        problems.append(Finding(f"{variable}: {folder} cannot be created ({ancestor} is not writable)", fix))
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


def check_tasks(workspace: Workspace, problems: list[Finding], *,
                verify: bool = True) -> dict[str, tuple[str, ...]]:
    """List the tasks per stage; flag badly named folders, ids used twice and broken raw tasks."""
    found = {name: tuple(places) for name, places in list_tasks(workspace).items()}
    by_id: dict[int, list[str]] = {}
    for name, places in found.items():
        match = TASK_NAME_PATTERN.match(name)
        if not match:
            decathlon = re.match(r"^Task(\d{1,2})_(.+)$", name)
            fix = (f"convert it with v1's `nnUNet_convert_decathlon_task -i <path to {name}>`, which writes "
                   f"Task{int(decathlon.group(1)):03d}_{decathlon.group(2)}" if decathlon
                   else "rename it TaskXXX_Name with at least three digits, e.g. Task004_Hippocampus")
            problems.append(Finding(f"{name} ({', '.join(places)}) is not a valid v1 task name", fix))
            continue
        by_id.setdefault(int(match.group(1)), []).append(name)
    for task_id, names in sorted(by_id.items()):
        if len(names) > 1:
            problems.append(Finding(f"task id {task_id} is used by {len(names)} names: {', '.join(names)} "
                                    "(v1 refuses an ambiguous id)", "rename or remove all but one of them"))
    # A v1-named task straight in nnUNet_raw_data_base was meant for nnUNet_raw_data/ (a classic setup slip).
    if workspace.raw_data_base.is_dir():
        for path in sorted(workspace.raw_data_base.iterdir()):
            if path.is_dir() and TASK_NAME_PATTERN.match(path.name):
                problems.append(Finding(f"{path} is a task folder at the wrong level; v1 does not look there",
                                        f"move it to {workspace.nnUNet_raw_data / path.name}"))
    if verify:
        for name, places in found.items():
            if "raw" not in places or not TASK_NAME_PATTERN.match(name):
                continue
            try:
                verify_dataset_integrity(workspace.raw_task_dir(name), read_voxels=False)
            except DatasetError as exc:
                problems.append(Finding(f"raw task {name}: {exc.cause}", exc.fix or "see above"))
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
    for dist in ("torch", "numpy", "SimpleITK", "batchgenerators", "scipy"):
        versions[dist] = _version(dist)
    try:
        import torch

        cuda = torch.cuda.is_available()
        if cuda:
            versions["CUDA"] = f"available ({torch.cuda.device_count()} device(s), CUDA {torch.version.cuda})"
        elif torch.version.cuda:
            versions["CUDA"] = f"not available (torch is built for CUDA {torch.version.cuda} but sees no GPU)"
        else:
            versions["CUDA"] = "not available (CPU-only torch build)"
    except ImportError:
        versions["CUDA"] = None
    for dist in ("torch", "numpy", "SimpleITK", "batchgenerators"):
        if versions[dist] is None:
            problems.append(Finding(f"{dist} is not installed", "pip install -e . (or `make install`)"))
    if versions["batchgenerators"] and versions["batchgenerators"] != PINNED_BATCHGENERATORS:
        notes.append(Finding(f"batchgenerators {versions['batchgenerators']} is installed; parity with v1 was "
                             f"proven with {PINNED_BATCHGENERATORS} (0.25.4 changed segmentation interpolation)",
                             f"pip install batchgenerators=={PINNED_BATCHGENERATORS}"))
    if versions["nnunet (v1, for parity)"] is None:
        notes.append(Finding("nnU-Net v1 is not installed, so parity checks cannot run",
                             "pip install -e '.[parity]' (nnunet==1.7.1)"))
    return versions


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_threads(environ: Mapping[str, str], problems: list[Finding], notes: list[Finding]) -> dict[str, str]:
    """CPU cores, torch threads and v1's worker counts, as v1 will read them."""
    cpus = _cpu_count()
    out = {"CPU cores available": str(cpus)}
    try:
        import torch

        out["torch threads"] = str(torch.get_num_threads())
    except ImportError:
        pass
    for variable, default, role in (("nnUNet_n_proc_DA", V1_DEFAULT_N_PROC_DA, "augmentation workers"),
                                    ("nnUNet_def_n_proc", V1_DEFAULT_NUM_THREADS, "default worker processes")):
        raw = environ.get(variable)
        if raw is None:
            out[variable] = f"unset -> v1 uses {default} {role}"
            if default > cpus:
                notes.append(Finding(f"{variable} is unset, so v1 starts {default} {role} on {cpus} CPU cores",
                                     f"export {variable}={max(1, cpus)}"))
            continue
        try:
            value = int(raw)
        except ValueError:
            out[variable] = f"{raw!r} (INVALID)"
            problems.append(Finding(f"{variable}={raw!r} is not a whole number (v1 calls int() on it and crashes)",
                                    f"export {variable}={max(1, cpus)}"))
            continue
        out[variable] = f"{value} {role}"
        if value < 1 and variable == "nnUNet_n_proc_DA":
            problems.append(Finding(f"{variable}={value}: v1 needs at least one augmentation worker",
                                    f"export {variable}=1"))
        elif value > cpus:
            finding = Finding(f"{variable}={value} is larger than the {cpus} CPU cores available; the workers "
                              "compete for the cores and training slows down", f"export {variable}={cpus}")
            # Two workers on a one-core machine cost little (the Makefile's default of 2 must not fail there);
            # more than that is the slowdown users report.
            (problems if value > 2 else notes).append(finding)
    return out


def run_doctor(environ: Mapping[str, str] | None = None, *, verify_tasks: bool = True) -> DoctorReport:
    """Check folders, tasks, versions and worker settings; change nothing on disk."""
    env = os.environ if environ is None else environ
    problems: list[Finding] = []
    notes: list[Finding] = []
    folders: tuple[FolderStatus, ...] = ()
    tasks: dict[str, tuple[str, ...]] = {}
    try:
        workspace = resolve_workspace(env)
    except PathsError as exc:
        problems.append(Finding(exc.cause, exc.fix or f"check {ENV_RAW}, {ENV_PREPROCESSED}, {ENV_RESULTS}"))
        workspace = None
    if workspace is not None:
        folders = check_folders(workspace, problems)
        if workspace.uses_defaults:
            unset = [v for v, how in workspace.origin.items() if how != "environment"]
            notes.append(Finding(f"{', '.join(unset)} not set: the explorer uses its default workspace, but the "
                                 "real nnU-Net v1 would not find these folders",
                                 f"export the three variables (or {ENV_WORKSPACE}) in your shell profile"))
        try:
            tasks = check_tasks(workspace, problems, verify=verify_tasks)
        except (OSError, ExplorerError) as exc:
            problems.append(Finding(f"could not list the tasks: {exc}", "check the folders above"))
    versions = check_versions(problems, notes)
    threads = check_threads(env, problems, notes)
    return DoctorReport(folders, tasks, versions, threads, tuple(problems), tuple(notes))
