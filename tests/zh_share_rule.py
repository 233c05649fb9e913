"""The rule of ``../shared/tools/zh_share.py``: which blocks of a report are prose, and which hold Chinese.

A *block* is the text between two tags, outside ``<code>``, ``<pre>``, ``<svg>``, ``<style>`` and ``<script>``
(identifiers, v1's printed block and code are not prose). A block is *prose* when it holds Chinese or at least
five plain English words (three letters or more, not part of a dotted or underscored identifier).
"""
from __future__ import annotations

import html
import re

CJK = re.compile(r"[\u4e00-\u9fff]")
_SKIPPED = re.compile(r"<(style|script|svg|pre|code)\b.*?</\1>", re.S)
_WORD = re.compile(r"(?<![\w.])[A-Za-z]{3,}(?![\w.])")


def blocks(page: str) -> list[str]:
    """The text blocks of an HTML page, outside code, preformatted text, pictures, styles and scripts."""
    text = _SKIPPED.sub(" ", page)
    return [html.unescape(b).strip() for b in re.split(r"<[^>]+>", text)]


def prose_blocks(page: str) -> list[str]:
    return [b for b in blocks(page) if CJK.search(b) or len(_WORD.findall(b)) >= 5]


def zh_share(page: str) -> float:
    """Share of the prose blocks that hold Chinese."""
    prose = prose_blocks(page)
    return sum(1 for b in prose if CJK.search(b)) / max(1, len(prose))


def english_blocks(page: str) -> list[str]:
    """The prose blocks without Chinese (what a Chinese reader still reads in English)."""
    return [b for b in prose_blocks(page) if not CJK.search(b)]
