"""``nnunet.training.data_augmentation.data_augmentation_insaneDA2``: not implemented (refused by name)."""
from __future__ import annotations

from typing import Any

from nnunet_explorer.errors import ConfigurationError


def get_insaneDA_augmentation2(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - v1's name
    """Refused: the "insane" augmentation is not re-implemented by the explorer."""
    raise ConfigurationError("get_insaneDA_augmentation2 (v1's insaneDA2 augmentation) is not implemented by the "
                             "explorer", fix="use get_moreDA_augmentation (nnUNetTrainerV2's augmentation)")
