"""Trainer hierarchy: attribute provenance, what v1 ignores, the registry and process_plans edge cases."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from nnunet_explorer import network_training as tr
from nnunet_explorer.errors import ConfigurationError, PlansError
from nnunet_explorer.network_training.provenance import V1IgnoresWarning, ignored_settings
from nnunet_explorer.training.processed_plans import process_plans


class MyTrainer(tr.nnUNetTrainerV2):
    """v1's pattern: values assigned in __init__ after super().__init__."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_num_epochs = 7
        self.initial_lr = 3e-3


class OldStyleTrainer(tr.nnUNetTrainerV2):
    """A v1-style subclass that sets its values in __init__."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_batches_per_epoch = 11


def test_provenance_names_the_class_that_set_each_value_and_its_history():
    attrs = tr.attribute_provenance(tr.nnUNetTrainerV2)
    lr = attrs["initial_lr"]
    assert lr.value == 1e-2 and lr.set_by == "nnUNetTrainerV2"
    assert lr.chain == (("nnUNetTrainer", 3e-4), ("nnUNetTrainerV2", 1e-2))
    batches = attrs["num_batches_per_epoch"]
    assert batches.set_by == "NetworkTrainer" and batches.chain == (("NetworkTrainer", 250),)
    assert attrs.overridden == ()
    assert attrs.class_order == ("nnUNetTrainerV2", "nnUNetTrainer", "NetworkTrainer")
    # v1's literals are shown as such (no attribute changes them)
    momentum = attrs["momentum"]
    assert momentum.literal and momentum.value == 0.99
    assert momentum.set_by == "literal in nnUNetTrainerV2.initialize_optimizer_and_scheduler"
    assert attrs["clip_grad_norm"].set_by == "literal in nnUNetTrainerV2.run_iteration"
    assert attrs["poly_exponent"].set_by == "literal in nnUNetTrainerV2.maybe_update_lr"


def test_user_subclass_overrides_are_flagged():
    attrs = MyTrainer("x.pkl", 0).provenance()
    assert set(attrs.overridden) == {"max_num_epochs", "initial_lr"}
    assert attrs["max_num_epochs"].chain[-1] == ("MyTrainer", 7)
    assert attrs["max_num_epochs"].chain[-2] == ("nnUNetTrainerV2", 1000)  # V2's __init__ assigns it again
    assert attrs["max_num_epochs"].chain[0] == ("NetworkTrainer", 1000)
    text = attrs.summary()
    assert "max_num_epochs = 7  (set by MyTrainer" in text and "[overridden by you]" in text
    html = attrs._repr_html_()
    assert "you overrode: max_num_epochs, initial_lr" in html and "<script" not in html


class HookTrainer(tr.nnUNetTrainerV2):
    def maybe_update_lr(self, epoch=None):
        self.optimizer.param_groups[0]["lr"] = 0.5


def test_replaced_hooks_are_listed():
    attrs = HookTrainer("x.pkl", 0).provenance()
    assert attrs.overridden_hooks == ("maybe_update_lr",)
    assert ("initialize_network", "nnUNetTrainerV2", False) in attrs.hooks
    assert "maybe_update_lr from HookTrainer [yours]" in attrs.summary()


def test_values_set_in_init_are_found_and_attributed_to_the_user():
    attrs = OldStyleTrainer("x.pkl", 0).provenance()
    batches = attrs["num_batches_per_epoch"]
    assert batches.value == 11 and batches.set_by == "OldStyleTrainer" and batches.user_override
    assert batches.chain == (("NetworkTrainer", 250), ("OldStyleTrainer", 11))


def test_class_attributes_that_v1s_init_overwrites_are_named_when_the_class_is_defined():
    with pytest.warns(V1IgnoresWarning, match="max_num_epochs as a class attribute") as caught:
        class ClassAttrTrainer(tr.nnUNetTrainerV2):
            max_num_epochs = 3
    assert "self.max_num_epochs = ..." in str(caught[0].message)
    assert ClassAttrTrainer("x.pkl", 0).max_num_epochs == 1000  # as in v1: __init__ overwrites it


def test_a_value_v1_never_reads_is_ignored_and_named_with_the_method_that_holds_it():
    with pytest.warns(V1IgnoresWarning, match="v1 1.7.1 ignores momentum: 0.99 is a literal in "
                                              "nnUNetTrainerV2.initialize_optimizer_and_scheduler"):
        class MyMom(tr.nnUNetTrainerV2):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.momentum = 0.9
    attrs = MyMom("x.pkl", 0).provenance()
    assert attrs["momentum"].value == 0.99 and attrs["momentum"].literal and not attrs["momentum"].user_override
    assert "initialize_optimizer_and_scheduler" in attrs["momentum"].note
    assert any("momentum" in s.message for s in attrs.ignored)
    optimizer_built = MyMom("x.pkl", 0)
    optimizer_built.optimizer = SimpleNamespace(param_groups=[{"momentum": 0.99, "nesterov": True}])
    assert optimizer_built.provenance()["momentum"].value == 0.99  # read back from the optimizer in use


def test_overriding_the_method_that_holds_a_literal_is_not_flagged():
    with warnings.catch_warnings():
        warnings.simplefilter("error", V1IgnoresWarning)

        class Momentum09(tr.nnUNetTrainerV2):  # v1's own nnUNetTrainerV2_momentum09 pattern
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.momentum = 0.9

            def initialize_optimizer_and_scheduler(self):
                import torch

                self.optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr, momentum=self.momentum)
                self.lr_scheduler = None
    attrs = Momentum09("x.pkl", 0).provenance()
    assert attrs["momentum"].set_by == "Momentum09.initialize_optimizer_and_scheduler (yours)"
    assert not attrs.ignored


def test_a_value_process_plans_overwrites_is_named():
    with pytest.warns(V1IgnoresWarning, match="v1 1.7.1 overwrites batch_size: nnUNetTrainer.process_plans assigns"):
        class BigBatch(tr.nnUNetTrainerV2):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.batch_size = 4
    assert [s.name for s in ignored_settings(BigBatch)] == ["batch_size"]


def test_the_explorers_former_hooks_are_refused_by_name():
    for name in ("build_network", "build_loss", "build_optimizer", "learning_rate"):
        with pytest.raises(ConfigurationError, match=f"defines {name}, which nnU-Net v1 trainers do not have"):
            type("Former", (tr.nnUNetTrainerV2,), {name: lambda self, *a, **k: None})


def test_override_records_its_source_and_rejects_unknown_names():
    trainer = tr.nnUNetTrainerV2("x.pkl", 0)
    tr.override(trainer, "--max_num_epochs", max_num_epochs=2)
    origin = trainer.provenance()["max_num_epochs"]
    assert origin.value == 2 and origin.set_by == "--max_num_epochs" and origin.user_override
    assert tr.nnUNetTrainerV2("x.pkl", 0).max_num_epochs == 1000  # other instances are untouched
    with pytest.raises(ConfigurationError, match="not a trainer hyperparameter"):
        tr.override(trainer, "x", max_epochs=2)


def test_registry_finds_registered_user_trainers_and_lists_known_ones():
    tr.register_trainer(MyTrainer)
    try:
        assert tr.find_trainer_class("MyTrainer") is MyTrainer
        assert "MyTrainer" in tr.known_trainers()
        with pytest.raises(ConfigurationError) as info:
            tr.find_trainer_class("MyTrainr")
        assert "Did you mean: MyTrainer" in str(info.value)
        assert "Known trainers are: NetworkTrainer, nnUNetTrainer, nnUNetTrainerV2" in str(info.value)
    finally:
        tr.unregister_trainer("MyTrainer")
    assert "MyTrainer" not in tr.known_trainers()


def test_registry_refuses_non_trainers_and_builtin_names():
    with pytest.raises(ConfigurationError, match="not a trainer class"):
        tr.register_trainer(dict)

    class nnUNetTrainerV2(tr.nnUNetTrainerV2):  # noqa: N801 - deliberately clashing name
        pass

    with pytest.raises(ConfigurationError, match="built-in trainer name"):
        tr.register_trainer(nnUNetTrainerV2)


def test_trainers_from_a_file_are_registered(tmp_path):
    source = tmp_path / "my_trainers.py"
    source.write_text("from nnunet_explorer.network_training import nnUNetTrainerV2\n"
                      "class FileTrainer(nnUNetTrainerV2):\n    def __init__(self, *a, **k):\n"
                      "        super().__init__(*a, **k)\n        self.max_num_epochs = 3\n")
    try:
        assert tr.load_trainers_from_file(source) == ["FileTrainer"]
        assert tr.find_trainer_class("FileTrainer")("x.pkl", 0).max_num_epochs == 3
    finally:
        tr.unregister_trainer("FileTrainer")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ConfigurationError, match="defines no trainer class"):
        tr.load_trainers_from_file(empty)


def test_v1_class_repr_only_for_the_mirrored_trainers():
    assert tr.v1_class_repr(tr.nnUNetTrainerV2) == \
        "<class 'nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2'>"
    # inherits the mark but is not a v1 class
    assert "nnunet_explorer" in tr.v1_class_repr(tr.nnUNetTrainerV2_explore)
    assert "MyTrainer" in tr.v1_class_repr(MyTrainer)


def _plans(num_stages: int = 1, **stage_changes) -> dict:
    stage = {"batch_size": 2, "num_pool_per_axis": [2, 3, 3], "patch_size": [16, 40, 40],
             "do_dummy_2D_data_aug": False, "pool_op_kernel_sizes": [[1, 2, 2], [2, 2, 2], [2, 2, 2]],
             "conv_kernel_sizes": [[1, 3, 3]] + [[3, 3, 3]] * 3}
    stage.update(stage_changes)
    return {"plans_per_stage": {i: dict(stage) for i in range(num_stages)},
            "dataset_properties": {"intensityproperties": None}, "normalization_schemes": {0: "CT"},
            "base_num_features": 32, "num_modalities": 1, "num_classes": 2, "all_classes": [1, 2],
            "use_mask_for_norm": {0: False}, "keep_only_largest_region": None, "min_region_size_per_class": None,
            "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2], "data_identifier": "nnUNetData_plans_v2.1"}


def test_process_plans_rules():
    processed = process_plans(_plans())
    assert processed.num_classes == 3  # background added
    assert processed.threeD and processed.conv_per_stage == 2 and processed.stage == 0
    with pytest.raises(PlansError, match="2 stages, so the stage must be given"):
        process_plans(_plans(2))
    assert process_plans(_plans(2), stage=1).stage == 1


def test_the_trainers_process_plans_sets_v1s_attributes_with_v1s_types():
    trainer = tr.nnUNetTrainerV2("x.pkl", 0)
    trainer.process_plans(_plans())
    assert trainer.num_classes == 3 and trainer.threeD and trainer.stage == 0 and trainer.batch_size == 2
    assert isinstance(trainer.patch_size, np.ndarray) and trainer.patch_size.tolist() == [16, 40, 40]
    # kernel sizes stay v1's lists of lists: a variant may edit them in place (nnUNetTrainerV2_allConv3x3)
    trainer.net_conv_kernel_sizes[0][0] = 3
    assert trainer.net_conv_kernel_sizes[0] == [3, 3, 3]
    with pytest.raises(PlansError, match="2 stages, so the stage must be given"):
        tr.nnUNetTrainerV2("x.pkl", 0).process_plans(_plans(2))


def test_process_plans_fallbacks_for_old_plans():
    plans = _plans()
    del plans["plans_per_stage"][0]["pool_op_kernel_sizes"]
    del plans["plans_per_stage"][0]["conv_kernel_sizes"]
    del plans["transpose_forward"]
    processed = process_plans(plans)
    # v1's rule: pool by 2 on the axes that still have poolings left (num_pool_per_axis [2, 3, 3])
    assert processed.net_num_pool_op_kernel_sizes == ((1, 2, 2), (2, 2, 2), (2, 2, 2))
    assert processed.net_conv_kernel_sizes == ((3, 3, 3),) * 4
    assert processed.transpose_forward == (0, 1, 2) and len(processed.warnings) == 3
