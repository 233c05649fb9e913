"""Cards that cite their run: v1's configuration block line by line, and debug.json after training."""
from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest

from nnunet_explorer.errors import TrainingError
from nnunet_explorer.explore import StepResult
from nnunet_explorer.teaching import set_language
from nnunet_explorer.teaching.why import why_of
from nnunet_explorer.training.progress_log import read_debug_json, write_debug_json
from nnunet_explorer.walkthrough import training_walkthrough
from nnunet_explorer.walkthrough_run import TrainedEpochs

CJK = re.compile(r"[\u4e00-\u9fff]")


pytestmark = pytest.mark.usefixtures("english")  # the cards in English (tests/conftest.py)


@pytest.fixture(scope="module")
def configured(ct_workspace):
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, workspace=ct_workspace)
    pipeline.run(until="configuration")
    return pipeline


def _block_table(result):
    tables = [t for t in result.notes.tables if t.kind == "plans-block"]
    assert len(tables) == 1
    return tables[0]


def test_the_configuration_card_explains_every_line_v1_prints(configured):
    result = configured.result("configuration")
    config = result.output
    table = _block_table(result)
    printed = [line for line in config.printed_text.splitlines() if line.strip()]
    stage_line = next(line for line in printed if line.startswith("{"))
    stage = config.plans["plans_per_stage"][config.stage]
    # one row per printed line, the stage dict replaced by one row per key, in v1's order
    expected = [line for line in printed if line != stage_line]
    at = expected.index("stage:  0") + 1
    expected[at:at] = [f"{k!r}: " for k in stage]
    firsts = [row[0] for row in table.rows]
    assert len(firsts) == len(expected)
    assert all(first.startswith(want) for first, want in zip(firsts, expected))
    assert all(len(row[1]) >= 30 for row in table.rows), [row for row in table.rows if len(row[1]) < 30]
    notes = {row[0].split(" ", 1)[0].strip("':"): row[1] for row in table.rows}
    assert "contains 'CT'" in notes["use_mask_for_norm"] and "Here: 0 (CT): False" in notes["use_mask_for_norm"]
    assert "nothing reads" in notes["keep_only_largest_region"]
    assert "never read" in notes["min_region_size_per_class"]
    assert "DONT USE THIS" in notes["min_size_per_class"]
    assert "0.5 and 99.5 percentiles" in notes["normalization_schemes"]
    assert "Not the spacing of the raw images" in notes["original_spacing"]
    assert "full-resolution stage" in notes["original_spacing"]
    # numpy scalars as v1's numpy (1.x) printed them, in the block and in the table
    assert "np." not in config.printed_text and not any("np." in row[0] for row in table.rows)
    assert "'do_dummy_2D_data_aug': False" in firsts
    card = html.unescape(result._repr_html_())
    assert '<details class="plans-block" open>' in card and "the block v1 prints, line by line" in card
    # v1's own plans: no warning box
    assert 'class="plans-check"' not in card and 'class="blog"' not in card


def test_the_line_notes_are_chinese_under_zh(configured):
    set_language("zh")
    table = _block_table(configured.result("configuration"))
    assert CJK.search(table.heading)
    assert all(CJK.search(row[1]) for row in table.rows), [row for row in table.rows if not CJK.search(row[1])]
    assert all(CJK.search(c) for c in table.columns)


def _debug_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "fold_1"
    folder.mkdir()
    write_debug_json(folder, {"plans_file": "/p/Task040_KiTS/nnUNetPlansv2.1_plans_3D.pkl", "max_num_epochs": 3,
                              "batch_size": np.int64(2), "patch_size": np.array([80, 160, 160]),
                              "amp_grad_scaler": None, "tr_gen": object(), "plans": {"not": "written"}})
    return folder


def test_debug_json_card_explains_the_main_entries(tmp_path):
    from nnunet_explorer.views.cards import debug_json_card

    folder = _debug_folder(tmp_path)
    assert read_debug_json(folder)["patch_size"] == "[ 80 160 160]"
    card = debug_json_card(folder)
    keys = [r.key for r in card.rows]
    assert keys[:5] == ["plans_file", "max_num_epochs", "batch_size", "patch_size", "amp_grad_scaler"]
    assert card.row("max_num_epochs").value == "3" and "1000" in card.row("max_num_epochs").why
    assert "plans.pkl" in card.row("plans_file").why and "_maybe_init_amp" in card.row("amp_grad_scaler").why
    assert keys[-1] == "(the other 1)"  # tr_gen; plans is not written (v1 deletes it)
    assert "run_training" in card.intro and "str(value)" in card.intro
    with pytest.raises(TrainingError, match="debug.json"):
        debug_json_card(tmp_path / "nowhere")


def test_the_training_epochs_card_shows_debug_json(tmp_path):
    folder = _debug_folder(tmp_path)
    trained = TrainedEpochs(folder, (0.5,), (0.6,), (0.1,), ("debug.json",), "finished")
    result = StepResult("training_epochs", {}, {}, output=trained, why=why_of("training_epochs"))
    tables = result.notes.tables
    assert [t.kind for t in tables] == ["debug-json"]
    assert [row[0] for row in tables[0].rows][:2] == ["plans_file", "max_num_epochs"]
    card = html.unescape(result._repr_html_())
    assert '<details class="debug-json" open>' in card and "save_debug_information" in card
    set_language("zh")
    assert all(CJK.search(row[2]) for row in result.notes.tables[0].rows)
    (folder / "debug.json").unlink()
    set_language("en")
    assert "does not exist" in result.notes.text() and not result.notes.tables


def _copy_workspace(src, dst):
    import importlib.util

    spec = importlib.util.spec_from_file_location("walkthrough_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.copy_workspace(src, dst)


@pytest.mark.slow
def test_debug_json_of_a_real_run_is_reachable_from_the_walkthrough(v1_ct_task, tmp_path):
    ws = _copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, workspace=ws, max_num_epochs=1,
                                    num_batches_per_epoch=1, num_val_batches_per_epoch=1, single_threaded=True)
    pipeline.run(until="training_epochs")
    result = pipeline.result("training_epochs")
    table = next(t for t in result.notes.tables if t.kind == "debug-json")
    rows = {row[0]: row for row in table.rows}
    assert rows["max_num_epochs"][1] == "1" and rows["num_batches_per_epoch"][1] == "1"
    assert rows["plans_file"][1].endswith("nnUNetPlansv2.1_plans_3D.pkl")
    assert rows["batch_size"][1] == str(pipeline["plans_processed"].batch_size)
    assert rows["epoch"][1] == "0" and rows["all_tr_losses"][1] == "[]"  # written when run_training started
    # v1 writes debug.json before run_training creates the GradScaler; the iteration look leaves none behind
    assert pipeline["parsed_arguments"].run_mixed_precision and rows["amp_grad_scaler"][1] == "None"
    card = html.unescape(result._repr_html_())
    assert "debug.json, its main entries" in card and "optimizer" in rows
