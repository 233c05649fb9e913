"""Run the real nnU-Net v1 (``nnunet==1.7.1``) beside the explorer, on the same folders.

nnU-Net v1 reads its three folder variables once, when ``nnunet.paths`` is first imported, so the reliable
way to point it at a workspace is a subprocess with those variables set. Parity tests and benchmarks use
these helpers; ``nnunet-explorer doctor`` uses :func:`v1_version` to say whether v1 is installed.
"""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

from .paths import Workspace, environment_for


def v1_version() -> str | None:
    """The installed ``nnunet`` version, or None when nnU-Net v1 is not installed."""
    try:
        return importlib.metadata.version("nnunet")
    except importlib.metadata.PackageNotFoundError:
        return None


def v1_environment(workspace: Workspace, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` plus v1's folder variables for ``workspace``, few workers, and checkpoint loading on.

    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: v1 checkpoints hold numpy scalars, which torch >= 2.6 refuses to
    load by default; v1 itself cannot load its own checkpoints without it.
    """
    env = dict(os.environ)
    env.update(environment_for(workspace))
    env.setdefault("nnUNet_n_proc_DA", "1")
    env.setdefault("nnUNet_def_n_proc", "1")
    env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    if extra:
        env.update(extra)
    return env


def _console_script(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def run_v1_cli(entry_point: str, args: Sequence[str], workspace: Workspace, *, timeout: float = 900,
               extra_env: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run a v1 console script (``nnUNet_plan_and_preprocess``, ``nnUNet_train`` ...) on ``workspace``."""
    workspace.ensure()
    result = subprocess.run([_console_script(entry_point), *map(str, args)], env=v1_environment(workspace, extra_env),
                            capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and result.returncode != 0:
        raise RuntimeError(f"nnU-Net v1 {entry_point} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                           f"{result.stderr[-4000:]}")
    return result


def run_v1_python(code: str, workspace: Workspace, *, timeout: float = 900,
                  extra_env: Mapping[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -c code`` with v1's variables set for ``workspace`` (v1 imported inside ``code``)."""
    workspace.ensure()
    result = subprocess.run([sys.executable, "-c", code], env=v1_environment(workspace, extra_env),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"nnU-Net v1 python snippet failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                           f"{result.stderr[-4000:]}")
    return result


def run_v1_generic_preprocessor(plans_file: str | os.PathLike, cropped_dir: str | os.PathLike,
                                output_dir: str | os.PathLike, workspace: Workspace, *,
                                num_threads: int = 1, timeout: float = 600) -> subprocess.CompletedProcess:
    """v1's ``GenericPreprocessor.run`` for every stage of ``plans_file``: ``<data_identifier>_stage<k>`` folders.

    What ``nnUNet_plan_and_preprocess`` does after planning, for plans made or edited by hand (a two-stage
    plan for the cascade, for example).
    """
    code = ("import warnings; warnings.filterwarnings('ignore')\n"
            "from batchgenerators.utilities.file_and_folder_operations import load_pickle\n"
            "from nnunet.preprocessing.preprocessing import GenericPreprocessor\n"
            f"p = load_pickle({str(plans_file)!r})\n"
            "pp = GenericPreprocessor(p['normalization_schemes'], p['use_mask_for_norm'], p['transpose_forward'],\n"
            "                         p['dataset_properties']['intensityproperties'])\n"
            "stages = p['plans_per_stage']\n"
            "pp.run([stages[k]['current_spacing'] for k in sorted(stages)],\n"
            f"       {str(cropped_dir)!r}, {str(output_dir)!r}, p['data_identifier'],\n"
            f"       tuple([{int(num_threads)}] * len(stages)))\n")
    return run_v1_python(code, workspace, timeout=timeout)
