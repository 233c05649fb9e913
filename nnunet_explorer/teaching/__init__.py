"""Teaching material for the walkthrough: the why of every step, errata, pitfalls, glossary, languages.

* :mod:`.why`: the catalogue, one entry per step name: fact (what v1's code does) and rationale (why).
* :mod:`.glossary`: terms in English and Chinese (``docs/glossary.md`` is generated from it).
* :mod:`.language`: ``set_language("zh")`` / ``NNUNET_EXPLORER_LANG=zh``.
* :mod:`.toc`: the report's table of contents, mapped to the seed blog's headings.
* :func:`attach_teaching`: give a pipeline's steps their notes and its report the contents and glossary.

This layer knows nnU-Net (it is written about v1) and uses :mod:`nnunet_explorer.explore` to show it; the core
(training/, planning/ ...) never imports it.
"""
from __future__ import annotations

from typing import Any

from .language import ENV_VAR, LANGUAGES, get_language, set_language
from .why import WHY, step_notes, why_of


def attach_teaching(pipeline: Any) -> Any:
    """Give every step of ``pipeline`` with a catalogue entry its why (in the language of the moment), and its
    HTML report a table of contents (before the cards) and the glossary (after them). Returns the pipeline."""
    from .glossary import glossary_html
    from .toc import toc_html

    for name in pipeline.step_names:
        if name in WHY:
            pipeline.annotate(name, why_of(name, pipeline.step(name).doc))
    pipeline.report_before = toc_html
    pipeline.report_after = lambda _pipeline: glossary_html()
    pipeline.report_lang = get_language
    return pipeline


__all__ = ["ENV_VAR", "LANGUAGES", "WHY", "attach_teaching", "get_language", "set_language", "step_notes"]
