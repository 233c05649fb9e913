"""napari sample data: the explorer's synthetic cases (made in memory) and the real Colin27 sample."""
from __future__ import annotations

from ..layers import real_sample_layers, synthetic_sample_layers


def synthetic_ct() -> list[tuple]:
    """Case 0 of the synthetic CT task: one HU image, labels organ (1) and lesion (2), 3 x 0.8 x 0.8 mm voxels."""
    return [spec.as_tuple() for spec in synthetic_sample_layers("ct")]


def synthetic_mr() -> list[tuple]:
    """Case 0 of the synthetic two-modality MR task (T1, T2), 1 mm voxels, zero background."""
    return [spec.as_tuple() for spec in synthetic_sample_layers("mr")]


def real_sample() -> list[tuple]:
    """The real sample: Colin27 T1 crop with AAL deep grey nuclei (caudate, putamen, pallidum, thalamus)."""
    return [spec.as_tuple() for spec in real_sample_layers()]
