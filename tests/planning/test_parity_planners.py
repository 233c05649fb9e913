"""Parity of the planners alone: hand-made fingerprints (no images) planned by the explorer and by v1's
``ExperimentPlanner3D_v21`` / ``ExperimentPlanner2D_v21`` (driven in one subprocess via a tmp cropped folder
holding only ``dataset_properties.pkl`` and empty per-case files)."""
from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest

from nnunet_explorer.paths import resolve_workspace
from nnunet_explorer.parity import run_v1_python
from nnunet_explorer.planning import planner2d, planner3d
from nnunet_explorer.planning.normalization import determine_normalization_scheme, \
    determine_whether_to_use_mask_for_norm

from planning_parity_helpers import deep_diff

pytestmark = [pytest.mark.parity, pytest.mark.slow]


def _fingerprint(n, spacing_fn, size_fn, modalities, classes=(1, 2), reduction=0.9, seed=0):
    rng = np.random.RandomState(seed)
    spacings = [np.array(spacing_fn(rng), dtype=float) for _ in range(n)]
    sizes = [tuple(int(x) for x in size_fn(rng)) for _ in range(n)]
    return {"all_sizes": sizes, "all_spacings": spacings, "all_classes": list(classes), "modalities": modalities,
            "intensityproperties": None,
            "size_reductions": OrderedDict((f"case_{i:04d}", reduction) for i in range(n))}


FINGERPRINTS = {
    # v1 facts sheet worked example: 260 cases of 36x50x35 at 1 mm -> patch [40, 56, 40], batch 9
    "worked_example": _fingerprint(260, lambda r: [1, 1, 1], lambda r: [36, 50, 35], {0: "MRI"}),
    # large CT with a 3d_lowres stage
    "large_ct_two_stages": _fingerprint(40, lambda r: [r.choice([1., 1.5, 2.5, 5.]), 0.8, 0.8],
                                        lambda r: [r.randint(60, 300), 512, 512], {0: "CT"}),
    # strongly anisotropic 2-modality MR (anisotropy rule, dummy 2D, [1,3,3] kernels), nonzero mask on
    "anisotropic_mr": _fingerprint(30, lambda r: [r.uniform(4, 8), 0.7, 0.7],
                                   lambda r: [r.randint(8, 20), r.randint(200, 300), r.randint(200, 300)],
                                   {0: "T2", 1: "ADC"}, reduction=0.5),
    # coarse axis last: transpose_forward [2, 0, 1]
    "transposed_axes": _fingerprint(20, lambda r: [0.8, 0.8, r.uniform(3, 5)], lambda r: [256, 256, r.randint(20, 40)],
                                    {0: "CT"}),
    # hundreds of tiny cases: the 5 % cap decides the batch size
    "many_small_cases": _fingerprint(400, lambda r: [r.uniform(0.9, 1.1)] * 3,
                                     lambda r: [r.randint(20, 30), r.randint(20, 30), r.randint(20, 30)], {0: "noNorm"}),
}


@pytest.fixture(scope="module")
def v1_plans(tmp_path_factory):
    root = tmp_path_factory.mktemp("planner_parity")
    folders = {}
    for name, props in FINGERPRINTS.items():
        crop, pre = root / name / "cropped", root / name / "pre"
        crop.mkdir(parents=True)
        pre.mkdir(parents=True)
        with open(crop / "dataset_properties.pkl", "wb") as f:
            pickle.dump(props, f)
        for case in props["size_reductions"]:
            (crop / f"{case}.npz").write_bytes(b"")
            with open(crop / f"{case}.pkl", "wb") as f:
                pickle.dump({}, f)
        folders[name] = (str(crop), str(pre))
    code = (
        "from nnunet.experiment_planning.experiment_planner_baseline_3DUNet_v21 import ExperimentPlanner3D_v21\n"
        "from nnunet.experiment_planning.experiment_planner_baseline_2DUNet_v21 import ExperimentPlanner2D_v21\n"
        f"for crop, pre in {list(folders.values())!r}:\n"
        "    for P in (ExperimentPlanner3D_v21, ExperimentPlanner2D_v21):\n"
        "        P(crop, pre).plan_experiment()\n")
    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pp"),
                            "RESULTS_FOLDER": str(root / "res")})
    run_v1_python(code, ws, timeout=600)
    out = {}
    for name, (crop, pre) in folders.items():
        with open(f"{pre}/nnUNetPlansv2.1_plans_3D.pkl", "rb") as f3, open(f"{pre}/nnUNetPlansv2.1_plans_2D.pkl", "rb") as f2:
            out[name] = (pickle.load(f3), pickle.load(f2), crop, pre)
    return out


def _ours(name, crop, pre):
    props = FINGERPRINTS[name]
    files = sorted(f"{crop}/{case}.npz" for case in props["size_reductions"])
    schemes = determine_normalization_scheme(props["modalities"])
    mask = determine_whether_to_use_mask_for_norm(props["modalities"], props["size_reductions"])
    kw = dict(list_of_npz_files=files, preprocessed_output_folder=pre, normalization_schemes=schemes,
              use_mask_for_norm=mask)
    return planner3d.plan_experiment_3d(props, **kw), planner2d.plan_experiment_2d(props, **kw)


@pytest.mark.parametrize("name", list(FINGERPRINTS))
def test_planners_match_v1_on_fingerprints(v1_plans, name):
    theirs3, theirs2, crop, pre = v1_plans[name]
    ours3, ours2 = _ours(name, crop, pre)
    for ours, theirs in ((ours3, theirs3), (ours2, theirs2)):
        assert list(ours) == list(theirs)
        assert deep_diff(ours, theirs, [], [], name) == []
        for s, stage in theirs["plans_per_stage"].items():
            for key, value in stage.items():
                assert type(ours["plans_per_stage"][s][key]) is type(value), (name, s, key)


def test_fingerprint_scenarios_cover_the_rules(v1_plans):
    """The scenarios above really exercise the rules they are named for (checked on v1's own output)."""
    worked = v1_plans["worked_example"][0]["plans_per_stage"][0]
    assert list(worked["patch_size"]) == [40, 56, 40] and worked["batch_size"] == 9
    assert v1_plans["large_ct_two_stages"][0]["num_stages"] == 2
    aniso = v1_plans["anisotropic_mr"][0]
    assert aniso["plans_per_stage"][0]["do_dummy_2D_data_aug"]
    assert aniso["plans_per_stage"][0]["conv_kernel_sizes"][0] == [1, 3, 3]
    assert [int(i) for i in v1_plans["transposed_axes"][0]["transpose_forward"]] == [2, 0, 1]
    assert list(aniso["use_mask_for_norm"].values()) == [True, True]
