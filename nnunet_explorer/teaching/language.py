"""The language of the teaching texts: English by default, Chinese (``zh``) for the seed blog's readers.

``set_language("zh")`` switches why-texts, card titles, glossary terms and the report's table of contents to
Chinese for the whole process; the environment variable ``NNUNET_EXPLORER_LANG=zh`` does the same without
code (read each time a card is drawn, unless ``set_language`` chose a language). Code identifiers
(``max_num_epochs``, ``Generic_UNet``) stay in English in both languages, as in v1's source.
"""
from __future__ import annotations

import os

from ..errors import ConfigurationError

LANGUAGES = ("en", "zh")
ENV_VAR = "NNUNET_EXPLORER_LANG"
_chosen: str | None = None


def _normalise(language: str) -> str:
    code = str(language).strip().lower().replace("_", "-")
    code = {"zh-cn": "zh", "zh-hans": "zh", "cn": "zh", "chinese": "zh", "english": "en"}.get(code, code)
    if code not in LANGUAGES:
        raise ConfigurationError(f"unknown language {language!r}", fix=f"use one of {', '.join(LANGUAGES)}")
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
    """The language in effect: ``set_language``'s choice, else ``$NNUNET_EXPLORER_LANG``, else English."""
    if _chosen is not None:
        return _chosen
    env = os.environ.get(ENV_VAR, "").strip()
    if not env:
        return "en"
    try:
        return _normalise(env)
    except ConfigurationError:
        return "en"  # a mistyped variable must not break every card; the default applies


def pick(texts: dict[str, str], language: str | None = None) -> str:
    """The text of ``texts`` (keyed by language) in ``language`` (default: the language in effect)."""
    lang = _normalise(language) if language is not None else get_language()
    return texts.get(lang) or texts["en"]


__all__ = ["ENV_VAR", "LANGUAGES", "get_language", "pick", "set_language"]
