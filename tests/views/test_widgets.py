"""Notebook widgets: the training monitor's state, throttling, cost and Stop button; cards; the step runner."""
from __future__ import annotations

import base64

import pytest

pytest.importorskip("ipywidgets")

from nnunet_explorer.training.hooks import (EpochEnd, IterationEnd, LoopControl, TrainEnd, TrainingObserver,
                                           TrainStart, ValidationEnd)
from nnunet_explorer.views.monitor import DICE_MA_ALPHA, TrainingMonitor
from nnunet_explorer.views.widgets_common import Throttle, format_seconds


class FakeClock:
    """A clock the test advances by hand, so throttling is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def start_event(epochs: int = 3, batches: int = 10, start_epoch: int = 0) -> TrainStart:
    return TrainStart(start_epoch=start_epoch, max_num_epochs=epochs, num_batches_per_epoch=batches,
                      num_val_batches_per_epoch=2, initial_lr=0.01, output_folder="/tmp/x", num_classes=3)


def iteration_event(epoch: int, it: int, *, data: float = 0.1, compute: float = 0.9) -> IterationEnd:
    ce, dice = 1.0 - 0.01 * it, -0.1 - 0.01 * it
    return IterationEnd(epoch=epoch, iteration=it, loss=ce + dice, ce=ce, dice=dice, lr=0.01 * (1 - epoch / 3) ** 0.9,
                        grad_norm=1.0, data_seconds=data, compute_seconds=compute)


def epoch_event(epoch: int, *, seconds: float = 10.0) -> EpochEnd:
    return EpochEnd(epoch=epoch, train_loss=0.5, val_loss=0.6, mean_global_dice=0.4, val_eval_criterion_MA=0.3,
                    train_loss_MA=0.5, lr_next=0.005, epoch_seconds=seconds, data_seconds=1.0, compute_seconds=9.0,
                    hook_seconds=0.01, saved=("model_latest.model",))


def run_fake_training(monitor: TrainingMonitor, clock: FakeClock | None, *, epochs: int = 3, batches: int = 10,
                      step: float = 1.0, dice=((0.2, 0.4), (0.6, 0.8), (0.7, 0.9))) -> None:
    monitor.on_train_start(start_event(epochs, batches))
    for e in range(epochs):
        monitor.on_epoch_start(e)
        for i in range(batches):
            if clock is not None:
                clock.now += step
            monitor.on_iteration_end(iteration_event(e, i))
        monitor.on_validation_end(ValidationEnd(epoch=e, val_loss=0.6, global_dice_per_class=dice[e],
                                                mean_global_dice=sum(dice[e]) / 2))
        monitor.on_epoch_end(epoch_event(e))
    monitor.on_train_end(TrainEnd(last_epoch=epochs - 1, stopped_early=False, reason="max_num_epochs reached",
                                  final_checkpoint="model_final_checkpoint.model"))


def test_monitor_is_an_observer_of_the_loop():
    assert isinstance(TrainingMonitor(), TrainingObserver)


def test_monitor_state_after_a_run_of_events():
    clock = FakeClock()
    monitor = TrainingMonitor(LoopControl(), clock=clock, show_plots=False)
    run_fake_training(monitor, clock)
    s = monitor.state
    assert s.iterations_done == 30 and s.epochs == [0, 1, 2]
    assert monitor.epoch_bar.value == monitor.epoch_bar.max == 3
    assert monitor.iter_bar.value == monitor.iter_bar.max == 10
    # CE and Dice parts of an epoch are the means of that epoch's iterations
    assert s.epoch_ce[1] == pytest.approx(sum(1.0 - 0.01 * i for i in range(10)) / 10)
    assert s.epoch_dice[1] == pytest.approx(sum(-0.1 - 0.01 * i for i in range(10)) / 10)
    # the per-class moving average follows v1's rule: start at the first value, then alpha 0.9
    assert s.dice_per_class_ma[0] == [0.2, 0.4]
    expected = [DICE_MA_ALPHA * 0.2 + (1 - DICE_MA_ALPHA) * 0.6, DICE_MA_ALPHA * 0.4 + (1 - DICE_MA_ALPHA) * 0.8]
    assert s.dice_per_class_ma[1] == pytest.approx(expected)
    assert "max_num_epochs reached" in monitor.stop_label.value
    assert monitor.stop_button.disabled


def test_learning_rate_and_timing_are_recorded_per_epoch():
    clock = FakeClock()
    monitor = TrainingMonitor(clock=clock, show_plots=False)
    run_fake_training(monitor, clock)
    assert monitor.state.lr[0] == pytest.approx(0.01) and monitor.state.lr[2] < monitor.state.lr[1] < 0.01
    assert monitor.iteration_seconds == pytest.approx(30 * 1.0)
    assert monitor.state.epoch_data_s == [1.0, 1.0, 1.0]


def test_widget_updates_are_throttled_by_time():
    clock = FakeClock()
    monitor = TrainingMonitor(clock=clock, redraw_interval=0.5, show_plots=False)
    monitor.on_train_start(start_event(1, 1000))
    monitor.on_epoch_start(0)
    for i in range(1000):  # 1000 iterations in 10 s of (fake) time: 100 it/s
        clock.now += 0.01
        monitor.on_iteration_end(iteration_event(0, i))
    # at most 2 updates per second of loop time (+1 for the first)
    assert monitor.redraw_count <= 10 / 0.5 + 1
    assert monitor.redraw_count >= 10  # but it does keep updating
    assert monitor.state.iterations_done == 1000  # every event is recorded even when not redrawn


def test_plots_are_skipped_while_they_would_exceed_the_overhead_budget():
    clock = FakeClock()
    monitor = TrainingMonitor(clock=clock, show_plots=True, overhead_budget=0.02, plot_interval=0.0)
    # iterations of 0.01 s: a plot (estimated 0.25 s) would cost far more than 2 % of the training time
    monitor.on_train_start(start_event(2, 5))
    for e in range(2):
        monitor.on_epoch_start(e)
        for i in range(5):
            monitor.on_iteration_end(iteration_event(e, i, data=0.001, compute=0.009))
        monitor.on_epoch_end(epoch_event(e))
    assert monitor.plot_count == 0
    monitor.on_train_end(TrainEnd(last_epoch=1, stopped_early=False, reason="done", final_checkpoint=None))
    assert monitor.plot_count == 1  # the final picture is always drawn
    out = monitor.plot.outputs
    assert len(out) == 1 and base64.b64decode(out[0]["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_monitor_overhead_is_measured_and_small_on_a_real_clock():
    """With a real clock and 50 ms iterations, the monitor costs well under 2 % of iteration time."""
    monitor = TrainingMonitor(LoopControl(), show_plots=True)
    epochs, batches = 3, 40
    monitor.on_train_start(start_event(epochs, batches))
    for e in range(epochs):
        monitor.on_epoch_start(e)
        for i in range(batches):
            monitor.on_iteration_end(iteration_event(e, i, data=0.005, compute=0.045))
        monitor.on_validation_end(ValidationEnd(epoch=e, val_loss=0.6, global_dice_per_class=(0.5, 0.6),
                                                mean_global_dice=0.55))
        monitor.on_epoch_end(epoch_event(e))
    fraction_during_training = monitor.overhead_fraction
    assert monitor.overhead_seconds > 0
    assert fraction_during_training < 0.02, monitor
    assert "monitor overhead" in monitor.overhead_label.value and "%" in monitor.overhead_label.value


def test_stop_button_requests_a_stop_from_the_loop():
    control = LoopControl()
    monitor = TrainingMonitor(control, show_plots=False)
    monitor.on_train_start(start_event())
    assert not control.stop_requested and not monitor.stop_button.disabled
    monitor.stop_button.click()
    assert control.stop_requested
    assert "Stop button" in control.reason
    assert "stop requested" in monitor.stop_label.value and monitor.stop_button.disabled


def test_stop_without_a_loop_says_so_and_attach_connects_it():
    monitor = TrainingMonitor(show_plots=False)
    monitor.stop_button.click()
    assert "nothing to stop" in monitor.stop_label.value
    control = LoopControl()
    monitor.attach(control)
    monitor.stop_button.click()
    assert control.stop_requested


def test_early_stop_leaves_the_bars_where_training_stopped():
    clock = FakeClock()
    monitor = TrainingMonitor(LoopControl(), clock=clock, show_plots=False)
    monitor.on_train_start(start_event(5, 10))
    monitor.on_epoch_start(0)
    for i in range(4):
        clock.now += 1
        monitor.on_iteration_end(iteration_event(0, i))
    monitor.on_train_end(TrainEnd(last_epoch=0, stopped_early=True, reason="stop requested", final_checkpoint=None))
    assert monitor.iter_bar.value == 4 and monitor.epoch_bar.value == 0
    assert monitor.epoch_bar.bar_style == "warning"


def test_resume_starts_the_epoch_bar_at_the_start_epoch():
    monitor = TrainingMonitor(show_plots=False)
    monitor.on_train_start(TrainStart(start_epoch=2, max_num_epochs=4, num_batches_per_epoch=3,
                                      num_val_batches_per_epoch=1, initial_lr=0.01, output_folder="x",
                                      num_classes=2, resumed=True))
    assert monitor.epoch_bar.value == 2 and "resumed" in monitor.epoch_label.value


def test_throttle_and_time_format():
    clock = FakeClock()
    throttle = Throttle(0.5, clock)
    assert throttle.ready() and not throttle.ready()
    clock.now += 0.49
    assert not throttle.ready()
    clock.now += 0.02
    assert throttle.ready()
    assert throttle.ready(force=True)
    assert format_seconds(75.2) == "1:15" and format_seconds(3725) == "1:02:05" and format_seconds(None) == "?"


# ------------------------------------------------------------------------------------------- step runner
def _toy_pipeline():
    from nnunet_explorer.explore import Pipeline

    calls = []

    def numbers(*, n: int = 3, scale: float = 1.0, label: str = "x", noisy: bool = False, shape=None):
        """Draw n random numbers."""
        import random

        calls.append((n, scale, label, noisy, shape))
        if noisy:
            raise RuntimeError("noisy numbers are not implemented")
        return [scale * random.random() for _ in range(n)]

    def total(numbers):
        """Sum them."""
        return sum(numbers)

    from nnunet_explorer.explore import make_step

    return Pipeline([make_step(numbers, seed=0), total], name="toy"), calls


def test_step_runner_generates_a_control_per_knob_from_its_type():
    import ipywidgets as w

    from nnunet_explorer.views.step_runner import StepRunner

    pipeline, _ = _toy_pipeline()
    runner = StepRunner(pipeline)
    controls = runner.knob_widgets()
    assert list(controls) == ["n", "scale", "label", "noisy", "shape"]
    assert isinstance(controls["n"], w.IntText) and isinstance(controls["scale"], w.FloatText)
    assert isinstance(controls["label"], w.Text) and isinstance(controls["noisy"], w.Checkbox)
    assert controls["shape"].value == "None"  # a literal field for anything else
    runner.step_select.value = "total"
    assert runner.knob_widgets() == {} and runner.apply_button.disabled


def test_step_runner_runs_reruns_with_a_seed_and_applies_knobs():
    from nnunet_explorer.views.step_runner import StepRunner

    pipeline, calls = _toy_pipeline()
    runner = StepRunner(pipeline, initial="total")
    first = runner.run_to()
    assert first.ok and first.name == "total" and "total" in runner.status.value
    assert "Sum them" in runner.output.outputs[0]["data"]["text/html"]
    runner.step_select.value = "numbers"
    before = pipeline["numbers"]
    again = runner.rerun_with_seed(7)
    assert again.seed == 7 and pipeline.seed("numbers") == 7 and again.output != before
    assert "total" not in pipeline.results  # downstream invalidated
    assert runner.rerun_with_seed(7).output == again.output  # same seed, same draw
    controls = runner.knob_widgets()
    controls["n"].value = 5
    controls["shape"].value = "(2, 3)"
    result = runner.apply_knobs()
    assert len(result.output) == 5 and pipeline.params("numbers") == {"n": 5, "shape": (2, 3)}
    assert calls[-1] == (5, 1.0, "x", False, (2, 3))


def test_step_runner_shows_a_failing_step_instead_of_raising():
    from nnunet_explorer.views.step_runner import StepRunner

    pipeline, _ = _toy_pipeline()
    runner = StepRunner(pipeline)
    runner.knob_widgets()["shape"].value = "not a literal ("
    assert runner.apply_knobs() is None
    assert isinstance(runner.last_error, ValueError) and "literal" in runner.status.value
    runner.knob_widgets()["shape"].value = "None"
    runner.knob_widgets()["noisy"].value = True
    assert runner.apply_knobs() is None
    assert "not implemented" in runner.status.value
    assert "not implemented" in runner.output.outputs[0]["data"]["text/html"]  # the failed step's card
    runner.knob_widgets()["noisy"].value = False
    assert runner.apply_knobs().ok and runner.last_error is None


# ------------------------------------------------------------------------------------------------- cards
class _FakeConfiguration:
    def __init__(self, network: str, num_stages: int, stage: int, batch_dice: bool) -> None:
        from pathlib import Path

        self.network, self.num_stages, self.stage, self.batch_dice = network, num_stages, stage, batch_dice
        self.plans_file = Path("/p/Task1_X/nnUNetPlansv2.1_plans_3D.pkl")
        self.output_folder_name = Path("/r/nnUNet") / network / "Task1_X" / "nnUNetTrainerV2__nnUNetPlansv2.1"
        self.dataset_directory = Path("/p/Task1_X")
        self.folder_with_preprocessed_data = Path("/p/Task1_X/nnUNetData_plans_v2.1_stage0")
        self.trainer_class = type("nnUNetTrainerV2", (), {})
        self.task, self.plans_identifier, self.printed_text = "Task1_X", "nnUNetPlansv2.1", ""


@pytest.mark.parametrize("network,stages,batch_dice,reason", [
    ("2d", 1, True, "2d"), ("3d_fullres", 1, False, "single stage"), ("3d_fullres", 2, True, "more than one stage"),
    ("3d_lowres", 2, False, "3d_lowres always"), ("3d_cascade_fullres", 2, True, "more than one stage")])
def test_configuration_card_says_why_batch_dice(network, stages, batch_dice, reason):
    """v1: batch_dice = (network == '2d' or more than one stage) and network != '3d_lowres'."""
    from nnunet_explorer.views.cards import configuration_card

    assert batch_dice == ((network == "2d" or stages > 1) and network != "3d_lowres")
    card = configuration_card(_FakeConfiguration(network, stages, 0, batch_dice))
    row = card.row("batch_dice")
    assert row.value == str(batch_dice) and reason in row.why
    assert "batch_dice" in card._repr_html_() and reason in card.text()


def test_plans_card_pairs_values_with_the_planner_decisions():
    from nnunet_explorer.planning.explain import Decision
    from nnunet_explorer.views.cards import plans_card

    plans = {"num_stages": 1, "num_classes": 2, "data_identifier": "nnUNetData_plans_v2.1",
             "plans_per_stage": {0: {"patch_size": [16, 40, 40], "batch_size": 2, "current_spacing": [3, .8, .8]}}}
    decisions = [Decision("3d", "3d_fullres", "patch_size", "512 mm start", [16, 40, 40], "clipped to the median"),
                 Decision("3d", "3d_fullres", "target_spacing", "median spacing", [3, .8, .8], "median of cases"),
                 Decision("3d", "3d_lowres", "patch_size", "other stage", [8, 8, 8], "must not appear")]
    card = plans_card(plans, decisions)
    assert card.row("patch_size").why == "clipped to the median" and card.row("patch_size").rule == "512 mm start"
    assert card.row("current_spacing").why == "median of cases"  # recorded as target_spacing
    assert "dataset.json" in card.row("num_classes").why
    assert "no planner rule" in card.row("batch_size").why
    html_text = card._repr_html_()
    assert "clipped to the median" in html_text and "must not appear" not in html_text


def test_updates_wait_while_they_would_exceed_the_budget():
    """Iterations that (say they) take no time leave no budget: no widget update until training ends."""
    monitor = TrainingMonitor(LoopControl(), show_plots=False, redraw_interval=0.0)
    monitor.on_train_start(start_event(2, 50))
    for e in range(2):
        monitor.on_epoch_start(e)
        for i in range(50):
            monitor.on_iteration_end(iteration_event(e, i, data=0.0, compute=0.0))
        monitor.on_epoch_end(epoch_event(e))
    assert monitor.redraw_count == 0 and monitor.epoch_bar.value == 2  # the epoch bar still moves
    monitor.on_train_end(TrainEnd(last_epoch=1, stopped_early=False, reason="done", final_checkpoint=None))
    assert monitor.redraw_count == 1 and monitor.iter_bar.value == 50


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_monitor_speaks_the_language(language, monkeypatch):
    """Under ``zh`` every label, button and stats row of the monitor is Chinese; in English none is."""
    from ..zh_share_rule import CJK

    monkeypatch.setenv("NNUNET_EXPLORER_LANG", language)
    clock = FakeClock()
    monitor = TrainingMonitor(LoopControl(), clock=clock, show_plots=False)
    texts = [monitor.epoch_label.value, monitor.overhead_label.value, monitor.stop_button.description,
             monitor.stop_button.tooltip, monitor.title.value]
    monitor.on_train_start(start_event())
    monitor.on_epoch_start(0)
    for i in range(3):
        clock.now += 1.0
        monitor.on_iteration_end(iteration_event(0, i))
    monitor.on_validation_end(ValidationEnd(epoch=0, val_loss=0.6, global_dice_per_class=(0.2, 0.4),
                                            mean_global_dice=0.3))
    monitor.on_epoch_end(epoch_event(0))
    texts += [monitor.iter_label.value, monitor.epoch_label.value, monitor.overhead_label.value, monitor.stats.value]
    monitor.request_stop()
    texts.append(monitor.stop_label.value)
    monitor.on_train_end(TrainEnd(last_epoch=0, stopped_early=False, reason="finished",
                                  final_checkpoint="model_final_checkpoint.model"))
    texts.append(monitor.stop_label.value)
    chinese = [bool(CJK.search(t)) for t in texts]
    assert chinese == [language == "zh"] * len(texts), list(zip(texts, chinese))
    if language == "zh":
        assert monitor.stats.value.count("<tr>") == sum(1 for row in monitor.stats.value.split("<tr>")[1:]
                                                        if CJK.search(row.split("</td>")[0]))  # every row's name


def test_the_step_runner_speaks_chinese_under_zh(monkeypatch):
    """Buttons, the knobs' heading, the status line and a bad literal's message follow the language; a step's
    lead line is its Chinese translation where it has a current one."""
    from types import SimpleNamespace

    from nnunet_explorer.teaching.step_docs import step_doc_zh
    from nnunet_explorer.views.step_runner import StepRunner, _lead
    from nnunet_explorer.walkthrough import WALKTHROUGH_STEPS

    from ..zh_share_rule import CJK

    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    pipeline, _ = _toy_pipeline()
    runner = StepRunner(pipeline, initial="total")
    for button in (runner.run_button, runner.rerun_button, runner.apply_button):
        assert CJK.search(button.description), button.description
    assert runner.run_to().ok and CJK.search(runner.status.value), runner.status.value
    runner.step_select.value = "numbers"
    runner.knob_widgets()["shape"].value = "not a literal ("
    assert runner.apply_knobs() is None and "Python 字面量" in runner.status.value
    translated = next(f for f in WALKTHROUGH_STEPS if step_doc_zh(f.__name__, f.__doc__))
    step = SimpleNamespace(name=translated.__name__, func=translated, first_line=translated.__doc__.split("\n")[0])
    assert _lead(step) == step_doc_zh(translated.__name__, translated.__doc__).splitlines()[0]
    assert CJK.search(_lead(step))
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "en")
    assert _lead(step) == step.first_line
