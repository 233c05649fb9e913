"""nnU-Net v1's experiment planning and preprocessing (``nnUNet_plan_and_preprocess``), one module per piece.

=================  ================================================================================
``cropping``       nonzero mask, bounding box, crop with -1 outside, case loading (``ImageCropper``)
``fingerprint``    ``DatasetAnalyzer``: sizes, spacings, size reductions, CT intensity statistics
``normalization``  normalization scheme per modality and the nonzero-mask decision
``planner3d``      ``ExperimentPlanner3D_v21``: target spacing, transposition, stages, patch, batch
``planner2d``      ``ExperimentPlanner2D_v21``
``topology``       ``get_pool_and_conv_props``: poolings and kernels per axis
``vram``           ``Generic_UNet.compute_approx_vram_consumption`` and the Generic_UNet constants
``resampling``     ``resample_patient`` / ``resample_data_or_seg``
``preprocessing``  ``GenericPreprocessor`` / ``PreprocessorFor2D`` and class-location sampling
``plans``          safe plans loading, v1's ``summarize_plans`` text, a read-only ``Plans`` view
``explain``        the planners' decision trace and its text
``replan``         explain existing plans (v1's or ours) by re-planning their own fingerprint; ``check_plans``
                   flags every stored value v1's planner would not have chosen (hand-edited plans)
``run``            the whole command, ``plan_and_preprocess``, with process pools
``lowres_stage``   explorer-only teaching tool: add a low-resolution stage so the cascade runs on small data
=================  ================================================================================

Nothing is imported here, so ``import nnunet_explorer.planning`` stays cheap.
"""
