"""Comparison helpers for the planning parity tests (imported by the test modules via conftest)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnunet_explorer.fileio import load_pickle


def normalize_paths(value: Any, roots: list[str]) -> Any:
    if isinstance(value, (str, np.str_)):
        s = str(value)
        for root in roots:
            s = s.replace(root, "<ROOT>")
        return s
    return value


def deep_diff(a: Any, b: Any, roots_a: list[str], roots_b: list[str], where: str = "", *, atol: float = 0.0,
              check_order: bool = True, out: list | None = None) -> list[str]:
    """List of differences between two v1 objects (dicts in key order, arrays by value, paths root-relative)."""
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        if check_order and list(a.keys()) != list(b.keys()):
            out.append(f"{where}: keys {list(a.keys())} != {list(b.keys())}")
        elif set(a.keys()) != set(b.keys()):
            out.append(f"{where}: key sets {sorted(map(str, a))} != {sorted(map(str, b))}")
        for k in a:
            if k in b:
                deep_diff(a[k], b[k], roots_a, roots_b, f"{where}/{k}", atol=atol, check_order=check_order, out=out)
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and not (
            len(a) and isinstance(a[0], (int, float, np.number)) and len(a) == len(b)):
        if len(a) != len(b):
            out.append(f"{where}: length {len(a)} != {len(b)}")
            return out
        for i, (x, y) in enumerate(zip(a, b)):
            deep_diff(x, y, roots_a, roots_b, f"{where}[{i}]", atol=atol, check_order=check_order, out=out)
        return out
    if isinstance(a, (str, np.str_)) or isinstance(b, (str, np.str_)):
        if normalize_paths(a, roots_a) != normalize_paths(b, roots_b):
            out.append(f"{where}: {a!r} != {b!r}")
        return out
    if a is None or b is None:
        if not (a is None and b is None):
            out.append(f"{where}: {a!r} != {b!r}")
        return out
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        out.append(f"{where}: shape {x.shape} != {y.shape}")
    elif x.dtype.kind in "fc" or y.dtype.kind in "fc":
        if not np.allclose(x, y, rtol=0, atol=atol, equal_nan=True):
            out.append(f"{where}: {a!r} != {b!r}")
    elif not np.array_equal(x, y):
        out.append(f"{where}: {a!r} != {b!r}")
    return out


def roots_of(workspace) -> list[str]:
    return [str(workspace.raw_data_base), str(workspace.preprocessed)]


def compare_npz_folders(ours: Path, theirs: Path, *, exact: bool = False) -> tuple[list[str], float, int]:
    """(problems, max abs diff over all arrays, number of cases compared) for two folders of CASE.npz."""
    problems: list[str] = []
    names_ours = sorted(p.name for p in ours.glob("*.npz"))
    names_theirs = sorted(p.name for p in theirs.glob("*.npz"))
    if names_ours != names_theirs:
        problems.append(f"{ours.name}: npz files {names_ours} != {names_theirs}")
    max_diff = 0.0
    for name in sorted(set(names_ours) & set(names_theirs)):
        a = np.load(ours / name)["data"]
        b = np.load(theirs / name)["data"]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{ours.name}/{name}: {a.shape} {a.dtype} != {b.shape} {b.dtype}")
            continue
        if not np.array_equal(a[-1], b[-1]):
            problems.append(f"{ours.name}/{name}: segmentation channel differs in {int((a[-1] != b[-1]).sum())} voxels")
        diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
        max_diff = max(max_diff, diff)
        if exact and diff != 0:
            problems.append(f"{ours.name}/{name}: max abs diff {diff}")
    return problems, max_diff, len(set(names_ours) & set(names_theirs))


def load_pkl(path: Path) -> Any:
    return load_pickle(path)
