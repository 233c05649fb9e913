"""Where in each case the patches of an epoch came from: per-case heat maps of the sampled boxes.

Every batch from :mod:`nnunet_explorer.training.dataloading` carries one
:class:`~nnunet_explorer.training.dataloading.SampleProvenance` per sample (case id, box, forced or not).
Adding 1 to every voxel of the case that a box covers, over all batches of an epoch, gives a count map at the
preprocessed case's shape. It shows what a learner rarely sees: random boxes cover the middle of a case more often
than its borders, and the forced-foreground samples of every batch (one of two at batch size 2) pile up around the
labelled structures. Forced and random samples are counted separately. Box parts outside the case (padding) are
clipped away, so a map's sum can be smaller than ``samples × patch volume``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from ..language import tr
from .dataloading import SampleProvenance


@dataclass
class CaseSamplingMap:
    """Count maps for one case, ``(z, y, x)`` int32: how many sampled boxes covered each voxel.

    Attributes:
        case_id: the case.
        shape: the preprocessed case's spatial shape.
        forced: counts from forced-foreground samples.
        random: counts from random samples.
        n_forced, n_random: how many samples of each kind came from this case.
        centers: the voxels forced samples were centred on.
    """

    case_id: str
    shape: tuple[int, ...]
    forced: np.ndarray
    random: np.ndarray
    n_forced: int = 0
    n_random: int = 0
    centers: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def total(self) -> np.ndarray:
        return self.forced + self.random

    @property
    def n_samples(self) -> int:
        return self.n_forced + self.n_random


@dataclass
class SamplingMap:
    """Per-case count maps accumulated from batches (use :meth:`add_batch`, or :func:`sampling_map`)."""

    cases: dict[str, CaseSamplingMap] = field(default_factory=dict)

    def add(self, sample: SampleProvenance) -> None:
        """Count one sample's box (clipped to the case)."""
        entry = self.cases.get(sample.case_id)
        if entry is None:
            entry = CaseSamplingMap(sample.case_id, tuple(sample.case_shape),
                                    np.zeros(sample.case_shape, np.int32), np.zeros(sample.case_shape, np.int32))
            self.cases[sample.case_id] = entry
        window = tuple(slice(max(0, lb), min(s, ub)) for (lb, ub), s in zip(sample.box, sample.case_shape))
        target = entry.forced if sample.forced else entry.random
        target[window] += 1
        if sample.forced:
            entry.n_forced += 1
            if sample.center_voxel is not None:
                entry.centers.append(tuple(sample.center_voxel))
        else:
            entry.n_random += 1

    def add_batch(self, batch: Mapping[str, Any]) -> None:
        """Count every sample of a loader batch (needs its ``'provenance'``)."""
        for sample in batch["provenance"]:
            self.add(sample)

    @property
    def n_samples(self) -> int:
        return sum(c.n_samples for c in self.cases.values())

    @property
    def n_forced(self) -> int:
        return sum(c.n_forced for c in self.cases.values())

    def summary(self) -> str:
        """Text: samples per case (forced / random) and how much of each case was ever covered."""
        samples, forced, cases = self.n_samples, self.n_forced, len(self.cases)
        lines = [tr(f"{samples} samples ({forced} forced foreground) from {cases} cases",
                    f"{samples} 个样本（{forced} 个强制前景），来自 {cases} 个病例")]
        for r in self.rows():
            covered = 100 * r["covered_fraction"]
            lines.append(tr(f"  {r['case']}: {r['samples']} samples ({r['forced']} forced), {covered:.0f} % of the case "
                            "covered",
                            f"  {r['case']}：{r['samples']} 个样本（{r['forced']} 个强制前景），覆盖了病例的 "
                            f"{covered:.0f} %"))
        return "\n".join(lines)

    def rows(self) -> list[dict[str, Any]]:
        """One row per case: samples (forced / random) and the fraction of the case ever covered."""
        return [{"case": c.case_id, "samples": c.n_samples, "forced": c.n_forced, "random": c.n_random,
                 "covered_fraction": float((c.total > 0).mean())} for c in sorted(self.cases.values(),
                                                                                  key=lambda c: c.case_id)]


def sampling_map(batches: Iterable[Mapping[str, Any]]) -> SamplingMap:
    """Accumulate the boxes of ``batches`` (e.g. ``[next(loader) for _ in range(250)]``, one epoch)."""
    result = SamplingMap()
    for batch in batches:
        result.add_batch(batch)
    return result


def epoch_sampling_map(loader: Any, num_batches_per_epoch: int = 250) -> SamplingMap:
    """Draw one epoch of batches from ``loader`` (v1: 250) and map where their patches came from.

    Only the loader runs (no augmentation), so this is cheap; it advances ``np.random`` like an epoch would.
    """
    return sampling_map(next(loader) for _ in range(num_batches_per_epoch))
