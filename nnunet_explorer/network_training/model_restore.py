"""A trained model's trainer, as v1's ``nnunet/training/model_restore.py`` rebuilds it for prediction.

v1's ``nnUNet_predict`` does not only load weights: it makes the trainer class the ``.model.pkl`` names again
(``restore_model``), points it at the model folder and calls ``initialize(False)``
(``load_model_and_checkpoint_files``), and then reads settings off it, such as its test-time mirroring. Inference
here imports no trainer (that would be an import cycle); the commands hand it :func:`trainer_mirroring`.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import mirrors
from .registry import find_trainer_class


def data_aug_mirroring(data_aug_params: Mapping[str, Any]) -> tuple[bool, tuple[int, ...]]:
    """``(do_mirror, mirror_axes)`` as v1's prediction reads them off a trainer's ``data_aug_params``."""
    return bool(data_aug_params.get("do_mirror", True)), tuple(int(a) for a in data_aug_params.get("mirror_axes", ()))


@mirrors("nnunet.training.model_restore:restore_model")
def trainer_mirroring(info: Mapping[str, Any]) -> tuple[bool, tuple[int, ...]] | None:
    """``(do_mirror, mirror_axes)`` of the trainer a ``.model.pkl`` names, as v1's ``nnUNet_predict`` reads them.

    v1 rebuilds that trainer for prediction (``restore_model``: the class found by ``name``, made with ``init``,
    given the ``plans``; then ``load_model_and_checkpoint_files`` points it at the model folder and calls
    ``initialize(False)``) and mirrors along its ``data_aug_params['mirror_axes']``; a trainer whose
    ``data_aug_params['do_mirror']`` is False (v1's ``nnUNetTrainerV2_noMirroring`` and
    ``nnUNetTrainerV2_noDataAugmentation``, a DA5 trainer with ``do_mirroring = False``) makes v1 refuse test-time
    mirroring, and v1's ``nnUNetTrainerNoDA`` empties the axes in ``initialize`` (no mirroring at all). Here the
    registered class of that name goes through the same steps, on the CPU, with a scratch folder (removed
    afterwards) as its output folder, and the random states (numpy, torch's CPU and CUDA generators) and cudnn
    flags, which a trainer's ``__init__`` sets, put back. Not for use while a run trains in this process (those
    states are process-wide).

    Returns None when no class of that name is registered (a v1 variant whose file was not loaded with
    ``--trainer_file``).

    Raises:
        ConfigurationError: the class is registered but cannot be rebuilt so (v1 fails there too); the message
            names the error.
    """
    import tempfile

    import numpy as np
    import torch

    try:
        cls = find_trainer_class(str(info["name"]))
    except ConfigurationError:
        return None
    numpy_state = np.random.get_state()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with tempfile.TemporaryDirectory(prefix="nnunet_explorer_restore_") as scratch, \
            torch.random.fork_rng(devices=cuda_devices):
        try:
            trainer = cls(*info.get("init", ()))
            trainer.echo = False
            trainer.device = torch.device("cpu")  # only its settings are read: no copy of the network on a GPU
            trainer.process_plans(info["plans"])
            trainer.output_folder = trainer.output_folder_base = scratch
            trainer.update_fold(0)
            trainer.initialize(False)
            params = trainer.data_aug_params
        except Exception as exc:  # noqa: BLE001 - any failure of a user's class is reported with its cause
            raise ConfigurationError(
                tr(f"{info['name']} could not be rebuilt from its .model.pkl to read its test-time mirroring "
                   f"({type(exc).__name__}: {exc})",
                   f"无法用 .model.pkl 重建 {info['name']} 来读取它的测试时镜像设置（{type(exc).__name__}: {exc}）"),
                fix=tr("fix the trainer file given with --trainer_file, or predict with --disable_tta",
                       "修正用 --trainer_file 给出的 trainer 文件，或用 --disable_tta 预测")) from exc
        finally:
            np.random.set_state(numpy_state)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    return data_aug_mirroring(params)


__all__ = ["data_aug_mirroring", "trainer_mirroring"]
