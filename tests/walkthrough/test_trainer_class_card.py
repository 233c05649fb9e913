"""The trainer_class card runs v1's recursive_find_python_class: modules in order, where found, a class returned."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from nnunet_explorer.explore import Pipeline, make_step
from nnunet_explorer.network_training import find_trainer_class, load_trainers_from_file, unregister_trainer
from nnunet_explorer.network_training.registry import LOADED_TRAINER_MODULES
from nnunet_explorer.run.default_configuration import Configuration
from nnunet_explorer.teaching import attach_teaching, set_language
from nnunet_explorer.training.configuration import RunArgs
from nnunet_explorer.walkthrough import trainer_class


pytestmark = pytest.mark.usefixtures("english")  # the cards in English (tests/conftest.py)


def _walk(name: str) -> Pipeline:
    """parsed_arguments and configuration as the walkthrough makes them (no task needed), then trainer_class."""
    args = RunArgs("3d_fullres", name, "901", "0")
    cfg = Configuration(Path("p.pkl"), Path("out"), Path("pre"), False, 0, find_trainer_class(name), "",
                        "3d_fullres", "Task901_SyntheticCT", "nnUNetPlansv2.1", Path("pre/data"), 1)
    pipeline = Pipeline([make_step(lambda: args, name="parsed_arguments"),
                         make_step(lambda: cfg, name="configuration"), trainer_class])
    attach_teaching(pipeline)
    pipeline.run()
    return pipeline


def _visited(card: str) -> list[str]:
    block = card[card.index("nnx-trainer-search"):]
    return re.findall(r"<li><code>([^<]*)</code></li>", block[:block.index("</ol>")])


def test_the_card_lists_the_modules_in_order_and_names_the_returned_class():
    pipeline = _walk("nnUNetTrainerV2")
    assert pipeline["trainer_class"] is find_trainer_class("nnUNetTrainerV2")  # the class the run uses
    card = pipeline.result("trainer_class")._repr_html_()
    assert _visited(card) == ["network_trainer", "nnUNetTrainer", "nnUNetTrainerV2  &lt;- found here"]
    assert ("Returns <code>&lt;class &#x27;nnunet_explorer.network_training.nnUNetTrainerV2.nnUNetTrainerV2&#x27;"
            "&gt;</code>: the class object itself") in card
    assert "nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2" in card  # how v1 prints it
    assert "返回值: &#x27;nnUNetTrainerV2&#x27;" in card and 'class="erratum"' in card  # the blog corrected
    text = pipeline.summary(run=False).text()
    assert "3. nnUNetTrainerV2  <- found here" in text


def test_in_chinese_the_card_says_it_returns_the_class_not_a_string():
    pipeline = _walk("nnUNetTrainerV2")
    set_language("zh")
    card = pipeline.result("trainer_class")._repr_html_()
    assert "在此找到" in card and "类对象本身" in card and "而不是字符串" in card
    assert "而不是类名字符串" in card  # the erratum box, in Chinese


def test_a_trainer_file_is_found_in_nnUNet_variants_and_a_registry_only_class_is_explained(tmp_path):
    source = tmp_path / "card_trainers.py"
    source.write_text("from nnunet_explorer.v1.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2\n"
                      "class CardTrainer(nnUNetTrainerV2):\n    pass\n")
    load_trainers_from_file(source)
    try:
        card = _walk("CardTrainer").result("trainer_class")._repr_html_()
        visited = _visited(card)
        assert visited[:3] == ["network_trainer", "nnUNetTrainer", "nnUNetTrainerV2"]
        assert visited[-1].startswith("nnUNet_variants.card_trainers  &lt;- your --trainer_file ")
        assert visited[-1].endswith("found here") and str(source) in visited[-1]
    finally:
        unregister_trainer("CardTrainer")
        LOADED_TRAINER_MODULES.pop("card_trainers", None)
    card = _walk("nnUNetTrainerV2_2epochs").result("trainer_class")._repr_html_()
    assert "Returns None" in card and "Could not find trainer class" in card
    assert "nnUNet_variants.benchmarking.nnUNetTrainerV2_2epochs" in card  # where v1 keeps it
    assert "explorer-only" in _walk("nnUNetTrainerV2_explore").result("trainer_class")._repr_html_()
