"""DataLoader3D / DataLoader2D: v1's batches for the same np.random state, plus correct provenance."""
from __future__ import annotations

import os

import numpy as np
import pytest

from nnunet_explorer.errors import ConfigurationError, DatasetError
from nnunet_explorer.training import dataloading as dl

from .conftest import STAGE_2D, STAGE_3D, copy_stage, same_batch

N_BATCHES = 12


def _v1_and_ours(v1, folder, patch, final, bs, seed=3, n=N_BATCHES):
    d_v1 = v1.dataset_loading.load_dataset(str(folder))
    d_ours = dl.load_dataset(folder)
    if len(patch) == 3:
        l_v1 = v1.dataset_loading.DataLoader3D(d_v1, patch, final, bs, False, oversample_foreground_percent=0.33,
                                               pad_mode="constant", pad_sides=None, memmap_mode="r")
        l_ours = dl.DataLoader3D(d_ours, patch, final, bs, False, oversample_foreground_percent=0.33,
                                 pad_mode="constant", memmap_mode="r")
    else:
        l_v1 = v1.dataset_loading.DataLoader2D(d_v1, patch, final, bs, oversample_foreground_percent=0.33,
                                               pad_mode="constant", pad_sides=None, memmap_mode="r")
        l_ours = dl.DataLoader2D(d_ours, patch, final, bs, oversample_foreground_percent=0.33,
                                 pad_mode="constant", memmap_mode="r")
    np.random.seed(seed)
    b_v1 = [next(l_v1) for _ in range(n)]
    after_v1 = np.random.get_state()[1].copy()
    np.random.seed(seed)
    b_ours = [next(l_ours) for _ in range(n)]
    after_ours = np.random.get_state()[1].copy()
    return b_v1, b_ours, np.array_equal(after_v1, after_ours)


@pytest.mark.parity
def test_load_dataset_equals_v1(v1, v1_ct_task):
    folder = v1_ct_task.preprocessed_dir / STAGE_3D
    ours = dl.load_dataset(folder)
    theirs = v1.dataset_loading.load_dataset(str(folder))
    assert list(ours) == list(theirs)
    for case in ours:
        assert ours[case]["data_file"] == theirs[case]["data_file"]
        assert ours[case]["properties_file"] == theirs[case]["properties_file"]
        ours_locations = ours[case]["properties"]["class_locations"]
        theirs_locations = theirs[case]["properties"]["class_locations"]
        assert ours_locations.keys() == theirs_locations.keys()
        for label, locs in theirs_locations.items():
            np.testing.assert_array_equal(ours_locations[label], locs)


@pytest.mark.parity
@pytest.mark.parametrize("unpacked", [False, True], ids=["npz", "npy-memmap"])
@pytest.mark.parametrize("bs", [2, 5])
def test_3d_loader_batches_equal_v1_ct(v1, v1_ct_task, tmp_path, unpacked, bs):
    folder = copy_stage(v1_ct_task, STAGE_3D, tmp_path)
    if unpacked:
        assert len(dl.unpack_dataset(folder)) == 10
    # loaded patch larger than the case in z (padding) and final patch = the CT plans' [16, 40, 40]
    b_v1, b_ours, same_state = _v1_and_ours(v1, folder, (30, 60, 60), (16, 40, 40), bs)
    assert same_state, "the explorer's loader consumed np.random differently from v1"
    for x, y in zip(b_v1, b_ours):
        assert same_batch(x, y)
        assert [p["class_locations"].keys() for p in x["properties"]] == \
            [p["class_locations"].keys() for p in y["properties"]]
    forced = [p for b in b_ours for p in b["provenance"] if p.forced]
    assert len(forced) == N_BATCHES * (bs - round(bs * 0.67))


@pytest.mark.parity
def test_3d_loader_batches_equal_v1_mr_two_channels(v1, v1_mr_task, tmp_path):
    folder = copy_stage(v1_mr_task, STAGE_3D, tmp_path)
    dl.unpack_dataset(folder)
    b_v1, b_ours, same_state = _v1_and_ours(v1, folder, (40, 40, 40), (24, 24, 24), 3)
    assert same_state
    assert b_ours[0]["data"].shape == (3, 2, 40, 40, 40)
    assert all(same_batch(x, y) for x, y in zip(b_v1, b_ours))


@pytest.mark.parity
@pytest.mark.parametrize("unpacked", [False, True], ids=["npz", "npy-memmap"])
def test_2d_loader_batches_equal_v1(v1, v1_ct_task, tmp_path, unpacked):
    folder = copy_stage(v1_ct_task, STAGE_2D, tmp_path)
    if unpacked:
        dl.unpack_dataset(folder)
    b_v1, b_ours, same_state = _v1_and_ours(v1, folder, (56, 56), (40, 40), 6)
    assert same_state
    assert all(same_batch(x, y) for x, y in zip(b_v1, b_ours))


@pytest.mark.parity
@pytest.mark.parametrize("bs", range(1, 51))
def test_oversampling_rule_equals_v1(v1, bs):
    get = v1.dataset_loading.DataLoader3D.get_do_oversample

    class Fake:
        batch_size = bs
        oversample_foreground_percent = 0.33

    assert [dl.is_forced_foreground(j, bs, 0.33) for j in range(bs)] == [get(Fake(), j) for j in range(bs)]


def _padded_case(case: np.ndarray, box, fill_data=0.0, fill_seg=-1.0):
    """Cut ``box`` out of ``case (C+1, ...)`` the slow obvious way: pad everything, then slice."""
    pad = [(0, 0)] + [(max(0, -lb), max(0, ub - s)) for (lb, ub), s in zip(box, case.shape[1:])]
    data = np.pad(case[:-1], pad, constant_values=fill_data)
    seg = np.pad(case[-1:], pad, constant_values=fill_seg)
    sl = (slice(None),) + tuple(slice(lb + p[0], ub + p[0]) for (lb, ub), p in zip(box, pad[1:]))
    return data[sl], seg[sl]


def test_provenance_boxes_reproduce_the_patches(ct_stage):
    dl.unpack_dataset(ct_stage)
    dataset = dl.load_dataset(ct_stage)
    loader = dl.DataLoader3D(dataset, (30, 60, 60), (16, 40, 40), 4, oversample_foreground_percent=0.33)
    np.random.seed(0)
    for _ in range(6):
        batch = next(loader)
        for j, prov in enumerate(batch["provenance"]):
            assert prov.case_id == batch["keys"][j]
            case = np.load(ct_stage / f"{prov.case_id}.npy")
            assert prov.case_shape == case.shape[1:]
            data, seg = _padded_case(case, prov.box)
            np.testing.assert_array_equal(batch["data"][j], data)
            np.testing.assert_array_equal(batch["seg"][j], seg)
            assert prov.forced == (j == 3)
            if prov.forced:
                # the patch holds the forced class at the stored centre voxel (lower clamp may shift the box)
                assert prov.forced_class in dataset[prov.case_id]["properties"]["class_locations"]
                local = tuple(c - lb for c, (lb, _) in zip(prov.center_voxel, prov.box))
                assert batch["seg"][j, 0][local] == prov.forced_class
            # every box starts at or above v1's lower bound -need_to_pad // 2 (forced boxes are clamped there)
            for (lb, _), s, p, f in zip(prov.box, prov.case_shape, (30, 60, 60), (16, 40, 40)):
                need = p - f if p - f + s >= p else p - s
                assert lb >= -need // 2


def test_2d_provenance_and_case_batch(ct_stage, tmp_path):
    dataset = dl.load_dataset(ct_stage)
    b = dl.case_batch(dataset, "case_002", (40, 40), seed=4, force_foreground=True)
    prov = b["provenance"][0]
    assert prov.forced and prov.case_id == "case_002" and prov.box[0][1] - prov.box[0][0] == 1
    local = (prov.center_voxel[1] - prov.box[1][0], prov.center_voxel[2] - prov.box[2][0])
    assert b["seg"][0, 0][local] == prov.forced_class
    state = np.random.get_state()[1].copy()
    again = dl.case_batch(dataset, "case_002", (40, 40), seed=4, force_foreground=True)
    np.testing.assert_array_equal(again["data"], b["data"])
    assert np.array_equal(np.random.get_state()[1], state), "case_batch must not disturb the caller's np.random"
    with pytest.raises(DatasetError, match="nope"):
        dl.case_batch(dataset, "nope", (40, 40))


def test_unpack_is_atomic_and_skips_existing(ct_stage):
    written = dl.unpack_dataset(ct_stage)
    assert len(written) == 10
    npy = ct_stage / "case_000.npy"
    with np.load(ct_stage / "case_000.npz") as f:
        np.testing.assert_array_equal(np.load(npy), f["data"])
    stamp = os.stat(npy).st_mtime_ns
    assert dl.unpack_dataset(ct_stage) == []
    assert os.stat(npy).st_mtime_ns == stamp
    assert not [p for p in os.listdir(ct_stage) if p.endswith(".tmp")]


def test_errors_name_the_problem(tmp_path, ct_stage):
    with pytest.raises(DatasetError, match="does not exist"):
        dl.load_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no preprocessed case"):
        dl.load_dataset(tmp_path / "empty")
    dataset = dl.load_dataset(ct_stage)
    with pytest.raises(ConfigurationError):
        dl.DataLoader3D(dataset, (16, 40, 40), (16, 40, 40), 2, has_prev_stage=True)
    del dataset["case_000"]["properties"]["class_locations"]
    loader = dl.DataLoader3D(dl.subset(dataset, ["case_000"]), (16, 40, 40), (16, 40, 40), 1,
                             oversample_foreground_percent=1.0)
    with pytest.raises(DatasetError, match="case_000.*class_locations"):
        next(loader)


def _cut(path, keep: int) -> bytes:
    """Cut ``path`` to its first ``keep`` bytes (an unpacking interrupted, a full disk); returns the whole file."""
    whole = path.read_bytes()
    path.write_bytes(whole[:keep])
    return whole


@pytest.mark.parity
def test_a_cut_npy_fails_v1s_loader_every_time_and_is_unpacked_again_here(v1, v1_ct_task, tmp_path, capsys):
    """v1 skips a .npy that exists, so one cut short stays and its loader fails on that case; here it is redone."""
    folder = copy_stage(v1_ct_task, STAGE_3D, tmp_path)
    v1.dataset_loading.unpack_dataset(str(folder))
    npy = sorted(folder.glob("*.npy"))[-1]  # not the first case, which v1's loader opens when it is made
    whole = _cut(npy, 1000)
    v1.dataset_loading.unpack_dataset(str(folder))  # v1's second unpacking leaves it as it is
    assert npy.stat().st_size == 1000
    loader = v1.dataset_loading.DataLoader3D(v1.dataset_loading.load_dataset(str(folder)), (16, 40, 40),
                                             (16, 40, 40), 1, False, pad_mode="constant", pad_sides=None,
                                             memmap_mode="r")
    np.random.seed(0)
    drawn = []
    with pytest.raises(ValueError, match="mmap length is greater than file size"):
        for _ in range(200):
            drawn.append(str(next(loader)["keys"][0]))
    assert npy.stem not in drawn  # it fails on the cut case, the first time it is drawn
    assert dl.npy_sizes(npy) == (1000, len(whole))
    assert dl.unpack_dataset(folder) == [str(npy)]
    assert npy.read_bytes() == whole  # the same bytes v1 writes
    assert (f"{npy.stem}.npy was incomplete (1000 of {len(whole)} bytes: an unpacking interrupted or a full disk); "
            f"unpacked again from {npy.stem}.npz") in capsys.readouterr().out
    assert dl.unpack_dataset(folder) == []  # complete files are left alone, as v1 does


def test_a_cut_header_or_an_empty_npy_is_unpacked_again_and_a_cut_npz_is_a_clear_error(ct_stage, capsys):
    assert len(dl.unpack_dataset(ct_stage)) == 10
    first, second = sorted(ct_stage.glob("*.npy"))[:2]
    whole = _cut(first, 50)  # inside the header: numpy says "EOF: reading array header"
    _cut(second, 0)  # numpy: "No data left in file"
    for path in (first, second):
        with pytest.raises((ValueError, EOFError)):
            np.load(path, mmap_mode="r")
        assert dl.npy_sizes(path)[1] is None
    assert dl.unpack_dataset(ct_stage) == [str(first), str(second)]
    assert first.read_bytes() == whole
    out = capsys.readouterr().out
    assert f"{first.stem}.npy was incomplete (50 bytes, its header cut or not numpy's:" in out
    assert f"{second.stem}.npy was incomplete (0 bytes, its header cut or not numpy's:" in out
    npz = ct_stage / f"{first.stem}.npz"
    _cut(npz, npz.stat().st_size // 2)
    first.unlink()
    with pytest.raises(DatasetError) as raised:
        dl.unpack_dataset(ct_stage)
    assert f"{npz} cannot be read (BadZipFile" in raised.value.cause
    assert "run the preprocessing again" in raised.value.fix and not first.exists()
