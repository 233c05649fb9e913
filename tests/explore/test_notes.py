"""Teaching notes on cards (the generic machinery: no nnU-Net text here) and RST code quotes in cards."""
from __future__ import annotations

import re

from nnunet_explorer.explore import Pipeline, make_step
from nnunet_explorer.explore.html import step_card
from nnunet_explorer.explore.notes import GlossaryLink, Note, StepNotes, inline_html, inline_text, notes_html


def source(*, size: int = 3) -> list[int]:
    """Make ``size`` numbers with ``range``.

    The list is built by ``list(range(size))``; see :func:`range`.
    """
    return list(range(size))


def total(source: list[int]) -> int:
    """Add them up with ``sum``."""
    return sum(source)


NOTES = StepNotes(
    title="the sum",
    why=(Note("fact", "fact", "``sum`` adds left to right."), Note("rationale", "rationale", "Order <matters> & more.")),
    boxes=(Note("pitfall", "pitfall", "floats: ``0.1 + 0.2``"), Note("erratum", "erratum", "not ``reduce``")),
    links=(GlossaryLink("sum", "#gl-sum", "the total"),),
)


def test_inline_markup_becomes_code_and_is_escaped():
    assert inline_html("use ``a<b`` and :func:`~pkg.mod.f`") == "use <code>a&lt;b</code> and <code>f</code>"
    assert inline_text("use ``x`` and :class:`y`") == "use x and y"
    assert inline_html("no quotes <i>") == "no quotes &lt;i&gt;"


def test_notes_render_why_block_boxes_and_links():
    page = notes_html(NOTES)
    why = re.search(r'<div class="why">(.*?)</div>', page).group(1)
    assert '<p class="fact">' in why and '<p class="rationale">' in why and "<code>sum</code>" in why
    assert "Order &lt;matters&gt; &amp; more." in why
    assert '<div class="pitfall">' in page and '<div class="erratum">' in page
    assert 'href="#gl-sum"' in page and 'title="the total"' in page
    assert "``" not in page
    assert notes_html(None) == ""


def test_notes_as_text_lines_are_wrapped_and_unquoted():
    lines = NOTES.text_lines(width=40, indent="  ")
    assert lines[0].startswith("  fact: sum adds") and all(len(line) <= 40 for line in lines)
    assert any("pitfall: floats: 0.1 + 0.2" in line for line in lines)
    assert NOTES.why_text == "fact: sum adds left to right. rationale: Order <matters> & more."


def test_card_shows_docstring_code_quotes_as_code_and_the_notes():
    p = Pipeline([make_step(source, why=NOTES), total])
    p.run()
    card = step_card(p.result("source"))
    assert "<code>list(range(size))</code>" in card and "<code>range</code>" in card
    assert "``" not in card and ":func:" not in card
    assert 'class="why"' in card and "· the sum" in card and "id='step-source'" in card
    plain = step_card(p.result("total"))  # a step without notes renders as before, with its code quoted
    assert 'class="why"' not in plain and "<code>sum</code>" in plain


def test_a_function_why_is_read_each_time_a_card_is_drawn():
    state = {"title": "first"}
    p = Pipeline([make_step(source, why=lambda: StepNotes(title=state["title"])), total])
    p.run()
    assert "· first" in step_card(p.result("source"))
    state["title"] = "second"
    assert "· second" in step_card(p.result("source"))
    assert p.step("source").notes.title == "second"


def test_annotate_reaches_steps_results_summary_and_report():
    p = Pipeline([source, total])
    p.run(until="source")
    p.annotate("source", NOTES)
    p.annotate("total", StepNotes(title="added", why=(Note("fact", "fact", "one number"),)))
    assert p.result("source").notes is NOTES and p.step("total").notes.title == "added"
    p.run()
    assert p.result("total").notes.title == "added"
    text = str(p.summary(run=False))
    assert " 1. source: ok in " in text and " · the sum" in text and "      fact: sum adds left to right." in text
    assert "      pitfall: floats: 0.1 + 0.2" in text
    p.report_before = lambda pipeline: f"<nav>{len(pipeline.step_names)} steps</nav>"
    p.report_after = lambda pipeline: "<section id='gl-sum'>glossary</section>"
    page = p.report_html()
    assert page.index("<nav>2 steps</nav>") < page.index("id='step-source'") < page.index("id='gl-sum'")


def test_pending_steps_show_their_title():
    p = Pipeline([make_step(source, why=NOTES), total])
    assert "· the sum" in p.report_html() and "not run" in p.report_html()


def test_chinese_text_wraps_by_display_width_without_splitting_english_words():
    from nnunet_explorer.explore.notes import wrap
    from nnunet_explorer.language import display_width as _display_width

    text = "最粗的输出(KiTS19 为 5x10x10)及其最近邻下采样的目标太粗糙,学不到有用的东西,所以 deep_supervision 不训练它。" * 2
    lines = wrap(text, 40, "理由: ", "  ")
    assert len(lines) > 3 and lines[0].startswith("理由: ") and all(line.startswith("  ") for line in lines[1:])
    assert all(_display_width(line) <= 40 for line in lines)
    for word in ("KiTS19", "5x10x10", "deep_supervision"):  # English words stay whole on one line
        assert sum(line.count(word) for line in lines) == 2, word
    joined = "".join(line.strip() for line in lines).replace("理由:", "")
    assert joined.replace(" ", "") == text.replace(" ", "")  # nothing lost or added
    assert wrap("plain english words here", 12) == ["plain", "english", "words here"]


def test_no_wrapped_chinese_line_starts_with_closing_punctuation():
    from nnunet_explorer.explore.notes import wrap

    text = "学习率只依赖 epoch 数,与任何验证结果无关。" * 6
    for width in range(20, 50):
        assert not any(line.strip()[0] in ",。;:、)" for line in wrap(text, width, "理由: ", "  ")[1:]), width
