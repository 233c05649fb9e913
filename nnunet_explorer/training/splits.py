"""The 5-fold cross-validation split, exactly as nnU-Net v1 makes it (``splits_final.pkl``).

nnU-Net v1 trains five models per configuration, one per fold. Which cases a fold validates on is decided
once per task and written to ``<nnUNet_preprocessed>/<Task>/splits_final.pkl``:

* the case ids (the dataset keys) are sorted;
* scikit-learn's ``KFold(n_splits=5, shuffle=True, random_state=12345)`` cuts them into five folds;
* the file holds a list of five ``OrderedDict`` objects with ``'train'`` and ``'val'``, each a numpy array of
  ``str`` (dtype ``<U…``).

If the file already exists it is used as is, so a user can define their own folds by writing it. Fold
``'all'`` trains and validates on every case; a fold number the file does not contain (e.g. 5 with the default
five splits) gets a random but seeded 80:20 split.

This module does not import scikit-learn: :func:`kfold_indices` re-implements what ``KFold`` does with a
shuffle, which is small and stable (shuffle ``arange(n)`` with ``RandomState(12345)``, cut it into five
consecutive chunks, the first ``n % 5`` one element longer). The parity tests compare it with scikit-learn.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import ConfigurationError, DatasetError
from ..fileio import load_pickle, write_pickle
from ..language import tr
from ..provenance import mirrors

SPLITS_FILE = "splits_final.pkl"
NUM_FOLDS = 5
SPLIT_SEED = 12345


def kfold_indices(n: int, n_splits: int = NUM_FOLDS, seed: int = SPLIT_SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, val_idx) per fold, as ``KFold(n_splits, shuffle=True, random_state=seed).split(range(n))``.

    The rule: shuffle ``arange(n)`` once with ``np.random.RandomState(seed)``; fold ``k`` validates on the
    ``k``-th consecutive chunk of the shuffled indices (chunk sizes ``n // n_splits + 1`` for the first
    ``n % n_splits`` folds, ``n // n_splits`` for the rest) and trains on every other index; both index arrays
    come out in ascending order (scikit-learn selects them with a boolean mask).

    Raises:
        DatasetError: fewer cases than folds (scikit-learn refuses this too).
    """
    if n < n_splits:
        raise DatasetError(
            tr(f"a {n_splits}-fold split needs at least {n_splits} training cases, the dataset has {n}",
               f"{n_splits} 折划分至少需要 {n_splits} 个训练病例，而数据集只有 {n} 个"),
            fix=tr("add training cases, write your own splits_final.pkl, or train with fold 'all'",
                   "请添加训练病例，或自己写一个 splits_final.pkl，或用 fold 'all' 训练"),
        )
    shuffled = np.arange(n)
    np.random.RandomState(seed).shuffle(shuffled)
    sizes = np.full(n_splits, n // n_splits, dtype=int)
    sizes[: n % n_splits] += 1
    folds = []
    start = 0
    for size in sizes:
        val_idx = shuffled[start:start + size]
        is_val = np.zeros(n, dtype=bool)
        is_val[val_idx] = True
        folds.append((np.flatnonzero(~is_val), np.flatnonzero(is_val)))
        start += size
    return folds


def too_few_for_folds(preprocessed_task_dir: str | os.PathLike) -> int | None:
    """The fewest training cases of a preprocessed task's stage folders when under :data:`NUM_FOLDS`: without a
    ``splits_final.pkl`` v1's do_split fails making its 5-fold split for any numbered fold of that stage (scikit-learn's
    KFold refuses). None otherwise (enough cases everywhere, or no stage folder with cases; an empty one is a
    preprocessing that did not run, not a small dataset)."""
    from .dataloading import get_case_identifiers, stage_folders

    counts = [n for n in (len(get_case_identifiers(stage)) for stage in stage_folders(preprocessed_task_dir)) if n]
    return min(counts) if counts and min(counts) < NUM_FOLDS else None


def splits_held(count: int) -> str:
    """How many splits a ``splits_final.pkl`` holds, for messages: "5 split(s) (folds 0 to 4)" or "0 splits".

    One wording for the walkthrough's split line, ``inspect``'s ``random_split`` rule and ``doctor --explain``.
    """
    return (tr(f"{count} split(s) (folds 0 to {count - 1})", f"{count} 个划分(fold 0 到 {count - 1})") if count
            else tr("0 splits", "0 个划分"))


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.do_split")
def make_splits(dataset_keys: Iterable[str]) -> list[OrderedDict]:
    """The five folds v1 writes into ``splits_final.pkl`` for these case ids (list of OrderedDict)."""
    all_keys_sorted = np.sort(np.array([str(k) for k in dataset_keys]))
    splits = []
    for train_idx, val_idx in kfold_indices(len(all_keys_sorted)):
        fold = OrderedDict()
        fold["train"] = all_keys_sorted[train_idx]
        fold["val"] = all_keys_sorted[val_idx]
        splits.append(fold)
    return splits


def load_splits(splits_file: str | os.PathLike) -> list:
    """Read a ``splits_final.pkl`` safely and check its shape (list of dicts with 'train' and 'val')."""
    splits = load_pickle(splits_file)
    if not isinstance(splits, list) or not all(isinstance(s, dict) and "train" in s and "val" in s
                                               for s in splits):
        raise DatasetError(
            tr(f"{splits_file} is not a list of {{'train': [...], 'val': [...]}} entries",
               f"{splits_file} 不是由 {{'train': [...], 'val': [...]}} 条目组成的列表"),
            fix=tr("delete the file to let the default 5-fold split be recreated, or write it in v1's format",
                   "删除该文件，让默认的 5 折划分重新生成；或者按 v1 的格式写它"),
        )
    return splits


def random_80_20_split(dataset_keys: Iterable[str], fold: int) -> tuple[list[str], list[str]]:
    """v1's fallback for a fold the split file does not hold: a seeded random 80:20 split.

    ``RandomState(12345 + fold).choice(n, int(n * 0.8), replace=False)`` picks the training indices of the
    sorted keys; everything else validates.
    """
    keys = np.sort(np.array([str(k) for k in dataset_keys]))
    rnd = np.random.RandomState(seed=SPLIT_SEED + fold)
    idx_tr = rnd.choice(len(keys), int(len(keys) * 0.8), replace=False)
    chosen = set(int(i) for i in idx_tr)
    return [str(keys[i]) for i in idx_tr], [str(keys[i]) for i in range(len(keys)) if i not in chosen]


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.do_split")
def do_split(preprocessed_task_dir: str | os.PathLike, fold: int | str,
             dataset_keys: Sequence[str]) -> tuple[list[str], list[str]]:
    """Training and validation case ids of ``fold``, creating ``splits_final.pkl`` if it is missing.

    Args:
        preprocessed_task_dir: ``<nnUNet_preprocessed>/TaskXXX_Name`` (where v1 keeps ``splits_final.pkl``).
        fold: 0..4, a higher number (random seeded 80:20 split) or ``'all'`` (train = val = every case).
        dataset_keys: the case ids of the dataset (``load_dataset(...).keys()``).

    Returns:
        ``(train_keys, val_keys)``, each sorted, as plain ``str``.

    Raises:
        ConfigurationError: ``fold`` is neither ``'all'`` nor a non-negative integer.
        DatasetError: the existing split file is malformed, or names cases the dataset lacks.
    """
    keys = [str(k) for k in dataset_keys]
    if fold == "all":
        return sorted(keys), sorted(keys)
    if isinstance(fold, str) and fold.isdigit():
        fold = int(fold)
    if not isinstance(fold, (int, np.integer)) or isinstance(fold, bool) or fold < 0:
        raise ConfigurationError(tr(f"fold {fold!r} is not valid", f"fold {fold!r} 无效"),
                                 fix=tr("use 0, 1, 2, 3, 4 (or a higher number) or 'all'",
                                        "请使用 0, 1, 2, 3, 4（或更大的数）或 'all'"))
    splits_file = Path(preprocessed_task_dir) / SPLITS_FILE
    if splits_file.is_file():
        splits = load_splits(splits_file)
    else:
        splits = make_splits(keys)
        write_pickle(splits, splits_file)  # atomic: a crash never leaves half a split file
    if fold < len(splits):
        train = [str(k) for k in splits[fold]["train"]]
        val = [str(k) for k in splits[fold]["val"]]
        missing = sorted(set(train + val) - set(keys))
        if missing:
            # differs from v1: v1 fails later with a KeyError deep in the trainer; we name the cases here.
            listed = f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
            raise DatasetError(
                tr(f"{splits_file} fold {fold} names cases that are not in the preprocessed dataset: {listed}",
                   f"{splits_file} 的 fold {fold} 列出了预处理数据集中没有的病例：{listed}"),
                fix=tr("delete splits_final.pkl so the default split is recreated, or fix it by hand",
                       "删除 splits_final.pkl 让默认划分重新生成，或者手动修正它"),
            )
    else:
        train, val = random_80_20_split(keys, int(fold))
    return sorted(train), sorted(val)
