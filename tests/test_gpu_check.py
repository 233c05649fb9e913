"""benchmarks/gpu_check.py runs through on the CPU (--device cpu --quick) and reports every section with numbers;
its augmentation section finds the device chain equal to batchgenerators, and would say where it is not."""
from __future__ import annotations

import importlib.util
import json
import math
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.slow
def test_gpu_check_cpu_quick_writes_every_section(tmp_path):
    pytest.importorskip("nnunet", reason="the GPU check compares with nnunet==1.7.1")
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    for name in ("training", "sliding_window", "data", "ddp", "monitor", "augmentation"):
        assert name in report and "error" not in report[name], (name, report.get(name))
    tr = report["training"]
    for key in ("loss_v1", "loss_explorer", "ms_per_iteration_v1", "ms_per_iteration_explorer", "ratio_explorer_v1",
                "syncs_per_iteration_v1", "syncs_per_iteration_explorer", "weights_max_abs_diff_after_1_step"):
        assert _number(tr[key]), key
    # same weights, same batch, fp32: v1 and the explorer agree after one step; v1 reads its loss once
    assert tr["loss_abs_diff"] < 1e-5 and tr["weights_max_abs_diff_after_1_step"] < 1e-5
    assert tr["syncs_per_iteration_v1"] >= 1
    runs = report["sliding_window"]["runs"]
    assert {r["tile_batch"] for r in runs} == {1, 4}
    for r in runs:
        assert _number(r["seconds_v1"]) and _number(r["seconds_explorer"]) and r["prob_max_abs_diff"] < 1e-4
    data = report["data"]
    assert all(_number(data[k]) for k in ("next_latency_ms_when_ready", "mean_wait_ms", "wait_share"))
    groups = report["ddp"]["groups"]
    assert groups and all(g["checksums_equal"] and _number(g["ms_per_step"]) for g in groups)
    monitor = report["monitor"]
    assert monitor["available"] and _number(monitor["share_of_iteration"]) and monitor["syncs_added"] == 0
    assert "ms/iteration" in done.stdout and "sliding window" in done.stdout  # the printed table


# the transforms the augmentation section must exercise (moreDA's list, the cascade's extras, the DS targets)
MOREDA_CLASSES = {"SpatialTransform", "GaussianNoiseTransform", "GaussianBlurTransform",
                  "BrightnessMultiplicativeTransform", "ContrastAugmentationTransform",
                  "SimulateLowResolutionTransform", "GammaTransform", "MirrorTransform", "DownsampleSegForDSTransform2"}
CASCADE_CLASSES = {"MoveSegAsOneHotToData", "ApplyRandomBinaryOperatorTransform",
                   "RemoveRandomConnectedComponentFromOneHotEncodingTransform", "Convert3DTo2DTransform"}


def test_gpu_check_augmentation_section_is_exact_on_the_cpu(tmp_path):
    """``--sections augmentation --device cpu --quick``: every path and seed bit for bit, every random device
    transform acted in some batch (the parity is not vacuous), both sides timed."""
    pytest.importorskip("batchgenerators")
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--sections", "augmentation", "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report) >= {"augmentation"} and "training" not in report  # only the chosen section ran
    au = report["augmentation"]
    assert "error" not in au, au
    assert isinstance(au["seeds"], int) and au["seeds"] >= 20
    assert au["max_abs_diff_data"] == 0 and au["mismatched_seg_voxels"] == 0 and au["streams_equal"]
    assert MOREDA_CLASSES | CASCADE_CLASSES <= set(au["transforms_covered"])
    assert set(au["paths"]) == {"moreDA-3d", "moreDA-dummy-2d", "moreDA-2d", "moreDA-cascade"}
    for name, path in au["paths"].items():
        assert path["seeds"] == au["seeds"] and path["keys_equal"] and not path["seeds_differing"], name
        assert path["differing_data_values"] == 0 and path["per_transform"] == {}, name
        assert _number(path["ms_per_batch_cpu"]) and _number(path["ms_per_batch_device"]), name
        assert path["fired"] and all(n > 0 for n in path["fired"].values()), (name, path["fired"])
    assert any("ApplyRandomBinaryOperatorTransform" in k for k in au["paths"]["moreDA-cascade"]["fired"])
    assert _number(au["ms_per_batch_cpu"]) and _number(au["ms_per_batch_device"])
    # end to end, as a run takes the batches (workers, shared memory, the feeder thread): the workers' batches
    ag = au["augmenter"]
    assert ag["batches"] == 6 and ag["max_abs_diff_data"] == 0 and ag["differing_data_values"] == 0, ag
    assert ag["mismatched_seg_voxels"] == 0 and ag["keys_equal"] and ag["through_shared_memory"], ag
    assert ag["applied_ahead"] and ag["on_device"] == ["cpu"], ag
    assert "end to end (DeviceAugmenter vs MultiProcessAugmenter, 6 batches" in done.stdout
    # which path each Triton kernel family took, and why: on a CPU the eager one, for every family
    assert au["triton_kernels"] == ("eager torch for float32 power, float32 sums, interpolation, scikit-image's "
                                    "resize, spline prefilters (on the CPU an operation per step costs no kernel "
                                    "launch)"), au["triton_kernels"]
    assert "augmentation (20 seeds per path" in done.stdout


@pytest.fixture
def gpu_check_module(monkeypatch):
    """benchmarks/gpu_check.py imported in this process (it sets v1's folder variables at import: undone after)."""
    for var in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER"):
        monkeypatch.setenv(var, os.environ.get(var, "")) if var in os.environ else monkeypatch.delenv(var, False)
    spec = importlib.util.spec_from_file_location("gpu_check_under_test", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_per_transform_differences_name_the_transform_that_differs(gpu_check_module, monkeypatch):
    """A device transform made inexact on purpose (the blur's output shifted by 1e-3) shows up at that step alone:
    every step is fed batchgenerators' own input, so a difference is not carried on to the next steps."""
    pytest.importorskip("batchgenerators")
    import torch
    from batchgenerators.transforms.noise_transforms import GaussianBlurTransform

    from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback

    gc = gpu_check_module
    transforms, patch, batch_size, seg_channels = gc.augmentation_path("moreDA-3d", gc.AUGMENTATION_SHAPES["quick"])
    batch = gc.augmentation_batch((batch_size, 1, *patch), seg_channels, 3)
    exact = gc.per_transform_differences(transforms, batch, 3, torch.device("cpu"))
    assert {"SpatialTransform", "GaussianBlurTransform", "MirrorTransform", "DownsampleSegForDSTransform2"} <= \
        {label.split(" ", 1)[1] for label in exact}
    assert all(d["max_abs_diff_data"] == 0 and d["mismatched_seg_voxels"] == 0 for d in exact.values()), exact

    blur = type(device_or_fallback(GaussianBlurTransform())[0])
    original = blur.apply
    monkeypatch.setattr(blur, "apply", lambda self, x, s, d: (lambda r: (r[0] + 1e-3, r[1]))(original(self, x, s, d)))
    shifted = gc.per_transform_differences(transforms, batch, 3, torch.device("cpu"))
    blurred = [k for k in shifted if k.endswith("GaussianBlurTransform")]
    assert len(blurred) == 1 and abs(shifted[blurred[0]]["max_abs_diff_data"] - 1e-3) < 1e-4
    assert shifted[blurred[0]]["differing_data_values"] > 0
    assert all(d["max_abs_diff_data"] == 0 for k, d in shifted.items() if k != blurred[0]), shifted


# ------------------------------------------------------------------ the GPU session's scripts (dry plumbing)
SESSION = ROOT / "benchmarks" / "gpu_session"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"gpu_session_{name}", SESSION / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", ["gpu_session.sh", "gpu_pack.sh"])
def test_session_scripts_parse(script):
    done = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = (ROOT / "benchmarks" / script).read_text()
    assert re.search(r"^set -\w*u", text, re.M) and "\r" not in text  # unset variables are errors


@pytest.mark.parametrize("mode,rc", [("auto", 0), ("bogus", 3)])
def test_session_kernel_check_says_when_the_parts_must_run_eagerly(mode, rc):
    """The set-up's kernel check in a process of its own: exit 0 with the families' line, or 3 (the check raised,
    or on a GPU the device no longer answers), on which the session runs every part on the eager path."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NNUNET_EXPLORER_SPLINE_KERNELS=mode)
    done = subprocess.run([sys.executable, str(SESSION / "kernel_check.py")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == rc, done.stdout + done.stderr
    if rc == 0:
        assert "eager torch for float32 power" in done.stdout  # a CPU: every family eager, and why
    else:
        assert "Triton kernel check FAILED on cpu: ValueError" in done.stdout
    script = (ROOT / "benchmarks" / "gpu_session.sh").read_text()
    assert re.search(r'if ! "\$PY" "\$P/benchmarks/gpu_session/kernel_check.py"; then\n'
                     r"\s+export NNUNET_EXPLORER_SPLINE_KERNELS=eager", script)


def test_session_summary_reads_parts_and_gpu_samples(tmp_path):
    """summary.json: per part the exit code, seconds, and the NVML samples inside the part's window."""
    parts = tmp_path / "parts.tsv"
    parts.write_text("gpu_check\t100.0\t110.0\t0\nnb05\t110.0\t120.0\t124\nlearn\t0\t0\tskipped\n")
    util = tmp_path / "util.csv"
    util.write_text("# time_s,util_percent,memory_used_mib\n" + "".join(
        f"{t},{u},{m}\n" for t, u, m in [(101, 50, 1000), (105, 100, 3000), (109, 0, 2000), (115, 80, 500)]))
    summary = _load("summarize").summarize(str(parts), str(util), {"dry": True})
    assert summary["dry"] is True and summary["gpu_sampled"] is True
    gc = summary["parts"]["gpu_check"]
    assert gc == {"exit": 0, "status": "ok", "seconds": 10.0, "gpu_util_mean_percent": 50.0,
                  "gpu_active_sample_share": round(2 / 3, 3), "gpu_memory_max_mib": 3000.0}
    assert summary["parts"]["nb05"]["status"] == "killed at its cap"
    assert summary["parts"]["nb05"]["gpu_util_mean_percent"] == 80.0
    assert summary["parts"]["learn"]["status"].startswith("skipped")


def test_util_sampler_without_nvml_leaves_a_note(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("with a GPU the sampler samples until killed (the session checks it there)")
    out = tmp_path / "util.csv"
    sampler = _load("util_sampler")
    sampler.sample_forever(str(out), 0.01)  # returns at once: no NVML on this machine
    assert out.read_text().startswith("# no GPU sampling:") and sampler.read_samples(str(out)) == []


def test_run_notebook_and_v1_wrapper_import(monkeypatch):
    """The session's Python parts import without running; the v1 wrapper makes v1's trainer lookup find the
    short-schedule variant (a subclass of v1's nnUNetTrainerV2) and leaves other names to v1's search."""
    assert callable(_load("run_notebook").run)
    pytest.importorskip("nnunet")
    import nnunet.run.default_configuration as default_configuration
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2

    seen = []
    monkeypatch.setattr(default_configuration, "recursive_find_python_class",
                        lambda folder, name, current_module: seen.append(name))
    wrapper = _load("v1_run_training")
    wrapper.register_variants()
    found = default_configuration.recursive_find_python_class(["x"], "nnUNetTrainerV2_gpuCheck", "m")
    assert issubclass(found, nnUNetTrainerV2) and found is not nnUNetTrainerV2 and seen == []
    default_configuration.recursive_find_python_class(["x"], "nnUNetTrainerV2", "m")
    assert seen == ["nnUNetTrainerV2"]


def test_epoch_timings_read_the_training_log(gpu_check_module):
    """Epoch seconds from v1's / the explorer's console lines: the median after the first epoch, the time to the
    end of epoch 0 from the command's start, and the training window for the GPU samples."""
    lines = [(100.0, "loading dataset"), (104.0, "2026-12-04 23:50:01.1: "), (104.0, "epoch:  0"),
             (110.0, "2026-12-04 23:50:07.5: This epoch took 6.000000 s"), (110.0, ""), (110.0, "epoch:  1"),
             (113.0, "2026-12-04 23:50:10.5: This epoch took 3.000000 s"), (117.0, "This epoch took 4.000000 s")]
    timing = gpu_check_module.epoch_timings(lines, 99.0)
    assert timing["epochs"] == 3 and timing["epoch_seconds"] == 3.5 and timing["epoch_seconds_all"] == [6, 3, 4]
    assert timing["seconds_to_first_epoch"] == 11.0 and timing["window"] == (104.0, 117.0)
    assert timing["steady_window"] == (110.0, 117.0)  # the epochs the median is taken over, without epoch 0
    assert timing["training_windows"] == []  # no "train loss" lines in this log
    with_losses = [(104.0, "epoch:  0"), (108.0, "2026-12-04 23:50:05.0: train loss : 1.0"),
                   (110.0, "This epoch took 6.000000 s"), (110.0, "epoch:  1"), (112.0, "train loss : 0.9"),
                   (113.0, "This epoch took 3.000000 s"), (113.0, "epoch:  2"), (116.0, "train loss : 0.8"),
                   (117.0, "This epoch took 4.000000 s")]
    assert gpu_check_module.epoch_timings(with_losses, 99.0)["training_windows"] == [(110.0, 112.0), (113.0, 116.0)]
    sampler = gpu_check_module._GpuSampler(__import__("torch").device("cpu"))
    sampler.samples = [(111.0, 90.0), (112.5, 10.0), (114.0, 100.0), (117.0, 0.0)]
    assert sampler.busy_share_in([(110.0, 112.0), (113.0, 116.0)]) == 0.95  # the samples outside do not count
    assert gpu_check_module.epoch_timings(lines[:4], 99.0)["steady_window"] is None  # one epoch: no steady state
    assert gpu_check_module.epoch_timings([(1.0, "crashed")], 0.0)["epoch_seconds"] is None


def test_augmentation_timing_times_every_device_transform_at_the_modes_plans(gpu_check_module):
    """``augmentation_timing`` (on a GPU at the blog's plans): moreDA 3D on the device, transform by transform,
    for moreDA's probabilities and with every sample resampled; no CPU fallback in the chain; the table shows
    it."""
    import torch

    result = gpu_check_module.section_augmentation_timing("quick", torch.device("cpu"))
    assert result["patch"] == [12, 32, 32] and all(n > p for n, p in zip(result["loader_patch"], result["patch"]))
    assert gpu_check_module.AUGMENTATION_TIMING["gpu"]["patch"] == (80, 160, 160)  # the blog's plans on a GPU
    for case in ("moreDA", "all_resampled"):
        c = result[case]
        assert c["fallbacks"] == [], c["fallbacks"]
        names = [name.split(" ", 1)[1] for name in c["per_transform"]]
        assert MOREDA_CLASSES <= set(names), names
        times = c["per_transform"].values()
        assert all(0 <= t["launch_ms"] and 0 <= t["device_ms"] for t in times)
        assert c["ms_per_batch_device"] == pytest.approx(sum(t["device_ms"] for t in times))
        assert c["ms_draw_in_worker"] > 0
    text = gpu_check_module.table({"device_name": "cpu", "torch": torch.__version__, "mode": "quick",
                                   "seconds_total": 1.0, "augmentation_timing": result})
    assert "augmentation timing (moreDA 3D on the device" in text and "1 SpatialTransform" in text


def test_sections_on_cuda_put_the_new_device_paths_first_and_the_run_last(gpu_check_module):
    import torch

    cuda = gpu_check_module.section_order(torch.device("cuda"))
    cpu = gpu_check_module.section_order(torch.device("cpu"))
    assert sorted(cuda) == sorted(cpu) == sorted(gpu_check_module.SECTIONS)
    assert cuda[:2] == ["augmentation", "sliding_window"] and cuda[-1] == cpu[-1] == "run"
    assert cpu[0] == "ddp"  # forked before this process starts threads
    for order in (cuda, cpu):
        assert order.index("training") < order.index("monitor")


@pytest.mark.slow
def test_gpu_check_run_section_times_explorer_and_v1_on_the_cpu(tmp_path):
    """``--sections run --device cpu --quick``: task 901, one epoch of two batches with the explorer and with v1's
    own run_training (the variant trainer), timed from their logs; no GPU: the busy shares are null, with why."""
    pytest.importorskip("nnunet", reason="the run section compares with nnunet==1.7.1")
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), GPU_CHECK_RUN_WORKSPACE=str(tmp_path / "ws"))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--sections", "run", "--out", str(out)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = json.loads(out.read_text())["run"]
    assert "error" not in run, run
    assert "partial" not in run  # the partial record written after each run was replaced by the whole section
    assert run["task"] == 901 and run["schedule"]["epochs"] == 1
    for side in ("explorer", "v1"):
        assert _number(run[f"epoch_seconds_{side}"]) and run[f"epoch_seconds_{side}"] > 0, side
        assert run[f"seconds_to_first_epoch_{side}"] >= run[f"epoch_seconds_{side}"], side
        assert run[f"gpu_busy_share_{side}"] is None and run[f"gpu_busy_share_all_epochs_{side}"] is None, side
        assert run[f"gpu_busy_share_training_iterations_{side}"] is None, side
    # the CPU-augmentation run needs train's --augment_on; without it the report says so
    if "note" in run:
        assert "--augment_on" in run["note"] and run["epoch_seconds_explorer_cpu_augmentation"] is None
    else:  # each run's log says where its augmentation ran
        assert _number(run["epoch_seconds_explorer_cpu_augmentation"])
        assert "--augment_on device" in run["augmentation_explorer"]
        assert "--augment_on workers" in run["augmentation_explorer_cpu_augmentation"]
    assert run["gpu_busy_share_reason"] == "not a CUDA run"
    assert (tmp_path / "ws" / "v1.log").read_text().count("This epoch took") == 1
    # v1's own trainer, the variant, wrote its fold (log and final checkpoint) there
    folds = list((tmp_path / "ws" / "results_v1").rglob("nnUNetTrainerV2_gpuCheck__nnUNetPlansv2.1/fold_0"))
    assert len(folds) == 1 and list(folds[0].glob("training_log_*.txt"))


def test_a_failed_run_keeps_the_other_runs_figures(gpu_check_module, monkeypatch, tmp_path):
    """The run section on a GPU is one chance: when the explorer's run fails, v1's and the workers' runs still go,
    their figures stay in the JSON next to the error, and the section is marked failed."""
    import subprocess as subprocess_module

    monkeypatch.setenv("GPU_CHECK_RUN_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setattr(subprocess_module, "run", lambda *a, **k: subprocess_module.CompletedProcess(a, 0, "", ""))
    monkeypatch.setattr(gpu_check_module, "_explorer_supports_augment_on", lambda env: True)
    calls = []

    def fake_lines(cmd, env, log, timeout):
        calls.append(cmd)
        if "--augment_on" in cmd and cmd[cmd.index("--augment_on") + 1] == "device":
            return 1, [(10.0, "Traceback: the device path broke")], 0.0
        return 0, [(1.0, "epoch:  0"), (6.0, "This epoch took 5.0 s")], 0.0

    monkeypatch.setattr(gpu_check_module, "_timed_lines", fake_lines)
    out = tmp_path / "gpu_check.json"
    assert gpu_check_module.main(["--device", "cpu", "--quick", "--sections", "run", "--out", str(out)]) == 1
    run = json.loads(out.read_text())["run"]
    assert len(calls) == 3  # the failure did not stop the two runs after it
    assert "the device path broke" in run["error_explorer"] and "explorer exited 1" in run["error"]
    assert run["epoch_seconds_v1"] == 5.0 and run["epoch_seconds_explorer_cpu_augmentation"] == 5.0
    assert run["epoch_seconds_explorer"] is None and run["ratio_epoch_explorer_v1"] is None


def test_device_augmentation_benchmark_counts_the_operations_a_gpu_run_launches():
    """``bench_device_augmentation.py --ops``: per transform and in total, the operations apply_all dispatches for
    a batch; the spatial transform, when it resamples, is by far the largest share (its spline prefilter)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_device_augmentation.py"), "--quick",
                           "--ops"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tables = done.stdout.split("operations apply_all dispatches per batch")[1:]
    assert len(tables) == 2 and "eager torch everywhere" in tables[0] and "Triton kernels" in tables[1], done.stdout
    eager, kernels = ({m.group(1).strip(): [int(v) for v in m.groups()[1:]]
                       for m in re.finditer(r"^\s+(\d+ \w+|all)\s+(\d+)\s+(\d+)\s+(\d+)$", table, re.M)}
                      for table in tables)
    assert "all" in eager and eager.keys() == kernels.keys(), done.stdout
    spatial = next(v for k, v in eager.items() if k.endswith("SpatialTransform"))
    assert eager["all"][2] >= spatial[2] > 1000  # max over the seeds: a resampling batch launches thousands
    assert all(low <= median <= high for rows in (eager, kernels) for low, median, high in rows.values())
    # the prefilters' recursions as kernels: a few launches per axis instead of several per slab
    spatial_kernels = next(v for k, v in kernels.items() if k.endswith("SpatialTransform"))
    assert spatial_kernels[2] < spatial[2] / 2 and kernels["all"][2] < eager["all"][2]


def test_sliding_window_measures_the_goals_rows_first_and_reports_each_row(gpu_check_module):
    """On a GPU the section may hit its time cap: v1's default and the explorer's default mode come first (for
    every precision), each row is handed on as it is measured, and the goals are computed from what is there."""
    import torch

    seen = []
    result = gpu_check_module.section_sliding_window(gpu_check_module.SHAPES["quick"], torch.device("cpu"), [False],
                                                     seen.append)
    default = result["explorer_default_mode"]
    first = result["runs"][0]
    assert (first["sums_on"], first["tile_batch"]) == (default["sums_on"], default["tile_batch"])
    assert [len(r["runs"]) for r in seen] == list(range(1, len(result["runs"]) + 1))
    assert seen[0]["goals"] and seen[0]["goals"][0]["prob_met"]  # the first row already answers the goal
    assert {(r["sums_on"], r["tile_batch"]) for r in result["runs"]} == {(m, t) for m in ("cpu", "device_fp32")
                                                                         for t in (1, 4)}


def test_sliding_window_goals_half_of_v1_in_the_default_mode_and_parity_at_one_tile(gpu_check_module):
    """The default mode (tile batching on CUDA) must take <= 0.5 of v1's time; the same sums at v1's one tile per
    pass only <= 1.0; both within 1e-3 (fp16) / 1e-6 (fp32) of v1's default probabilities."""
    rows = [{"fp16": True, "sums_on": "device_fp32", "tile_batch": t, "ratio_to_v1_default": r,
             "max_abs_diff_vs_v1_default": d} for t, r, d in ((4, 0.45, 2e-4), (1, 0.9, 5e-4))]
    goals = {g["tile_batch"]: g for g in gpu_check_module._sliding_window_goals(
        rows, [True], {"sums_on": "device_fp32", "tile_batch": 4})}
    assert (goals[4]["time_goal"], goals[4]["is_default"], goals[4]["time_met"]) == (0.5, True, True)
    assert (goals[1]["time_goal"], goals[1]["is_default"], goals[1]["time_met"]) == (1.0, False, True)
    assert goals[4]["prob_goal"] == 1e-3 and goals[1]["prob_met"]


def test_merge_adds_sections_to_the_file_of_an_earlier_part(gpu_check_module, tmp_path):
    """The GPU session runs sections as separately capped parts into one file: --merge keeps what earlier parts
    wrote (and the exit code answers for this part's sections only)."""
    out = tmp_path / "gpu_check.json"
    out.write_text(json.dumps({"run": {"error": "killed at its cap", "epoch_seconds_v1": 9.5}, "device": "cuda"}))
    assert gpu_check_module.main(["--device", "cpu", "--quick", "--sections", "monitor", "--out", str(out),
                                  "--merge"]) == 0
    merged = json.loads(out.read_text())
    assert merged["run"]["epoch_seconds_v1"] == 9.5 and merged["monitor"]["available"]
    assert merged["device"] == "cpu"  # this part's own description of the machine
    gpu_check_module.main(["--device", "cpu", "--quick", "--sections", "monitor", "--out", str(out)])
    assert "run" not in json.loads(out.read_text())  # without --merge the file is this part's alone


def test_the_augmentation_section_writes_the_chains_figures_before_the_end_to_end_check(gpu_check_module,
                                                                                         monkeypatch):
    """A GPU session kills a part at its time cap: the chain's parity (20 seeds per path) is handed over before
    the end-to-end check starts, and a failing check is reported under its own key, not as the section's error."""
    pytest.importorskip("batchgenerators")
    import torch

    seen = []

    def failing(*args):
        assert seen and "augmenter" not in seen[0]  # the chain's figures were written first
        raise RuntimeError("workers gone")

    monkeypatch.setattr(gpu_check_module, "augmenter_end_to_end", failing)
    result = gpu_check_module.section_augmentation("quick", torch.device("cpu"), seen.append)
    assert seen[0]["seeds"] == 20 and seen[0]["max_abs_diff_data"] == 0
    assert result["augmenter"] == {"error": "RuntimeError: workers gone"} and "error" not in result
