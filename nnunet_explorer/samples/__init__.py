"""Small example tasks in nnU-Net v1's raw layout, to run the whole pipeline on a laptop CPU.

* :mod:`~nnunet_explorer.samples.synthetic` — deterministic synthetic CT-like and MR-like tasks
  (``write_synthetic_task``).
* :mod:`~nnunet_explorer.samples.real` — a real MR sample (Colin27 T1 with AAL deep grey labels, shipped in
  ``data_samples/colin27_deep_grey``) and ``build_real_task``, which derives a training task from it.

``nnunet-explorer sample {synthetic-ct,synthetic-mr,real}`` writes either into the workspace.
"""
