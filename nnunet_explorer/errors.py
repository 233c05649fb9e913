"""The package's own exception types.

Every failure a user can cause raises one of these, with a message that names the cause *and* the fix.
The command line prints the message and exits non-zero without a traceback (``--debug`` shows it).
Programming errors (bugs in the explorer) stay ordinary Python exceptions on purpose.
"""
from __future__ import annotations

from typing import Callable


class ExplorerError(Exception):
    """Base class: a problem with the user's input, files or environment, explained."""

    exit_code: int = 2

    def __init__(self, message: str, *, fix: str | None = None, step: str | None = None) -> None:
        self.cause = message
        self.fix = fix
        self.step = step
        text = message
        if step:
            text = f"[step {step}] {text}"
        if fix:
            text = f"{text}\n  fix: {fix}"
        super().__init__(text)  # the English text: what a pickled copy (from a worker process) carries

    def __str__(self) -> str:
        """The step, the cause and the fix, labelled in the reader's language when the error is shown."""
        if getattr(self, "cause", None) is None:  # rebuilt from its English text alone
            return super().__str__()
        text = self.cause
        if self.step:
            text = _labels("[step {}] ", "[步骤 {}] ").format(self.step) + text
        if self.fix:
            text += "\n  " + _labels("fix: ", "解决办法：") + self.fix
        return text


def _english(en: str, zh: str) -> str:
    return en


# the labels' language: :mod:`nnunet_explorer.language` (which imports this module, so this one cannot import it)
# puts its ``tr`` here when it is imported
_labels: Callable[[str, str], str] = _english


class PathsError(ExplorerError):
    """nnU-Net's folders (nnUNet_raw_data_base, nnUNet_preprocessed, RESULTS_FOLDER) are unusable."""


class TaskError(ExplorerError):
    """A task id or name does not resolve to exactly one task folder."""


class DatasetError(ExplorerError):
    """A raw task (dataset.json, images, labels) is broken; the message names the case and the file."""


class PlansError(ExplorerError):
    """Plans are missing, unreadable or inconsistent."""


class ConfigurationError(ExplorerError):
    """The requested network / trainer / fold combination cannot be configured."""


class UnsafeFileError(ExplorerError):
    """A pickle or checkpoint asked to load something outside the allow-list, so it was refused."""


class TrainingError(ExplorerError):
    """Training cannot continue (NaN loss, missing checkpoint, incompatible weights, ...)."""
