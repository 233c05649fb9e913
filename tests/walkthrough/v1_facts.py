"""A script run in a subprocess with the real nnU-Net v1: it prints v1's facts as JSON after '@@JSON@@'.

Facts collected in one process (importing v1's trainers is the slow part): run_training's argparse actions
and parses of sample command lines, the default augmentation dicts, get_patch_size on a grid, setup_DA_params
and process_plans of nnUNetTrainerV2 on several plans variants, and the hyperparameters of v1's trainers.
Inputs come as globals: PLANS_3D, PLANS_2D (paths of v1-written plans), DATASET_DIRECTORY, OUTPUT_FOLDER,
ARGVS, PATCH_GRID.
"""
import inspect

import numpy as np


def safe(o):
    """JSON-like plain values; used by the tests and, through its source, by the v1 script."""
    if isinstance(o, dict):
        return {str(k): safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [safe(v) for v in o]
    if isinstance(o, np.ndarray):
        return safe(o.tolist())
    if isinstance(o, np.generic):
        return o.item()
    return o


V1_FACTS_SCRIPT = r'''
import argparse, copy, json, pickle, sys
from collections import OrderedDict
import numpy as np
''' + inspect.getsource(safe) + r'''

facts = {}

# --- run_training's parser: intercept parse_args inside v1's main ---------------------------------------
class Stop(Exception):
    pass

original_parse_args = argparse.ArgumentParser.parse_args

def intercept(self, args=None, namespace=None):
    facts["actions"] = [dict(option_strings=a.option_strings, dest=a.dest, default=a.default,
                             action=type(a).__name__, type=getattr(a.type, "__name__", None), required=a.required,
                             nargs=a.nargs, const=a.const) for a in self._actions if a.dest != "help"]
    facts["parsed"] = [vars(original_parse_args(self, argv)) for argv in ARGVS]
    raise Stop

argparse.ArgumentParser.parse_args = intercept
from nnunet.run import run_training
try:
    run_training.main()
except Stop:
    pass
argparse.ArgumentParser.parse_args = original_parse_args

# --- default dicts and get_patch_size ------------------------------------------------------------------
from nnunet.training.data_augmentation import default_data_augmentation as dda
pristine_3d = copy.deepcopy(dda.default_3D_augmentation_params)
pristine_2d = copy.deepcopy(dda.default_2D_augmentation_params)
facts["default_3D"] = safe(pristine_3d)
facts["default_2D"] = safe(pristine_2d)
facts["patch_grid"] = [safe(dda.get_patch_size(np.array(p), rx, ry, rz, sc)) for p, rx, ry, rz, sc in PATCH_GRID]

def restore():
    dda.default_3D_augmentation_params.clear(); dda.default_3D_augmentation_params.update(copy.deepcopy(pristine_3d))
    dda.default_2D_augmentation_params.clear(); dda.default_2D_augmentation_params.update(copy.deepcopy(pristine_2d))

# --- trainers --------------------------------------------------------------------------------------------
from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
from nnunet.training.network_training.nnUNetTrainer import nnUNetTrainer
from nnunet.training.network_training.nnUNet_variants.benchmarking.nnUNetTrainerV2_2epochs import (
    nnUNetTrainerV2_2epochs, nnUNetTrainerV2_5epochs)

def make(cls, plans_file):
    return cls(plans_file, 0, output_folder=OUTPUT_FOLDER, dataset_directory=DATASET_DIRECTORY, batch_dice=False,
               stage=0, unpack_data=True, deterministic=False, fp16=False)

facts["hyperparameters"] = {}
for cls in (nnUNetTrainer, nnUNetTrainerV2, nnUNetTrainerV2_2epochs, nnUNetTrainerV2_5epochs):
    t = make(cls, PLANS_3D)
    facts["hyperparameters"][cls.__name__] = {k: safe(v) for k, v in vars(t).items()
                                              if isinstance(v, (int, float, bool, str, dict, type(None)))}

with open(PLANS_3D, "rb") as f:
    plans_3d = pickle.load(f)
with open(PLANS_2D, "rb") as f:
    plans_2d = pickle.load(f)

def variant(plans, **stage_changes):
    p = copy.deepcopy(plans)
    p["plans_per_stage"][0].update(stage_changes)
    return p

cases = {
    "3d": (PLANS_3D, plans_3d),
    "3d_dummy2d": (PLANS_3D, variant(plans_3d, do_dummy_2D_data_aug=True)),
    "3d_big": (PLANS_3D, variant(plans_3d, patch_size=np.array([40, 48, 48]),
                                 pool_op_kernel_sizes=[[2, 2, 2], [2, 2, 2], [2, 2, 2]])),
    "2d": (PLANS_2D, plans_2d),
    "2d_elongated": (PLANS_2D, variant(plans_2d, patch_size=np.array([40, 96]))),
}
ATTRS = ("stage", "batch_size", "net_pool_per_axis", "patch_size", "do_dummy_2D_aug", "net_num_pool_op_kernel_sizes",
         "net_conv_kernel_sizes", "pad_all_sides", "intensity_properties", "normalization_schemes",
         "base_num_features", "num_input_channels", "num_classes", "classes", "use_mask_for_norm",
         "only_keep_largest_connected_component", "min_region_size_per_class", "min_size_per_class",
         "transpose_forward", "transpose_backward", "threeD", "conv_per_stage")
facts["setups"] = {}
for name, (plans_file, plans) in cases.items():
    restore()
    t = make(nnUNetTrainerV2, plans_file)
    t.process_plans(plans)
    processed = {a: safe(getattr(t, a)) for a in ATTRS}
    t.setup_DA_params()
    facts["setups"][name] = dict(processed=processed, data_aug_params=safe(t.data_aug_params),
                                 basic_generator_patch_size=safe(t.basic_generator_patch_size),
                                 deep_supervision_scales=safe(t.deep_supervision_scales),
                                 deep_supervision_scales_repr=repr(t.deep_supervision_scales))

# the original nnUNetTrainer's setup_DA_params (no V2 changes)
facts["base_setups"] = {}
for name in ("3d", "3d_dummy2d", "2d_elongated"):
    plans_file, plans = cases[name]
    restore()
    t = make(nnUNetTrainer, plans_file)
    t.process_plans(copy.deepcopy(plans))
    t.setup_DA_params()
    facts["base_setups"][name] = dict(data_aug_params=safe(t.data_aug_params),
                                      basic_generator_patch_size=safe(t.basic_generator_patch_size))

# v1 mutates the module-level dict: a second 3D trainer in the same process sizes its loader patch with the
# already widened scale range (0.7, 1.4)
restore()
sizes = []
for _ in range(2):
    t = make(nnUNetTrainerV2, PLANS_3D)
    t.process_plans(copy.deepcopy(plans_3d))
    t.setup_DA_params()
    sizes.append(safe(t.basic_generator_patch_size))
facts["two_trainers_basic_generator_patch_size"] = sizes
print("@@JSON@@" + json.dumps(facts))
'''
