"""`--augment_on {auto,workers,device}`: the flag, its checks, the one hook that applies it, and a CPU training run."""
from __future__ import annotations

import pytest
import torch

from nnunet_explorer.cli import main
from nnunet_explorer.errors import ConfigurationError, TrainingError
from nnunet_explorer.training.augmenter import MultiProcessAugmenter, SingleThreadedAugmenter
from nnunet_explorer.training.device_augmenter import DeviceAugmenter, choose_augmentation

from .conftest import fold_folder, log_text, tiny_request, tiny_trainer

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")
MPA = MultiProcessAugmenter.__new__(MultiProcessAugmenter)  # only its type is looked at


def test_the_flag_is_parsed_and_carried_as_a_typed_option():
    from nnunet_explorer.commands.run_training import request_from_namespace
    from nnunet_explorer.commands import train

    parser = __import__("argparse").ArgumentParser()
    train.add_arguments(parser)
    base = ["3d_fullres", "nnUNetTrainerV2", "901", "0", "--device", "cpu"]
    assert request_from_namespace(parser.parse_args(base)).options.augment_on == "auto"
    assert request_from_namespace(parser.parse_args(base + ["--augment_on", "device"])).options.augment_on == "device"
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--augment_on", "gpu"])
    with pytest.raises(ConfigurationError, match="--deterministic"):
        request_from_namespace(parser.parse_args(base + ["--augment_on", "device", "--deterministic"]))
    with pytest.raises(ConfigurationError, match="--single_threaded"):
        request_from_namespace(parser.parse_args(base + ["--augment_on", "device", "--single_threaded"]))


@pytest.mark.parametrize("requested,device,deterministic,single,gen,path,why", [
    ("auto", CUDA, False, False, MPA, "device", "the training device is cuda"),
    ("auto", CPU, False, False, MPA, "workers", "not CUDA"),
    ("auto", CUDA, True, True, SingleThreadedAugmenter(None, None), "in-process", "--deterministic"),
    ("auto", CUDA, False, True, SingleThreadedAugmenter(None, None), "in-process", "--single_threaded"),
    ("auto", CUDA, False, False, object(), "workers", "its own generator"),
    ("workers", CUDA, False, False, MPA, "workers", None),
    ("device", CPU, False, False, MPA, "device", None),
])
def test_auto_chooses_the_device_path_on_cuda_only(requested, device, deterministic, single, gen, path, why):
    choice = choose_augmentation(requested, device=device, deterministic=deterministic, single_threaded=single,
                                 tr_gen=gen)
    assert choice.path == path
    assert (why is None and choice.reason is None) or why in choice.reason  # auto says why, and the right why


def test_device_with_a_trainers_own_generator_is_an_error_that_says_so():
    with pytest.raises(TrainingError, match="its own generator") as info:
        choose_augmentation("device", device=CPU, deterministic=False, single_threaded=False, tr_gen=object())
    assert "--augment_on workers" in info.value.fix


def test_the_hook_swaps_both_generators_and_stops_the_old_workers(loop_ws):
    trainer, _ = tiny_trainer(loop_ws)  # auto on the CPU: the workers' MultiProcessAugmenters
    old_tr, old_val = trainer.tr_gen, trainer.val_gen
    assert isinstance(old_tr, MultiProcessAugmenter)
    next(old_tr)  # workers running: the swap must stop them
    pids = old_tr.worker_pids
    trainer.augment_on = "device"
    choice = trainer.explorer.choose_augmentation(trainer, single_threaded=False)
    assert choice.path == "device"
    assert isinstance(trainer.tr_gen, DeviceAugmenter) and isinstance(trainer.val_gen, DeviceAugmenter)
    assert not old_tr.running and not old_val.running
    import psutil

    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert trainer.tr_gen.seeds == old_tr.seeds and trainer.tr_gen.num_processes == old_tr.num_processes
    batch = next(trainer.tr_gen)
    assert isinstance(batch["data"], torch.Tensor) and isinstance(batch["target"], list)
    trainer.tr_gen.shutdown()
    trainer.val_gen.shutdown()
    log = log_text(fold_folder(loop_ws))
    assert "augmentation: random draws in" in log and "SpatialTransform" in log and "on the device" in log


def test_train_with_augment_on_device_trains_on_the_cpu_and_logs_the_path(loop_ws, capsys):
    argv = ["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--augment_on", "device", "--max_num_epochs", "1",
            "--num_batches_per_epoch", "2", "--num_val_batches_per_epoch", "1", "--device", "cpu",
            "--disable_validation_inference"]
    assert main(argv) == 0
    folder = fold_folder(loop_ws)
    log = log_text(folder)
    assert "augmentation: random draws in" in log and "arithmetic on cpu (--augment_on device)" in log
    assert "SpatialTransform" in log and "train loss : " in log
    assert (folder / "model_final_checkpoint.model").is_file()


def test_augment_on_device_with_deterministic_exits_nonzero_with_the_fix(loop_ws, capsys):
    argv = ["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--augment_on", "device", "--deterministic",
            "--max_num_epochs", "1", "--device", "cpu"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "--augment_on device cannot be combined with --deterministic" in err
    assert "--augment_on workers" in err  # the fix
    assert not list(fold_folder(loop_ws).glob("training_log_*.txt"))  # refused before anything ran


def test_auto_on_the_cpu_keeps_the_workers_and_logs_why(loop_ws):
    from nnunet_explorer.walkthrough import walkthrough_for

    request = tiny_request()
    assert request.options.augment_on == "auto"
    pipeline = walkthrough_for(request, workspace=loop_ws)
    pipeline.run(until="initialize")
    trainer = pipeline["trainer"]
    try:
        assert isinstance(trainer.tr_gen, MultiProcessAugmenter)
        log = log_text(fold_folder(loop_ws))
        assert f"augmentation: batchgenerators in {trainer.tr_gen.num_processes} worker process(es) (--augment_on " \
               "auto: the training device is cpu, not CUDA)" in log
    finally:
        trainer.tr_gen.shutdown()
        trainer.val_gen.shutdown()


@pytest.mark.parametrize("augment_on", ["workers", "device", "in-process"])
def test_the_batch_look_shows_the_runs_transforms_and_where_they_compute(loop_ws, augment_on):
    import dataclasses

    from nnunet_explorer.training.augmenter import SingleThreadedAugmenter
    from nnunet_explorer.walkthrough import walkthrough_for

    if augment_on == "in-process":
        request = tiny_request(single_threaded=True)
    else:
        base = tiny_request(single_threaded=False)
        request = dataclasses.replace(base, options=dataclasses.replace(base.options, augment_on=augment_on))
    pipeline = walkthrough_for(request, workspace=loop_ws)
    try:
        pipeline.run(until="batch")
        trainer, look = pipeline["trainer"], pipeline["batch"]
        names = [t.split("(")[0] for t in look.transforms]
        if augment_on == "in-process":
            assert isinstance(trainer.tr_gen, SingleThreadedAugmenter)
            assert "batchgenerators in the training process itself" in look.summary()
        elif augment_on == "device":
            assert isinstance(trainer.tr_gen, DeviceAugmenter)
            assert names == [step.name for step in trainer.tr_gen.chain.steps]  # the run's own list
            assert "the run computes these transforms on cpu" in look.summary()
        else:
            assert isinstance(trainer.tr_gen, MultiProcessAugmenter)
            assert names == [type(t).__name__ for t in trainer.tr_gen.transform.transforms]
            assert (f"with batchgenerators in {trainer.tr_gen.num_processes} worker process(es), as v1"
                    in look.summary())
    finally:
        trainer = pipeline["trainer"] if "trainer" in pipeline else None
        for generator in (getattr(trainer, "tr_gen", None), getattr(trainer, "val_gen", None)):
            if generator is not None:
                generator.shutdown()
