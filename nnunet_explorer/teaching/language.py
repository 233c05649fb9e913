"""The language of the teaching texts (see :mod:`nnunet_explorer.language`, where it lives so that the core's
cards and messages can follow it too): ``set_language("zh")`` or ``NNUNET_EXPLORER_LANG=zh``."""
from __future__ import annotations

from ..language import ENV_VAR, LANGUAGES, get_language, is_chinese, pick, set_language, tr, zh_typography

__all__ = ["ENV_VAR", "LANGUAGES", "get_language", "is_chinese", "pick", "set_language", "tr", "zh_typography"]
