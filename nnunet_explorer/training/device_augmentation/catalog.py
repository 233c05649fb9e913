"""The one lookup: for a transform object of a v1 list, its device transform, or why it stays on the CPU.

Importing this module imports every device module of the package, and with them their :func:`~.base.replaces`
registrations, so the registry is complete before anyone asks; :func:`device_or_fallback` is then the only way
the chain, the parity helpers and the benchmarks find a device transform.

What runs on the device (batchgenerators 0.25.5 / nnU-Net v1 class → device class, module):

==============================================  ==============================================================
``SpatialTransform``                            :class:`~.spatial.DeviceSpatialTransform` (:mod:`.spatial`)
``Convert3DTo2DTransform`` / ``2DTo3D``         :mod:`.dummy_2d`
``GaussianNoise``/``GaussianBlur``/             :mod:`.intensity`
``BrightnessMultiplicative``/``Brightness``/
``ContrastAugmentation`` ``Transform``
``SimulateLowResolutionTransform``              :mod:`.low_resolution`
``GammaTransform``                              :mod:`.gamma`
``MirrorTransform``                             :mod:`.mirror`
channel selections, ``MaskTransform``,          :mod:`.utility`
``RemoveLabel``/``Rename``/``NumpyToTensor``,
``ConvertSegmentationToRegions``,
``DownsampleSegForDSTransform2``
the cascade's ``MoveSegAsOneHotToData``,        :mod:`.cascade`
``ApplyRandomBinaryOperator``,
``RemoveRandomConnectedComponent...``
==============================================  ==============================================================

Named CPU fallbacks (the reason comes from the device class's ``unsupported``, see :mod:`.base`):

* no device class: ``SpatialTransform_2`` (insaneDA2 / ``nnUNetTrainerV2_DA3``), ``DownsampleSegForDSTransform3``
  (soft targets), and any transform not listed above;
* a configuration not reproduced: ``SpatialTransform`` with other border modes or orders;
  ``RemoveRandomConnectedComponentFromOneHotEncodingTransform`` with a positive size threshold (its further draws
  depend on the connected components found in the data; v1's cascade passes 0, which runs here);
  ``DownsampleSegForDSTransform2`` with ``order > 0``; ``SimulateLowResolutionTransform`` with spline orders other
  than 0, 1 and 3; ``SegChannelSelectionTransform(keep_discarded_seg=True)``; ``RenameTransform(delete_old=False)``;
  ``ApplyRandomBinaryOperatorTransform`` with operations other than v1's four;
* a failed host check (:mod:`.host_checks`): gamma where numpy's float32 power is not the one reproduced, and so
  on; the reason names the check.
"""
from __future__ import annotations

from typing import Any

from . import cascade, dummy_2d, gamma, intensity, low_resolution, mirror, spatial, utility  # noqa: F401 - registry
from .base import DeviceTransform, UnsupportedOnDevice, registered_class

DEVICE_MODULES = (spatial, dummy_2d, intensity, low_resolution, gamma, mirror, utility, cascade)
"""Every module that registers device transforms (imported above, so the registry is complete)."""


def device_or_fallback(transform: Any) -> tuple[DeviceTransform | None, str | None]:
    """``(device transform, None)``, or ``(None, why it stays on the CPU)`` for one batchgenerators transform."""
    cls = registered_class(transform)
    if cls is None:
        return None, f"no device version of {type(transform).__name__}"
    try:
        return cls(transform), None
    except UnsupportedOnDevice as declined:
        return None, str(declined)


__all__ = ["DEVICE_MODULES", "device_or_fallback"]
