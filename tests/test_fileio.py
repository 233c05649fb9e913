"""fileio: atomic writes leave the old file on failure; pickles are read through an allow-list."""
from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from nnunet_explorer.errors import ExplorerError, UnsafeFileError
from nnunet_explorer import fileio
from nnunet_explorer.fileio import (atomic_open, copy_atomic, load_json, load_pickle, loads_pickle, save_npy_atomic,
                                    save_npz_atomic, write_json, write_pickle, write_text_atomic)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "plans.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_open(target, "w") as handle:
            handle.write("half of the new")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_failed_write_of_a_new_file_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_json({"x": object()}, tmp_path / "new.json")
    assert list(tmp_path.iterdir()) == []


def test_atomic_files_get_the_umask_mode_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        write_json({"a": 1}, tmp_path / "a.json")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644


def test_copy_atomic_copies_to_a_file_or_into_a_folder(tmp_path):
    src = tmp_path / "src" / "plans.pkl"
    src.parent.mkdir()
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several chunks of the streamed copy
    src.write_bytes(payload)
    dst = tmp_path / "out"
    dst.mkdir()
    assert copy_atomic(src, dst) == dst / "plans.pkl"  # an existing folder: the copy keeps the name
    assert (dst / "plans.pkl").read_bytes() == payload
    assert copy_atomic(src, dst / "renamed.pkl") == dst / "renamed.pkl"
    assert (dst / "renamed.pkl").read_bytes() == payload
    # a missing destination folder is created (validation copies into a new gt_niftis)
    assert copy_atomic(str(src), tmp_path / "new" / "gt" / "case.nii.gz").read_bytes() == payload
    (dst / "renamed.pkl").write_bytes(b"old")
    copy_atomic(src, dst / "renamed.pkl")  # an existing file is replaced
    assert (dst / "renamed.pkl").read_bytes() == payload
    assert _leftovers(dst) == []


def test_interrupted_copy_keeps_the_old_destination_and_no_temporary(tmp_path, monkeypatch):
    src, dst = tmp_path / "new.json", tmp_path / "out" / "plans.json"
    src.write_bytes(b"n" * 10_000)
    write_text_atomic(dst, "old")

    def half_then_crash(source, target, length=0):
        target.write(source.read(5_000))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.shutil, "copyfileobj", half_then_crash)
    with pytest.raises(OSError, match="No space"):
        copy_atomic(src, dst)
    assert dst.read_text() == "old"
    assert _leftovers(dst.parent) == []
    with pytest.raises(OSError, match="No space"):
        copy_atomic(src, tmp_path / "out" / "fresh.json")  # no old file: none appears
    assert sorted(p.name for p in dst.parent.iterdir()) == ["plans.json"]


def test_copy_of_a_missing_source_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        copy_atomic(tmp_path / "missing.pkl", tmp_path / "out.pkl")
    assert list(tmp_path.iterdir()) == []


def test_copy_atomic_copies_contents_only_with_the_umask_mode(tmp_path):
    # like shutil.copyfile (what predict/validation used): neither the source's mode nor its time is copied;
    # the copy is readable as any new file (not the owner-only mode of a bare mkstemp file)
    src = tmp_path / "dataset.json"
    src.write_text("{}")
    os.chmod(src, 0o600)
    os.utime(src, (1_000_000, 1_000_000))
    old = os.umask(0o022)
    try:
        out = copy_atomic(src, tmp_path / "copy.json")
        os.chmod(src, 0o755)
        executable = copy_atomic(src, tmp_path / "copy2.json")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644 and executable.stat().st_mode & 0o777 == 0o644
    assert out.stat().st_mtime > 1_000_000


def test_round_trips(tmp_path):
    data = {"spacing": np.array([3.0, 0.8, 0.8]), "n": np.int64(3), "f": np.float32(0.5), "p": tmp_path}
    write_json(data, tmp_path / "d.json")
    assert load_json(tmp_path / "d.json") == {"spacing": [3.0, 0.8, 0.8], "n": 3, "f": 0.5, "p": str(tmp_path)}
    save_npz_atomic(tmp_path / "case.npz", data=np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(np.load(tmp_path / "case.npz")["data"], np.arange(6.0).reshape(2, 3))
    save_npy_atomic(tmp_path / "case.npy", np.ones((2, 2), np.float16))
    assert np.load(tmp_path / "case.npy").dtype == np.float16


def test_invalid_json_names_file_line_and_column(tmp_path):
    (tmp_path / "bad.json").write_text('{\n  "a": 1,\n}')
    with pytest.raises(ExplorerError) as info:
        load_json(tmp_path / "bad.json")
    assert str(tmp_path / "bad.json") in str(info.value) and "line 3" in str(info.value)


class _Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


class _SystemPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload_class, refused", [(_Payload, "builtins.exec"), (_SystemPayload, "system")])
def test_malicious_pickle_is_refused_before_it_runs(tmp_path, payload_class, refused):
    marker = tmp_path / "marker"
    path = tmp_path / "plans.pkl"
    path.write_bytes(pickle.dumps({"plans_per_stage": payload_class(marker)}, protocol=4))
    with pytest.raises(UnsafeFileError) as info:
        load_pickle(path)
    assert not marker.exists(), "the payload ran"
    message = str(info.value)
    assert refused in message and "refused" in message and str(path) in message and info.value.fix
    # the payload is live: an ordinary unpickler does run it (which is why load_pickle must not)
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_plain_data_is_accepted(tmp_path):
    value = OrderedDict(
        plans_per_stage={0: {"patch_size": np.array([48, 48, 48]), "batch_size": 2,
                             "pool_op_kernel_sizes": [[2, 2, 2], [2, 2, 2]], "do_dummy_2D_data_aug": False}},
        spacing=np.array([3.0, 0.8, 0.8], dtype=np.float64), mask=np.zeros((2, 3), bool),
        dtype=np.dtype("float32"), scalars=(np.float32(1.5), np.int64(7), np.bool_(True), np.uint8(3)),
        labels={1, 2}, frozen=frozenset({"CT"}), blob=b"\x00\x01", text="ok", none=None, big=2 ** 70,
        complex=1 + 2j,
    )
    write_pickle(value, tmp_path / "written.pkl")
    for protocol in (2, 3, 4, 5):
        (tmp_path / f"p{protocol}.pkl").write_bytes(pickle.dumps(value, protocol=protocol))
    for path in sorted(tmp_path.glob("*.pkl")):
        loaded = load_pickle(path)
        assert type(loaded) is OrderedDict and list(loaded) == list(value)
        np.testing.assert_array_equal(loaded["spacing"], value["spacing"])
        np.testing.assert_array_equal(loaded["plans_per_stage"][0]["patch_size"], [48, 48, 48])
        assert loaded["scalars"] == value["scalars"] and type(loaded["scalars"][0]) is np.float32
        assert loaded["dtype"] == np.dtype("float32") and loaded["labels"] == {1, 2}
        assert loaded["blob"] == b"\x00\x01" and loaded["big"] == 2 ** 70 and loaded["complex"] == 1 + 2j


def test_corrupt_and_missing_pickles(tmp_path):
    good = pickle.dumps({"a": np.arange(10)}, protocol=4)
    with pytest.raises(ExplorerError, match="not a readable pickle"):
        loads_pickle(good[: len(good) // 2], "half.pkl")
    with pytest.raises(ExplorerError, match="does not exist"):
        load_pickle(tmp_path / "missing.pkl")


@pytest.mark.parity
@pytest.mark.slow
def test_real_v1_pickles_load(v1_ct_task):
    folder = v1_ct_task.preprocessed_dir
    plans = load_pickle(folder / "nnUNetPlansv2.1_plans_3D.pkl")
    assert "plans_per_stage" in plans and "normalization_schemes" in plans
    properties = load_pickle(next((folder / "nnUNetData_plans_v2.1_stage0").glob("*.pkl")))
    assert "class_locations" in properties
    load_pickle(folder / "dataset_properties.pkl")
