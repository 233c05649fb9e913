"""The blog's own case: ``Task040_KiTS`` with KiTS19's dataset fingerprint and a few tiny cases.

The walkthrough this project grew from steps through ``run_training.py 3d_fullres nnUNetTrainerV2 40 1`` on
KiTS19 (kidney and kidney-tumour CT, 210 training cases). The KiTS19 images cannot be shipped, but nnU-Net's
*planning* never looks at voxels: the planner reads only the **fingerprint** (``dataset_properties.pkl``: the
size and spacing of every cropped case, the modalities, the classes, the CT intensity statistics) and the
number of cases. So this module writes

* a fingerprint of **210 cases** at the spacing of the KiTS19 "interpolated" release, 3.22 x 1.62 x 1.62 mm
  (z, y, x), whose median size is **128 x 247 x 247** voxels — the two numbers v1's plans print as
  ``current_spacing`` and ``median_patient_size_in_voxels``. The per-case sizes are *made up* around those
  medians (deterministic, see :func:`kits19_fingerprint`); only the medians (and the number of cases, for the
  batch-size cap) reach the plans;
* the **plans** that this fingerprint gives, and
* **five tiny CT-like cases** (kidneys, one with a tumour; 40 x 96 x 96 voxels at the same spacing), cropped and
  preprocessed, so that the data steps of the walkthrough (dataset, split, loader, batch) run.

**What v1's planner really gives, and what the blog shows.** Fed this fingerprint, v1.7.1's
``ExperimentPlanner3D_v21`` (and the same planner in 1.1.4.3, 1.5 and 1.6.6, which do not differ here) plans a
patch of **96 x 160 x 160 and batch size 2**: the network's VRAM estimate for 96 x 160 x 160 (533,126,400) is
below the planner's reference (520,000,000 x 32 / 30 = 554,666,667), so the patch is not reduced further.
The blog's block shows **80 x 160 x 160 and batch size 3** with every other value identical — no stock v2.1
planner gives that from this median shape (batch 3 at 80 x 160 x 160 would need a reference above 666 M, and
then 96 x 160 x 160 would fit). The blog's plans file was edited or came from a modified planner (v1 even
ships a script, ``experiment_planning/change_batch_size.py``, that edits a plans file). So the sample writes

* ``nnUNetPlansv2.1_plans_3D.pkl``: v1's plans for the fingerprint with the blog's two values put in
  (:data:`BLOG_STAGE_EDITS`) — the plans identifier the blog's command uses, so it prints the blog's block;
* ``nnUNetPlansv2.1_asPlanned_plans_3D.pkl``: exactly what v1's planner writes (``-p nnUNetPlansv2.1_asPlanned``);
* ``nnUNetPlansv2.1_plans_2D.pkl``: v1's 2D plans, unedited.

The network topology (pools ``[4, 5, 5]``, 30,785,984 parameters) and the deep-supervision weights (0.5333,
0.2667, 0.1333, 0.0667, 0) are the same for both 3D plans; the loader patch, the batch and the sliding-window
tiles follow the patch.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import write_json, write_pickle

TASK_ID = 40
TASK_NAME = "KiTS"
NUM_KITS19_CASES = 210
#: KiTS19 "interpolated" release: every case resampled to this spacing (z, y, x), in mm. Image headers hold
#: float32, so the fingerprint holds float32 values as float64 (v1 prints 3.22000003).
SPACING_ZYX = tuple(float(np.float32(s)) for s in (3.22, 1.62, 1.62))
MEDIAN_SIZE_ZYX = (128, 247, 247)
LABELS = ("background", "Kidney", "Tumor")
#: CT foreground statistics used by v1's CT normalization (clip to the 0.5/99.5 percentiles, then z-score):
#: the values reported for KiTS19 in Isensee & Maier-Hein, "An attempt at beating the 3D U-Net" (2019):
#: clip to [-79, 304] HU, subtract 101, divide by 76.9. median/mn/mx are not used by any v1 code path and are
#: set to plausible values only.
CT_INTENSITY = {"median": 103.0, "mean": 101.0, "sd": 76.9, "mn": -1024.0, "mx": 3071.0,
                "percentile_99_5": 304.0, "percentile_00_5": -79.0}
#: The two stage values in which the blog's plans differ from what v1's planner computes for this fingerprint.
BLOG_STAGE_EDITS = {"patch_size": np.array([80, 160, 160]), "batch_size": 3}
AS_PLANNED_IDENTIFIER = "nnUNetPlansv2.1_asPlanned"
SMALL_CASES = 5
SMALL_SHAPE_ZYX = (40, 96, 96)


def kits19_case_ids(n: int = NUM_KITS19_CASES) -> list[str]:
    """KiTS19's case names, ``case_00000`` ... ``case_00209``."""
    return [f"case_{i:05d}" for i in range(n)]


def _sizes_around(median: int, low: int, high: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` integers in [low, high) whose median is exactly ``median`` (for even n the two middle ones)."""
    below = (n - 1) // 2 if n % 2 else n // 2 - 1
    middle = n - 2 * below
    values = np.concatenate([rng.integers(low, median, below), np.full(middle, median),
                             rng.integers(median + 1, high, below)])
    rng.shuffle(values)
    return values


def kits19_fingerprint(num_cases: int = NUM_KITS19_CASES, seed: int = 19) -> dict:
    """``dataset_properties`` (v1's keys and order) for KiTS19's training cases.

    Every case has the interpolated release's spacing :data:`SPACING_ZYX`; the sizes after cropping vary
    (z 29-599 slices, in-plane 190-319 voxels, y = x) around the medians :data:`MEDIAN_SIZE_ZYX`. These
    per-case sizes are invented: the real ones are not shipped, and v1's planner uses only their median
    (after resampling to the target spacing, which here is the spacing itself) and their number.
    """
    rng = np.random.default_rng(seed)
    z = _sizes_around(MEDIAN_SIZE_ZYX[0], 29, 600, num_cases, rng)
    yx = _sizes_around(MEDIAN_SIZE_ZYX[1], 190, 320, num_cases, rng)
    ids = kits19_case_ids(num_cases)
    intensity: OrderedDict = OrderedDict()
    intensity[0] = OrderedDict()
    # differs from v1: v1 also stores per-case statistics under local_props; nothing reads them, and inventing
    # 210 of them would only look like data
    intensity[0]["local_props"] = OrderedDict()
    for key, value in CT_INTENSITY.items():
        intensity[0][key] = value
    return {
        "all_sizes": [(int(a), int(b), int(b)) for a, b in zip(z, yx)],
        "all_spacings": [np.array(SPACING_ZYX) for _ in ids],
        "all_classes": [1, 2],
        "modalities": {0: "CT"},
        "intensityproperties": intensity,
        # CT bodies fill the scan, so cropping to the nonzero region removes (almost) nothing
        "size_reductions": OrderedDict((i, 1.0) for i in ids),
    }


def blog_plans(plans: dict) -> dict:
    """A copy of v1's plans with the blog's :data:`BLOG_STAGE_EDITS` put into its (single) stage, nothing else.

    (v1's planner stores ``do_dummy_2D_data_aug`` as a numpy bool; the configuration block prints it as numpy 1.x
    did, ``False``, as the blog shows: see :func:`~nnunet_explorer.planning.plans.summarize_plans_text`.)
    """
    edited = copy.deepcopy(plans)
    for stage in edited["plans_per_stage"].values():
        for key, value in BLOG_STAGE_EDITS.items():
            stage[key] = copy.deepcopy(value)
    return edited


# --- the tiny cases ---------------------------------------------------------------------------------------------

def _ellipsoid(shape: tuple[int, ...], center, radii_mm, spacing) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return sum(((g - c) * s / r) ** 2 for g, c, s, r in zip(grids, center, spacing, radii_mm)) <= 1.0


def make_small_case(index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One tiny abdomen-like CT (HU, float32, z-y-x) with two kidneys (1) and a tumour (2) in one of them."""
    rng = np.random.default_rng([seed, index, 40])
    shape = SMALL_SHAPE_ZYX
    spacing = np.asarray(SPACING_ZYX)
    mid = (np.asarray(shape) - 1) / 2
    body = _ellipsoid(shape, mid, np.asarray(shape) * spacing * [0.6, 0.42, 0.47], spacing)
    image = np.full(shape, -1000.0)
    image[body] = rng.uniform(20, 50)
    label = np.zeros(shape, np.uint8)
    kidneys = []
    for side in (-1, 1):
        center = mid + [rng.uniform(-3, 3), 12 + rng.uniform(-3, 3), side * (22 + rng.uniform(-3, 3))]
        kidney = _ellipsoid(shape, center, [rng.uniform(30, 40), rng.uniform(18, 24), rng.uniform(15, 20)],
                            spacing) & body
        label[kidney] = 1
        kidneys.append(center)
    center = kidneys[int(rng.integers(2))] + rng.uniform(-2, 2, 3)
    tumour = _ellipsoid(shape, center, np.full(3, rng.uniform(10, 16)), spacing) & body
    label[tumour] = 2
    image[label == 1] = rng.uniform(150, 190)  # contrast-enhanced parenchyma
    image[label == 2] = rng.uniform(70, 100)   # the tumour enhances less
    image += rng.normal(0, 12, shape)
    return np.round(image).astype(np.float32), label


def write_raw_task(task_dir: Path, *, num_cases: int = SMALL_CASES, seed: int = 0) -> Path:
    """The tiny cases in v1's raw layout (``imagesTr``, ``labelsTr``, ``dataset.json``; no test cases)."""
    from .synthetic import _write_nifti

    task_dir = Path(task_dir)
    training = []
    for index in range(num_cases):
        case = f"case_{index:05d}"
        image, label = make_small_case(index, seed)
        _write_nifti(image, SPACING_ZYX, (0.0, 0.0, 0.0), task_dir / "imagesTr" / f"{case}_0000.nii.gz")
        _write_nifti(label, SPACING_ZYX, (0.0, 0.0, 0.0), task_dir / "labelsTr" / f"{case}.nii.gz")
        training.append({"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"})
    write_json({
        "name": "KiTS",
        "description": "nnunet-explorer stand-in for KiTS19: KiTS19's fingerprint (210 cases) with "
                       f"{num_cases} tiny synthetic CT cases; see nnunet_explorer.samples.kits19",
        "tensorImageSize": "4D",
        "reference": "KiTS19 fingerprint; synthetic images by nnunet-explorer",
        "licence": "CC0 (synthetic data)",
        "release": "1.0",
        "modality": {"0": "CT"},
        "labels": {str(i): name for i, name in enumerate(LABELS)},
        "numTraining": num_cases,
        "numTest": 0,
        "training": training,
        "test": [],
        "explorer_sample": {"kind": "kits19", "seed": seed, "generator": "nnunet_explorer.samples.kits19"},
    }, task_dir / "dataset.json", sort_keys=False)
    return task_dir


# --- crop, fingerprint, plans, preprocessing ------------------------------------------------------------------

def plan_from_fingerprint(dataset_properties: dict, cropped_dir: Path, preprocessed_dir: Path,
                          num_cases: int = NUM_KITS19_CASES) -> tuple[dict, dict]:
    """v1's 3D and 2D plans for a fingerprint of ``num_cases`` KiTS19 cases (the explorer's planners)."""
    from ..planning import planner2d, planner3d
    from ..planning.normalization import determine_normalization_scheme, determine_whether_to_use_mask_for_norm

    npz = [str(Path(cropped_dir) / f"{i}.npz") for i in kits19_case_ids(num_cases)]
    out = []
    for planner, module in (("3d", planner3d), ("2d", planner2d)):
        use_mask = determine_whether_to_use_mask_for_norm(dataset_properties["modalities"],
                                                          dataset_properties["size_reductions"], planner=planner)
        schemes = determine_normalization_scheme(dataset_properties["modalities"], planner=planner)
        plan = module.plan_experiment_3d if planner == "3d" else module.plan_experiment_2d
        out.append(plan(dataset_properties, list_of_npz_files=npz, preprocessed_output_folder=str(preprocessed_dir),
                        normalization_schemes=schemes, use_mask_for_norm=use_mask))
    return out[0], out[1]


def install_kits19(task_name: str, workspace: Any, *, processes: int = 1, progress: bool = False) -> dict:
    """Crop the raw tiny cases, write KiTS19's fingerprint, the plans, and preprocess the tiny cases.

    ``workspace.raw_task_dir(task_name)`` must hold :func:`write_raw_task`'s output. Returns the paths written.
    """
    from ..fileio import copy_atomic, load_pickle
    from ..planning.run import crop_task, cropped_case_identifiers, run_preprocessing

    crop_task(task_name, workspace, processes, progress=progress)
    cropped = workspace.cropped_task_dir(task_name)
    pre = workspace.preprocessed_task_dir(task_name)
    pre.mkdir(parents=True, exist_ok=True)
    fingerprint = kits19_fingerprint()
    write_pickle(fingerprint["intensityproperties"], cropped / "intensityproperties.pkl")
    write_pickle(fingerprint, cropped / "dataset_properties.pkl")
    copy_atomic(cropped / "dataset_properties.pkl", pre)
    copy_atomic(workspace.raw_task_dir(task_name) / "dataset.json", pre)
    plans_3d, plans_2d = plan_from_fingerprint(fingerprint, cropped, pre)
    for case in cropped_case_identifiers(cropped):  # v1's planner stores its mask decision in every case pkl
        props = load_pickle(cropped / f"{case}.pkl")
        props["use_nonzero_mask_for_norm"] = plans_3d["use_mask_for_norm"]
        write_pickle(props, cropped / f"{case}.pkl")
    files = {"blog_3d": pre / "nnUNetPlansv2.1_plans_3D.pkl",
             "as_planned_3d": pre / f"{AS_PLANNED_IDENTIFIER}_plans_3D.pkl",
             "plans_2d": pre / "nnUNetPlansv2.1_plans_2D.pkl"}
    write_pickle(blog_plans(plans_3d), files["blog_3d"])
    write_pickle(plans_3d, files["as_planned_3d"])
    write_pickle(plans_2d, files["plans_2d"])
    run_preprocessing(plans_3d, task_name, workspace, (processes, processes), progress=progress)
    run_preprocessing(plans_2d, task_name, workspace, (processes, processes), progress=progress)
    return files
