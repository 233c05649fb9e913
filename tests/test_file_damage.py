"""file_damage: v1's files damaged on disk are found by their structure alone, as v1's own readers would find them."""
from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest

from nnunet_explorer import file_damage


def test_damaged_files_are_those_v1s_own_readers_refuse(tmp_path):
    """Every file :func:`file_damage.damaged_files` names, v1's reader of its kind fails on (batchgenerators'
    load_pickle, np.load of an .npz as v1 unpacks it, torch.load as v1 loads a checkpoint); every file it passes,
    they read."""
    pytest.importorskip("nnunet")
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_pickle as v1_load_pickle

    np.savez_compressed(tmp_path / "whole.npz", data=np.arange(512, dtype=np.float32).reshape(2, 4, 8, 8))
    npz = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(npz[:len(npz) // 2])
    (tmp_path / "zeros.npz").write_bytes(bytes(len(npz)))
    inside = bytearray(npz)
    inside[60:140] = b"\x01" * 80  # the compressed array, behind a header that still reads
    (tmp_path / "inside.npz").write_bytes(bytes(inside))
    pkl = pickle.dumps(OrderedDict(spacing=np.ones(3), classes=[1, 2]))
    (tmp_path / "whole.pkl").write_bytes(pkl)
    (tmp_path / "cut.pkl").write_bytes(pkl[:len(pkl) // 2])
    (tmp_path / "empty.pkl").write_bytes(b"")
    torch.save({"epoch": 3, "state_dict": {"w": torch.ones(64)}}, tmp_path / "whole.model")
    torch.save({"epoch": 3}, tmp_path / "legacy.model", _use_new_zipfile_serialization=False)
    checkpoint = (tmp_path / "whole.model").read_bytes()
    (tmp_path / "cut.model").write_bytes(checkpoint[:len(checkpoint) - 100])
    (tmp_path / "pointer.model").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n")
    (tmp_path / "other.txt").write_bytes(b"")  # not one of v1's data files: not checked
    readers = {".npz": lambda f: np.load(f)["data"], ".pkl": lambda f: v1_load_pickle(str(f)),
               ".model": lambda f: torch.load(f, map_location="cpu", weights_only=False)}

    files, damaged = file_damage.damaged_files(tmp_path)
    named = {f.name: why for f, why in damaged}
    assert files == 11 and sorted(named) == ["cut.model", "cut.npz", "cut.pkl", "empty.pkl", "inside.npz",
                                             "pointer.model", "zeros.npz"]
    for f in sorted(tmp_path.iterdir()):
        if f.suffix not in readers:
            continue
        if f.name in named:
            with pytest.raises(Exception):  # noqa: B017 - numpy, zipfile, pickle and torch each raise their own
                readers[f.suffix](f)
        else:
            readers[f.suffix](f)
    assert named["cut.npz"] == "not a whole zip archive (File is not a zip file): cut short or overwritten"
    assert named["zeros.npz"].startswith("its first bytes are zeros")
    assert named["inside.npz"].startswith("its array data.npy cannot be read (")
    assert named["empty.pkl"] == "empty (0 bytes)" and named["cut.pkl"].startswith("not a whole pickle (")
    assert named["cut.model"].startswith("not a torch checkpoint (torch saves one as a zip archive)")
    assert named["pointer.model"].startswith("a Git LFS pointer, not the file itself")
    (tmp_path / "gone.pkl").symlink_to(tmp_path / "nowhere.pkl")
    unreadable = (tmp_path / "gone.pkl", "cannot be read: No such file or directory")
    assert unreadable in file_damage.damaged_files(tmp_path)[1]


def test_a_checkpoint_with_a_changed_byte_is_called_damaged_only_when_torch_cannot_load_it(tmp_path):
    """zipfile checks a member's CRC and torch does not: a byte changed inside a checkpoint's data.pkl that still
    unpickles loads in torch (and in v1), so it is not called damaged; one that breaks the pickle is. Every byte of
    the local header and of data.pkl, flipped in turn: the check never raises and never calls damaged a checkpoint
    torch loads."""
    import zipfile

    import torch

    torch.save({"epoch": 3, "state_dict": {"w": torch.ones(8)}, "optimizer_state_dict": {"lr": 0.01}},
               tmp_path / "whole.model")
    whole = (tmp_path / "whole.model").read_bytes()
    with zipfile.ZipFile(tmp_path / "whole.model") as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
    flipped, damaged_and_refused = tmp_path / "model_best.model", 0
    for position in range(info.header_offset, info.header_offset + 80 + info.compress_size):
        data = bytearray(whole)
        data[position] ^= 0xFF
        flipped.write_bytes(bytes(data))
        try:
            torch.load(flipped, map_location="cpu", weights_only=False)
            refused = False
        except Exception:  # noqa: BLE001 - torch, zipfile and pickle each raise their own
            refused = True
        damaged = file_damage.damaged_file(flipped) is not None
        assert refused or not damaged, position
        damaged_and_refused += damaged and refused
    assert damaged_and_refused > info.compress_size // 2  # most flips break the pickle, and are found


def test_a_changed_weight_that_torch_loads_silently_is_found_by_the_whole_read(tmp_path):
    """A byte changed inside a tensor's data: torch (and v1) load the checkpoint without a word, with a changed
    weight; the quick check cannot tell, the whole read compares every member with the CRC torch wrote."""
    import torch

    torch.save({"epoch": 3, "state_dict": {"w": torch.arange(4096, dtype=torch.float32)}},
               tmp_path / "whole.model")
    assert file_damage.damaged_file(tmp_path / "whole.model", whole=True) is None
    data = bytearray((tmp_path / "whole.model").read_bytes())
    data[len(data) // 2] ^= 0xFF
    changed = tmp_path / "model_final_checkpoint.model"
    changed.write_bytes(bytes(data))
    loaded = torch.load(changed, map_location="cpu", weights_only=False)["state_dict"]["w"]
    assert not torch.equal(loaded, torch.arange(4096, dtype=torch.float32))  # loaded, silently different
    assert file_damage.damaged_file(changed) is None
    assert file_damage.damaged_file(changed, whole=True) == (
        "its whole/data/0 does not match its CRC: torch loads it without checking, with tensor values changed since "
        "it was saved (a copy error, a failing disk or bad memory)")


def test_each_damaged_file_is_told_what_mends_it_by_what_wrote_it(workspace):
    """The remedy follows the writer: v1's -t takes the task's number; a model folder's plans.pkl is the plans file
    copied at the start of training; validation's softmax files come back with -val --npz; a plans file of one's own
    identifier is not written by the default planning; the dataset analysis v1 reuses must be deleted first; a macOS
    ._ copy is deleted, not preprocessed."""
    name = "Task012_Mend"
    cropped, pre = workspace.cropped_task_dir(name), workspace.preprocessed_task_dir(name)
    model = workspace.network_training_output_dir / "2d" / name / "nnUNetTrainerV2__nnUNetPlansv2.1"

    def said(path):
        return file_damage.remedy(path, name, {path}, workspace)

    assert said(pre / "nnUNetData_plans_v2.1_stage0" / "case_1.npz").startswith(
        "a preprocessed case: delete it and the case's .npy, then `nnUNet_plan_and_preprocess -t 12` writes")
    assert said(pre / "nnUNetData_plans_v2.1_stage0" / "case_1.npy").startswith(
        "an unpacked case: delete the .npy; v1 unpacks it again from its .npz at the next start")
    assert said(cropped / "case_1.npz").startswith("a cropped case: delete its .npz and .pkl, then "
                                                   "`nnUNet_plan_and_preprocess -t 12` crops it again")
    assert said(cropped / "intensityproperties.pkl").startswith("the dataset analysis of the cropped data, which v1 "
                                                                "reuses when it exists: delete it")
    assert said(pre / "nnUNetPlansv2.1_plans_3D.pkl").startswith("written by the planning: `nnUNet_plan_and_preprocess "
                                                                 "-t 12` writes it again (and rewrites the default")
    assert said(pre / "nnUNetPlansMine_plans_3D.pkl").startswith("plans under the identifier 'nnUNetPlansMine', "
                                                                 "which v1's default planners do not write")
    assert said(model / "plans.pkl") == ("the model folder's copy of the plans (v1 copies it there at the start of "
                                         f"training): copy {pre / 'nnUNetPlansv2.1_plans_2D.pkl'} over it")
    assert said(model / "fold_0" / "validation_raw" / "case_1.npz").startswith("written by validation or prediction: "
                                                                               "delete it")
    assert said(pre / "nnUNetData_plans_v2.1_stage0" / "._case_1.npz").startswith("._case_1.npz is a macOS resource "
                                                                                  "copy")
    assert said(model / "fold_0" / "model_best.model.pkl").startswith("a checkpoint's .model.pkl (the trainer's "
                                                                       "arguments and plans; only nnUNet_predict")
    # without the workspace (a path pasted from another machine) the folder is read from the path
    assert file_damage.remedy(model / "fold_0" / "validation_raw" / "case_1.pkl", None, set()).startswith(
        "written by validation or prediction")
