"""Pipeline behaviour: run until, caching, re-run with seeds/params, downstream invalidation, failures."""
from __future__ import annotations

import numpy as np
import pytest

from nnunet_explorer.errors import ExplorerError, PlansError
from nnunet_explorer.explore import Pipeline, StepFailed, make_step, write_report
from nnunet_explorer.provenance import mirrors

CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@mirrors("nnunet.training.dataloading.dataset_loading:load_dataset")
def noise(*, n: int = 4) -> np.ndarray:
    """Draw an (n, 3) array of uniform noise."""
    _count("noise")
    return np.random.rand(n, 3)


def constant(*, value: int = 7) -> int:
    """A value that depends on nothing random."""
    _count("constant")
    return value


def scaled(noise: np.ndarray, constant: int, *, factor: float = 2.0) -> np.ndarray:
    """Multiply the noise by the constant and a factor."""
    _count("scaled")
    return noise * constant * factor


def labels(constant: int) -> np.ndarray:
    """Integer labels that depend only on the constant."""
    _count("labels")
    return np.arange(constant) % 3


def make_pipeline(**kw) -> Pipeline:
    CALLS.clear()
    return Pipeline([make_step(noise, seed=0), constant, scaled, labels], name="toy", **kw)


def test_inputs_and_knobs_come_from_the_signature():
    p = make_pipeline()
    assert p.step("scaled").inputs == ("noise", "constant")
    assert dict(p.step("scaled").knobs) == {"factor": 2.0}
    assert p.step("noise").v1 is not None and p.step("noise").v1.qualname == "load_dataset"
    assert p.step("labels").v1 is None


def test_a_step_may_only_consume_earlier_outputs():
    with pytest.raises(ValueError, match="needs 'noise'"):
        Pipeline([scaled, noise, constant])


def test_run_until_runs_only_the_prefix_and_caches():
    p = make_pipeline()
    result = p.run(until="constant")
    assert result.name == "constant" and result.output == 7
    assert set(p.results) == {"noise", "constant"}
    assert "scaled" not in p
    p.run(until="scaled")
    p.run(until="scaled")
    assert CALLS == {"noise": 1, "constant": 1, "scaled": 1}
    np.testing.assert_allclose(p["scaled"], p["noise"] * 7 * 2.0)


def test_seeded_step_is_reproducible_and_records_its_seed():
    p = make_pipeline()
    first = p.run(until="noise")
    assert first.seed == 0
    np.testing.assert_array_equal(first.output, np.random.RandomState(0).rand(4, 3))
    again = p.rerun("noise", seed=0)
    np.testing.assert_array_equal(again.output, first.output)
    other = p.rerun("noise", seed=1)
    assert other.seed == 1 and not np.array_equal(other.output, first.output)
    # the seed is the explorer's (so that a rerun repeats), not one v1 sets: the card and the summary say so
    assert ("<span title='the explorer seeds before this step so that running it again repeats it; v1 itself seeds "
            "only with --deterministic'>explorer seed 1</span>") in other._repr_html_()
    assert "noise: ok in " in p.summary().text() and ", explorer seed 1" in p.summary().text()


def test_rerun_invalidates_downstream_only():
    p = make_pipeline()
    p.run()
    assert p.downstream("noise") == ["scaled"]
    old_scaled = p["scaled"]
    p.rerun("noise", seed=5)
    assert "scaled" not in p            # downstream of noise: dropped
    assert "labels" in p and "constant" in p  # independent of noise: kept
    p.run()
    assert CALLS["constant"] == 1 and CALLS["labels"] == 1 and CALLS["scaled"] == 2
    assert not np.array_equal(old_scaled, p["scaled"])


def test_set_params_changes_the_knob_and_invalidates():
    p = make_pipeline()
    p.run()
    dropped = p.set_params("constant", value=3)
    assert dropped == ["constant", "scaled", "labels"]
    p.run()
    assert p["constant"] == 3 and list(p["labels"]) == [0, 1, 2]
    assert p.result("constant").params == {"value": 3}


def test_unknown_knob_names_the_step_and_its_knobs():
    p = make_pipeline()
    with pytest.raises(TypeError, match="'scaled' has no parameter.*factor"):
        p.set_params("scaled", facter=3)


def test_unknown_step_lists_the_steps():
    p = make_pipeline()
    with pytest.raises(KeyError, match="noise, constant, scaled, labels"):
        p.run(until="nope")


def _raise_plans_error(constant: int) -> None:
    """Fail like a missing plans file."""
    raise PlansError("plans file x.pkl does not exist", fix="run plan_and_preprocess")


def _raise_bug(constant: int) -> None:
    """Fail like a bug."""
    return {}["missing"]


def test_explorer_error_keeps_its_type_names_the_step_and_is_recorded():
    p = Pipeline([constant, make_step(_raise_plans_error, name="plans"), labels])
    with pytest.raises(PlansError) as info:
        p.run()
    assert "[step plans]" in str(info.value) and "x.pkl" in str(info.value)
    assert info.value.fix == "run plan_and_preprocess" and info.value.step == "plans"
    failed = p.result("plans")
    assert not failed.ok and failed.error.type_name == "PlansError"
    assert dict(failed.inputs) == {"constant": 7}
    assert p.failed is failed
    assert "labels" not in p.results  # the pipeline stopped at the failure


def test_other_exceptions_are_wrapped_naming_the_step():
    p = Pipeline([constant, make_step(_raise_bug, name="buggy")])
    with pytest.raises(StepFailed, match="step 'buggy' failed: KeyError") as info:
        p.run()
    assert not isinstance(info.value, ExplorerError)
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.result.inputs["constant"] == 7
    assert "KeyError" in p.result("buggy").error.traceback


def test_summary_walks_every_step_and_names_the_failure():
    p = Pipeline([make_step(noise, seed=0), constant, labels, make_step(_raise_plans_error, name="plans")],
                 name="toy")
    text = str(p.summary())  # does not raise: the failure is part of the summary
    assert "noise: ok" in text and "ndarray float64 (4, 3)" in text
    assert "labels {0, 1, 2}" in text
    assert "plans: FAILED" in text and "Stopped: step 'plans' failed: PlansError" in text
    assert p.summary(run=False).failed_step == "plans"


def test_summary_without_running_marks_steps_not_run():
    p = make_pipeline()
    p.run(until="noise")
    text = p.summary(run=False).text()
    assert "scaled: not run" in text and "noise: ok" in text


def test_report_is_a_standalone_page_and_is_not_overwritten(tmp_path):
    p = make_pipeline()
    p.run(until="scaled")
    page = p.report_html()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for name in ("noise", "constant", "scaled"):
        assert f"<b>{name}</b>" in page
    assert "not run" in page  # labels did not run
    target = write_report(p, tmp_path / "r.html")
    assert target.read_text(encoding="utf-8") == page
    with pytest.raises(FileExistsError):
        write_report(p, target)
    write_report(p, target, overwrite=True)


def test_a_shown_look_goes_to_the_card_and_the_value_to_the_next_step():
    from nnunet_explorer.explore import Shown

    class Look:
        def summary(self) -> str:
            return "visited a -> b -> c"

        def _repr_html_(self) -> str:
            return "<ol class='looked'><li>a</li><li>b</li><li>c</li></ol>"

    def found() -> Shown:
        """Find a number and show how."""
        return Shown(21, Look())

    def doubled(found: int) -> int:
        """Twice what was found."""
        return found * 2

    p = Pipeline([found, doubled])
    assert p["doubled"] == 42 and p["found"] == 21  # the value goes on, not the Shown wrapper
    result = p.result("found")
    assert isinstance(result.look, Look) and p.result("doubled").look is None
    card = result._repr_html_()
    assert "<ol class='looked'>" in card and card.index("looked") < card.index("<b>output</b>")
    assert "visited a -> b -> c" in p.summary(run=False).text()
