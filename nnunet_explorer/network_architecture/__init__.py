"""v1's ``nnunet.network_architecture``: what any nnU-Net network shares, below training and inference.

* :mod:`.sliding_window` — v1's ``SegmentationNetwork.predict_3D``: tiles, Gaussian weighting, test-time mirroring
  (3D nets, and 2D nets slice by slice), with the tiles and per-flip contributions kept for inspection. Training
  (the networks' ``predict_3D``) and inference (validation, ``nnUNet_predict``) both use it.
"""
