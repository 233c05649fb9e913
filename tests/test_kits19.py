"""``nnunet-explorer sample kits19``: KiTS19's fingerprint planned by the explorer and by real v1, the blog's block,
the blog's network (30,785,984 parameters) and its deep-supervision weights."""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from nnunet_explorer import cli
from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.parity import run_v1_python
from nnunet_explorer.paths import environment_for, resolve_workspace
from nnunet_explorer.samples import kits19

sys.path.insert(0, str(Path(__file__).parent / "planning"))
from planning_parity_helpers import deep_diff  # noqa: E402

# The block of issue 15 / the blog (v1's get_default_configuration print for KiTS19), up to the loss line.
BLOG_BLOCK = """\
num_classes:  2
modalities:  {0: 'CT'}
use_mask_for_norm OrderedDict([(0, False)])
keep_only_largest_region None
min_region_size_per_class None
min_size_per_class None
normalization_schemes OrderedDict([(0, 'CT')])
stages...

stage:  0
{'batch_size': 3, 'num_pool_per_axis': [4, 5, 5], 'patch_size': array([ 80, 160, 160]), 'median_patient_size_in_voxels': array([128, 247, 247]), 'current_spacing': array([3.22000003, 1.62      , 1.62      ]), 'original_spacing': array([3.22000003, 1.62      , 1.62      ]), 'do_dummy_2D_data_aug': False, 'pool_op_kernel_sizes': [[2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]], 'conv_kernel_sizes': [[3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]}

I am using stage 0 from these plans
I am using sample dice + CE loss
"""


@pytest.fixture
def kits_env(kits_ws, monkeypatch):
    for key, value in environment_for(kits_ws).items():
        monkeypatch.setenv(key, value)
    return kits_ws


def test_fingerprint_has_kits19s_medians_and_210_cases():
    props = kits19.kits19_fingerprint()
    assert len(props["all_sizes"]) == len(props["all_spacings"]) == 210
    assert tuple(np.median(np.vstack(props["all_sizes"]), 0)) == kits19.MEDIAN_SIZE_ZYX
    assert np.array_equal(np.median(np.vstack(props["all_spacings"]), 0), np.float32([3.22, 1.62, 1.62]))
    assert deep_diff(props, kits19.kits19_fingerprint(), [], []) == []  # deterministic


@pytest.fixture(scope="module")
def v1_kits_plans(tmp_path_factory):
    """Real v1 ExperimentPlanner3D_v21 / 2D_v21 on the fingerprint (a cropped folder of 210 empty cases)."""
    root = tmp_path_factory.mktemp("kits_v1")
    crop, pre = root / "cropped", root / "pre"
    crop.mkdir()
    pre.mkdir()
    props = kits19.kits19_fingerprint()
    with open(crop / "dataset_properties.pkl", "wb") as f:
        pickle.dump(props, f)
    for case in kits19.kits19_case_ids():
        (crop / f"{case}.npz").write_bytes(b"")
        with open(crop / f"{case}.pkl", "wb") as f:
            pickle.dump({}, f)
    code = ("from nnunet.experiment_planning.experiment_planner_baseline_3DUNet_v21 import ExperimentPlanner3D_v21\n"
            "from nnunet.experiment_planning.experiment_planner_baseline_2DUNet_v21 import ExperimentPlanner2D_v21\n"
            f"for P in (ExperimentPlanner3D_v21, ExperimentPlanner2D_v21): P({str(crop)!r}, {str(pre)!r})"
            ".plan_experiment()\n")
    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pp"),
                            "RESULTS_FOLDER": str(root / "res")})
    run_v1_python(code, ws, timeout=300)
    return (load_pickle(pre / "nnUNetPlansv2.1_plans_3D.pkl"), load_pickle(pre / "nnUNetPlansv2.1_plans_2D.pkl"),
            props, crop, pre)


@pytest.mark.parity
def test_v1_planner_gives_the_explorers_plans_for_the_kits19_fingerprint(v1_kits_plans):
    theirs3, theirs2, props, crop, pre = v1_kits_plans
    ours3, ours2 = kits19.plan_from_fingerprint(props, crop, pre)
    for ours, theirs in ((ours3, theirs3), (ours2, theirs2)):
        assert list(ours) == list(theirs)
        assert deep_diff(ours, theirs, [], [], "plans") == []
    stage = theirs3["plans_per_stage"][0]
    # what the blog shows and v1 computes alike
    assert list(stage["median_patient_size_in_voxels"]) == [128, 247, 247]
    assert stage["pool_op_kernel_sizes"] == [[2, 2, 2]] * 4 + [[1, 2, 2]] and theirs3["num_stages"] == 1
    assert np.allclose(stage["current_spacing"], [3.22, 1.62, 1.62], atol=1e-6)


@pytest.mark.parity
def test_the_blogs_plans_differ_from_v1s_only_in_patch_and_batch(kits_ws, v1_kits_plans):
    theirs3 = v1_kits_plans[0]
    pre = kits_ws.preprocessed_task_dir("Task040_KiTS")
    blog = load_pickle(pre / "nnUNetPlansv2.1_plans_3D.pkl")
    as_planned = load_pickle(pre / f"{kits19.AS_PLANNED_IDENTIFIER}_plans_3D.pkl")
    v1_stage, blog_stage = theirs3["plans_per_stage"][0], blog["plans_per_stage"][0]
    differing = sorted(k for k in v1_stage if deep_diff(v1_stage[k], blog_stage[k], [], [], k))
    assert differing == sorted(kits19.BLOG_STAGE_EDITS)
    assert (list(v1_stage["patch_size"]), v1_stage["batch_size"]) != ([80, 160, 160], 3)
    assert deep_diff(as_planned["plans_per_stage"], theirs3["plans_per_stage"], [], []) == []
    for key in theirs3:
        if key not in ("plans_per_stage", "list_of_npz_files", "preprocessed_data_folder"):
            assert deep_diff(blog[key], theirs3[key], [], [], key) == [], key


def _block(printed: str) -> str:
    start = printed.index("num_classes:")
    end = printed.index("dice + CE loss", start) + len("dice + CE loss\n")
    return printed[start:end]


@pytest.mark.parity
def test_the_blogs_command_prints_the_blogs_block_as_v1_does(kits_env, capsys):
    assert cli.main(["train", "3d_fullres", "nnUNetTrainerV2", "40", "1", "--until", "architecture"]) == 0
    out = capsys.readouterr().out
    assert _block(out) == BLOG_BLOCK
    plans_file = kits_env.preprocessed_task_dir("Task040_KiTS") / "nnUNetPlansv2.1_plans_3D.pkl"
    v1 = run_v1_python("import numpy; numpy.set_printoptions(legacy='1.25')\n"  # v1 with numpy 1.x's reprs
                       "from nnunet.experiment_planning.summarize_plans import summarize_plans\n"
                       f"summarize_plans({str(plans_file)!r})\n", kits_env).stdout
    assert BLOG_BLOCK.split("I am using stage")[0].rstrip("\n") in v1.rstrip("\n") + "\n"
    assert "30,785,984 parameters" in out


def test_the_blogs_network_matches_v1s_generic_unet(kits_env):
    torch = pytest.importorskip("torch")
    pytest.importorskip("nnunet")
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He

    from nnunet_explorer.walkthrough import training_walkthrough

    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 40, 1, workspace=kits_env)
    pipeline.run(until="network")
    ours = sum(p.numel() for p in pipeline["network"].parameters())
    pp = pipeline["plans_processed"]
    nn = torch.nn
    # nnUNetTrainerV2.initialize_network's arguments (not the signature's 2D defaults the blog lists)
    net = Generic_UNet(pp.num_input_channels, pp.base_num_features, pp.num_classes,
                       len(pp.net_num_pool_op_kernel_sizes), pp.conv_per_stage, 2, nn.Conv3d, nn.InstanceNorm3d,
                       {"eps": 1e-5, "affine": True}, nn.Dropout3d, {"p": 0, "inplace": True}, nn.LeakyReLU,
                       {"negative_slope": 1e-2, "inplace": True}, True, False, lambda x: x, InitWeights_He(1e-2),
                       pp.net_num_pool_op_kernel_sizes, pp.net_conv_kernel_sizes, False, True, True)
    theirs = sum(p.numel() for p in net.parameters())
    assert ours == theirs == 30_785_984
    weights = pipeline["deep_supervision"].weights
    # v1's rule (nnUNetTrainerV2.initialize): 1/2**i, the last output masked to 0, normalised
    w = np.array([1 / 2 ** i for i in range(len(pp.net_num_pool_op_kernel_sizes))])
    w[-1] = 0
    assert np.allclose(weights, w / w.sum())
    assert [round(x, 4) for x in weights] == [0.5333, 0.2667, 0.1333, 0.0667, 0.0]


def test_sample_is_small_and_its_data_steps_run(kits_env):
    from nnunet_explorer.walkthrough import training_walkthrough

    size = sum(f.stat().st_size for root in (kits_env.raw_data_base, kits_env.preprocessed)
               for f in Path(root).rglob("*") if f.is_file() and f.suffix != ".npy")  # .npy: unpacked by training
    assert size < 12 * 2 ** 20
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 40, 1, workspace=kits_env)
    pipeline.run(until="split")
    assert len(pipeline["dataset"].cases) == kits19.SMALL_CASES
    split = pipeline["split"]
    assert len(split.train) + len(split.val) == kits19.SMALL_CASES and len(split.val) == 1


def test_an_existing_kits19_sample_is_kept_or_replaced(kits_env, capsys):
    assert cli.main(["sample", "kits19", "--exist_ok"]) == 0
    assert "left untouched" in capsys.readouterr().out
    assert cli.main(["sample", "kits19", "--num_test", "1"]) == 2
    assert "--num_test does not apply" in capsys.readouterr().err
