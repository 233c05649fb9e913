"""The training walkthrough end to end on a task v1 planned and preprocessed, plus every bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnunet_explorer import network_training as tr
from nnunet_explorer.errors import ConfigurationError, PlansError
from nnunet_explorer.walkthrough import TRAINING_STEP_NAMES, training_walkthrough, walkthrough_for
from nnunet_explorer.training.segmentation_network import SegmentationNetwork

TASK_ID = 901


@pytest.fixture(scope="module")
def walked(ct_workspace):
    """One pipeline run through `iteration` (shared by the tests that only look at it)."""
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, workspace=ct_workspace,
                                    max_num_epochs=4)
    pipeline.run(until="iteration")
    return pipeline


def test_every_step_runs_and_renders_html_and_text(walked):
    assert tuple(walked.results) == TRAINING_STEP_NAMES
    for name, result in walked.results.items():
        assert result.ok, name
        line = repr(result)
        assert "\n" not in line and line.startswith(f"<StepResult {name} [ok")
        card = result._repr_html_()
        assert f"<b>{name}</b>" in card and "<script" not in card and "</details>" in card
        assert result.v1 is not None, f"{name} should name the v1 object it mirrors"
        assert result.v1.url.startswith("https://github.com/MIC-DKFZ/nnUNet/blob/v1.7.1/nnunet/")
    summary = str(walked.summary(run=False))
    assert all(f"{name}: ok" in summary for name in TRAINING_STEP_NAMES)
    page = walked.report_html()
    assert page.count("class='nnx-card nnx-ok'") == len(TRAINING_STEP_NAMES)


def test_steps_carry_v1_values(walked):
    processed = walked["plans_processed"]
    config = walked["configuration"]
    assert config.batch_dice is False and config.stage == 0  # 3d_fullres on one-stage plans: sample dice
    assert "I am using sample dice + CE loss" in config.printed_text
    weights = walked["deep_supervision"].weights
    n = len(processed.net_num_pool_op_kernel_sizes)
    expected = np.array([1 / 2 ** i for i in range(n)])
    expected[-1] = 0
    np.testing.assert_allclose(weights, expected / expected.sum())
    assert walked["optimizer"].param_groups[0]["lr"] == 1e-2
    lrs = walked["lr_schedule"].lrs
    assert len(lrs) == 4  # the explorer knob max_num_epochs=4
    np.testing.assert_allclose(lrs, [1e-2 * (1 - e / 4) ** 0.9 for e in range(4)])
    origin = walked["trainer"].provenance()["max_num_epochs"]
    assert origin.value == 4 and origin.set_by == "--max_num_epochs"


def test_initialize_is_one_call_of_the_trainer_recorded_in_v1s_order(walked):
    trace = walked["initialize"].trace
    top = [c.name for c in trace.calls]
    assert top == ["initialize"]
    names = trace.names()
    order = ["initialize", "load_plans_file", "process_plans", "setup_DA_params", "get_basic_generators",
             "load_dataset", "do_split", "initialize_network", "initialize_optimizer_and_scheduler"]
    assert [n for n in names if n in order] == order
    process_plans = trace.find("process_plans")[0]
    assert {"batch_size", "patch_size", "num_classes", "net_num_pool_op_kernel_sizes"} <= set(process_plans.set_attributes)
    assert process_plans.depth == 1 and process_plans.defined_in == "nnUNetTrainer"
    assert "network" in trace.find("initialize_network")[0].set_attributes
    assert {"tr_gen", "val_gen", "ds_loss_weights", "loss"} <= set(trace.find("initialize")[0].set_attributes)
    # the looks read what initialize set, on the same trainer object
    trainer = walked["trainer"]
    assert walked["network"] is trainer.network and walked["loss"] is trainer.loss
    assert walked["dataloader"] is trainer.dl_tr and walked["optimizer"] is trainer.optimizer


def test_batch_and_iteration_have_v1_shapes(walked):
    processed = walked["plans_processed"]
    batch = walked["batch"]
    assert tuple(batch.data.shape) == (processed.batch_size, processed.num_input_channels, *processed.patch_size)
    assert batch.data.dtype == torch.float32
    assert [tuple(t.shape[2:]) for t in batch.target] == list(walked["deep_supervision"].target_shapes)
    assert batch.loaded_shape[2:] == walked["augmentation_parameters"].basic_generator_patch_size
    assert set(np.unique(batch.target[0].numpy())) <= {0.0, 1.0, 2.0}
    record = walked["iteration"]
    assert math.isfinite(record.loss) and record.did_backprop and record.learning_rate == 1e-2
    assert record.clip_norm == 12.0
    assert len(record.output_shapes) == len(processed.net_num_pool_op_kernel_sizes)


def test_the_iteration_card_runs_v1s_fp16_branch_on_the_cpu(walked):
    """On a CPU v1 trains in float32; the card still shows its GradScaler branch, labelled a demonstration."""
    from nnunet_explorer.teaching import set_language

    look = walked["iteration"]
    lesson = look.mixed_precision
    assert not look.fp16_used and look.device == "cpu" and lesson is not None and lesson.device == "cpu"
    assert lesson.output_dtype == "float16" and not lesson.scaler_from_trainer
    assert math.prod(lesson.input_shape[2:]) <= walked.result("iteration").params["fp16_cpu_voxels"]
    c, o = lesson.clean, lesson.overflow
    assert c.weights_changed and c.norm_scaled == pytest.approx(c.scale * c.norm_unscaled, rel=1e-3)
    assert o.found_inf and not o.weights_changed and o.scale_after == o.scale / 2  # skipped, scale halved
    card = walked.result("iteration")._repr_html_()
    section = card[card.index("class='nnx-fp16'"):]
    for words in ("demonstration on the CPU", "GradScaler", "scale(l).backward()", "unscale_", "clip_grad_norm_",
                  f"S = {c.scale:g}", f"S {o.scale:g} -&gt; {o.scale_after:g}", "smallest normal"):
        assert words in section, words
    assert "GradScaler scale" in look.summary().splitlines()[1]  # the console line
    set_language("zh")
    try:
        zh = walked.result("iteration")._repr_html_()
    finally:
        set_language(None)
    zh_section = zh[zh.index("class='nnx-fp16'"):]
    assert "混合精度" in zh_section and "CPU 上的演示" in zh_section and "unscale_" in zh_section
    assert f"S {o.scale:g} -&gt; {o.scale_after:g}" in zh_section


def test_rerunning_the_batch_with_a_seed_invalidates_only_downstream(walked):
    network = walked["network"]
    first = walked["batch"].data.clone()
    loss = walked["iteration"].loss
    walked.rerun("batch", seed=7)
    assert "iteration" not in walked and walked["network"] is network
    assert walked.result("batch").seed == 7
    assert not torch.equal(walked["batch"].data, first)
    walked.rerun("batch", seed=walked.step("batch").seed)  # back to the original seed: the same batch again
    assert torch.equal(walked["batch"].data, first)
    # the iteration puts the weights back after the step, so it gives the same loss when re-run on the same batch
    assert walked["iteration"].loss == pytest.approx(loss, rel=1e-6)


def test_looking_leaves_the_trainer_and_the_random_streams_as_they_were(ct_workspace):
    """batch and iteration are looks: the trainer's weights, optimizer and the RNGs are as before them."""
    p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, workspace=ct_workspace, max_num_epochs=4)
    p.run(until="lr_schedule")
    trainer = p["trainer"]
    weights = {k: v.clone() for k, v in trainer.network.state_dict().items()}
    state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    p.run(until="iteration")
    assert all(trainer.network.state_dict()[k].equal(v) for k, v in weights.items())
    assert not trainer.optimizer.state_dict()["state"]  # no momentum buffer: no step was kept
    assert np.array_equal(np.random.get_state()[1], state[0]) and torch.equal(torch.get_rng_state(), state[1])


def test_compressed_data_is_not_unpacked(ct_workspace):
    p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, workspace=ct_workspace,
                             use_compressed_data=True, disable_saving=True)
    assert p.run(until="dataset").output.unpacked == ()
    attrs = p["trainer"].provenance()
    assert attrs["save_final_checkpoint"].value is False
    assert attrs["save_final_checkpoint"].set_by == "--disable_saving"
    assert p["trainer"].unpack_data is False


def test_user_trainer_flows_through_the_walkthrough(ct_workspace):
    class ShortTrainer(tr.nnUNetTrainerV2):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.max_num_epochs = 3
            self.initial_lr = 5e-3

    tr.register_trainer(ShortTrainer)
    try:
        p = training_walkthrough("3d_fullres", "ShortTrainer", TASK_ID, 0, workspace=ct_workspace)
        assert p.run(until="lr_schedule").output.lrs[0] == 5e-3
        assert set(p["trainer"].provenance().overridden) == {"max_num_epochs", "initial_lr"}
        assert "<class '" in p["configuration"].printed_text and "ShortTrainer" in p["configuration"].printed_text
    finally:
        tr.unregister_trainer("ShortTrainer")


@pytest.mark.parametrize("network, trainer, fold, error, step, text", [
    ("3d", "nnUNetTrainerV2", 0, ConfigurationError, "configuration", "network can only be one of the following"),
    ("3d_fullres", "nnUNetTrainerV9", 0, ConfigurationError, "configuration", "Known trainers are: NetworkTrainer"),
    ("3d_lowres", "nnUNetTrainerV2", 0, ConfigurationError, "configuration", "Run 3d_fullres instead"),
    ("3d_fullres", "nnUNetTrainerV2", "x", ConfigurationError, "parsed_arguments", "neither a number nor 'all'"),
    ("3d_fullres", "nnUNetTrainerV2", -1, ConfigurationError, "parsed_arguments", "fold -1 is negative"),
    ("3d_fullres", "NetworkTrainer", 0, ConfigurationError, "trainer_class", "not derived from nnUNetTrainer"),
    ("3d_cascade_fullres", "nnUNetTrainerV2", 0, ConfigurationError, "configuration", "only applies if there is"),
])
def test_bad_inputs_fail_at_the_right_step(ct_workspace, network, trainer, fold, error, step, text):
    p = training_walkthrough(network, trainer, TASK_ID, fold, workspace=ct_workspace)
    with pytest.raises(error) as info:
        p.run(until="trainer")
    assert info.value.step == step and f"[step {step}]" in str(info.value)
    assert text in str(info.value) and info.value.fix
    assert p.failed is not None and p.failed.name == step
    assert f"Stopped: step '{step}' failed" in str(p.summary(run=False))


def test_the_original_nnUNetTrainer_is_walked_as_v1_builds_it(ct_workspace):
    p = training_walkthrough("3d_fullres", "nnUNetTrainer", TASK_ID, 0, workspace=ct_workspace)
    setup = p.run(until="augmentation_parameters").output
    assert setup.data_aug_params["do_elastic"] is True  # the base trainer's parameters (no V2 changes)
    assert p["trainer"].provenance()["initial_lr"].value == 3e-4
    assert p.run(until="deep_supervision").output.weights == (1.0,)  # no deep supervision
    assert type(p.run(until="optimizer").output).__name__ == "Adam"
    assert p["trainer"].lr_scheduler.__class__.__name__ == "ReduceLROnPlateau"


def test_missing_plans_say_which_command_makes_them(workspace):
    (workspace.nnUNet_raw_data / "Task555_OnlyRaw").mkdir(parents=True)
    p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 555, 0, workspace=workspace)
    with pytest.raises(PlansError) as info:
        p.run(until="configuration")
    assert info.value.step == "configuration"
    assert "nnunet-explorer plan_and_preprocess -t 555" in info.value.fix


class OneOutputNet(SegmentationNetwork):
    """A network that ignores deep supervision: one output only."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(channels, classes, 1)
        self.conv_op, self.num_classes, self.do_ds = torch.nn.Conv3d, classes, True

    def forward(self, x):
        return self.conv(x)


class PlainModule(torch.nn.Module):
    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(channels, classes, 1)

    def forward(self, x):
        return self.conv(x)


def _error_with_network(workspace, network_class) -> ConfigurationError:
    """Run the walkthrough to ``network`` with a trainer whose ``initialize_network`` builds ``network_class``."""
    class BringsItsOwn(tr.nnUNetTrainerV2):  # v1's way to bring a network: override initialize_network
        def initialize_network(self):
            self.network = network_class(self.num_input_channels, self.num_classes)

    tr.register_trainer(BringsItsOwn)
    try:
        p = training_walkthrough("3d_fullres", "BringsItsOwn", TASK_ID, 0, workspace=workspace)
        with pytest.raises(ConfigurationError) as info:
            p.run(until="network")
    finally:
        tr.unregister_trainer("BringsItsOwn")
    return info.value


def test_a_network_that_is_not_a_segmentation_network_is_refused_at_initialize(ct_workspace):
    """v1's V2.initialize ends with assert isinstance(self.network, (SegmentationNetwork, nn.DataParallel))."""
    error = _error_with_network(ct_workspace, PlainModule)
    assert error.step == "initialize"
    assert "BringsItsOwn.initialize_network built a network v1 refuses" in error.cause
    assert "not a SegmentationNetwork" in error.cause and "SegmentationNetwork" in error.fix


def test_custom_network_that_breaks_the_contract_is_explained(ct_workspace):
    error = _error_with_network(ct_workspace, OneOutputNet)
    message = str(error)
    assert error.step == "network" and "network contract" in message
    assert "with do_ds=True the network returned a Tensor" in message


def test_unknown_task_id_fails_at_task_name(ct_workspace):
    from nnunet_explorer.errors import TaskError

    p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 999, 0, workspace=ct_workspace)
    with pytest.raises(TaskError) as info:
        p.run(until="configuration")
    assert info.value.step == "task_name" and "Task901_SynthCT" in str(info.value)  # lists the tasks that exist


def test_walkthrough_from_an_nnUNet_train_command_line(ct_workspace):
    from nnunet_explorer.cli import build_parser
    from nnunet_explorer.commands.run_training import request_from_namespace

    ns = build_parser().parse_args(["train", "3d_fullres", "nnUNetTrainerV2", "901", "all", "--fp32", "-p",
                                    "nnUNetPlansv2.1", "--max_num_epochs", "2", "--device", "cpu"])
    p = walkthrough_for(request_from_namespace(ns), workspace=ct_workspace)
    args = p.run(until="parsed_arguments").output
    assert args.fp32 and args.fold == "all" and not args.run_mixed_precision
    trainer = p.run(until="trainer").output
    assert trainer.fp16 is False and trainer.fold == "all" and trainer.max_num_epochs == 2
    assert str(trainer.output_folder).endswith("nnUNetTrainerV2__nnUNetPlansv2.1/all")
    assert trainer.device == torch.device("cpu")


def test_bad_epoch_knob_is_refused(ct_workspace):
    with pytest.raises(ConfigurationError, match="max_num_epochs must be at least 1"):
        training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, workspace=ct_workspace, max_num_epochs=0)


def test_the_device_is_decided_once_and_cuda_without_cuda_is_an_error(ct_workspace):
    if torch.cuda.is_available():
        p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, workspace=ct_workspace, device="cuda")
        assert p.run(until="trainer").output.device.type == "cuda"
    else:
        with pytest.raises(ConfigurationError, match="cuda"):
            training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, workspace=ct_workspace, device="cuda")
    p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, workspace=ct_workspace, device="cpu")
    assert p.run(until="trainer").output.device == torch.device("cpu")


def test_the_walkthrough_calls_the_trainers_v1_methods_and_honours_overrides(ct_workspace):
    calls = []

    class Overriding(tr.nnUNetTrainerV2):
        def process_plans(self, plans):
            calls.append("process_plans")
            super().process_plans(plans)
            self.base_num_features = 8  # a v1-style change of an attribute process_plans set

        def setup_DA_params(self):
            calls.append("setup_DA_params")
            super().setup_DA_params()
            self.data_aug_params["do_mirror"] = False

        def initialize_network(self):
            calls.append("initialize_network")
            super().initialize_network()

        def initialize_optimizer_and_scheduler(self):
            calls.append("initialize_optimizer_and_scheduler")
            self.optimizer = torch.optim.SGD(self.network.parameters(), 0.1, momentum=0.9)
            self.lr_scheduler = None

        def maybe_update_lr(self, epoch=None):
            calls.append(("maybe_update_lr", epoch))
            self.optimizer.param_groups[0]["lr"] = 0.25

    tr.register_trainer(Overriding)
    try:
        p = training_walkthrough("3d_fullres", "Overriding", TASK_ID, 0, workspace=ct_workspace, max_num_epochs=3)
        p.run(until="optimizer")
        assert calls == ["process_plans", "setup_DA_params", "initialize_network", "initialize_optimizer_and_scheduler"]
        assert p["plans_processed"].base_num_features == 8
        assert p["network"].base_num_features == 8
        assert p["augmentation_parameters"].data_aug_params["do_mirror"] is False
        assert p["optimizer"].param_groups[0]["lr"] == 0.1 and p["optimizer"].defaults["momentum"] == 0.9
        assert p["trainer"].network is p["network"] and p["trainer"].loss is p["loss"]
        # the schedule look asks the trainer's own maybe_update_lr, as run_training would, on a stand-in optimizer
        assert list(p.run(until="lr_schedule").output.lrs) == [0.25, 0.25, 0.25]
        assert calls[-3:] == [("maybe_update_lr", 0), ("maybe_update_lr", None), ("maybe_update_lr", None)]
        assert p["optimizer"].param_groups[0]["lr"] == 0.1  # the trainer's own optimizer is untouched
    finally:
        tr.unregister_trainer("Overriding")
