"""doctor: folders with their origin, tasks per stage, versions, worker settings, problems with fixes."""
from __future__ import annotations

import os

import pytest

from nnunet_explorer.doctor import run_doctor
from nnunet_explorer.paths import ENV_PREPROCESSED, ENV_RAW, ENV_RESULTS, ENV_WORKSPACE, environment_for
from nnunet_explorer.samples.synthetic import write_synthetic_task


def _base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (ENV_RAW, ENV_PREPROCESSED, ENV_RESULTS, ENV_WORKSPACE, "nnUNet_n_proc_DA", "nnUNet_def_n_proc")}
    env.update({"nnUNet_n_proc_DA": "1", "nnUNet_def_n_proc": "1"})
    env.update(extra)
    return env


def _whats(report) -> str:
    return "\n".join(f"{p.what} | {p.fix}" for p in report.problems)


def test_brand_new_default_workspace_is_fine_and_untouched(tmp_path):
    report = run_doctor(_base_env(**{ENV_WORKSPACE: str(tmp_path / "fresh")}))
    assert report.ok, _whats(report)
    assert not (tmp_path / "fresh").exists(), "doctor must not create anything"
    assert {f.path for f in report.folders} >= {tmp_path / "fresh" / "raw" / "nnUNet_raw_data",
                                               tmp_path / "fresh" / "results" / "nnUNet"}
    text = report.text()
    assert "default: NNUNET_EXPLORER_WORKSPACE" in text and "no problems found" in text
    assert any("not set" in n.what for n in report.notes)


def test_report_lists_versions_threads_and_tasks(workspace):
    write_synthetic_task(workspace.raw_task_dir("Task901_SynthCT"), "ct", num_training=1, num_test=0)
    (workspace.preprocessed / "Task901_SynthCT").mkdir()
    (workspace.network_training_output_dir / "3d_fullres" / "Task901_SynthCT").mkdir(parents=True)
    report = run_doctor(_base_env(**environment_for(workspace)))
    assert report.ok, _whats(report)
    assert report.tasks["Task901_SynthCT"] == ("preprocessed", "raw", "results/3d_fullres")
    for name in ("torch", "numpy", "SimpleITK", "batchgenerators", "nnunet (v1, for parity)", "CUDA"):
        assert name in report.versions
    assert report.versions["nnunet (v1, for parity)"] in (None, "1.7.1")
    assert report.threads["nnUNet_n_proc_DA"].startswith("1 ")
    assert "torch threads" in report.threads
    text = report.text()
    assert "Task901_SynthCT" in text and "environment" in text and str(workspace.preprocessed) in text


def test_bad_variable_values(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    report = run_doctor(_base_env(**{ENV_RAW: str(a_file), ENV_PREPROCESSED: str(tmp_path / "p"),
                                     ENV_RESULTS: str(tmp_path / "r")}))
    assert not report.ok and "is a file" in _whats(report) and ENV_RAW in _whats(report)
    report = run_doctor(_base_env(**{ENV_RAW: '"/data/raw"', ENV_PREPROCESSED: str(tmp_path / "p"),
                                     ENV_RESULTS: str(tmp_path / "r")}))
    assert "quote" in _whats(report)


def test_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    report = run_doctor(_base_env(**{ENV_RAW: str(tmp_path / "raw"), ENV_PREPROCESSED: str(blocker / "pre"),
                                     ENV_RESULTS: str(tmp_path / "res")}))
    assert not report.ok
    assert f"{ENV_PREPROCESSED}: {blocker / 'pre'} cannot be created because {blocker} is a file" in _whats(report)
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("variable, value, words", [
    ("nnUNet_n_proc_DA", "100000", "larger than"),
    ("nnUNet_n_proc_DA", "abc", "not a whole number"),
    ("nnUNet_n_proc_DA", "0", "at least one"),
    ("nnUNet_def_n_proc", "many", "not a whole number"),
])
def test_worker_settings(tmp_path, variable, value, words):
    report = run_doctor(_base_env(**{ENV_WORKSPACE: str(tmp_path / "w"), variable: value}))
    assert words in _whats(report) and variable in _whats(report)


def test_unset_worker_count_is_a_note_with_v1s_default(tmp_path):
    env = _base_env(**{ENV_WORKSPACE: str(tmp_path / "w")})
    del env["nnUNet_n_proc_DA"]
    report = run_doctor(env)
    assert "v1 uses 12" in report.threads["nnUNet_n_proc_DA"]
    from nnunet_explorer.training.augmenter import usable_cpu_count

    if usable_cpu_count() < 12:  # v1's validation augmenter adds max(12 // 2, 1) workers to the 12
        (note,) = [n.what for n in report.notes if n.what.startswith("nnUNet_n_proc_DA is unset")]
        assert "12 augmentation workers (and 6 more for validation)" in note


def test_task_problems(workspace):
    (workspace.nnUNet_raw_data / "Task04_Hippocampus").mkdir()
    (workspace.nnUNet_raw_data / "Task4_Short").mkdir()  # v1's converter wants exactly two digits: rename it
    (workspace.nnUNet_raw_data / "Task007_A").mkdir()
    (workspace.preprocessed / "Task007_B").mkdir()
    broken = write_synthetic_task(workspace.raw_task_dir("Task008_Broken"), "mr", num_training=2, num_test=0)
    (broken / "imagesTr" / "case_001_0001.nii.gz").unlink()
    report = run_doctor(_base_env(**environment_for(workspace)))
    text = _whats(report)
    assert "Task04_Hippocampus" in text and "nnUNet_convert_decathlon_task" in text and "Task004_Hippocampus" in text
    assert "task id 7" in text and "Task007_A" in text and "Task007_B" in text
    assert "Task008_Broken" in text and "case_001_0001.nii.gz is missing" in text
    # and the empty raw folder Task007_A has no dataset.json
    assert f"raw task Task007_A: {workspace.raw_task_dir('Task007_A') / 'dataset.json'} does not exist" in text
    short = next(p for p in report.problems if "Task4_Short" in str(p))
    assert "rename it TaskXXX_Name" in str(short) and "convert_decathlon" not in str(short)
    assert len(report.problems) == 5
    assert (broken / "dataset.json").is_file()


def test_an_unpacked_case_cut_short_is_found_before_v1_fails_on_it(workspace):
    import numpy as np

    stage = workspace.preprocessed / "Task010_Cut" / "nnUNetData_plans_v2.1_stage0"
    stage.mkdir(parents=True)
    for case in ("case_0", "case_1"):
        np.save(stage / f"{case}.npy", np.zeros((2, 4, 4, 4), np.float32))
    assert "Task010_Cut" not in _whats(run_doctor(_base_env(**environment_for(workspace))))
    whole = (stage / "case_1.npy").stat().st_size
    (stage / "case_1.npy").write_bytes((stage / "case_1.npy").read_bytes()[:200])
    report = run_doctor(_base_env(**environment_for(workspace)))
    (problem,) = [p for p in report.problems if "Task010_Cut" in p.what]
    assert problem.what.startswith("preprocessed task Task010_Cut: 1 unpacked case(s) cut short or unreadable: "
                                   f"nnUNetData_plans_v2.1_stage0/case_1.npy (200 of {whole} bytes); v1 skips")
    assert "mmap length is greater than file size" in problem.what and problem.fix.startswith("delete them")
    assert (stage / "case_1.npy").stat().st_size == 200  # doctor changes nothing on disk
    (stage / "case_2.npy").symlink_to(stage / "gone.npy")  # a broken link is a problem, not a crash
    (problem,) = [p for p in run_doctor(_base_env(**environment_for(workspace))).problems if "Task010_Cut" in p.what]
    assert f"2 unpacked case(s) cut short or unreadable: nnUNetData_plans_v2.1_stage0/case_1.npy (200 of {whole} " \
           "bytes), nnUNetData_plans_v2.1_stage0/case_2.npy (cannot be read: No such file or directory)" in problem.what


def test_damaged_data_and_checkpoints_of_a_task_are_found_before_a_run_reads_them(workspace):
    import numpy as np
    import torch

    from nnunet_explorer.fileio import write_pickle

    stage = workspace.preprocessed / "Task011_Dmg" / "nnUNetData_plans_v2.1_stage0"
    stage.mkdir(parents=True)
    for case in ("case_0", "case_1"):
        np.savez_compressed(stage / f"{case}.npz", data=np.zeros((2, 4, 4, 4), np.float32))
        write_pickle({"classes": np.array([0, 1])}, stage / f"{case}.pkl")
    fold = workspace.network_training_output_dir / "3d_fullres" / "Task011_Dmg" / "nnUNetTrainerV2__nnUNetPlansv2.1" \
        / "fold_0"
    fold.mkdir(parents=True)
    torch.save({"epoch": 50}, fold / "model_latest.model")
    torch.save({"epoch": 40}, fold / "model_best.model")
    assert "Task011_Dmg" not in _whats(run_doctor(_base_env(**environment_for(workspace))))
    (stage / "case_1.pkl").write_bytes(b"")
    (fold / "model_latest.model").write_bytes((fold / "model_latest.model").read_bytes()[:100])
    report = run_doctor(_base_env(**environment_for(workspace)))
    (problem,) = [p for p in report.problems if "Task011_Dmg" in p.what]
    assert problem.what == (
        "task Task011_Dmg: 2 damaged file(s): Task011_Dmg/nnUNetData_plans_v2.1_stage0/case_1.pkl (empty (0 bytes)), "
        "nnUNet/3d_fullres/Task011_Dmg/nnUNetTrainerV2__nnUNetPlansv2.1/fold_0/model_latest.model (not a torch "
        "checkpoint (torch saves one as a zip archive): cut short or overwritten); v1 fails on each when it reads it "
        "(unless a run is writing it now: a checkpoint being saved, a case being unpacked)")
    assert problem.fix.startswith("a preprocessed case: delete it and the case's .npy, then "
                                  "`nnUNet_plan_and_preprocess -t 11` writes every case's .npz and .pkl again")
    assert f"; a checkpoint: move model_latest.model out of {fold}; -c then loads model_best.model" in problem.fix
    assert (stage / "case_1.pkl").stat().st_size == 0  # doctor changes nothing on disk

def test_read_whole_finds_an_npz_changed_inside_its_data_that_the_quick_check_passes(workspace, capsys,
                                                                                     monkeypatch):
    """A byte changed deep in a case's compressed data keeps its zip directory and header whole: plain doctor
    passes it, ``doctor --read_whole`` decompresses every .npz and names it (and says how many files it read)."""
    import numpy as np

    from nnunet_explorer.cli import main

    stage = workspace.preprocessed / "Task012_Crc" / "nnUNetData_plans_v2.1_stage0"
    stage.mkdir(parents=True)
    for case in ("case_0", "case_1"):
        np.savez_compressed(stage / f"{case}.npz", data=np.random.RandomState(1).rand(2, 16, 32, 32))
    changed = bytearray((stage / "case_1.npz").read_bytes())
    changed[len(changed) // 2] ^= 0xFF
    (stage / "case_1.npz").write_bytes(bytes(changed))
    env = _base_env(**environment_for(workspace))
    quick = run_doctor(env)
    assert "Task012_Crc" not in _whats(quick) and quick.read_whole is None
    whole = run_doctor(env, read_whole=True)
    (problem,) = [p for p in whole.problems if "Task012_Crc" in p.what]
    assert problem.what.startswith("task Task012_Crc: 1 damaged file(s): Task012_Crc/nnUNetData_plans_v2.1_stage0/"
                                   "case_1.npz (its array data.npy is damaged behind a whole zip directory")
    assert whole.read_whole == 2
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    assert main(["doctor", "--read_whole"]) == 1
    out = capsys.readouterr().out
    assert "(--read_whole: 2 .npz/.pkl/.model files read, every .npz decompressed to its end" in out
    assert main(["doctor", "--read_whole", "--no_task_check"]) == 2
    assert "--read_whole reads the tasks' files and --no_task_check skips them" in capsys.readouterr().err
    assert main(["doctor", "--read_whole", "--explain", "zipfile.BadZipFile: Bad CRC-32 for file 'data.npy'"]) == 2
    assert "--explain reads every .npz of the -t task whole by itself" in capsys.readouterr().err
    # -t limits the file checks to one task (every task is still listed); one that names no task is a problem
    other = workspace.preprocessed / "Task013_Other" / "nnUNetData_plans_v2.1_stage0"
    other.mkdir(parents=True)
    (other / "case_0.pkl").write_bytes(b"")
    assert "Task013_Other: 1 damaged file(s)" in _whats(run_doctor(env))
    only = run_doctor(env, read_whole=True, task="12")
    assert "Task013_Other" in only.tasks and "Task013_Other" not in _whats(only)
    assert "Task012_Crc: 1 damaged file(s)" in _whats(only) and only.read_whole == 2
    # a folder this user cannot list (pathlib's rglob skipped it silently): named, with what mends it
    from pathlib import Path

    listing = os.scandir

    def refused(path="."):
        if Path(path) == other:
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", refused)
    (locked,) = [p for p in run_doctor(env, task="13").problems if "Task013_Other" in p.what]
    assert locked.what.startswith("task Task013_Other: 1 damaged file(s): Task013_Other/nnUNetData_plans_v2.1_stage0 "
                                  "(a folder that cannot be listed: Permission denied)")
    assert locked.fix.startswith(f"{other}: a folder this user cannot list, so its files were not checked")
    monkeypatch.setattr(os, "scandir", listing)
    missing = run_doctor(env, task="14")
    assert [p.what for p in missing.problems if p.what.startswith("-t: ")] == [
        "-t: could not find a task with the ID 14 (looked for folders named Task014_*)"]
    assert "damaged" not in _whats(missing) and missing.read_whole is None
    # a checkpoint with a tensor byte changed: torch loads it silently, so the problem says that, not "v1 fails"
    import torch

    fold = workspace.network_training_output_dir / "3d_fullres" / "Task012_Crc" / "nnUNetTrainerV2__nnUNetPlansv2.1" \
        / "fold_0"
    fold.mkdir(parents=True)
    torch.save({"state_dict": {"w": torch.arange(4096, dtype=torch.float32)}}, fold / "model_best.model")
    weights = bytearray((fold / "model_best.model").read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (fold / "model_best.model").write_bytes(bytes(weights))
    assert "model_best.model" not in _whats(run_doctor(env, task="12"))
    (changed,) = [p for p in run_doctor(env, task="12", read_whole=True).problems if "Task012_Crc" in p.what]
    assert "model_best.model (its model_best/data/0 does not match its CRC" in changed.what
    assert "except a checkpoint whose CRC does not match: torch loads it silently, with changed weights" in changed.what
    nothing = run_doctor(env, task="14", read_whole=True)  # nothing to read: said so, not "0 files read"
    assert nothing.read_whole == 0 and "(--read_whole: no .npz/.pkl/.model files to read)" in nothing.text()


def test_broken_dataset_json_is_reported_with_the_file(workspace):
    task = write_synthetic_task(workspace.raw_task_dir("Task009_Json"), "ct", num_training=1, num_test=0)
    (task / "dataset.json").write_text("{ broken")
    report = run_doctor(_base_env(**environment_for(workspace)))
    assert str(task / "dataset.json") in _whats(report)


def test_task_at_the_wrong_level(workspace):
    (workspace.raw_data_base / "Task004_Hippocampus").mkdir()
    report = run_doctor(_base_env(**environment_for(workspace)))
    assert "wrong level" in _whats(report)
    assert str(workspace.nnUNet_raw_data / "Task004_Hippocampus") in _whats(report)


def test_two_workers_on_one_core_is_only_a_note(tmp_path, monkeypatch):
    from nnunet_explorer import doctor

    monkeypatch.setattr(doctor, "usable_cpu_count", lambda: 1)
    report = run_doctor(_base_env(**{ENV_WORKSPACE: str(tmp_path / "w"), "nnUNet_n_proc_DA": "2"}))
    assert report.ok and any("larger than the 1 CPU" in n.what for n in report.notes)
    report = run_doctor(_base_env(**{ENV_WORKSPACE: str(tmp_path / "w"), "nnUNet_n_proc_DA": "3"}))
    assert not report.ok


def test_too_many_default_processes_is_a_note_and_too_many_augmentation_workers_a_problem(workspace):
    """nnUNet_def_n_proc sizes v1's unpacking, export, evaluation and integrity-check pools, not the training's
    augmentation (nnUNet_n_proc_DA): above the core count it is a note, as its unset default of 8 is."""
    from nnunet_explorer.training.augmenter import usable_cpu_count

    many = str(usable_cpu_count() + 3)
    report = run_doctor(_base_env(**environment_for(workspace), nnUNet_def_n_proc=many))
    assert report.ok, _whats(report)
    note = [n.what for n in report.notes if n.what.startswith(f"nnUNet_def_n_proc={many}")]
    assert note and "nnUNet_n_proc_DA" in note[0] and "training slows down" not in note[0]
    # v1's nnUNet_plan_and_preprocess and nnUNet_predict size their pools with their own options
    assert "-tl/-tf" in note[0] and "--num_threads_*" in note[0] and "prediction" not in note[0]
    report = run_doctor(_base_env(**environment_for(workspace), nnUNet_n_proc_DA=many))
    assert not report.ok and f"nnUNet_n_proc_DA={many}" in _whats(report) and "training slows down" in _whats(report)


def test_a_gpu_this_torch_has_no_kernels_for_is_a_problem_before_its_first_convolution_fails(tmp_path, monkeypatch):
    """torch only warns about a GPU its build has no kernels for; the first convolution then fails far from the
    cause. doctor names the GPU, the build and the CUDA release that knows it (an RTX 3090 under torch 1.7's CUDA
    10.2 build, whose compute_37 PTX does not count), and is silent where the build runs on every GPU (a CUDA 11.8
    build with sm_70 and sm_86 kernels)."""
    import torch

    env = _base_env(nnUNet_raw_data_base=str(tmp_path / "raw"), nnUNet_preprocessed=str(tmp_path / "pre"),
                    RESULTS_FOLDER=str(tmp_path / "res"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: [(8, 6), (7, 0)][i])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: ["NVIDIA GeForce RTX 3090", "Tesla V100"][i])
    monkeypatch.setattr(torch.version, "cuda", "10.2")
    monkeypatch.setattr(torch.cuda, "get_arch_list",
                        lambda: ["sm_37", "sm_50", "sm_60", "sm_61", "sm_70", "sm_75", "compute_37"])
    report = run_doctor(env, verify_tasks=False)
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 7605)
    assert run_doctor(env, verify_tasks=False).versions["CUDA"] == "available (2 device(s), CUDA 10.2, cuDNN 7.6.5)"
    kernels = [p for p in report.problems if "has no kernels" in p.what]
    assert [p.what for p in kernels] == [
        f"GPU 0 (NVIDIA GeForce RTX 3090) has compute capability 8.6, for which torch {torch.__version__} (CUDA 10.2; "
        "kernels for sm_37 sm_50 sm_60 sm_61 sm_70 sm_75 compute_37) has no kernels: its first convolution fails"]
    assert kernels[0].fix.startswith("install a torch built for a CUDA release that knows this GPU (CUDA 11.1 or "
                                     "later)")
    monkeypatch.setattr(torch.version, "cuda", "11.8")
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_50", "sm_60", "sm_70", "sm_80", "sm_86", "sm_90"])
    again = run_doctor(env, verify_tasks=False)
    assert not [p for p in again.problems if "has no kernels" in p.what]

    def fails(index):  # CUDA counts the GPU but cannot start on it (a driver in a bad state)
        raise RuntimeError("CUDA error: unknown error\nCUDA kernel errors might be asynchronously reported")

    monkeypatch.setattr(torch.cuda, "get_device_capability", fails)
    broken = run_doctor(env, verify_tasks=False)
    assert "GPU 0: CUDA cannot start on it (CUDA error: unknown error)" in [p.what for p in broken.problems]

    def refuses():  # torch's own words for a cuDNN too new for a GPU of the machine
        raise RuntimeError("cuDNN version 91100 is not compatible with devices with SM < 7.5. Please install a version "
                           "of PyTorch with a compatible cuDNN version.")

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: (7, 0))
    monkeypatch.setattr(torch.backends.cudnn, "version", refuses)
    refused = run_doctor(env, verify_tasks=False)
    assert refused.versions["CUDA"] == "available (2 device(s), CUDA 11.8, cuDNN unusable)"
    assert [f.what for f in refused.problems if f.what.startswith("torch cannot use")] == [
        "torch cannot use the cuDNN it finds: cuDNN version 91100 is not compatible with devices with SM < 7.5. Please "
        "install a version of PyTorch with a compatible cuDNN version."]
