"""v1's online evaluation: the "Average global foreground Dice" logged after every epoch's validation batches."""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from ..provenance import mirrors


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.finish_online_evaluation")
def global_dice(tp: Sequence[Sequence[float]], fp: Sequence[Sequence[float]], fn: Sequence[Sequence[float]]
                ) -> tuple[list, Any]:
    """Sum tp/fp/fn of all validation batches, then ``2tp / (2tp + fp + fn)`` per foreground class.

    Args:
        tp, fp, fn: one row per validation batch, one column per foreground class.

    Returns:
        ``(per_class, mean)``: classes whose Dice is undefined (never present, never predicted: 0/0) are
        dropped, as in v1; ``mean`` is their ``np.mean`` (NaN when every class was dropped). It is an estimate:
        patches, not whole cases, and the counts of all batches pooled.
    """
    tp_s = np.sum(np.asarray(tp, dtype=np.float32), 0)
    fp_s = np.sum(np.asarray(fp, dtype=np.float32), 0)
    fn_s = np.sum(np.asarray(fn, dtype=np.float32), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = [d for d in [2 * i / (2 * i + j + k) for i, j, k in zip(np.atleast_1d(tp_s), np.atleast_1d(fp_s),
                                                                            np.atleast_1d(fn_s))] if not np.isnan(d)]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of no class is NaN, as in v1
        mean = np.mean(per_class) if per_class else np.float32(np.nan)
    return per_class, mean


__all__ = ["global_dice"]
