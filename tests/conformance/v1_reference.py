"""Run v1 1.7.1's own trainer classes (unported) for a few iterations; print the per-epoch losses as JSON.

Executed as a script in a subprocess with v1's folder variables set (v1 reads them at import):
``python v1_reference.py SPEC.json``. SPEC: ``{"task": "901", "fold": 0, "epochs": 3, "batches": 2,
"val_batches": 1, "trainers": [[network, class name], ...], "out": path}``. Every trainer runs with
``deterministic=True``, ``random.seed(12345)``, ``torch.use_deterministic_algorithms(True)``, fp32 and its
``tr_gen``/``val_gen`` replaced right after ``initialize()`` by a ``SingleThreadedAugmenter`` on the same loader
and transforms, so that the batches do not depend on worker scheduling.
"""
import copy
import json
import os
import random
import re
import sys
import traceback

import torch
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter

from nnunet.run.default_configuration import get_default_configuration
from nnunet.training.data_augmentation import default_data_augmentation
from nnunet.utilities.task_name_id_conversion import convert_id_to_task_name


def _losses(log_file):
    text = open(log_file).read()
    return {"train": re.findall(r"train loss : (-?[0-9.]+|nan)", text),
            "val": re.findall(r"validation loss: (-?[0-9.]+|nan)", text)}


# v1's trainers take these module-level dicts by reference and change them (V2 widens the scale range *after*
# sizing the patch with it): in one process the second trainer would start from the first one's changes, which
# nnUNet_train (one trainer per process) never does. So every trainer starts from the pristine dicts.
_PRISTINE = {name: copy.deepcopy(getattr(default_data_augmentation, name))
             for name in ("default_3D_augmentation_params", "default_2D_augmentation_params")}


def _restore_default_dicts():
    for name, pristine in _PRISTINE.items():
        live = getattr(default_data_augmentation, name)
        live.clear()
        live.update(copy.deepcopy(pristine))


def run_one(spec, network, name):
    _restore_default_dicts()
    plans_file, output_folder, dataset_directory, batch_dice, stage, trainer_class = get_default_configuration(
        network, convert_id_to_task_name(int(spec["task"])), name, "nnUNetPlansv2.1")
    output_folder = os.path.join(spec["out"], name)
    random.seed(12345)
    trainer = trainer_class(plans_file, spec["fold"], output_folder=output_folder, dataset_directory=dataset_directory,
                            batch_dice=batch_dice, stage=stage, unpack_data=True, deterministic=True, fp16=False)
    trainer.max_num_epochs = spec["epochs"]
    trainer.num_batches_per_epoch = spec["batches"]
    trainer.num_val_batches_per_epoch = spec["val_batches"]
    # no checkpoints and no progress plot: they take time and change no loss
    trainer.save_final_checkpoint = trainer.save_best_checkpoint = trainer.save_intermediate_checkpoints = False
    trainer.plot_progress = lambda: None
    trainer.initialize(True)
    trainer.tr_gen = SingleThreadedAugmenter(trainer.tr_gen.generator, trainer.tr_gen.transform)
    trainer.val_gen = SingleThreadedAugmenter(trainer.val_gen.generator, trainer.val_gen.transform)
    trainer.run_training()
    return _losses(trainer.log_file)


def main():
    spec = json.load(open(sys.argv[1]))
    torch.use_deterministic_algorithms(True)
    results = {}
    for network, name in spec["trainers"]:
        try:
            results[name] = run_one(spec, network, name)
        except Exception:  # one variant failing must not hide the others' results
            results[name] = {"error": traceback.format_exc()[-3000:]}
        print("V1_VARIANT " + json.dumps({name: results[name]}), flush=True)
    print("V1_RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main()
