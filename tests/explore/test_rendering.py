"""Text and HTML rendering of step results for every kind of output."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.explore import Pipeline, StepResult, array_stats, make_step, summarize_text
from nnunet_explorer.explore.html import value_html
from nnunet_explorer.provenance import V1_SOURCE_ROOT, mirrors


def test_integer_array_shows_dtype_shape_range_and_labels():
    seg = np.zeros((2, 1, 4, 5, 6), dtype=np.int16)
    seg[0, 0, 1:3] = 2
    stats = array_stats(seg)
    assert stats.dtype == "int16" and stats.shape == (2, 1, 4, 5, 6)
    assert (stats.minimum, stats.maximum) == (0, 2) and stats.labels == (0, 2)
    assert stats.text() == f"ndarray int16 (2, 1, 4, 5, 6), range [0, 2] mean {seg.mean():.4g}, labels {{0, 2}}"


def test_float_label_maps_get_labels_but_images_do_not():
    target = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    assert array_stats(target).labels == (-1, 0, 1, 2)
    image = np.linspace(-1, 1, 50, dtype=np.float32)
    assert array_stats(image).labels is None
    many = np.arange(100)
    assert array_stats(many).labels is None  # too many distinct values to be a label map


def test_non_finite_values_are_counted_and_excluded_from_the_range():
    values = np.array([1.0, np.nan, 3.0, np.inf])
    stats = array_stats(values)
    assert stats.non_finite == 2 and (stats.minimum, stats.maximum) == (1.0, 3.0)
    assert "2 non-finite values!" in stats.text()


def test_tensor_summary_names_grad_and_dtype():
    t = torch.ones(3, 2, dtype=torch.float16, requires_grad=True)
    text = summarize_text(t)
    assert text.startswith("Tensor float16 (3, 2)") and "requires_grad" in text


def test_empty_and_bool_arrays():
    assert summarize_text(np.zeros((0, 3))) == "ndarray float64 (0, 3)"
    assert array_stats(np.array([True, False])).labels == (0, 1)


@dataclasses.dataclass(frozen=True)
class Record:
    shape: tuple
    image: np.ndarray


class SelfSummarising:
    def summary(self) -> str:
        return "I describe myself\nsecond line"


class WithHtml:
    def _repr_html_(self) -> str:
        return "<i>my own html</i>"


class Plain:
    def __init__(self) -> None:
        self.batch_size = 2
        self.patch_size = np.array([8, 8])
        self._private = 1


@pytest.mark.parametrize("value, expected", [
    (None, "None"),
    (3, "3"),
    ({"a": np.zeros(2, dtype=np.uint8)}, "{a: ndarray uint8 (2,), range [0, 0] mean 0, labels {0}}"),
    ([torch.zeros(1), torch.ones(2)], "2 arrays: Tensor float32 (1,)"),
    (Record((1, 2), np.ones(3)), "Record(shape=(1, 2), image=ndarray float64 (3,)"),
    (SelfSummarising(), "I describe myself"),
    (Plain(), "Plain(batch_size=2, patch_size=[8, 8])"),
    (float("nan"), "nan (non-finite!)"),
    (torch.nn.Linear(2, 3), "Linear (torch module, 9 parameters, 9 trainable)"),
])
def test_summarize_text_of_every_kind(value, expected):
    assert summarize_text(value).startswith(expected)


def test_a_module_that_mirrors_v1_is_named_with_v1s_name_too():
    from nnunet_explorer.provenance import mirrors
    from nnunet_explorer.training.generic_unet import build_network
    from nnunet_explorer.training.loss import trainer_dc_and_ce_loss

    # the explorer's own classes carry v1's names: nothing to add
    assert summarize_text(trainer_dc_and_ce_loss(False)).startswith("DC_and_CE_loss (torch module, 0 ")
    assert summarize_text(build_network(1, 2, 3, [[2, 2, 2]])).startswith("Generic_UNet (torch module, ")

    @mirrors("nnunet.training.loss_functions.dice_loss:DC_and_CE_loss")
    class OtherName(torch.nn.Module):  # a re-implementation under another name is introduced by v1's too
        pass

    assert summarize_text(OtherName()).startswith("OtherName = v1's DC_and_CE_loss (torch module, 0 ")

    class MyLoss(OtherName):  # a subclass inherits the mark, not v1's name
        pass

    assert summarize_text(MyLoss()).startswith("MyLoss (torch module, 0 ")


def test_optimizer_summary():
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), 0.01, momentum=0.99, nesterov=True)
    assert summarize_text(opt) == ("SGD (1 param group(s): lr 0.01, momentum 0.99, nesterov True, weight_decay 0; "
                                   "3 parameters)")


def test_value_html_embeds_own_html_and_escapes_text():
    assert value_html(WithHtml()) == "<i>my own html</i>"
    assert "&lt;b&gt;" in value_html("<b>bold</b>")
    table = value_html({"x": np.zeros(2)})
    assert "<table>" in table and "ndarray float64 (2,)" in table


@mirrors("nnunet.run.default_configuration:get_default_configuration")
def configured(*, value: str = "<a>") -> dict:
    """Resolve the configuration.

    Second paragraph explaining <things>.
    """
    return {"value": value, "array": np.arange(4)}


def broken(configured: dict, *, factor: int = 2) -> None:
    """Break."""
    raise ConfigurationError("bad <input>", fix="do better")


def test_step_card_has_doc_link_params_timing_and_output():
    p = Pipeline([configured])
    result = p.run()
    card = result._repr_html_()
    assert "Resolve the configuration." in card and "&lt;things&gt;" in card
    assert V1_SOURCE_ROOT + "nnunet/run/default_configuration.py" in card
    assert "nnunet.run.default_configuration.get_default_configuration" in card
    assert "<code>value</code>" in card and "&#x27;&lt;a&gt;&#x27;" in card  # the knob at its default, escaped
    assert "ndarray int64 (4,)" in card and "<details" in card and "<script" not in card
    assert f"{result.seconds:.3f} s" in card
    line = repr(result)
    assert "\n" not in line and line.startswith("<StepResult configured [ok,")


def test_failed_card_shows_error_traceback_and_inputs():
    p = Pipeline([configured, broken])
    with pytest.raises(ConfigurationError):
        p.run()
    failed = p.result("broken")
    card = failed._repr_html_()
    assert "nnx-failed" in card and "bad &lt;input&gt;" in card and "traceback" in card
    assert "inputs it received" in card and "<code>configured</code>" in card
    assert "explorer-only step" in card
    assert "FAILED" in repr(failed) and "bad <input>" in repr(failed)


def test_step_result_is_frozen():
    result = Pipeline([configured]).run()
    assert isinstance(result, StepResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.output = 1  # type: ignore[misc]


def test_pipeline_html_lists_run_and_pending_steps():
    p = Pipeline([configured, make_step(broken, name="later")])
    p.run(until="configured")
    page = p._repr_html_()
    assert "<b>configured</b>" in page and "<b>later</b>" in page and "not run" in page
    assert math.isfinite(p.result("configured").seconds)


def test_multi_line_self_summaries_are_shown_line_by_line_in_the_pipeline_summary():
    def described() -> SelfSummarising:
        """Produce an object that summarises itself on two lines."""
        return SelfSummarising()

    text = Pipeline([described]).summary().text()
    assert "      I describe myself\n      second line" in text
