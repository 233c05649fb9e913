"""file_damage: v1's files damaged on disk are found by their structure alone, as v1's own readers would find them."""
from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest

from nnunet_explorer import file_damage


def test_damaged_files_are_those_v1s_own_readers_refuse(tmp_path):
    """Every file :func:`file_damage.damaged_files` names, v1's reader of its kind fails on (batchgenerators' load_pickle,
    np.load of an .npz as v1 unpacks it, torch.load as v1 loads a checkpoint); every file it passes, they read."""
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
    assert (tmp_path / "gone.pkl", "cannot be read: No such file or directory") in file_damage.damaged_files(tmp_path)[1]
