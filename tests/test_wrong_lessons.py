"""The wrong lessons a student of the blog found (reviews/teaching-2026-12.md), each pinned so it cannot come back.

1. the blog's KiTS19 plans shown as v1's planner's: ``tests/views/test_plans_card*`` and the KiTS19 report tests;
2. hyperparameters v1 hard-codes taught as ``__init__`` settings;
3. a pitfall box that contradicts what the tool does;
4. the epoch-end card teaching an order v1 does not have, and a Dice from a training iteration;
5. ``--until validate`` ignoring ``--max_num_epochs``: ``tests/walkthrough/test_run_steps.py::test_until_validate_from_the_cli``.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
V1_EPOCH_END_ORDER = ("finish_online_evaluation", "plot_progress", "maybe_update_lr", "maybe_save_checkpoint",
                      "update_eval_criterion_MA", "manage_patience")


def _in_order(text: str, names) -> bool:
    positions = [text.find(n) for n in names]
    return -1 not in positions and positions == sorted(positions)


# --- 2: v1's literals ------------------------------------------------------------------------------------------
def test_the_provenance_table_marks_v1s_literals_and_names_the_method_to_override():
    from nnunet_explorer.network_training import nnUNetTrainerV2
    from nnunet_explorer.network_training.provenance import attribute_provenance

    table = attribute_provenance(nnUNetTrainerV2)
    rows = {a.name: a for a in table.attributes}
    for name, method in (("momentum", "initialize_optimizer_and_scheduler"), ("nesterov",
                                                                                "initialize_optimizer_and_scheduler"),
                         ("clip_grad_norm", "run_iteration"), ("poly_exponent", "maybe_update_lr")):
        row = rows[name]
        assert row.literal and not row.user_override, name
        assert row.set_by == f"literal in nnUNetTrainerV2.{method}", row.set_by
        assert "override that method" in row.note and method in row.note, row.note
    assert "nnUNetTrainerV2_momentum09" in rows["momentum"].note
    page = table._repr_html_()
    assert "literal in nnUNetTrainerV2.initialize_optimizer_and_scheduler" in page
    assert not any(a.name == "momentum" and not a.literal for a in table.attributes)


def test_a_momentum_set_in_init_is_ignored_as_in_v1_and_the_table_says_which_method_to_override():
    from nnunet_explorer.network_training import nnUNetTrainerV2
    from nnunet_explorer.network_training.provenance import V1IgnoresWarning, attribute_provenance

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        class MyMom(nnUNetTrainerV2):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.momentum = 0.9

    assert any(issubclass(w.category, V1IgnoresWarning) and "initialize_optimizer_and_scheduler" in str(w.message)
               for w in caught)
    row = next(a for a in attribute_provenance(MyMom).attributes if a.name == "momentum")
    assert row.literal and not row.user_override and row.value == 0.99  # never 'set_by=MyMom, user_override=True'
    assert "ignores momentum" in row.note


@pytest.mark.parametrize("notebook", ["02_trainer_and_network.py", "07_bring_your_own_network.py"])
def test_no_notebook_says_every_hyperparameter_is_an_init_assignment(notebook):
    paths = sorted((ROOT / "notebooks").glob(f"**/{notebook.split('_')[0]}_*.py"))
    assert len(paths) == 2  # English and Chinese
    for path in paths:
        text = path.read_text()
        prose = " ".join(line.lstrip("#> ").strip() for line in text.splitlines())  # across line breaks
        assert not re.search(r"every hyperparameter is an? (assignment|instance attribute)", prose, re.I), path
        assert "每个超参数都是" not in prose, path
        assert "initialize_optimizer_and_scheduler" in text, f"{path} should say where momentum really lives"


# --- 3: the class-attribute pitfall says what the tool does ----------------------------------------------------
def test_the_class_attribute_pitfall_matches_what_the_explorer_does():
    from nnunet_explorer.network_training import nnUNetTrainerV2
    from nnunet_explorer.network_training.provenance import V1IgnoresWarning
    from nnunet_explorer.teaching.why import _CLASS_ATTRIBUTE_PITFALL

    text = _CLASS_ATTRIBUTE_PITFALL["en"]
    assert "works here" not in text and "ignored" in text and "V1IgnoresWarning" in text
    with pytest.warns(V1IgnoresWarning, match="max_num_epochs"):
        class Fifty(nnUNetTrainerV2):
            max_num_epochs = 50

    trainer = Fifty("plans.pkl", 0, output_folder="/nonexistent/out", dataset_directory="/nonexistent")
    assert trainer.max_num_epochs == 1000  # as in v1: __init__'s instance attribute hides the class attribute


# --- 4: the epoch end, in v1's order, its Dice from validation batches -----------------------------------------
def test_the_epoch_end_lesson_states_v1s_order_and_the_validation_dice():
    from nnunet_explorer import walkthrough_run
    from nnunet_explorer.teaching.why import WHY

    for text in (walkthrough_run.epoch_end.__doc__, WHY["epoch_end"].fact["en"]):
        assert _in_order(text, V1_EPOCH_END_ORDER[:3]), text
        assert "validation batches" in text, text
    assert _in_order(walkthrough_run.epoch_end.__doc__, V1_EPOCH_END_ORDER)
    assert "global Dice, moving averages" not in walkthrough_run.epoch_end.__doc__


def test_the_epoch_end_takes_its_dice_from_the_validation_batches():
    """v1 evaluates online only where ``run_iteration(gen, do_backprop, run_online_evaluation=True)``: in
    ``run_training`` that is the validation batches (``do_backprop=False``), never a training iteration."""
    import ast
    import inspect
    import textwrap

    from nnunet_explorer.network_training import NetworkTrainer

    tree = ast.parse(textwrap.dedent(inspect.getsource(NetworkTrainer.run_training)))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "run_iteration"]
    evaluated = {ast.unparse(c.args[0]) for c in calls if len(c.args) > 2 and ast.literal_eval(c.args[2])}
    backprop = {ast.unparse(c.args[0]) for c in calls if ast.literal_eval(c.args[1])}
    assert evaluated == {"self.val_gen"} and backprop == {"self.tr_gen"}, (evaluated, backprop)
    assert all(not ast.literal_eval(c.args[1]) for c in calls if len(c.args) > 2 and ast.literal_eval(c.args[2]))


# --- in from the blog -------------------------------------------------------------------------------------------
def test_the_readmes_first_screen_gives_sample_kits19_and_the_blogs_command_in_both_languages():
    readme = (ROOT / "README.md").read_text()
    first = "\n".join(readme.splitlines()[:60])
    assert "nnunet-explorer sample kits19" in first
    assert re.search(r"nnunet-explorer train 3d_fullres nnUNetTrainerV2 40 1\b", first)
    assert "run_training.py 3d_fullres nnUNetTrainerV2 40 1" in first  # names the blog by what it walks through
    chinese = readme[readme.index("## 中文说明"):]
    chinese = chinese[:chinese.index("\n## ", 5)]
    assert "sample kits19" in chinese and "40 1" in chinese and "96×160×160" in chinese
