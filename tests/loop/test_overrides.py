"""Every v1 method a subclass overrides is called where v1 calls it: the run goes through the trainer's methods.

One subclass overrides each of v1's methods (each override records its name and calls ``super()``); a real
training run (``-c`` resume included) and its validation then show every override in the order v1 calls them.
"""
from __future__ import annotations

import pytest

from nnunet_explorer.network_training import nnUNetTrainerV2, register_trainer, unregister_trainer
from nnunet_explorer.run.run_training import after_initialize
from nnunet_explorer.walkthrough import walkthrough_for

from .conftest import tiny_request

# (method, arguments v1 passes) — every method of item 1 of the issue, and the ones initialize calls
OVERRIDDEN = ("initialize", "load_plans_file", "process_plans", "setup_DA_params", "get_basic_generators",
              "load_dataset", "do_split", "initialize_network", "initialize_optimizer_and_scheduler", "run_training",
              "run_iteration", "run_online_evaluation", "finish_online_evaluation", "update_train_loss_MA",
              "on_epoch_end", "plot_progress", "maybe_update_lr", "maybe_save_checkpoint", "update_eval_criterion_MA",
              "manage_patience", "save_checkpoint", "load_checkpoint", "load_checkpoint_ram", "load_latest_checkpoint",
              "validate", "predict_preprocessed_data_return_seg_and_softmax", "print_to_log_file",
              "save_debug_information", "plot_network_architecture")
CALLS: list[str] = []


def _spy(name: str):
    def method(self, *args, **kwargs):
        CALLS.append(name)
        return getattr(super(Spy, self), name)(*args, **kwargs)

    method.__name__ = name
    return method


Spy = type("Spy", (nnUNetTrainerV2,), {name: _spy(name) for name in OVERRIDDEN})


def _run(ws, **flags) -> None:
    request = tiny_request(trainer="Spy", single_threaded=True, **flags)
    pipeline = walkthrough_for(request, workspace=ws)
    pipeline.run(until="initialize")
    assert after_initialize(pipeline["trainer"], request) == 0


def _order(calls: list[str], names: tuple[str, ...]) -> list[str]:
    return [c for c in calls if c in names]


@pytest.mark.slow
def test_every_overridden_v1_method_is_called_where_v1_calls_it(loop_ws):
    register_trainer(Spy)
    try:
        CALLS.clear()
        _run(loop_ws, epochs=1, save_every=1)
        first = list(CALLS)
        CALLS.clear()
        _run(loop_ws, epochs=2, save_every=1, continue_training=True, disable_validation_inference=True)
        resumed = list(CALLS)
    finally:
        unregister_trainer("Spy")
    missing = set(OVERRIDDEN) - set(first) - set(resumed)
    assert not missing, f"overrides the run never called: {sorted(missing)}"
    # v1's initialize order, then -c, then run_training (V2 sets the start epoch's LR first)
    assert _order(first, ("initialize", "process_plans", "setup_DA_params", "get_basic_generators", "load_dataset",
                          "do_split", "initialize_network", "initialize_optimizer_and_scheduler")) == \
        ["initialize", "process_plans", "setup_DA_params", "get_basic_generators", "load_dataset", "do_split",
         "initialize_network", "initialize_optimizer_and_scheduler"]
    start = first.index("run_training")
    assert first[start + 1] == "maybe_update_lr" and "save_debug_information" in first[start:]
    # one epoch: the training iteration, the validation iteration with online evaluation, then v1's epoch end
    epoch = _order(first[start + 2:], ("run_iteration", "run_online_evaluation", "update_train_loss_MA",
                                       "on_epoch_end", "finish_online_evaluation", "plot_progress", "maybe_update_lr",
                                       "maybe_save_checkpoint", "update_eval_criterion_MA", "manage_patience"))
    assert epoch == ["run_iteration", "run_iteration", "run_online_evaluation", "update_train_loss_MA", "on_epoch_end",
                     "finish_online_evaluation", "plot_progress", "maybe_update_lr", "maybe_save_checkpoint",
                     "update_eval_criterion_MA", "manage_patience"]
    # validation after training goes through the trainer's validate and its prediction method
    assert first.index("validate") < first.index("predict_preprocessed_data_return_seg_and_softmax")
    # -c: load_latest_checkpoint -> load_checkpoint -> load_checkpoint_ram, before the loop runs
    assert _order(resumed, ("load_latest_checkpoint", "load_checkpoint", "load_checkpoint_ram", "run_training")) == \
        ["load_latest_checkpoint", "load_checkpoint", "load_checkpoint_ram", "run_training"]
    assert "validate" not in resumed  # --disable_validation_inference
