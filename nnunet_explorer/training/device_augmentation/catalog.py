"""Which of v1's transforms run on the device, and why the others do not (the named CPU fallbacks).

Importing this module registers every device transform of this package except the spatial one (see
:mod:`.spatial`) with :func:`~.base.replaces`. :func:`device_or_fallback` then answers, for one transform object of
a v1 chain, either its device transform or the reason it stays on the CPU: no device class for its type, or a
device class that declines this parametrisation (its ``supports(transform)`` is False and building it raises
``NotImplementedError``, with the reason as the message).

Declined on purpose (exactness could not be guaranteed, or it is not worth it):

* ``RemoveRandomConnectedComponentFromOneHotEncodingTransform`` with a positive size threshold (its further
  random draws depend on the connected components found in the data); v1's cascade passes 0, which runs here.
* ``GammaTransform`` where numpy's float32 power on the host is not the AVX-512 SVML one reproduced in
  :mod:`.numpy_power` (checked once per process against numpy itself).
* ``DownsampleSegForDSTransform2`` with ``order > 0`` and ``DownsampleSegForDSTransform3`` (soft targets).
* ``SimulateLowResolutionTransform`` with spline orders other than 0, 1 and 3.
* ``SegChannelSelectionTransform(keep_discarded_seg=True)``; ``ApplyRandomBinaryOperatorTransform`` with
  operations other than v1's four.
"""
from __future__ import annotations

from typing import Any

from . import cascade, gamma, intensity, low_resolution, mirror, utility  # noqa: F401 - registration
from .base import DeviceTransform, device_transform_for


def device_or_fallback(transform: Any) -> tuple[DeviceTransform | None, str | None]:
    """``(device transform, None)``, or ``(None, why it stays on the CPU)`` for one batchgenerators transform."""
    try:
        device = device_transform_for(transform)
    except NotImplementedError as declined:
        return None, str(declined)
    if device is None:
        return None, f"no device transform for {type(transform).__name__}"
    return device, None


__all__ = ["device_or_fallback"]
