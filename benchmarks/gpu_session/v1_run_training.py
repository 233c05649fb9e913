"""nnU-Net v1 1.7.1's own ``run_training`` (``nnUNet_train``), able to find the short-schedule variant trainer.

    GPU_CHECK_EPOCHS=3 GPU_CHECK_ITERATIONS=20 GPU_CHECK_VAL_ITERATIONS=4 \
        python benchmarks/gpu_session/v1_run_training.py 3d_fullres nnUNetTrainerV2_gpuCheck 40 1 \
        --disable_validation_inference

v1 finds a trainer class by importing every module under ``nnunet/training/network_training`` (its
``recursive_find_python_class``); a variant must live in that installed folder. Rather than writing into the
installed package, this wrapper answers that lookup for :mod:`nnUNetTrainerV2_gpuCheck` (next to this file) and
passes every other name to v1's search; then it calls v1's ``run_training.main()`` with the given arguments.
Everything else — planning files, data loading, augmentation, the training loop, checkpoints — is v1's own code.
"""
from __future__ import annotations

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ("nnUNetTrainerV2_gpuCheck",)


def variant_class(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def register_variants() -> None:
    """Make v1's trainer lookup find the variants of this folder (``nnunet.run.default_configuration`` reads
    ``recursive_find_python_class`` from its own globals at call time)."""
    import nnunet.run.default_configuration as default_configuration

    search = default_configuration.recursive_find_python_class

    def find(folder, trainer_name, current_module):
        if trainer_name in VARIANTS:
            return variant_class(trainer_name)
        return search(folder, trainer_name, current_module)

    default_configuration.recursive_find_python_class = find


def main(argv: list[str] | None = None) -> None:
    register_variants()
    from nnunet.run import run_training

    sys.argv = ["nnUNet_train", *(sys.argv[1:] if argv is None else argv)]
    run_training.main()


if __name__ == "__main__":
    main()
