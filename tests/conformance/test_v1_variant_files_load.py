"""Every one of v1 1.7.1's ``nnUNet_variants`` files loads into the explorer unchanged but for its imports, and every
trainer class it defines is a subclass of the explorer's ``NetworkTrainer`` whose methods are the file's own."""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # ported_variants, v1_harness (tests use --import-mode=importlib)

import ported_variants  # noqa: E402

pytestmark = pytest.mark.parity


def test_all_72_v1_variant_files_load_and_define_explorer_trainers(tmp_path):
    from nnunet_explorer.network_training import NetworkTrainer, nnUNetTrainerV2

    files = ported_variants.all_files()
    assert len(files) == 72, files
    loaded: dict = {}
    classes = {}
    for rel in files:
        namespace = ported_variants.load(rel, tmp_path, loaded)
        defined = {name: obj for name, obj in namespace.items()
                   if inspect.isclass(obj) and issubclass(obj, NetworkTrainer) and obj.__module__ == namespace["__name__"]}
        assert defined, f"{rel} defines no trainer"
        classes.update(defined)
    assert len(classes) >= 90  # v1 1.7.1: 93 classes (aliases such as X_copy1 = X not counted twice)
    dice = classes["nnUNetTrainerV2_Loss_Dice"]
    assert issubclass(dice, nnUNetTrainerV2) and "__init__" in vars(dice)  # the file's own method, not ours
    ported = tmp_path / "loss_function" / "nnUNetTrainerV2_Loss_Dice.py"
    assert "from nnunet_explorer.v1." in ported.read_text() and "from nnunet." not in ported.read_text()
