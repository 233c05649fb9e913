"""The ``predict`` subcommand's argument checks (no model needed: they fail before any file is read)."""
from __future__ import annotations

import pytest

from nnunet_explorer.cli import build_parser, main


def test_predict_is_registered_with_v1_defaults():
    args = build_parser().parse_args(["predict", "-i", "in", "-o", "out", "-t", "4"])
    assert (args.model, args.trainer_class_name, args.plans_identifier, args.chk, args.step_size, args.folds) == \
        ("3d_fullres", "nnUNetTrainerV2", "nnUNetPlansv2.1", "model_final_checkpoint", 0.5, "None")
    assert not args.overwrite_existing and not args.disable_tta and not args.save_npz
    # v1 predicts on the GPU: the device defaults to auto (CUDA where available); all_in_gpu as nnUNet_predict
    assert (args.device, args.all_in_gpu) == ("auto", "None")
    assert build_parser().parse_args(["predict", "-i", "in", "-o", "out", "-t", "4", "--all_in_gpu",
                                      "True"]).all_in_gpu == "True"


@pytest.mark.parametrize("extra,needle", [(["--mode", "fast"], "--mode fast"),
                                          (["-l", "lowres"], "only used with -m 3d_cascade_fullres"),
                                          (["--device", "tpu"], "tpu"),
                                          (["--step_size", "1.5"], "step_size"),
                                          (["--part_id", "2", "--num_parts", "2"], "part_id"),
                                          (["--all_in_gpu", "True", "--sums_on", "device_fp32"],
                                           "means --sums_on device_fp16"),
                                          (["--tile_batch_size", "0"], "at least 1")])
def test_refused_options(extra, needle, capsys):
    assert main(["predict", "-i", "in", "-o", "out", "-t", "4", *extra]) == 2
    assert needle in capsys.readouterr().err


def test_cascade_network_is_offered_with_v1_defaults():
    args = build_parser().parse_args(["predict", "-i", "in", "-o", "out", "-t", "4", "-m", "3d_cascade_fullres"])
    assert (args.model, args.cascade_trainer_class_name, args.lowres_segmentations) == \
        ("3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", "None")


def test_sums_on_flag_and_v1s_all_in_gpu():
    """--sums_on auto by default (device float32 on CUDA); v1's --all_in_gpu True/False keep their meaning."""
    from nnunet_explorer.commands.predict import _sums_on

    args = build_parser().parse_args(["predict", "-i", "in", "-o", "out", "-t", "4"])
    assert (args.sums_on, args.tile_batch_size) == ("auto", None)  # None: 4 tiles per pass on CUDA, 1 elsewhere
    assert build_parser().parse_args(["predict", "-i", "in", "-o", "out", "-t", "4", "--sums_on",
                                      "device_fp32"]).sums_on == "device_fp32"
    assert _sums_on("None", "auto") == "auto" and _sums_on("None", "cpu") == "cpu"
    assert _sums_on("True", "auto") == _sums_on("True", "device_fp16") == "device_fp16"
    assert _sums_on("False", "auto") == "cpu"  # v1's False: float32 sums in CPU memory
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "-i", "in", "-o", "out", "-t", "4", "--sums_on", "gpu"])
