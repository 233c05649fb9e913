"""How many worker processes v1 starts by default, read from the same environment variables.

Two variables size nnU-Net v1's parallel work:

* ``nnUNet_def_n_proc`` - ``default_num_threads``, the worker count of the unpacking, export, evaluation,
  postprocessing and integrity-check pools (8 when unset); ``nnUNet_plan_and_preprocess`` sizes cropping,
  fingerprint and preprocessing with ``-tl``/``-tf`` instead, and ``nnUNet_predict`` uses its own
  ``--num_threads_*`` options. v1 reads it once, when ``nnunet.configuration`` is imported.
* ``nnUNet_n_proc_DA`` - augmentation workers per training process (the validation augmenter adds
  ``max(n // 2, 1)``). v1's ``get_allowed_n_proc_DA`` returns it when set, else a count from a table of DKFZ host
  names, else None (callers then use 12).

The explorer's own trainers size their augmenters with
:func:`~nnunet_explorer.training.augmenter.default_num_processes`; these two functions give v1's values for v1
code that asks for them.
"""
from __future__ import annotations

import os
from typing import Mapping

from .errors import ConfigurationError
from .language import tr
from .provenance import mirrors

V1_DEFAULT_NUM_THREADS = 8


def _int_variable(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(tr(f"{name}={value!r} is not a whole number", f"{name}={value!r} 不是整数"),
                                 fix=tr(f"set {name} to a number of processes, e.g. 4, or unset it",
                                        f"把 {name} 设为进程数(例如 4),或取消设置它")) from None


@mirrors("nnunet.configuration:default_num_threads")
def default_num_threads(environ: Mapping[str, str] | None = None) -> int:
    """``nnUNet_def_n_proc`` as an int, 8 when unset (v1's ``nnunet.configuration.default_num_threads``)."""
    env = os.environ if environ is None else environ
    if "nnUNet_def_n_proc" not in env:
        return V1_DEFAULT_NUM_THREADS
    return _int_variable("nnUNet_def_n_proc", env["nnUNet_def_n_proc"])


@mirrors("nnunet.utilities.set_n_proc_DA:get_allowed_n_proc_DA")
def get_allowed_n_proc_DA(environ: Mapping[str, str] | None = None) -> int | None:  # noqa: N802 - v1's name
    """``nnUNet_n_proc_DA`` as an int, or None when it is unset (callers such as DA5 then use 12).

    # differs from v1: no lookup of the DKFZ cluster's host names (v1 returns 6-28 on those machines and
    # None everywhere else, which is what this returns without the variable).
    """
    env = os.environ if environ is None else environ
    if "nnUNet_n_proc_DA" not in env:
        return None
    return _int_variable("nnUNet_n_proc_DA", env["nnUNet_n_proc_DA"])
