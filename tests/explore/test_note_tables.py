"""Notes that carry tables, and why functions that read the step's result."""
from __future__ import annotations

from nnunet_explorer.explore import Pipeline, make_step
from nnunet_explorer.explore.notes import Note, NoteTable, StepNotes, notes_html, resolve_why


def test_a_note_table_renders_as_html_and_text():
    table = NoteTable("block", "the block", ("line", "meaning"), (("a = <1>", "the ``a`` value"), ("b", "")))
    notes = StepNotes("t", (Note("fact", "fact", "x"),), tables=(table,))
    page = notes_html(notes)
    assert '<details class="block" open><summary><b>the block</b></summary>' in page
    assert "<th>line</th><th>meaning</th>" in page
    assert "<td><code>a = &lt;1&gt;</code></td><td>the <code>a</code> value</td>" in page
    lines = notes.text_lines()
    assert "the block:" in lines and "  a = <1>: the a value" in lines


def test_a_why_with_a_parameter_gets_the_result_and_one_without_does_not():
    def double(*, x: int = 2) -> int:
        """Twice x."""
        return 2 * x

    seen = []

    def why(result=None):
        seen.append(result)
        return StepNotes("doubling", (Note("fact", "fact", f"output {getattr(result, 'output', None)}"),))

    pipeline = Pipeline([make_step(double)])
    pipeline.annotate("double", why)
    result = pipeline.run()
    assert "output 4" in result.notes.why_text and seen[-1] is result
    assert "output None" in pipeline.step("double").notes.why_text  # a step not run: no result to cite
    assert resolve_why(lambda: StepNotes("plain"), result).title == "plain"
