"""``nnunet.inference.segmentation_export``: class probabilities back to a NIfTI on the original image grid.

v1's ``save_segmentation_nifti_from_softmax`` with v1's argument order and names (``nnUNetTrainerV2_fullEvals``
passes all twelve positionally), over the explorer's
:func:`~nnunet_explorer.inference.export.save_segmentation_nifti_from_softmax`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nnunet_explorer.inference import export
from nnunet_explorer.provenance import mirrors


@mirrors("nnunet.inference.segmentation_export:save_segmentation_nifti_from_softmax")
def save_segmentation_nifti_from_softmax(segmentation_softmax: np.ndarray | str, out_fname: str,
                                         properties_dict: Mapping[str, Any], order: int = 1,
                                         region_class_order: Sequence[int] | None = None,
                                         seg_postprogess_fn: Callable[..., np.ndarray] | None = None,
                                         seg_postprocess_args: Sequence[Any] | None = None,
                                         resampled_npz_fname: str | None = None,
                                         non_postprocessed_fname: str | None = None,
                                         force_separate_z: bool | None = None, interpolation_order_z: int = 0,
                                         verbose: bool = True) -> None:
    """Resample, (argmax or regions), un-crop and write ``out_fname``; see the explorer function for each step."""
    if verbose:
        print("force_separate_z:", force_separate_z, "interpolation order:", order)
    record = export.save_segmentation_nifti_from_softmax(
        segmentation_softmax, out_fname, properties_dict, order, npz_file=resampled_npz_fname,
        force_separate_z=force_separate_z, order_z=interpolation_order_z, region_class_order=region_class_order,
        postprocess=seg_postprogess_fn, postprocess_args=tuple(seg_postprocess_args or ()),
        non_postprocessed_file=non_postprocessed_fname)
    if verbose:  # v1's lines (its axis is a numpy array)
        if record.resampled:
            axis = None if record.lowres_axis is None else np.array(record.lowres_axis)
            print("separate z:", record.do_separate_z, "lowres axis", axis)
        else:
            print("no resampling necessary")


__all__ = ["save_segmentation_nifti_from_softmax"]
