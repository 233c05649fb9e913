"""The why on every card: catalogue coverage, languages, glossary anchors, and the facts checked against v1."""
from __future__ import annotations

import inspect
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.teaching import ENV_VAR, WHY, get_language, set_language, step_notes
from nnunet_explorer.teaching.glossary import TERMS, glossary_markdown
from nnunet_explorer.teaching.toc import BLOG_SECTIONS, toc_rows
from nnunet_explorer.walkthrough import TRAINING_STEP_NAMES

ROOT = Path(__file__).resolve().parents[1]
# the steps helper E2 adds after `iteration`; the catalogue has their texts already
LATER_STEPS = ("training_epochs", "epoch_end", "validate", "prediction")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def default_language(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    set_language(None)
    yield
    set_language(None)


@pytest.mark.parametrize("name", [*TRAINING_STEP_NAMES, *LATER_STEPS])
def test_every_step_has_a_why_in_both_languages(name):
    for lang in ("en", "zh"):
        notes = step_notes(name, lang)
        assert notes is not None and notes.title, (name, lang)
        kinds = [n.kind for n in notes.why]
        assert kinds == ["fact", "rationale"], (name, lang)
        for note in notes.why:
            assert len(note.text) >= 80, (name, lang, note.kind)
        if lang == "zh":
            assert CJK.search(notes.title) and all(CJK.search(n.text) for n in (*notes.why, *notes.boxes)), name
        else:
            assert not CJK.search(notes.why_text.replace("设置训练参数", "").replace("训练过程", "")), name
        # code quotes are balanced, so every ``x`` renders as <code>x</code>
        assert all(n.text.count("``") % 2 == 0 for n in (*notes.why, *notes.boxes)), name


def test_catalogue_names_only_real_steps_and_blog_sections():
    assert set(WHY) == set(TRAINING_STEP_NAMES) | set(LATER_STEPS)
    assert {entry.blog for entry in WHY.values()} <= set(BLOG_SECTIONS)
    rows = toc_rows(TRAINING_STEP_NAMES, "zh")
    assert [r[0] for r in rows] == list(TRAINING_STEP_NAMES)
    sections = [r[3] for r in rows]
    # the blog's order: 3 arguments, 4 configuration, 5 trainer/initialize, 6 Generic_UNet, 7 training
    firsts = [sections.index(BLOG_SECTIONS[k]["zh"]) for k in ("3", "4", "5", "6", "7")]
    assert firsts == sorted(firsts)


def test_language_switch_by_call_and_by_environment(monkeypatch):
    assert get_language() == "en" and step_notes("loss").title == "Dice + cross-entropy loss"
    assert set_language("zh") == "zh"
    assert step_notes("loss").title == "Dice + 交叉熵损失" and step_notes("loss").why[0].heading.startswith("事实")
    assert step_notes("loss").links[0].label == TERMS["sample-dice"].zh
    set_language(None)
    monkeypatch.setenv(ENV_VAR, "zh")
    assert get_language() == "zh" and CJK.search(step_notes("split").why_text)
    assert set_language("en") == "en"  # an explicit choice beats the environment
    monkeypatch.setenv(ENV_VAR, "klingon")
    set_language(None)
    assert get_language() == "en"  # a mistyped variable falls back to English
    with pytest.raises(ConfigurationError, match="use one of en, zh"):
        set_language("fr")


def test_glossary_doc_is_current_and_has_every_anchor_the_cards_link_to():
    doc = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    assert doc == glossary_markdown(), "regenerate: python -m nnunet_explorer.teaching.glossary > docs/glossary.md"
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', doc))
    linked = {link.href.split("#", 1)[1] for name in WHY for lang in ("en", "zh")
              for link in step_notes(name, lang).links}
    assert linked and linked <= anchors
    for key in ("ds", "moreda", "mro", "pseudo-dice", "sample-dice", "dummy-2d", "vram-proxy", "patch", "stage",
                "fold", "plans", "data-identifier", "oversampling", "poly-lr", "online-evaluation", "tta",
                "postprocessing", "cascade"):
        assert f"gl-{key}" in anchors and CJK.search(TERMS[key].define_zh), key


# ------------------------------------------------------------------------ facts in the texts, checked on v1
def _texts(name: str) -> str:
    entry = WHY[name]
    return " ".join([entry.fact["en"], entry.rationale["en"], *(p["en"] for p in entry.pitfalls),
                     *(e["en"] for e in entry.errata)])


def test_oversampling_numbers_are_v1s_get_do_oversample():
    from nnunet.training.dataloading.dataset_loading import DataLoader3D

    class Stub:
        oversample_foreground_percent = 0.33

    forced = {}
    for batch_size in (2, 3, 4, 5):
        stub = Stub()
        stub.batch_size = batch_size
        forced[batch_size] = [i for i in range(batch_size) if DataLoader3D.get_do_oversample(stub, i)]
    assert forced[2] == [1]  # the last sample of 2: 50 %, not 33 %
    text = _texts("dataloader")
    for batch_size, samples in forced.items():
        assert samples == list(range(batch_size - len(samples), batch_size))  # always the last ones
        assert f"{len(samples)} of {batch_size}" in text
    assert f"round({2 * 0.67:.2f}) = 1" in text


def test_deep_supervision_weights_in_the_text_are_v1s_rule():
    from nnunet.training.network_training import nnUNetTrainerV2 as v2

    source = inspect.getsource(v2.nnUNetTrainerV2.initialize)
    assert "weights = np.array([1 / (2 ** i) for i in range(net_numpool)])" in source
    assert "we don't use the lowest 2 outputs" in source
    for pools, shown in ((5, "{:.4f}"), (3, "{:.3f}")):  # KiTS19's 5 outputs, the demo's 3
        weights = np.array([1 / 2 ** i for i in range(pools)])
        weights[-1] = 0
        weights /= weights.sum()
        for w in weights[:-1]:
            assert shown.format(w) in _texts("deep_supervision")


def test_continue_pitfall_numbers_are_v1s_poly_lr():
    from nnunet.training.learning_rate.poly_lr import poly_lr

    text = _texts("lr_schedule")
    for epoch, max_epochs in ((500, 1000), (500, 2000), (500, 600)):
        assert f"{poly_lr(epoch, max_epochs, 1e-2, 0.9):.5f}".rstrip("0") in text
    assert f"{poly_lr(999, 1000, 1e-2, 0.9):.1e}".replace("e-05", "e-5") in text  # "about 2.0e-5"


def test_errata_match_v1s_source():
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.training.network_training.network_trainer import NetworkTrainer
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
    from torch import nn

    defaults = inspect.signature(Generic_UNet.__init__).parameters
    assert defaults["conv_op"].default is nn.Conv2d and defaults["norm_op"].default is nn.BatchNorm2d
    assert defaults["convolutional_pooling"].default is False and defaults["convolutional_upsampling"].default is False
    build = inspect.getsource(nnUNetTrainerV2.initialize_network)
    assert "nn.Conv3d" in build and "nn.InstanceNorm3d" in build and "'p': 0" in build
    assert "InitWeights_He(1e-2),\n" in build and "self.net_conv_kernel_sizes, False, True, True)" in build
    assert "clip_grad_norm_(self.network.parameters(), 12)" in inspect.getsource(nnUNetTrainerV2.run_iteration)
    assert "clip_grad_norm_" not in inspect.getsource(NetworkTrainer.run_iteration)
    erratum = _texts("network")
    assert "signature's defaults" in erratum and "nn.InstanceNorm3d" in erratum
    assert "no gradient clipping" in _texts("iteration")


def test_fold_and_init_pitfalls_match_v1s_source():
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2

    split = inspect.getsource(nnUNetTrainerV2.do_split)
    assert "np.random.RandomState(seed=12345 + self.fold)" in split and "int(len(keys) * 0.8)" in split
    assert "KFold(n_splits=5, shuffle=True, random_state=12345)" in split
    assert "RandomState(12345 + fold)" in _texts("split") and "80:20" in _texts("split")
    init = inspect.getsource(nnUNetTrainerV2.__init__)
    assert "self.max_num_epochs = 1000" in init and "self.initial_lr = 1e-2" in init
    assert "after ``super().__init__(...)``" in _texts("trainer")


def test_kits19_parameter_count_in_the_text_is_v1s():
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from torch import nn

    # KiTS19's plans (Task040, nnUNetPlansv2.1): 1 modality, 2 classes + background, 5 poolings
    pools = [[2, 2, 2]] * 4 + [[1, 2, 2]]
    net = Generic_UNet(1, 32, 3, len(pools), 2, 2, nn.Conv3d, nn.InstanceNorm3d, {"eps": 1e-5, "affine": True},
                       nn.Dropout3d, {"p": 0, "inplace": True}, nn.LeakyReLU,
                       {"negative_slope": 1e-2, "inplace": True}, True, False, lambda x: x, InitWeights_He(1e-2),
                       pools, [[3, 3, 3]] * 6, False, True, True)
    assert f"{sum(p.numel() for p in net.parameters()):,}" in _texts("architecture")


# ------------------------------------------------------------------------------------ the cards themselves
@pytest.fixture(scope="module")
def walked(v1_ct_task, tmp_path_factory):
    from nnunet_explorer.paths import resolve_workspace
    from nnunet_explorer.walkthrough import training_walkthrough

    src = v1_ct_task.workspace
    root = tmp_path_factory.mktemp("why_ws")
    shutil.copytree(src.raw_data_base.parent, root, dirs_exist_ok=True)
    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / src.raw_data_base.name),
                            "nnUNet_preprocessed": str(root / src.preprocessed.name),
                            "RESULTS_FOLDER": str(root / src.results_folder.name)}).ensure()
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, workspace=ws, max_num_epochs=4)
    pipeline.run(until=TRAINING_STEP_NAMES[-1])
    return pipeline


@pytest.mark.slow
def test_every_card_of_the_walkthrough_shows_its_why_and_the_report_maps_the_blog(walked):
    for name, result in walked.results.items():
        card = result._repr_html_()
        why = re.search(r'<div class="why">(.*?)</div>', card, re.S)
        assert why is not None, name
        assert len(re.sub(r"<[^>]+>", "", why.group(1))) >= 80, name
        assert "``" not in card, name
    assert 'class="pitfall"' in walked.result("dataloader")._repr_html_()
    assert 'class="erratum"' in walked.result("network")._repr_html_()
    page = walked.report_html()
    assert "``" not in page
    assert page.count('class="why"') == len(TRAINING_STEP_NAMES)
    assert page.index("<nav class='toc'>") < page.index("id='step-parsed_arguments'")
    for section in ("3 设置训练参数", "4 get_default_configuration", "5 trainer / initialize", "6 Generic_UNet",
                    "7 训练过程"):
        assert section in page
    for href in set(re.findall(r'class="glossary" href="#([^"]+)"', page)):
        assert f'id="{href}"' in page, href  # every linked term is in the page's glossary
    text = str(walked.summary(run=False))
    assert "      fact (v1's code): " in text and "      rationale: " in text


@pytest.mark.slow
def test_the_report_in_chinese(walked):
    set_language("zh")
    page = walked.report_html()
    assert "<html lang='zh'>" in page and "目录" in page and "术语表" in page
    assert "· Dice + 交叉熵损失" in page and "勘误\uff08原博客\uff09" in page
    set_language("en")
    assert "· Dice + cross-entropy loss" in walked.report_html()


def test_notebook_cards_carry_the_why_of_their_step():
    from types import SimpleNamespace

    from nnunet_explorer.views.cards import configuration_card, plans_card

    config = SimpleNamespace(network="3d_fullres", num_stages=1, plans_file="p.pkl", stage=0, batch_dice=False,
                             trainer_class=type("nnUNetTrainerV2", (), {}), output_folder_name="out",
                             dataset_directory="d", folder_with_preprocessed_data="d/x_stage0",
                             plans_identifier="nnUNetPlansv2.1", task="Task901_SynthCT")
    card = configuration_card(config)
    assert 'class="why"' in card._repr_html_() and "batch Dice pools" in card.text()
    plans = {"num_stages": 1, "plans_per_stage": {0: {"patch_size": [16, 40, 40], "batch_size": 2}}}
    set_language("zh")
    assert "5 %" in plans_card(plans).text() and CJK.search(plans_card(plans)._repr_html_().split("<table>")[-1])


def test_chinese_texts_get_chinese_punctuation_but_code_is_untouched():
    from nnunet_explorer.teaching.language import zh_typography

    text = "权重为 ``1/2**i``,最粗的置 0;KiTS19 为 0.5333, 0.2667(见 ``f(a, b)``),划分 80:20,batch:patch"
    typeset = zh_typography(text)
    assert typeset == ("权重为 ``1/2**i``\uff0c最粗的置 0\uff1bKiTS19 为 0.5333, 0.2667\uff08见 ``f(a, b)``\uff09"
                       "\uff0c划分 80:20\uff0cbatch\uff1apatch")
    assert zh_typography("English (as is), stays: here") == "English (as is), stays: here"
    # nested brackets turn full-width from the inside out; code in single backticks is left as written too
    assert zh_typography("解决办法 (见 (v1 的报错))") == "解决办法\uff08见\uff08v1 的报错\uff09\uff09"
    assert zh_typography("调用 `f(a,b)`:然后") == "调用 `f(a,b)`\uff1a然后"  # unquoted, a,b would become a\uff0cb
    # a formula around a converted remark keeps its own brackets (the plans card's batch rule)
    formula = "floor(max(1,234,567 / 987,654(显存代理量), 1) * 2)"
    assert zh_typography(formula) == "floor(max(1,234,567 / 987,654\uff08显存代理量\uff09\uff0c1) * 2)"
    # a shape before a comma that turns full-width stays ASCII
    assert zh_typography("形状是 (40, 40, 40), 而病例") == "形状是 (40, 40, 40)\uff0c而病例"
    set_language("zh")
    assert "\uff0c" in step_notes("split").why_text and "``" not in step_notes("split").why_text
    assert step_notes("split").why[0].text.count("``") % 2 == 0
