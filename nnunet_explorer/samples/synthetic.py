"""Synthetic nnU-Net v1 tasks, deterministic from a seed and small enough for a laptop CPU.

Two kinds, both in v1's raw layout (``imagesTr/CASE_0000.nii.gz``, ``labelsTr/CASE.nii.gz``, ``imagesTs/``,
``dataset.json``):

* ``ct`` — a CT-like task: one modality in Hounsfield units, anisotropic voxels (3 x 0.8 x 0.8 mm, z first),
  an air background of -1000 HU around a soft-tissue body, an *organ* (label 1) and a hypodense *lesion*
  (label 2) inside it, with sizes and positions that vary from case to case.
* ``mr`` — an MR-like task: two modalities (``T1``, ``T2``) with arbitrary units, isotropic 1 mm voxels, a
  head-like ellipsoid on a zero background (so v1's nonzero cropping and masked normalization matter),
  and two structures (labels 1 and 2) with different contrasts in the two modalities.

The same ``seed`` always writes byte-identical images. Shapes are chosen so that one 3d_fullres training
iteration of nnU-Net v1 takes about a second on two CPU cores.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fileio import write_json

KINDS = ("ct", "mr")


@dataclass(frozen=True)
class SyntheticSpec:
    """What one kind of synthetic task looks like (shapes in voxels, z first; spacing in mm, z first)."""

    kind: str
    modalities: tuple[str, ...]
    labels: tuple[str, ...]
    spacing_zyx: tuple[float, float, float]
    base_shape_zyx: tuple[int, int, int]
    shape_jitter_zyx: tuple[int, int, int]
    description: str


SPECS = {
    "ct": SyntheticSpec(
        kind="ct", modalities=("CT",), labels=("background", "organ", "lesion"),
        spacing_zyx=(3.0, 0.8, 0.8), base_shape_zyx=(16, 36, 36), shape_jitter_zyx=(2, 3, 3),
        description="Synthetic CT-like task: organ with a hypodense lesion, anisotropic 3 x 0.8 x 0.8 mm voxels",
    ),
    "mr": SyntheticSpec(
        kind="mr", modalities=("T1", "T2"), labels=("background", "structure", "inner"),
        spacing_zyx=(1.0, 1.0, 1.0), base_shape_zyx=(28, 28, 28), shape_jitter_zyx=(2, 2, 2),
        description="Synthetic MR-like two-modality task: head-like ellipsoid on zero background, two structures",
    ),
}


def _ellipsoid(shape: tuple[int, ...], center: np.ndarray, radii: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Boolean mask of an axis-aligned ellipsoid; ``center`` in voxels, ``radii`` in mm."""
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    dist = sum(((g - c) * s / r) ** 2 for g, c, s, r in zip(grids, center, spacing, radii))
    return dist <= 1.0


def make_case(kind: str, seed: int, case_index: int) -> tuple[list[np.ndarray], np.ndarray, tuple[float, ...]]:
    """Make one case: a list of images (one per modality, float32, z-y-x), a uint8 label map, the spacing.

    Deterministic in ``(kind, seed, case_index)``.
    """
    spec = SPECS[kind]
    rng = np.random.default_rng([seed, case_index, KINDS.index(kind)])
    shape = tuple(int(b + rng.integers(-j, j + 1)) for b, j in zip(spec.base_shape_zyx, spec.shape_jitter_zyx))
    spacing = np.asarray(spec.spacing_zyx)
    extent_mm = np.asarray(shape) * spacing
    mid = (np.asarray(shape) - 1) / 2
    body = _ellipsoid(shape, mid + rng.uniform(-1, 1, 3), extent_mm * rng.uniform(0.38, 0.45, 3), spacing)
    organ_center = mid + rng.uniform(-0.12, 0.12, 3) * np.asarray(shape)
    organ_radii = extent_mm * rng.uniform(0.16, 0.24, 3)
    organ = _ellipsoid(shape, organ_center, organ_radii, spacing) & body
    lesion_center = organ_center + rng.uniform(-0.3, 0.3, 3) * organ_radii / spacing
    lesion = _ellipsoid(shape, lesion_center, organ_radii * rng.uniform(0.45, 0.6), spacing) & organ
    label = np.zeros(shape, np.uint8)
    label[organ] = 1
    label[lesion] = 2

    if kind == "ct":
        image = np.full(shape, -1000.0)
        image[body] = rng.uniform(20, 45)
        image[organ] = rng.uniform(55, 75)
        image[lesion] = rng.uniform(5, 25)
        image += rng.normal(0, 15, shape)
        images = [np.round(image).astype(np.float32)]
    else:
        t1 = np.zeros(shape)
        t2 = np.zeros(shape)
        t1[body], t2[body] = rng.uniform(300, 400), rng.uniform(150, 250)
        t1[organ], t2[organ] = rng.uniform(550, 650), rng.uniform(80, 120)
        t1[lesion], t2[lesion] = rng.uniform(200, 260), rng.uniform(500, 600)
        noise = rng.normal(0, 25, (2, *shape))
        images = [np.where(body, t1 + noise[0], 0).astype(np.float32),
                  np.where(body, t2 + noise[1], 0).astype(np.float32)]
    return images, label, tuple(float(s) for s in spacing)


def _write_nifti(array_zyx: np.ndarray, spacing_zyx: tuple[float, ...], origin_xyz: tuple[float, ...],
                 path: Path) -> None:
    import SimpleITK as sitk  # imported here: only writers need it

    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    image.SetOrigin(origin_xyz)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.nii.gz")
    sitk.WriteImage(image, str(tmp), True)
    tmp.replace(path)


def write_synthetic_task(task_dir: str | Path, kind: str = "ct", *, num_training: int = 10, num_test: int = 2,
                         seed: int = 0) -> Path:
    """Write a synthetic task in v1's raw layout into ``task_dir`` (``.../nnUNet_raw_data/TaskXXX_Name``).

    Returns ``task_dir``. Training cases are ``case_000 ...``, test cases ``test_000 ...``.
    """
    if kind not in SPECS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    spec = SPECS[kind]
    task_dir = Path(task_dir)
    training, test = [], []
    for index in range(num_training + num_test):
        is_test = index >= num_training
        case = f"test_{index - num_training:03d}" if is_test else f"case_{index:03d}"
        images, label, spacing = make_case(kind, seed, index)
        origin = (-10.0 * index, 5.0, 2.5 * index)
        for modality, image in enumerate(images):
            folder = "imagesTs" if is_test else "imagesTr"
            _write_nifti(image, spacing, origin, task_dir / folder / f"{case}_{modality:04d}.nii.gz")
        if is_test:
            test.append(f"./imagesTs/{case}.nii.gz")
        else:
            _write_nifti(label, spacing, origin, task_dir / "labelsTr" / f"{case}.nii.gz")
            training.append({"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"})
    dataset = {
        "name": task_dir.name,
        "description": spec.description,
        "tensorImageSize": "4D",
        "reference": "nnunet-explorer synthetic generator",
        "licence": "CC0 (synthetic data)",
        "release": "1.0",
        "modality": {str(i): m for i, m in enumerate(spec.modalities)},
        "labels": {str(i): name for i, name in enumerate(spec.labels)},
        "numTraining": num_training,
        "numTest": num_test,
        "training": training,
        "test": test,
        "explorer_sample": {"kind": kind, "seed": seed, "generator": "nnunet_explorer.samples.synthetic"},
    }
    write_json(dataset, task_dir / "dataset.json", sort_keys=False)
    return task_dir
