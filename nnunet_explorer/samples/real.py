"""A small *real* MR sample (Colin27 T1 + AAL deep grey nuclei) and a training task derived from it.

Where the data comes from
-------------------------
Debian's ``mricron-data`` package ships ``ch2.nii.gz`` (the MNI "Colin27" single-subject T1 template, 1 mm,
181 x 217 x 181) and ``aal.nii.gz`` (the AAL atlas, Tzourio-Mazoyer et al. 2002, drawn on that same brain
and grid). :func:`crop_real_sample` cuts a block around the deep grey nuclei out of both and maps the AAL
ids of four structures (left and right merged) to labels 1-4:

====  ==========  ========
label structure   AAL ids
====  ==========  ========
1     caudate     71, 72
2     putamen     73, 74
3     pallidum    75, 76
4     thalamus    77, 78
====  ==========  ========

The crop keeps the source's spacing and direction and gets the origin of its first voxel, so it still sits
at the right place in MNI space. It is shipped in ``data_samples/colin27_deep_grey/`` with its licence
notices.

One brain is not a training set. :func:`build_real_task` makes an N-case v1 raw task from it by
documented random transforms per case — a small rotation, an isotropic scale and a shift, resampling to
a coarser, possibly anisotropic voxel spacing (so v1's planner has spacings to reason about), and MR-like
intensity changes (a smooth multiplicative bias field, a gamma curve, a scanner scale factor and Gaussian
noise). Every parameter and the seed are recorded per case in ``dataset.json["explorer_derivation"]``;
derived cases are named ``colin_derived_000`` ...; the untransformed crop is kept as the test case
``imagesTs/colin_original_0000.nii.gz`` with its label in ``labelsTs/``.
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..fileio import write_json, write_text_atomic
from ..language import tr

SAMPLE_NAME = "colin27_deep_grey"
IMAGE_FILE = "colin27_t1_deep_grey.nii.gz"
LABEL_FILE = "colin27_deep_grey_labels.nii.gz"
CROP_FILE = "crop.json"
# output label -> (name, AAL ids) ; AAL ids from aal.nii.txt of mricron-data
LABELS: dict[int, tuple[str, tuple[int, ...]]] = {
    1: ("caudate", (71, 72)),
    2: ("putamen", (73, 74)),
    3: ("pallidum", (75, 76)),
    4: ("thalamus", (77, 78)),
}
CROP_SIZE_XYZ = (100, 90, 75)  # voxels (= mm at Colin27's 1 mm), ITK order x, y, z
DEBIAN_TEMPLATES = Path("/usr/share/mricron/templates")


def _sitk():
    import SimpleITK as sitk  # imported lazily: only the writers and builders need it

    return sitk


def default_sample_dir() -> Path:
    """``data_samples/colin27_deep_grey`` of the source checkout (it is not inside the installed package)."""
    override = os.environ.get("NNUNET_EXPLORER_DATA_SAMPLES")
    root = Path(override) if override else Path(__file__).resolve().parents[2] / "data_samples"
    return root / SAMPLE_NAME


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def crop_real_sample(ch2_path: str | Path, aal_path: str | Path, out_dir: str | Path,
                     size_xyz: tuple[int, int, int] = CROP_SIZE_XYZ) -> Path:
    """Cut the deep grey block out of Colin27 (``ch2``) and AAL and write image, label and ``crop.json``.

    The block of ``size_xyz`` voxels is centred on the bounding box of the four structures. Slicing a
    SimpleITK image keeps spacing and direction and moves the origin to the first kept voxel, so every
    voxel of the crop has the same physical (MNI) coordinate as in the source.

    Returns ``out_dir``.
    """
    sitk = _sitk()
    ch2_path, aal_path, out_dir = Path(ch2_path), Path(aal_path), Path(out_dir)
    for path in (ch2_path, aal_path):
        if not path.is_file():
            raise DatasetError(tr(f"{path} does not exist", f"{path} 不存在"),
                               fix=tr("install Debian's mricron-data (apt-get install mricron-data) or give the "
                                      "folder that holds ch2.nii.gz and aal.nii.gz",
                                      "安装 Debian 的 mricron-data(apt-get install mricron-data),"
                                      "或指定存放 ch2.nii.gz 和 aal.nii.gz 的文件夹"))
    t1 = sitk.ReadImage(str(ch2_path))
    aal = sitk.ReadImage(str(aal_path))
    if t1.GetSize() != aal.GetSize() or not np.allclose(t1.GetOrigin(), aal.GetOrigin()):
        raise DatasetError(tr(f"{ch2_path} and {aal_path} are not on the same grid",
                              f"{ch2_path} 和 {aal_path} 不在同一个网格上"),
                           fix=tr("use ch2.nii.gz and aal.nii.gz from the same mricron-data package",
                                  "使用来自同一个 mricron-data 软件包的 ch2.nii.gz 和 aal.nii.gz"))
    aal_zyx = sitk.GetArrayFromImage(aal)
    all_ids = [i for _, ids in LABELS.values() for i in ids]
    where = np.argwhere(np.isin(aal_zyx, all_ids))
    if where.size == 0:
        raise DatasetError(tr(f"{aal_path} holds none of the AAL ids {all_ids}",
                              f"{aal_path} 不含任何一个 AAL 编号 {all_ids}"),
                           fix=tr("use the AAL atlas (aal.nii.gz)", "使用 AAL 图谱(aal.nii.gz)"))
    centre_xyz = ((where.min(0) + where.max(0)) / 2)[::-1]
    start = [int(min(max(round(c - s / 2), 0), n - s)) for c, s, n in zip(centre_xyz, size_xyz, t1.GetSize())]
    stop = [b + s for b, s in zip(start, size_xyz)]
    t1_crop = t1[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]]
    label_zyx = np.zeros(sitk.GetArrayViewFromImage(t1_crop).shape, np.uint8)
    aal_crop_zyx = aal_zyx[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]]
    for value, (_name, ids) in LABELS.items():
        label_zyx[np.isin(aal_crop_zyx, ids)] = value
    label = sitk.GetImageFromArray(label_zyx)
    label.CopyInformation(t1_crop)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_image(t1_crop, out_dir / IMAGE_FILE)
    _write_image(label, out_dir / LABEL_FILE)
    crop = {
        "source_image": ch2_path.name, "source_image_sha256": _sha256(ch2_path),
        "source_label": aal_path.name, "source_label_sha256": _sha256(aal_path),
        "source_size_xyz": list(t1.GetSize()), "source_spacing_xyz": list(t1.GetSpacing()),
        "source_origin_xyz": list(t1.GetOrigin()), "source_direction": list(t1.GetDirection()),
        "crop_start_index_xyz": start, "crop_size_xyz": list(size_xyz),
        "labels": {str(k): {"name": n, "aal_ids": list(ids)} for k, (n, ids) in LABELS.items()},
        "written_by": "nnunet_explorer.samples.real.crop_real_sample",
    }
    write_json(crop, out_dir / CROP_FILE, sort_keys=False)
    return out_dir


def _write_image(image, path: Path) -> None:
    """Write with SimpleITK to a temporary name, then rename (never a half-written file)."""
    sitk = _sitk()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.nii.gz")
    sitk.WriteImage(image, str(tmp), True)
    tmp.replace(path)


def load_real_sample(sample_dir: str | Path | None = None):
    """Read the shipped crop: ``(t1_image, label_image)`` as SimpleITK images."""
    sitk = _sitk()
    sample_dir = Path(sample_dir) if sample_dir else default_sample_dir()
    paths = [sample_dir / IMAGE_FILE, sample_dir / LABEL_FILE]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(tr(f"the real sample is missing: {', '.join(map(str, missing))}",
                              f"缺少真实样例: {', '.join(map(str, missing))}"),
                           fix=tr("run from a source checkout of nnunet-explorer (data_samples/ is not installed), "
                                  "set NNUNET_EXPLORER_DATA_SAMPLES to the data_samples folder, or use --from_debian "
                                  f"{DEBIAN_TEMPLATES} after `apt-get install mricron-data`",
                                  "在 nnunet-explorer 的源码 checkout 中运行(data_samples/ 不会被安装),"
                                  "把 NNUNET_EXPLORER_DATA_SAMPLES 设为 data_samples 文件夹,"
                                  f"或在 `apt-get install mricron-data` 之后使用 --from_debian {DEBIAN_TEMPLATES}"))
    return sitk.ReadImage(str(paths[0])), sitk.ReadImage(str(paths[1]))


# --- derived training task --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Derivation:
    """The random transform that made one derived case (angles in degrees, lengths in mm, ITK order x, y, z)."""

    case: str
    seed: int
    case_index: int
    rotation_deg_xyz: tuple[float, float, float]
    scale: float
    translation_mm_xyz: tuple[float, float, float]
    spacing_mm_xyz: tuple[float, float, float]
    size_xyz: tuple[int, int, int]
    bias_field_coefficients: tuple[float, ...]
    gamma: float
    intensity_scale: float
    noise_sigma: float


# Field of view of every derived case, a little smaller than the crop so rotated corners stay inside it.
DERIVED_FOV_MM_XYZ = (88.0, 80.0, 66.0)


def _draw_derivation(case: str, seed: int, index: int, spacing_range_mm: tuple[float, float]) -> Derivation:
    rng = np.random.default_rng([seed, index, 4711])
    rotation = tuple(float(v) for v in np.round(rng.uniform(-8, 8, 3), 3))
    scale = float(np.round(rng.uniform(0.92, 1.08), 4))
    translation = tuple(float(v) for v in np.round(rng.uniform(-4, 4, 3), 3))
    spacing = tuple(float(v) for v in np.round(rng.uniform(*spacing_range_mm, 3), 3))
    size = tuple(int(round(f / s)) for f, s in zip(DERIVED_FOV_MM_XYZ, spacing))
    bias = tuple(float(v) for v in np.round(rng.uniform(-0.25, 0.25, 6), 4))  # x, y, z, xy, xz, yz terms
    gamma = float(np.round(np.exp(rng.uniform(np.log(0.75), np.log(1.33))), 4))
    intensity_scale = float(np.round(rng.uniform(2.0, 8.0), 4))
    noise_sigma = float(np.round(rng.uniform(0.01, 0.04), 4))
    return Derivation(case, seed, index, rotation, scale, translation, spacing, size, bias, gamma,
                      intensity_scale, noise_sigma)


def derive_case(t1, label, derivation: Derivation):
    """Apply one :class:`Derivation` to the crop: returns ``(image int16, label uint8)`` SimpleITK images.

    Spatial: a similarity transform (rotation about the crop centre, isotropic scale, shift) maps each
    output voxel centre into the crop; the image is sampled with linear, the label with nearest-neighbour
    interpolation (v1 also treats them differently: cubic for the image; for the label each label's indicator is resized
    linearly and every voxel takes the label with the largest value, batchgenerators >= 0.25.4, where up to 0.25.3
    each indicator was thresholded at 0.5; along z of an anisotropic case both use nearest neighbour). Intensity, on values scaled to [0, 1]: multiply by
    ``exp(bias polynomial)``, raise to ``gamma``, multiply by ``intensity_scale * 100``, add Gaussian noise
    of ``noise_sigma`` times the new maximum, round to int16 and clip at 0.
    """
    sitk = _sitk()
    d = derivation
    size = np.asarray(t1.GetSize())
    centre_index = (size - 1) / 2
    centre = np.asarray(t1.TransformContinuousIndexToPhysicalPoint(centre_index.tolist()))
    transform = sitk.Similarity3DTransform()
    transform.SetCenter(centre.tolist())
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(*[math.radians(a) for a in d.rotation_deg_xyz])
    transform.SetMatrix(rotation.GetMatrix())
    transform.SetScale(d.scale)
    transform.SetTranslation(d.translation_mm_xyz)
    direction = np.asarray(t1.GetDirection()).reshape(3, 3)
    out_size = np.asarray(d.size_xyz)
    spacing = np.asarray(d.spacing_mm_xyz)
    origin = centre - direction @ ((out_size - 1) / 2 * spacing)
    reference = sitk.Image([int(v) for v in out_size], sitk.sitkUInt8)
    reference.SetSpacing(spacing.tolist())
    reference.SetDirection(t1.GetDirection())
    reference.SetOrigin(origin.tolist())
    moved = sitk.Resample(sitk.Cast(t1, sitk.sitkFloat32), reference, transform, sitk.sitkLinear, 0.0,
                          sitk.sitkFloat32)
    moved_label = sitk.Resample(label, reference, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)

    values = sitk.GetArrayFromImage(moved).astype(np.float64) / 255.0  # (z, y, x)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in values.shape], indexing="ij")
    z, y, x = grids
    c = d.bias_field_coefficients
    bias = np.exp(c[0] * x + c[1] * y + c[2] * z + c[3] * x * y + c[4] * x * z + c[5] * y * z)
    values = np.clip(values * bias, 0, None) ** d.gamma * d.intensity_scale * 100.0
    noise_rng = np.random.default_rng([d.seed, d.case_index, 815])
    values = values + noise_rng.normal(0.0, d.noise_sigma * d.intensity_scale * 100.0, values.shape)
    image = sitk.GetImageFromArray(np.clip(np.round(values), 0, None).astype(np.int16))
    image.CopyInformation(reference)
    return image, moved_label


def build_real_task(task_dir: str | Path, *, num_training: int = 8, seed: int = 0,
                    spacing_range_mm: tuple[float, float] = (1.7, 2.1),
                    sample_dir: str | Path | None = None, from_debian: str | Path | None = None) -> Path:
    """Write a v1 raw task of ``num_training`` cases derived from the real Colin27 crop into ``task_dir``.

    Each derived case ``colin_derived_NNN`` gets its own random :class:`Derivation` (deterministic in
    ``(seed, NNN)``), with each voxel spacing drawn from ``spacing_range_mm`` per axis, so cases are about
    42-52 x 38-47 x 31-39 voxels (x, y, z). The untransformed crop is the test case ``colin_original``
    (``imagesTs/`` + ``labelsTs/``). ``from_debian``: crop afresh from ``DIR/ch2.nii.gz`` and
    ``DIR/aal.nii.gz`` instead of reading the shipped crop.

    Returns ``task_dir``.
    """
    if num_training < 1:
        raise DatasetError(tr(f"num_training must be at least 1, not {num_training}",
                              f"num_training 至少为 1,而不是 {num_training}"),
                           fix=tr("use --num_training 2 or more", "使用 --num_training 2 或更大的值"))
    task_dir = Path(task_dir)
    if from_debian is not None:
        source = Path(from_debian)
        with tempfile.TemporaryDirectory() as tmp:
            t1, label = load_real_sample(crop_real_sample(source / "ch2.nii.gz", source / "aal.nii.gz", tmp))
    else:
        t1, label = load_real_sample(sample_dir)
    training, derivations = [], []
    for index in range(num_training):
        case = f"colin_derived_{index:03d}"
        derivation = _draw_derivation(case, seed, index, spacing_range_mm)
        image, case_label = derive_case(t1, label, derivation)
        _write_image(image, task_dir / "imagesTr" / f"{case}_0000.nii.gz")
        _write_image(case_label, task_dir / "labelsTr" / f"{case}.nii.gz")
        training.append({"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"})
        derivations.append(asdict(derivation))
    _write_image(t1, task_dir / "imagesTs" / "colin_original_0000.nii.gz")
    _write_image(label, task_dir / "labelsTs" / "colin_original.nii.gz")
    dataset = {
        "name": task_dir.name,
        "description": "Deep grey nuclei on MR T1: cases derived from the real Colin27 brain (MNI) with AAL "
                       "labels by random spatial and intensity transforms; the test case is the original crop",
        "tensorImageSize": "4D",
        "reference": "Holmes et al. 1998 (Colin27); Tzourio-Mazoyer et al. 2002, NeuroImage 15:273-289 (AAL)",
        "licence": "see data_samples/colin27_deep_grey/NOTICE.md (MNI notice; AAL under the GNU GPL)",
        "release": "1.0",
        "modality": {"0": "MRI"},
        "labels": {"0": "background", **{str(k): name for k, (name, _ids) in LABELS.items()}},
        "numTraining": num_training,
        "numTest": 1,
        "training": training,
        "test": ["./imagesTs/colin_original.nii.gz"],
        "explorer_sample": {"kind": "real", "seed": seed, "generator": "nnunet_explorer.samples.real",
                            "source": "Colin27 T1 + AAL (Debian mricron-data), cropped",
                            "spacing_range_mm": list(spacing_range_mm)},
        "explorer_derivation": derivations,
    }
    if from_debian is not None:
        dataset["explorer_sample"]["from_debian"] = str(from_debian)
    write_json(dataset, task_dir / "dataset.json", sort_keys=False)
    write_text_atomic(task_dir / "README_explorer.txt",
                      "colin_derived_* are NOT real scans: each is the real Colin27 crop after the random transform "
                      "recorded in dataset.json['explorer_derivation'].\nimagesTs/colin_original is the real, "
                      "untransformed crop; labelsTs/ holds its AAL-derived label.\n")
    return task_dir


def describe_labels() -> str:
    """One line per label: ``1 caudate (AAL 71, 72)``."""
    return "\n".join(f"{k} {name} (AAL {', '.join(map(str, ids))})" for k, (name, ids) in LABELS.items())


__all__ = ["LABELS", "Derivation", "build_real_task", "crop_real_sample", "default_sample_dir", "derive_case",
           "describe_labels", "load_real_sample"]
