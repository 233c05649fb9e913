"""image_io: a cut-short or damaged NIfTI is detected, although SimpleITK reads it without an error."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer.errors import DatasetError
from nnunet_explorer.image_io import scan_nifti, verify_image_file


def _write(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 3.0))
    sitk.WriteImage(image, str(path), compress)
    return path


@pytest.fixture
def ct_like(tmp_path) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(40, 300, (12, 40, 40)).astype(np.float32)  # noise compresses badly: the cut hits voxels


def _cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def test_simpleitk_reads_a_truncated_nii_gz_without_error_and_verify_catches_it(tmp_path, ct_like):
    whole = _write(tmp_path / "whole.nii.gz", ct_like)
    cut = _cut(whole, tmp_path / "cut.nii.gz", 0.5)
    # The danger: SimpleITK returns an array of the right shape with no error; the lost half is zeros.
    read = sitk.GetArrayFromImage(sitk.ReadImage(str(cut)))
    assert read.shape == ct_like.shape
    zero_fraction = float((read == 0).mean())
    assert zero_fraction > 0.3 and float((ct_like == 0).mean()) == 0.0
    verify_image_file(whole)  # the whole file passes
    with pytest.raises(DatasetError) as info:
        verify_image_file(cut)
    text = str(info.value)
    assert str(cut) in text and "ends early" in text and "re-copy / re-download" in text
    scan = scan_nifti(cut)
    # the scan's count of missing voxels agrees with the zeros SimpleITK filled in (to a gzip block)
    missing = 1 - scan.voxels_present / scan.voxels_declared
    assert abs(missing - zero_fraction) < 0.05, (missing, zero_fraction)


def test_truncated_plain_nii_fewer_voxels_than_the_header_declares(tmp_path, ct_like):
    whole = _write(tmp_path / "whole.nii", ct_like, compress=False)
    cut = _cut(whole, tmp_path / "cut.nii", 0.8)
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(cut))).shape == ct_like.shape  # no error here either
    verify_image_file(whole)
    with pytest.raises(DatasetError, match="header declares"):
        verify_image_file(cut)
    scan = scan_nifti(cut)
    assert scan.bytes_read == cut.stat().st_size and scan.expected_bytes == whole.stat().st_size


def test_damaged_gzip_stream_fails_its_crc(tmp_path, ct_like):
    whole = _write(tmp_path / "whole.nii.gz", ct_like)
    data = bytearray(whole.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="bad.nii.gz .*damaged"):
        verify_image_file(bad)


@pytest.mark.parametrize("name, content, words", [
    ("notes.nii.gz", b"just text, not an image", "not gzip-compressed"),
    ("gz_text.nii.gz", gzip.compress(b"not a nifti header" * 40), "not a NIfTI image"),
    ("short.nii", b"\x00" * 100, "shorter than a NIfTI header"),
    ("image.png", b"\x89PNG\r\n\x1a\n", "reads only .nii.gz"),
])
def test_files_that_are_not_nifti_are_refused_with_name_and_fix(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as info:
        verify_image_file(path)
    assert name in str(info.value) and words in str(info.value) and "fix:" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        verify_image_file(tmp_path / "absent.nii.gz")


def test_concatenated_gzip_members_and_zero_padding_are_whole(tmp_path, ct_like):
    # gzip allows several members in one file (pigz, cat a.gz b.gz); the decompressed bytes are concatenated
    raw = _write(tmp_path / "plain.nii", ct_like, compress=False).read_bytes()
    two = tmp_path / "two.nii.gz"
    two.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]) + b"\x00" * 16)
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(two))), ct_like)
    verify_image_file(two)
    assert scan_nifti(two).bytes_read == len(raw)


def test_scan_counts_nan_and_inf_that_simpleitk_reads_as_zero(tmp_path, ct_like):
    array = ct_like.copy()
    array[1, 2, 3] = np.nan
    array[4, 5, 6] = np.inf
    array[7, 8, 9] = -np.inf
    path = _write(tmp_path / "nan.nii.gz", array)
    read = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert np.isfinite(read).all()  # SimpleITK 2.5 hides them (as 0), so no check on its array can see them
    scan = scan_nifti(path)
    assert (scan.nan, scan.inf, scan.nonfinite) == (1, 2, 3)
    assert scan.problem is None
    labels = _write(tmp_path / "label.nii.gz", (ct_like > 0).astype(np.uint8))
    assert scan_nifti(labels).nonfinite is None  # integer data: nothing to count


def test_synthetic_task_files_are_whole(tmp_path):
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    task = write_synthetic_task(tmp_path / "Task990_X", "mr", num_training=1, num_test=0, seed=0)
    files = sorted(task.rglob("*.nii.gz"))
    assert len(files) == 3
    for path in files:
        scan = scan_nifti(path)
        assert scan.problem is None and scan.shape == sitk.ReadImage(str(path)).GetSize()
