"""The language a learner reads: English by default, Chinese (``zh``) for the seed blog's readers.

``set_language("zh")`` switches every prose text to Chinese for the whole process: why-texts, card titles,
leads and descriptions, table headers, figure captions, the walkthrough's console lines and the command
line's messages; the environment variable ``NNUNET_EXPLORER_LANG=zh`` does the same without code (read each
time a text is drawn, unless ``set_language`` chose a language). Code identifiers (``max_num_epochs``,
``Generic_UNet``) and what v1 itself prints stay as they are in both languages, as in v1's source.

This module sits at the bottom of the package (it imports only :mod:`~nnunet_explorer.errors`, no torch), so
the core's own cards and messages can be bilingual: ``tr("output", "输出")`` picks the text at the moment it
is drawn. :mod:`nnunet_explorer.teaching.language` re-exports it.
"""
from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from . import errors
from .errors import ConfigurationError

LANGUAGES = ("en", "zh")
ENV_VAR = "NNUNET_EXPLORER_LANG"
_chosen: str | None = None
_speaking = threading.local()  # speaking()'s language, for the thread inside the block only


def _code(language: str) -> str | None:
    """``language``'s code in :data:`LANGUAGES`, or None when it names none (never raises)."""
    code = str(language).strip().lower().replace("_", "-")
    code = {"zh-cn": "zh", "zh-hans": "zh", "cn": "zh", "chinese": "zh", "english": "en"}.get(code, code)
    return code if code in LANGUAGES else None


def _normalise(language: str) -> str:
    code = _code(language)
    if code is None:  # tr below reads the language in effect, which never calls _normalise (no recursion)
        raise ConfigurationError(tr(f"unknown language {language!r}", f"未知的语言 {language!r}"),
                                 fix=tr(f"use one of {', '.join(LANGUAGES)}",
                                        f"请使用其中之一: {', '.join(LANGUAGES)}"))
    return code


def set_language(language: str | None) -> str:
    """Choose the language of the teaching texts (``"en"`` or ``"zh"``); None goes back to the default.

    Returns the language now in effect. Cards already shown in a notebook keep their text; cards drawn
    afterwards (and reports written afterwards) use the new language.
    """
    global _chosen
    _chosen = None if language is None else _normalise(language)
    return get_language()


def get_language() -> str:
    """The language in effect: :func:`speaking`'s inside its block, else ``set_language``'s choice, else
    ``$NNUNET_EXPLORER_LANG``, else English."""
    inside = getattr(_speaking, "language", None)
    if inside is not None:
        return inside
    if _chosen is not None:
        return _chosen
    env = os.environ.get(ENV_VAR, "").strip()
    if not env:
        return "en"
    return _code(env) or "en"  # a mistyped variable must not break every card; the default applies


def pick(texts: dict[str, str], language: str | None = None) -> str:
    """The text of ``texts`` (keyed by language) in ``language`` (default: the language in effect)."""
    lang = _normalise(language) if language is not None else get_language()
    text = texts.get(lang) or texts["en"]
    return zh_typography(text) if lang == "zh" and lang in texts else text


def tr(en: str, zh: str, language: str | None = None) -> str:
    """``en`` or its Chinese translation ``zh``, in the language in effect (``pick`` of the two)."""
    return pick({"en": en, "zh": zh}, language)


@contextmanager
def speaking(language: str) -> Iterator[str]:
    """Texts made inside the block are in ``language``, in this thread only (other threads, and the code after
    the block, keep the language in effect)."""
    previous = getattr(_speaking, "language", None)
    _speaking.language = _normalise(language)
    try:
        yield _speaking.language
    finally:
        _speaking.language = previous


def in_every_language(make: Callable[[], str]) -> dict[str, str]:
    """``make()`` once in each language: a text kept now and shown later, by :func:`pick`, in whichever language
    is in effect then (a planner's decision, made in English and read after ``set_language("zh")``)."""
    texts = {}
    for language in LANGUAGES:
        with speaking(language):
            texts[language] = make()
    return texts


errors._labels = tr  # the explorer's errors label their cause and fix in the reader's language


def severity_word(severity: str) -> str:
    """A finding's severity (``info`` / ``warning`` / ``error``, the JSON's words) as a reader's word."""
    words = {"info": tr("info", "提示"), "warning": tr("warning", "警告"), "error": tr("error", "错误")}
    return words.get(severity, severity)


def and_more(shown: int, total: int) -> str:
    """The end of a list cut at ``shown`` of ``total`` items: " and 3 more" (nothing when none was cut)."""
    return tr(f" and {total - shown} more", f"，另有 {total - shown} 个") if total > shown else ""


def display_width(text: str) -> int:
    """Columns a terminal gives ``text``: CJK characters and full-width punctuation take two."""
    return sum(2 if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" or "\u3000" <= ch <= "\u303f" else 1
               for ch in text)


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns, so Chinese columns line up as English ones do."""
    return text + " " * max(0, width - display_width(text))


def is_chinese(language: str | None = None) -> bool:
    """Whether texts are drawn in Chinese now (or in ``language``)."""
    return (_normalise(language) if language is not None else get_language()) == "zh"


_CJK = "\u3400-\u9fff\u3000-\u303f\uff00-\uffef"
_IS_CJK = re.compile(f"[{_CJK}]")
_PAIR = re.compile(r"\(([^()]*)\)")
_FULL = {",": "\uff0c", ";": "\uff1b", ":": "\uff1a", "!": "\uff01", "?": "\uff1f"}


def _cjk(ch: str) -> bool:
    return bool(ch) and bool(_IS_CJK.match(ch))


def _typeset(text: str) -> str:
    outer = False  # after the first pass only pairs around a converted pair are looked at again

    def pair(m: re.Match) -> str:
        content = m.group(1)
        if outer:
            if not re.search("[\uff08\uff09]", content):
                return m.group(0)
            # the converted pairs inside are Chinese themselves: judge the pair by what lies outside them
            content = re.sub("\uff08[^\uff08\uff09]*\uff09", "", content)
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        if _cjk(before) or _cjk(after) or _IS_CJK.search(content):
            return f"\uff08{m.group(1)}\uff09"
        return m.group(0)

    while True:  # innermost pairs first; a converted pair no longer hides the pair around it
        typeset = _PAIR.sub(pair, text)
        if typeset == text:
            break
        text, outer = typeset, True
    text = re.sub(" ?([\uff08\uff09]) ?", r"\1", text)  # full-width brackets carry their own spacing
    out = []
    for i, ch in enumerate(text):
        if ch in _FULL:
            before = text[i - 1] if i else ""
            after = text[i + 1:].lstrip()[:1]
            glued = text[i + 1:i + 2]  # English puts a space after , and :, so a letter right after is Chinese style
            if (ch == ";" or _cjk(before) or _cjk(after) or after in "\u201c\u2018"
                    or (glued.isascii() and glued.isalpha())):
                out.append(_FULL[ch])
                continue
        out.append(ch)
    return re.sub("([\uff0c\uff1b\uff1a\uff01\uff1f]) +", r"\1", "".join(out))


def zh_typography(text: str) -> str:
    """Chinese punctuation where the text is Chinese: ASCII ``, ; : ( )`` next to Chinese become full-width.

    The texts are written with ASCII punctuation for easy editing; readers expect the full-width forms
    (U+FF0C, U+FF1B, U+FF1A, U+FF08/U+FF09) in Chinese prose. Code quoted as ````x```` or ```x``` (write a call
    such as ``maybe_update_lr(epoch)`` that way) and punctuation between two non-Chinese characters (``1, 2``,
    ``KFold(5, ...)``) are left alone. Nested brackets are converted from the inside out.
    """
    codes: list[str] = []

    def hide(m: re.Match) -> str:  # code becomes an opaque placeholder, so brackets around it still pair up
        codes.append(m.group(0))
        return f"\x00{len(codes) - 1}\x00"

    masked = _typeset(re.sub(r"``.+?``|(?<!`)`[^`\n]+`(?!`)", hide, text, flags=re.S))
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], masked)


__all__ = ["ENV_VAR", "LANGUAGES", "and_more", "get_language", "in_every_language", "is_chinese", "pick",
           "set_language",
           "severity_word", "speaking", "tr", "zh_typography"]
