"""The explorer's plans and preprocessed data are usable by the real nnU-Net v1 trainer: nnUNetTrainerV2 loads
the plans, builds its network, splits the data, draws a training batch (foreground oversampling reads the
class_locations) and runs a forward pass, for 3d_fullres (CT and MR) and 2d (MR)."""
from __future__ import annotations

import json
import shutil

import pytest

from nnunet_explorer.parity import run_v1_python
from nnunet_explorer.paths import resolve_workspace

pytestmark = [pytest.mark.parity, pytest.mark.slow]

SNIPPET = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
out = []
for plans_file, pre_dir, out_dir in json.loads(sys.argv[1] if len(sys.argv) > 1 else CONFIGS):
    t = nnUNetTrainerV2(plans_file, 0, output_folder=out_dir, dataset_directory=pre_dir, batch_dice=True, stage=0,
                        unpack_data=False, deterministic=True, fp16=False)
    t.initialize(training=False)
    t.dl_tr, t.dl_val = t.get_basic_generators()
    batch = t.dl_val.generate_train_batch()  # the val loader returns the final patch size
    with torch.no_grad():
        y = t.network(torch.from_numpy(batch["data"]))
    out.append({"data": list(batch["data"].shape), "seg_labels": sorted(np.unique(batch["seg"]).tolist()),
                "out": list(y[0].shape), "patch": [int(i) for i in t.patch_size]})
print("@@" + json.dumps(out))
"""


def test_v1_trainer_uses_explorer_output(tmp_path, explorer_ct, explorer_mr):
    configs = []
    for (ws, result), planfiles in ((explorer_ct, ["nnUNetPlansv2.1_plans_3D.pkl"]),
                                    (explorer_mr, ["nnUNetPlansv2.1_plans_3D.pkl", "nnUNetPlansv2.1_plans_2D.pkl"])):
        copy = tmp_path / result.task_name
        shutil.copytree(result.preprocessed_dir, copy)  # the trainer writes splits_final.pkl there
        for plans in planfiles:
            configs.append([str(copy / plans), str(copy), str(tmp_path / "out" / f"{result.task_name}_{plans[:-4]}")])
    ws = resolve_workspace({"nnUNet_raw_data_base": str(tmp_path / "raw"), "nnUNet_preprocessed": str(tmp_path / "pre"),
                            "RESULTS_FOLDER": str(tmp_path / "res")})
    code = "CONFIGS = %r\n" % json.dumps(configs) + SNIPPET
    stdout = run_v1_python(code, ws, timeout=600).stdout
    results = json.loads(stdout.split("@@", 1)[1])
    assert len(results) == 3
    for r in results:
        assert r["data"][2:] == r["patch"] and r["out"][2:] == r["patch"]
        assert r["out"][1] == 3  # background + 2 classes
        assert max(r["seg_labels"]) > 0  # oversampling found foreground through class_locations
