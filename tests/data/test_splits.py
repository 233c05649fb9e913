"""The 5-fold split: same folds as scikit-learn's KFold and as v1's do_split, same file format."""
from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest

from nnunet_explorer.errors import ConfigurationError, DatasetError
from nnunet_explorer.fileio import write_pickle
from nnunet_explorer.training.splits import SPLITS_FILE, do_split, kfold_indices, make_splits

from .conftest import STAGE_3D, v1_setup


@pytest.mark.parity
@pytest.mark.parametrize("n", [5, 10, 13, 104])
def test_kfold_indices_equal_sklearn(n):
    sklearn_split = pytest.importorskip("sklearn.model_selection")
    expected = list(sklearn_split.KFold(n_splits=5, shuffle=True, random_state=12345).split(np.arange(n)))
    ours = kfold_indices(n)
    assert len(ours) == 5
    for (tr, va), (etr, eva) in zip(ours, expected):
        np.testing.assert_array_equal(tr, etr)
        np.testing.assert_array_equal(va, eva)


@pytest.mark.parity
@pytest.mark.parametrize("n", [10, 13, 104])
def test_make_splits_equal_v1_rule_with_sklearn(n):
    sklearn_split = pytest.importorskip("sklearn.model_selection")
    keys = [f"case_{i:03d}" for i in np.random.RandomState(n).permutation(n)]  # unsorted on purpose
    all_sorted = np.sort(keys)
    expected = [(all_sorted[tr], all_sorted[va]) for tr, va in
                sklearn_split.KFold(n_splits=5, shuffle=True, random_state=12345).split(all_sorted)]
    splits = make_splits(keys)
    for fold, (etr, eva) in zip(splits, expected):
        assert isinstance(fold, OrderedDict) and list(fold) == ["train", "val"]
        assert fold["train"].dtype.kind == "U"
        np.testing.assert_array_equal(fold["train"], etr)
        np.testing.assert_array_equal(fold["val"], eva)


@pytest.mark.parity
def test_do_split_matches_v1_written_file(v1, v1_ct_task, tmp_path):
    """v1's nnUNetTrainerV2.do_split writes splits_final.pkl; ours writes the same content and reads v1's."""
    import shutil

    v1_dir = tmp_path / "v1"
    shutil.copytree(v1_ct_task.preprocessed_dir, v1_dir)
    trainer = v1_setup(v1, v1_dir, "nnUNetPlansv2.1_plans_3D.pkl", tmp_path / "out")
    trainer.folder_with_preprocessed_data = str(v1_dir / STAGE_3D)
    trainer.load_dataset()
    trainer.do_split()
    with open(v1_dir / SPLITS_FILE, "rb") as f:
        v1_splits = pickle.load(f)
    keys = list(trainer.dataset.keys())

    ours_dir = tmp_path / "ours"
    ours_dir.mkdir()
    train, val = do_split(ours_dir, 0, keys)
    with open(ours_dir / SPLITS_FILE, "rb") as f:
        our_splits = pickle.load(f)
    assert len(our_splits) == len(v1_splits) == 5
    for a, b in zip(our_splits, v1_splits):
        assert type(a) is type(b) and list(a) == list(b)
        for part in ("train", "val"):
            np.testing.assert_array_equal(a[part], b[part])
            assert a[part].dtype == b[part].dtype
    assert train == [str(k) for k in trainer.dataset_tr] and val == [str(k) for k in trainer.dataset_val]
    # an existing (v1-written) file is read, not replaced: folds from it, for every fold
    for fold in range(5):
        tr, va = do_split(v1_dir, fold, keys)
        assert tr == sorted(map(str, v1_splits[fold]["train"])) and va == sorted(map(str, v1_splits[fold]["val"]))


@pytest.mark.parity
@pytest.mark.parametrize("fold", [5, 7])
def test_fold_beyond_split_file_is_seeded_80_20_like_v1(v1, v1_ct_task, tmp_path, fold):
    import shutil

    v1_dir = tmp_path / "v1"
    shutil.copytree(v1_ct_task.preprocessed_dir, v1_dir)
    trainer = v1_setup(v1, v1_dir, "nnUNetPlansv2.1_plans_3D.pkl", tmp_path / "out")
    trainer.fold = fold
    trainer.folder_with_preprocessed_data = str(v1_dir / STAGE_3D)
    trainer.load_dataset()
    trainer.do_split()
    tr, va = do_split(v1_dir, fold, list(trainer.dataset.keys()))
    assert tr == [str(k) for k in trainer.dataset_tr] and va == [str(k) for k in trainer.dataset_val]
    assert len(tr) == 8 and len(va) == 2


def test_fold_all_and_custom_file(tmp_path):
    keys = [f"c{i}" for i in range(6)]
    assert do_split(tmp_path, "all", keys) == (sorted(keys), sorted(keys))
    assert not (tmp_path / SPLITS_FILE).exists()
    custom = [OrderedDict(train=np.array(["c0", "c1", "c2"]), val=np.array(["c5", "c3"]))]
    write_pickle(custom, tmp_path / SPLITS_FILE)
    assert do_split(tmp_path, 0, keys) == (["c0", "c1", "c2"], ["c3", "c5"])
    with pytest.raises(ConfigurationError):
        do_split(tmp_path, -1, keys)
    write_pickle([OrderedDict(train=np.array(["zz"]), val=np.array(["c1"]))], tmp_path / SPLITS_FILE)
    with pytest.raises(DatasetError, match="zz"):
        do_split(tmp_path, 0, keys)
    write_pickle({"not": "a list"}, tmp_path / SPLITS_FILE)
    with pytest.raises(DatasetError):
        do_split(tmp_path, 0, keys)


def test_too_few_cases_for_five_folds(tmp_path):
    with pytest.raises(DatasetError, match="at least 5"):
        do_split(tmp_path, 0, ["a", "b", "c"])
