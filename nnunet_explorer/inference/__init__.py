"""Validation and prediction, as nnU-Net v1 does them.

* :mod:`nnunet_explorer.network_architecture.sliding_window` — ``predict_3D``: tiles, Gaussian weighting, mirroring (3D nets, and 2D nets
  slice by slice), with the tiles and per-flip contributions kept for inspection.
* :mod:`.export` — ``save_segmentation_nifti_from_softmax``: probabilities back to the original grid, argmax,
  un-crop, NIfTI (optional float16 softmax ``.npz`` for ensembling).
* :mod:`.evaluation` — ``aggregate_scores``: ``summary.json`` with v1's 13 metrics per label and case.
* :mod:`.postprocessing` — ``determine_postprocessing`` (per fold), ``consolidate_folds`` (whole cross-validation,
  the model folder's ``postprocessing.json``) and the largest-connected-component rule.
* :mod:`.validation` — ``nnUNetTrainer.validate`` for one fold.
* :mod:`.predict` — ``nnUNet_predict``: preprocess new cases, ensemble folds, export, postprocess.
* :mod:`.predictor` — :class:`Predictor`: the same prediction from Python, one image (path, SimpleITK image or
  numpy array) at a time, with a card of what it did.

Checkpoints are read by :mod:`nnunet_explorer.training.checkpoints` (safe loading, no arbitrary code).
"""

__all__ = ["Predictor"]


def __getattr__(name: str):
    # lazy, so that importing a sibling module (e.g. .export) does not load the predictor and its imports
    if name == "Predictor":
        from .predictor import Predictor

        return Predictor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
