"""The notes of a card that depend on the run it shows: computed from the step's result, in the reader's language.

The catalogue (:mod:`.why`) holds what is true of every run. Some lessons need the run's own numbers — a
hard-coded "KiTS19: batch 3" would contradict a card whose plans say otherwise — so these builders read the
step's recorded inputs and output:

* ``configuration`` — v1's printed block line by line; for edited plans, how they differ from v1's planner;
* ``plans_processed`` — the plans against v1's planner, v1's batch and dummy-2D rules on this run's patch, and
  for KiTS19's fingerprint how the blog's plans relate to v1's;
* ``architecture`` — whether v1's own plans would build the same network;
* ``training_epochs`` — the fold folder's ``debug.json``, entry by entry.

:func:`run_notes` is called by :func:`~nnunet_explorer.teaching.why.step_notes` each time a recorded card is
drawn. A builder that fails does not cost the learner the card: the card says what could not be computed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..explore.notes import Note, NoteTable
from .language import pick

Built = tuple[tuple[Note, ...], tuple[NoteTable, ...]]


def _plans_of(trainer: Any) -> tuple[Any, int]:
    return trainer.plans, int(trainer.stage)


def _configuration(result: Any, lang: str) -> Built:
    from .plans_notes import configuration_notes

    return configuration_notes(result.output, lang)


def _plans_processed(result: Any, lang: str) -> Built:
    from .plans_notes import plans_check_notes

    plans, stage = _plans_of(result.inputs["trainer"])
    return plans_check_notes(plans, stage, language=lang), ()


def _architecture(result: Any, lang: str) -> Built:
    from ..planning.replan import check_plans
    from .plans_notes import network_note

    plans, stage = _plans_of(result.inputs["trainer"])
    note = network_note(check_plans(plans), stage, lang)
    return ((note,) if note is not None else ()), ()


def _training_epochs(result: Any, lang: str) -> Built:
    from ..errors import ExplorerError
    from ..training.progress_log import read_debug_json
    from .debug_json import debug_json_note, debug_json_table

    path = Path(result.output.output_folder) / "debug.json"
    try:
        debug = read_debug_json(path)
    except ExplorerError as error:
        return (Note("debug-json", "debug.json", str(error)),), ()
    return (debug_json_note(str(path), lang),), (debug_json_table(debug, lang),)


RUN_NOTES: dict[str, Callable[[Any, str], Built]] = {
    "configuration": _configuration,
    "plans_processed": _plans_processed,
    "architecture": _architecture,
    "training_epochs": _training_epochs,
}


def run_notes(name: str, result: Any, lang: str) -> Built:
    """The boxes and tables step ``name``'s card adds for this ``result`` (nothing for a failed step)."""
    builder = RUN_NOTES.get(name)
    if builder is None or not getattr(result, "ok", False):
        return (), ()
    try:
        return builder(result, lang)
    except Exception as error:  # noqa: BLE001 - a note that cannot be computed must not cost the learner the card
        text = pick({"en": f"This card's notes on the run could not be computed ({type(error).__name__}: {error}).",
                     "zh": f"无法计算这张卡片关于本次运行的说明({type(error).__name__}: {error})。"}, lang)
        return (Note("pitfall", pick({"en": "note", "zh": "说明"}, lang), text),), ()


__all__ = ["RUN_NOTES", "run_notes"]
