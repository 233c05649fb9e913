"""Fixtures for the data-loading / augmentation tests.

v1 runs *in-process* here (importing ``nnunet.training...`` only makes ``nnunet.paths`` print warnings). v1's
``setup_DA_params`` mutates module-level dicts, so :func:`v1_setup` restores them before every use.
"""
from __future__ import annotations

import copy
import shutil
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

STAGE_3D = "nnUNetData_plans_v2.1_stage0"
STAGE_2D = "nnUNetData_plans_v2.1_2D_stage0"
PLANS_3D = "nnUNetPlansv2.1_plans_3D.pkl"
PLANS_2D = "nnUNetPlansv2.1_plans_2D.pkl"


@pytest.fixture(scope="session")
def v1():
    """v1's modules (imported once per session)."""
    pytest.importorskip("nnunet")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    import nnunet.training.data_augmentation.data_augmentation_moreDA as moreDA
    import nnunet.training.data_augmentation.default_data_augmentation as dda
    import nnunet.training.dataloading.dataset_loading as dataset_loading
    import nnunet.training.network_training.nnUNetTrainerV2 as trainer_v2

    class V1:
        pass

    ns = V1()
    ns.dataset_loading = dataset_loading
    ns.moreDA = moreDA
    ns.dda = dda
    ns.trainer_v2 = trainer_v2
    ns.pristine = (copy.deepcopy(dda.default_3D_augmentation_params), copy.deepcopy(dda.default_2D_augmentation_params))
    return ns


def v1_setup(v1, preprocessed_dir: Path, plans_name: str, out_dir: Path, *, dummy_2d: bool | None = None):
    """A v1 nnUNetTrainerV2 with plans processed and ``setup_DA_params`` run (nothing written)."""
    from batchgenerators.utilities.file_and_folder_operations import load_pickle

    for live, saved in zip((v1.dda.default_3D_augmentation_params, v1.dda.default_2D_augmentation_params),
                           v1.pristine):
        live.clear()
        live.update(copy.deepcopy(saved))
    trainer = v1.trainer_v2.nnUNetTrainerV2(str(preprocessed_dir / plans_name), 0, str(out_dir),
                                            str(preprocessed_dir), True, 0, True, True, False)
    plans = load_pickle(trainer.plans_file)
    if dummy_2d is not None:
        plans["plans_per_stage"][0]["do_dummy_2D_data_aug"] = dummy_2d
    trainer.process_plans(plans)
    trainer.setup_DA_params()
    return trainer


@pytest.fixture
def ct_stage(v1_ct_task, tmp_path) -> Path:
    """A writable copy of the CT task's 3D stage folder (npz + pkl only, as v1 left it)."""
    dst = tmp_path / STAGE_3D
    shutil.copytree(v1_ct_task.preprocessed_dir / STAGE_3D, dst)
    return dst


def copy_stage(task, stage: str, dst_root: Path) -> Path:
    dst = dst_root / stage
    shutil.copytree(task.preprocessed_dir / stage, dst)
    return dst


def same_batch(a: dict, b: dict) -> bool:
    """data, seg and keys equal (v1's batch keys)."""
    return (np.array_equal(a["data"], b["data"]) and np.array_equal(a["seg"], b["seg"])
            and [str(k) for k in a["keys"]] == [str(k) for k in b["keys"]])


def ordered(d) -> OrderedDict:
    return OrderedDict(d)


def v1_transform_lists(v1, trainer) -> tuple[list, list]:
    """v1's train/val transform lists for a v1 trainer, from the augmenters ``get_moreDA_augmentation`` returns."""
    params = dict(trainer.data_aug_params, num_threads=1)

    class Dummy:  # get_moreDA_augmentation only stores the loaders
        pass

    tr, val = v1.moreDA.get_moreDA_augmentation(Dummy(), Dummy(), params["patch_size_for_spatialtransform"], params,
                                                deep_supervision_scales=trainer.deep_supervision_scales,
                                                pin_memory=False, use_nondetMultiThreadedAugmenter=False)
    try:
        return tr.transform.transforms, val.transform.transforms
    finally:
        tr._finish()
        val._finish()
