"""Small pieces of the loop: atomic checkpoints, pretrained weights (vs v1), log name, debug.json, progress.png."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime

import pytest
import torch

from nnunet_explorer.errors import TrainingError
from nnunet_explorer.parity import v1_environment
from nnunet_explorer.paths import resolve_workspace
from nnunet_explorer.training.checkpoint_saving import checkpoint_dict, save_checkpoint_files
from nnunet_explorer.training.generic_unet import build_network
from nnunet_explorer.training.pretrained import load_pretrained_weights, read_checkpoint
from nnunet_explorer.training.progress_log import debug_information, log_file_name

from nnunet_explorer.run.run_training import train_or_load

from .conftest import fold_folder, tiny_trainer

POOLS = [[2, 2, 2], [2, 2, 2]]
CONVS = [[3, 3, 3]] * 3


def _net(classes: int = 3, base: int = 4, seed: int = 0):
    torch.manual_seed(seed)
    return build_network(1, base, classes, POOLS, CONVS, conv_per_stage=2, threeD=True)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path):
    net = _net()
    path = tmp_path / "model_latest.model"
    save_checkpoint_files(path, checkpoint_dict(net, None, 3, ([1.0], [1.0], [], [0.5]), (0, 1.0, 0.5)), {"name": "x"})
    before = path.read_bytes()
    broken = checkpoint_dict(net, None, 4, ([1.0], [1.0], [], [0.5]), (0, 1.0, 0.5))
    broken["plot_stuff"] = (lambda: None,)  # torch.save cannot pickle a lambda: fails mid-write
    with pytest.raises(Exception):
        save_checkpoint_files(path, broken, {"name": "x"})
    assert path.read_bytes() == before and read_checkpoint(path)["epoch"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_latest.model", "model_latest.model.pkl"]


V1_PRETRAINED = textwrap.dedent("""
    import sys, torch
    from torch import nn
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.run.load_pretrained_weights import load_pretrained_weights
    target, source, out = sys.argv[1:4]
    net = Generic_UNet(1, 4, 3, 2, 2, 2, nn.Conv3d, nn.InstanceNorm3d, {'eps': 1e-5, 'affine': True}, nn.Dropout3d,
                       {'p': 0, 'inplace': True}, nn.LeakyReLU, {'negative_slope': 1e-2, 'inplace': True}, True, False,
                       lambda x: x, InitWeights_He(1e-2), [[2, 2, 2], [2, 2, 2]], [[3, 3, 3]] * 3, False, True, True)
    net.load_state_dict(torch.load(target))
    load_pretrained_weights(net, source)
    torch.save(net.state_dict(), out)
""")


@pytest.mark.parity
def test_pretrained_weights_copy_what_v1_copies_and_report_the_rest(tmp_path):
    source, target = _net(classes=2, seed=1), _net(classes=3, seed=2)  # same encoder/decoder, other head
    src_file = tmp_path / "pre.model"
    save_checkpoint_files(src_file, {"state_dict": {"module." + k: v for k, v in source.state_dict().items()}}, None)
    torch.save(target.state_dict(), tmp_path / "target.pt")
    ws = resolve_workspace({k: str(tmp_path / k) for k in ("nnUNet_raw_data_base", "nnUNet_preprocessed",
                                                           "RESULTS_FOLDER")}).ensure()
    done = subprocess.run([sys.executable, "-c", V1_PRETRAINED, str(tmp_path / "target.pt"), str(src_file),
                           str(tmp_path / "v1.pt")], env=v1_environment(ws), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = load_pretrained_weights(target, src_file)
    v1_state = torch.load(tmp_path / "v1.pt")
    assert set(v1_state) == set(target.state_dict())
    for key, value in target.state_dict().items():
        assert value.equal(v1_state[key]), key
    heads = {k for k in target.state_dict() if k.startswith("seg_outputs")}
    assert report.compatible and {m[0] for m in report.shape_mismatch} == heads
    assert not heads & set(report.copied) and any(k.startswith("tu.") for k in report.copied)
    assert len(report.copied) + len(report.shape_mismatch) + len(report.kept) == len(target.state_dict())
    assert "shape mismatch seg_outputs" in report.summary()


def test_pretrained_weights_of_another_architecture_are_refused_with_the_keys(tmp_path):
    src_file = tmp_path / "wide.model"
    save_checkpoint_files(src_file, {"state_dict": _net(base=8).state_dict()}, None)
    target = _net(base=4)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(TrainingError, match="not compatible") as info:
        load_pretrained_weights(target, src_file)
    assert "conv_blocks" in str(info.value)
    assert all(target.state_dict()[k].equal(v) for k, v in before.items())  # nothing half-copied


def test_log_file_name_pads_only_the_time():
    # v1: "training_log_%d_%d_%d_%02.0d_%02.0d_%02.0d.txt" % (year, month, day, hour, minute, second)
    assert log_file_name(datetime(2026, 1, 5, 9, 3, 7)) == "training_log_2026_1_5_09_03_07.txt"


def test_debug_json_applies_v1_rule():
    info = debug_information({"plans": {}, "dataset": {}, "dataset_tr": 1, "dataset_val": 2,
                              "intensity_properties": 3, "__hidden": 1, "method": lambda: 1, "batch_size": 2,
                              "patch_size": (40, 48, 48)})
    assert info == {"batch_size": "2", "patch_size": "(40, 48, 48)"}


def test_progress_png_without_pyplot(tmp_path):
    code = ("import sys; from nnunet_explorer.views.plots import save_progress_png; "
            f"save_progress_png({str(tmp_path / 'progress.png')!r}, [1.0, 0.8], [1.1, 0.9], [], [0.1, 0.3]); "
            "print('matplotlib.pyplot' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert (tmp_path / "progress.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_checkpoints_are_not_overwritten_without_c(loop_ws):
    folder = fold_folder(loop_ws)
    folder.mkdir(parents=True)
    (folder / "model_final_checkpoint.model").write_bytes(b"precious")
    with pytest.raises(TrainingError, match="already holds checkpoints") as info:
        train_or_load(*tiny_trainer(loop_ws))
    assert "-c" in str(info.value)
    assert (folder / "model_final_checkpoint.model").read_bytes() == b"precious"


def test_c_without_a_checkpoint_says_so(loop_ws):
    with pytest.raises(TrainingError, match="No checkpoint found"):
        train_or_load(*tiny_trainer(loop_ws, continue_training=True))


@pytest.mark.slow
def test_c_with_an_unreadable_checkpoint_names_the_intact_ones_and_how_to_resume(trained, v1_ct_task, tmp_path):
    import shutil

    from .conftest import copy_workspace

    ws, _, _, _ = trained
    other = copy_workspace(v1_ct_task.workspace, tmp_path / "broken")
    folder = fold_folder(other)
    folder.mkdir(parents=True)
    final = fold_folder(ws) / "model_final_checkpoint.model"
    shutil.copy(final, folder / "model_best.model")
    shutil.copy(str(final) + ".pkl", folder / "model_best.model.pkl")
    (folder / "model_latest.model").write_bytes(b"truncated by a full disk")  # what -c would load
    with pytest.raises(TrainingError) as info:
        train_or_load(*tiny_trainer(other, continue_training=True))
    fix = info.value.fix
    assert "model_latest.model" in str(info.value) and "intact" in fix and "model_best.model" in fix
    assert "-c" in fix and "re-save it from training" not in str(info.value)


def test_progress_plotter_draws_the_newest_curves_off_the_calling_thread(tmp_path):
    """submit() returns at once; a submission that finds an older one waiting replaces it; flush() waits for the
    drawing; a failed drawing comes back from the next submit()/close(), never raised into the loop."""
    import threading

    from nnunet_explorer.training.progress_plot import ProgressPlotter

    drawn, release = [], threading.Event()

    def draw(path, tr, val, tr_mode, metric):
        release.wait(10)
        if tr == ["bad"]:
            raise ValueError("cannot draw")
        drawn.append((threading.current_thread().name, list(tr)))

    plotter = ProgressPlotter(draw)
    curves = [1.0]
    assert plotter.submit(tmp_path / "p.png", curves, [], [], []) is None
    curves.append(0.5)  # the plotter drew from its own copy
    time.sleep(0.2)  # the first job is being drawn (blocked on `release`)
    plotter.submit(tmp_path / "p.png", [1.0, 0.9], [], [], [])
    plotter.submit(tmp_path / "p.png", [1.0, 0.9, 0.8], [], [], [])  # replaces the waiting one
    release.set()
    assert plotter.flush() is None
    assert drawn == [("nnunet-explorer-plotter", [1.0]), ("nnunet-explorer-plotter", [1.0, 0.9, 0.8])]
    assert plotter.submit(tmp_path / "p.png", ["bad"], [], [], []) is None
    assert isinstance(plotter.close(), ValueError)
    assert plotter.close() is None  # idempotent, the error was handed over once
    with pytest.raises(RuntimeError, match="closed"):
        plotter.submit(tmp_path / "p.png", [1.0], [], [], [])


def test_run_training_draws_progress_png_in_the_background_and_finishes_it(loop_ws, monkeypatch):
    """During run_training, progress.png is drawn by the plotter thread (the training thread only submits);
    when run_training returns, the file shows the last epoch."""
    import threading

    from nnunet_explorer.run.run_training import train_or_load
    from nnunet_explorer.training import progress_plot

    seen = []
    real = progress_plot.save_progress_png

    def recording(path, *curves, **kwargs):
        seen.append((threading.current_thread().name, len(curves[0])))
        time.sleep(0.3)  # slower than an epoch here: the loop must not wait, the end must
        real(path, *curves, **kwargs)

    monkeypatch.setattr(progress_plot, "save_progress_png", recording)
    trainer, request = tiny_trainer(loop_ws, epochs=2, deterministic=True)
    result = train_or_load(trainer, request)
    assert seen and {name for name, _ in seen} == {"nnunet-explorer-plotter"}
    assert seen[-1][1] == 2  # the last plot has both epochs
    png = fold_folder(loop_ws) / "progress.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result.output_folder == png.parent
    assert trainer.explorer.progress_plotter is None  # closed with the run


@pytest.mark.parity
@pytest.mark.parametrize("curves", [
    ([1.0, 0.8, 0.7, 0.65], [1.1, 0.9, 0.8, 0.7], [], [0.1, 0.3, 0.5, 0.55]),
    ([1.0, 0.8], [1.1, 0.9], [1.05, 0.85], [0.2, 0.4]),   # with v1's "loss_val, train=True" curve
])
def test_progress_png_is_v1s_pixel_for_pixel_and_leaves_matplotlib_settings_alone(tmp_path, curves):
    """The background plotter can only draw v1's picture if the figure needs no global state: the explorer's
    progress.png equals the one v1's own NetworkTrainer.plot_progress writes (which sets the font size with
    matplotlib.rc), and drawing it leaves rcParams as they were (in a fresh process each: v1's rc call sticks)."""
    code = textwrap.dedent(f"""
        import os, sys, types
        import numpy as np
        import matplotlib
        from matplotlib.image import imread
        from nnunet_explorer.training.progress_plot import save_progress_png
        tr, val, tr_mode, metric = {curves!r}
        before = dict(matplotlib.rcParams)
        save_progress_png(os.path.join({str(tmp_path)!r}, "ours.png"), tr, val, tr_mode, metric)
        assert dict(matplotlib.rcParams) == before, "the explorer's plot changed matplotlib's settings"
        from nnunet.training.network_training.network_trainer import NetworkTrainer
        v1 = types.SimpleNamespace(epoch=len(tr) - 1, all_tr_losses=tr, all_val_losses=val, output_folder={str(tmp_path)!r},
                                   all_val_losses_tr_mode=tr_mode, all_val_eval_metrics=metric, print_to_log_file=print)
        NetworkTrainer.plot_progress(v1)
        ours, theirs = imread(os.path.join({str(tmp_path)!r}, "ours.png")), imread(os.path.join({str(tmp_path)!r}, "progress.png"))
        print("@@", ours.shape, theirs.shape, bool(ours.shape == theirs.shape and np.array_equal(ours, theirs)))
    """)
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "@@ (2400, 3000, 4) (2400, 3000, 4) True" in done.stdout, done.stdout[-2000:]
