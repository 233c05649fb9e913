"""The data-side modules v1's ``nnUNet_variants`` import, under ``nnunet_explorer.v1``, against v1 1.7.1 in-process.

* the five ``get_*_augmentation`` functions: with the parameters v1's own trainers (nnUNetTrainer, V2, DA2,
  independentScalePerAxis, insaneDA, DA3, noDA) set up, and with v1's other keywords (regions, soft deep
  supervision, border value and orders, the cascade keys), the transform lists equal v1's class by class and
  attribute by attribute, the augmenters are sized and seeded like v1's, and the same batches with the same
  ``np.random`` / ``random`` seeds come out bit for bit the same (through the transforms, and through loader +
  transforms as the augmenters run them);
* the loaders as the noDA trainers build them (patch = final patch, ``pad_sides``);
* ``save_segmentation_nifti_from_softmax`` with v1's arguments: the same NIfTI, npz and pkl files;
* ``evaluate_regions``: the same ``summary.csv``; ``get_allowed_n_proc_DA`` / ``default_num_threads``;
* ``nnUNetTrainerV2_DA3.setup_DA_params`` (v1's own code, ported by the import rule) run on the explorer's
  trainer: it reads v1's module dict after ``super().setup_DA_params()``, and gets what it gets in v1.

v1's ``MultiThreadedAugmenter`` is replaced in v1's modules by a recorder, so no worker process is started.
"""
from __future__ import annotations

import ast
import copy
import importlib
import pickle
import random
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter as V1Single
from batchgenerators.transforms.abstract_transforms import AbstractTransform, Compose

from nnunet_explorer.training import dataloading as dl
from nnunet_explorer.training.augmenter import SingleThreadedAugmenter
from nnunet_explorer.training.cascade_augmentation import cascade_da_params

from .conftest import PLANS_2D, PLANS_3D, STAGE_2D, STAGE_3D, copy_stage
from .test_augmentation import _equal

pytestmark = pytest.mark.parity

V1_VARIANTS = "nnunet.training.network_training.nnUNet_variants.data_augmentation."
TRAINERS = {  # v1 trainer class -> its module
    "nnUNetTrainer": "nnunet.training.network_training.nnUNetTrainer",
    "nnUNetTrainerV2": "nnunet.training.network_training.nnUNetTrainerV2",
    "nnUNetTrainerV2_DA2": V1_VARIANTS + "nnUNetTrainerV2_DA2",
    "nnUNetTrainerV2_independentScalePerAxis": V1_VARIANTS + "nnUNetTrainerV2_independentScalePerAxis",
    "nnUNetTrainerV2_insaneDA": V1_VARIANTS + "nnUNetTrainerV2_insaneDA",
    "nnUNetTrainerV2_DA3": V1_VARIANTS + "nnUNetTrainerV2_DA3",
    "nnUNetTrainerV2_noDataAugmentation": V1_VARIANTS + "nnUNetTrainerV2_noDA",
    "nnUNetTrainerV2_DA5": V1_VARIANTS + "nnUNetTrainerV2_DA5",
}
# pipeline -> (v1 module, function, the trainer whose setup_DA_params gives the params)
PIPELINES = {
    "default": ("default_data_augmentation", "get_default_augmentation", "nnUNetTrainer"),
    "moreDA": ("data_augmentation_moreDA", "get_moreDA_augmentation", "nnUNetTrainerV2"),
    "moreDA-DA2": ("data_augmentation_moreDA", "get_moreDA_augmentation", "nnUNetTrainerV2_DA2"),
    "moreDA-independentScale": ("data_augmentation_moreDA", "get_moreDA_augmentation",
                                "nnUNetTrainerV2_independentScalePerAxis"),
    "insaneDA": ("data_augmentation_insaneDA", "get_insaneDA_augmentation", "nnUNetTrainerV2_insaneDA"),
    "insaneDA2-DA3": ("data_augmentation_insaneDA2", "get_insaneDA_augmentation2", "nnUNetTrainerV2_DA3"),
    "noDA": ("data_augmentation_noDA", "get_no_augmentation", "nnUNetTrainerV2_noDataAugmentation"),
}
CONFIGS = {"ct-3d": ("ct", PLANS_3D, None), "ct-3d-dummy2d": ("ct", PLANS_3D, True), "ct-2d": ("ct", PLANS_2D, None),
           "mr-3d": ("mr", PLANS_3D, None), "mr-2d": ("mr", PLANS_2D, None)}


# --- v1's side ------------------------------------------------------------------------------------------

class _Recorded:
    """Stands in for batchgenerators' MultiThreadedAugmenter inside v1's modules: keeps its arguments only."""

    def __init__(self, data_loader, transform, num_processes, num_cached_per_queue=2, seeds=None,
                 pin_memory=False, *args, **kwargs):
        self.generator, self.transform, self.num_processes = data_loader, transform, num_processes
        self.num_cached, self.seeds, self.pin_memory = num_cached_per_queue, seeds, pin_memory

    def restart(self):
        pass


@pytest.fixture
def v1da(v1, monkeypatch):
    """v1's five augmentation modules with the recorder in place of their MultiThreadedAugmenter."""
    modules = {}
    for name in ("default_data_augmentation", "data_augmentation_moreDA", "data_augmentation_insaneDA",
                 "data_augmentation_insaneDA2", "data_augmentation_noDA"):
        module = importlib.import_module(f"nnunet.training.data_augmentation.{name}")
        monkeypatch.setattr(module, "MultiThreadedAugmenter", _Recorded)
        modules[name] = module
    return modules


def _restore_v1_dicts(v1) -> None:
    for live, saved in zip((v1.dda.default_3D_augmentation_params, v1.dda.default_2D_augmentation_params),
                           v1.pristine):
        live.clear()
        live.update(copy.deepcopy(saved))


def v1_trainer(v1, name: str, task, plans_name: str, out: Path, dummy_2d: bool | None = None):
    """v1's own trainer ``name`` with plans processed and ``setup_DA_params`` run, as in a fresh process."""
    from batchgenerators.utilities.file_and_folder_operations import load_pickle

    _restore_v1_dicts(v1)
    cls = getattr(importlib.import_module(TRAINERS[name]), name)
    trainer = cls(str(task.preprocessed_dir / plans_name), 0, str(out), str(task.preprocessed_dir), True, 0, True,
                  True, False)
    plans = load_pickle(trainer.plans_file)
    if dummy_2d is not None:
        plans["plans_per_stage"][0]["do_dummy_2D_data_aug"] = dummy_2d
    trainer.process_plans(plans)
    trainer.setup_DA_params()
    return trainer


def _call(module_name: str, function: str, params: dict, trainer, loaders, *, v1_side, **extra):
    """Call v1's or the explorer's function the way v1's trainers call it (no patch size for noDA)."""
    if v1_side is not None:
        fn = getattr(v1_side[module_name], function)
    else:
        fn = getattr(importlib.import_module(f"nnunet_explorer.v1.training.data_augmentation.{module_name}"), function)
    if function == "get_no_augmentation":
        return fn(*loaders, params=params, deep_supervision_scales=trainer.deep_supervision_scales, pin_memory=False,
                  **extra)
    if function == "get_default_augmentation":
        return fn(*loaders, params["patch_size_for_spatialtransform"], params, pin_memory=False, **extra)
    return fn(*loaders, params["patch_size_for_spatialtransform"], params,
              deep_supervision_scales=trainer.deep_supervision_scales, pin_memory=False, **extra)


def _same_lists(ours, theirs) -> None:
    """Class names, order and every attribute (the skimage/scipy binary operations compared by name; transforms
    and helper objects inside a transform, e.g. OneOfTransform's, compared the same way; lambdas by their code)."""
    assert [type(t).__name__ for t in ours] == [type(t).__name__ for t in theirs]
    for a, b in zip(ours, theirs):
        _same_attributes(a, b, type(a).__name__)


def _same_attributes(a, b, where: str) -> None:
    va, vb = vars(a), vars(b)
    assert va.keys() == vb.keys(), where
    for key in va:
        x, y = va[key], vb[key]
        if key == "any_of_these":
            x, y = [f.__name__ for f in x], [f.__name__ for f in y]
        if isinstance(x, list) and x and isinstance(x[0], AbstractTransform):
            _same_lists(x, y)
        elif isinstance(x, types.FunctionType) and x.__name__ == "<lambda>":
            assert x.__code__.co_code == y.__code__.co_code, f"{where}.{key}"
        elif type(x).__module__.startswith("batchgenerators") and hasattr(x, "__dict__"):
            assert type(x) is type(y), f"{where}.{key}"
            _same_attributes(x, y, f"{where}.{key}")
        else:
            assert _equal(x, y), f"{where}.{key}: {x!r} != {y!r}"


def _same_augmenters(ours, theirs, *, fixed_seeds: bool) -> None:
    for o, t in zip(ours, theirs):
        _same_lists(o.transform.transforms, t.transform.transforms)
        assert o.num_processes == t.num_processes and o.num_cached_per_thread == t.num_cached
        assert o.seeds == (list(t.seeds) if t.seeds is not None else [None] * t.num_processes)
        assert fixed_seeds == (t.seeds is not None)


class _NoLoader:
    pass


def _task(request, kind):
    return request.getfixturevalue("v1_ct_task" if kind == "ct" else "v1_mr_task")


# --- (1) transform lists and augmenter sizes -------------------------------------------------------------

@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_augmentation_functions_build_v1s_lists(v1, v1da, request, tmp_path, pipeline, config):
    module_name, function, trainer_name = PIPELINES[pipeline]
    kind, plans, dummy = CONFIGS[config]
    trainer = v1_trainer(v1, trainer_name, _task(request, kind), plans, tmp_path / "out", dummy)
    params = dict(trainer.data_aug_params)
    loaders = (_NoLoader(), _NoLoader())
    theirs = _call(module_name, function, params, trainer, loaders, v1_side=v1da)
    ours = _call(module_name, function, params, trainer, loaders, v1_side=None)
    _same_augmenters(ours, theirs, fixed_seeds=function == "get_no_augmentation")
    assert ours[0].data_loader is loaders[0] and ours[1].data_loader is loaders[1]


# v1's other keywords, each where v1 reads it
EXTRAS = {
    "regions": dict(regions={"all": (1, 2), "two": (2,)}),
    "soft_ds": dict(soft_ds=True, classes=[0, 1, 2]),
    "border-and-orders": dict(border_val_seg=0, order_seg=0, order_data=1, seeds_train=[7], seeds_val=[8]),
}


@pytest.mark.parametrize("extra", list(EXTRAS))
@pytest.mark.parametrize("pipeline", ["default", "moreDA", "insaneDA", "insaneDA2-DA3", "noDA"])
def test_augmentation_functions_honour_v1s_keywords(v1, v1da, v1_ct_task, tmp_path, pipeline, extra):
    module_name, function, trainer_name = PIPELINES[pipeline]
    trainer = v1_trainer(v1, trainer_name, v1_ct_task, PLANS_3D, tmp_path / "out")
    kwargs = dict(EXTRAS[extra])
    if function == "get_default_augmentation":  # v1's default has no deep supervision nor orders
        kwargs.pop("soft_ds", None), kwargs.pop("classes", None), kwargs.pop("order_seg", None)
        kwargs.pop("order_data", None)
    if function == "get_no_augmentation":  # nor any spatial argument or seed
        for key in ("border_val_seg", "order_seg", "order_data", "seeds_train", "seeds_val"):
            kwargs.pop(key, None)
    if "seeds_train" in kwargs:  # one seed per worker, as batchgenerators asserts (nnUNet_n_proc_DA decides how many)
        from nnunet_explorer.training.augmenter import default_num_processes

        n = default_num_processes()
        kwargs["seeds_train"] = [kwargs["seeds_train"][0] + i for i in range(n)]
        kwargs["seeds_val"] = [kwargs["seeds_val"][0] + i for i in range(max(n // 2, 1))]
    loaders = (_NoLoader(), _NoLoader())
    params = dict(trainer.data_aug_params)
    theirs = _call(module_name, function, params, trainer, loaders, v1_side=v1da, **kwargs)
    ours = _call(module_name, function, params, trainer, loaders, v1_side=None, **kwargs)
    _same_augmenters(ours, theirs, fixed_seeds=function == "get_no_augmentation" or "seeds_train" in kwargs)
    names = [type(t).__name__ for t in ours[0].transform.transforms]
    if "regions" in kwargs:
        assert "ConvertSegmentationToRegionsTransform" in names
    if kwargs.get("soft_ds") and trainer.deep_supervision_scales is not None:
        assert "DownsampleSegForDSTransform3" in names


@pytest.mark.parametrize("pipeline", ["default", "moreDA", "insaneDA", "insaneDA2-DA3", "noDA"])
@pytest.mark.parametrize("conn_comp_p", [0.2, 0.0])
def test_cascade_keys_build_v1s_lists(v1, v1da, v1_ct_task, tmp_path, pipeline, conn_comp_p):
    """Each pipeline builds the cascade's transforms its own way (p_per_label passed or not, p = 0 kept or not)."""
    module_name, function, trainer_name = PIPELINES[pipeline]
    trainer = v1_trainer(v1, trainer_name, v1_ct_task, PLANS_3D, tmp_path / "out")
    params = {**trainer.data_aug_params, **cascade_da_params(3), "cascade_remove_conn_comp_p": conn_comp_p,
              "cascade_random_binary_transform_p_per_label": 0.5}
    loaders = (_NoLoader(), _NoLoader())
    theirs = _call(module_name, function, params, trainer, loaders, v1_side=v1da)
    ours = _call(module_name, function, params, trainer, loaders, v1_side=None)
    _same_augmenters(ours, theirs, fixed_seeds=function == "get_no_augmentation")


# --- (2) the arrays ------------------------------------------------------------------------------------

def _copy(batch: dict) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in batch.items()}


def _targets(out: dict) -> list:
    target = out["target"]
    return [t.numpy() for t in target] if isinstance(target, (list, tuple)) else [target.numpy()]


def _same_output(a: dict, b: dict) -> None:
    np.testing.assert_array_equal(a["data"].numpy(), b["data"].numpy())
    ta, tb = _targets(a), _targets(b)
    assert len(ta) == len(tb)
    for x, y in zip(ta, tb):
        np.testing.assert_array_equal(x, y)


def _run(transform, batch: dict, seed: int) -> tuple[dict, np.ndarray]:
    np.random.seed(seed)
    random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = transform(**_copy(batch))
    return out, np.random.get_state()[1].copy()


def _loader_patch(trainer, function: str):
    """The patch the trainer's loader cuts: the network's for noDA (v1's noDA loaders), else the larger one."""
    if function == "get_no_augmentation":
        return trainer.patch_size
    return trainer.basic_generator_patch_size


ARRAY_CASES = [(p, c) for p in PIPELINES for c in ("ct-3d", "ct-3d-dummy2d", "ct-2d", "mr-3d")]


@pytest.mark.parametrize("pipeline,config", ARRAY_CASES, ids=[f"{p}-{c}" for p, c in ARRAY_CASES])
def test_augmented_batches_equal_v1(v1, v1da, request, tmp_path, pipeline, config):
    module_name, function, trainer_name = PIPELINES[pipeline]
    kind, plans, dummy = CONFIGS[config]
    task = _task(request, kind)
    trainer = v1_trainer(v1, trainer_name, task, plans, tmp_path / "out", dummy)
    params = dict(trainer.data_aug_params)
    loaders = (_NoLoader(), _NoLoader())
    theirs = _call(module_name, function, params, trainer, loaders, v1_side=v1da)
    ours = _call(module_name, function, params, trainer, loaders, v1_side=None)
    folder = copy_stage(task, STAGE_3D if plans == PLANS_3D else STAGE_2D, tmp_path)
    loader = dl.make_data_loader(dl.load_dataset(folder), _loader_patch(trainer, function), trainer.patch_size,
                                 int(trainer.batch_size))
    np.random.seed(5)
    batches = [next(loader) for _ in range(3)]
    for i, batch in enumerate(batches):
        for side in (1, 0):  # validation, training
            out_v1, state_v1 = _run(theirs[side].transform, batch, 40 + i)
            out_ours, state_ours = _run(ours[side].transform, batch, 40 + i)
            _same_output(out_v1, out_ours)
            assert np.array_equal(state_v1, state_ours), "a different number of random draws"
        assert tuple(out_ours["data"].shape[2:]) == tuple(trainer.patch_size)  # training cropped to the patch


@pytest.mark.parametrize("extra", ["regions", "soft_ds"])
@pytest.mark.parametrize("pipeline", ["moreDA", "insaneDA", "noDA"])
def test_regions_and_soft_targets_equal_v1(v1, v1da, v1_ct_task, tmp_path, pipeline, extra):
    module_name, function, trainer_name = PIPELINES[pipeline]
    trainer = v1_trainer(v1, trainer_name, v1_ct_task, PLANS_3D, tmp_path / "out")
    params = dict(trainer.data_aug_params)
    loaders = (_NoLoader(), _NoLoader())
    theirs = _call(module_name, function, params, trainer, loaders, v1_side=v1da, **EXTRAS[extra])
    ours = _call(module_name, function, params, trainer, loaders, v1_side=None, **EXTRAS[extra])
    folder = copy_stage(v1_ct_task, STAGE_3D, tmp_path)
    loader = dl.make_data_loader(dl.load_dataset(folder), _loader_patch(trainer, function), trainer.patch_size, 2)
    np.random.seed(9)
    for i in range(2):
        batch = next(loader)
        out_v1, _ = _run(theirs[0].transform, batch, i)
        out_ours, _ = _run(ours[0].transform, batch, i)
        _same_output(out_v1, out_ours)
    if extra == "regions":
        assert out_ours["target"][0].shape[1] == 2  # one channel per region
    else:  # v1 quirk: full resolution stays a (b, *spatial) label map, the others are (b, C, ...) fractions
        assert out_ours["target"][0].ndim == 4 and out_ours["target"][1].shape[1] == 3


@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_loader_and_transforms_together_equal_v1(v1, v1da, v1_ct_task, tmp_path, pipeline):
    """As the augmenters run them: batch after batch of loader + transforms from one seed (single process)."""
    module_name, function, trainer_name = PIPELINES[pipeline]
    trainer = v1_trainer(v1, trainer_name, v1_ct_task, PLANS_3D, tmp_path / "out")
    params = dict(trainer.data_aug_params)
    folder = copy_stage(v1_ct_task, STAGE_3D, tmp_path)
    patch = _loader_patch(trainer, function)
    v1_loader = v1.dataset_loading.DataLoader3D(v1.dataset_loading.load_dataset(str(folder)), patch,
                                                trainer.patch_size, 2, False, oversample_foreground_percent=0.33,
                                                pad_mode="constant", pad_sides=None, memmap_mode="r")
    our_loader = dl.DataLoader3D(dl.load_dataset(folder), patch, trainer.patch_size, 2, False,
                                 oversample_foreground_percent=0.33, pad_mode="constant", memmap_mode="r")
    theirs = _call(module_name, function, params, trainer, (v1_loader, v1_loader), v1_side=v1da)
    ours = _call(module_name, function, params, trainer, (our_loader, our_loader), v1_side=None)
    v1_gen = V1Single(theirs[0].generator, theirs[0].transform)
    our_gen = SingleThreadedAugmenter(ours[0].data_loader, ours[0].transform)
    outputs = []
    for gen in (v1_gen, our_gen):
        np.random.seed(77)
        random.seed(77)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs.append([next(gen) for _ in range(3)])
    for a, b in zip(*outputs):
        _same_output(a, b)


# --- (3) loaders as the noDA trainers build them ---------------------------------------------------------

@pytest.mark.parametrize("pad_sides", [None, (2, 4, 4)], ids=["no-pad", "pad_sides"])
@pytest.mark.parametrize("plans", [PLANS_3D, PLANS_2D], ids=["3d", "2d"])
def test_shim_loaders_equal_v1(v1, v1_ct_task, tmp_path, plans, pad_sides):
    from nnunet_explorer.v1.training.dataloading import dataset_loading as shim

    trainer = v1_trainer(v1, "nnUNetTrainerV2", v1_ct_task, plans, tmp_path / "out")
    folder = copy_stage(v1_ct_task, STAGE_3D if plans == PLANS_3D else STAGE_2D, tmp_path)
    patch, bs = trainer.patch_size, 3
    pad = None if pad_sides is None else list(pad_sides)[-len(patch):]
    ours_ds, theirs_ds = shim.load_dataset(str(folder)), v1.dataset_loading.load_dataset(str(folder))
    if len(patch) == 3:
        loaders = [cls(ds, patch, patch, bs, False, oversample_foreground_percent=0.33, pad_mode="constant",
                       pad_sides=pad) for cls, ds in ((shim.DataLoader3D, ours_ds),
                                                      (v1.dataset_loading.DataLoader3D, theirs_ds))]
    else:
        loaders = [cls(ds, patch, patch, bs, oversample_foreground_percent=0.33, pad_mode="constant", pad_sides=pad)
                   for cls, ds in ((shim.DataLoader2D, ours_ds), (v1.dataset_loading.DataLoader2D, theirs_ds))]
        # v1 quirk: the noDA trainers pass transpose= to DataLoader2D, which takes no such argument
        for cls, ds in ((shim.DataLoader2D, ours_ds), (v1.dataset_loading.DataLoader2D, theirs_ds)):
            with pytest.raises(TypeError):
                cls(ds, patch, patch, bs, transpose=(0, 1, 2), oversample_foreground_percent=0.33)
    batches = []
    for loader in loaders:
        np.random.seed(21)
        batches.append([next(loader) for _ in range(6)])
    for a, b in zip(*batches):
        np.testing.assert_array_equal(a["data"], b["data"])
        np.testing.assert_array_equal(a["seg"], b["seg"])
        assert [str(k) for k in a["keys"]] == [str(k) for k in b["keys"]]
    if pad is not None:
        assert loaders[0].need_to_pad.tolist() == np.asarray(loaders[1].need_to_pad).tolist()


# --- (4) export --------------------------------------------------------------------------------------------

def _case_properties(task) -> dict:
    from batchgenerators.utilities.file_and_folder_operations import load_pickle

    return load_pickle(str(task.preprocessed_dir / STAGE_3D / "case_001.pkl"))


def _read_nifti(path: Path):
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(), image.GetDirection()


def _probabilities(shape, channels: int, seed: int, *, softmax: bool = True) -> np.ndarray:
    rng = np.random.RandomState(seed)
    logits = rng.normal(size=(channels, *shape)).astype(np.float32)
    if not softmax:
        return 1 / (1 + np.exp(-logits))
    e = np.exp(logits - logits.max(0))
    return e / e.sum(0)


def _drop_label(seg: np.ndarray, label: int) -> np.ndarray:
    out = seg.copy()
    out[out == label] = 0
    return out


EXPORTS = {  # name -> (shape relative to size_after_cropping, positional args after properties, keywords)
    "same-grid-npz": (1.0, dict(order=1, npz=True)),
    "resampled": (0.6, dict(order=1)),
    "regions-npz": (0.75, dict(order=1, regions=(1, 2), npz=True)),
    "resample33-postprocessed": (0.6, dict(order=3, force_separate_z=False, order_z=3, post=True)),
    "separate-z-from-file": (0.6, dict(order=1, force_separate_z=True, from_file=True)),
}


@pytest.mark.parametrize("case", list(EXPORTS))
def test_segmentation_export_equals_v1(v1_ct_task, tmp_path, case, capsys):
    from nnunet.inference.segmentation_export import save_segmentation_nifti_from_softmax as theirs

    from nnunet_explorer.v1.inference.segmentation_export import save_segmentation_nifti_from_softmax as ours

    factor, opts = EXPORTS[case]
    properties = _case_properties(v1_ct_task)
    shape = tuple(max(2, int(round(s * factor))) for s in properties["size_after_cropping"])
    probs = _probabilities(shape, 3, 0, softmax="regions" not in case)
    if "regions" in case:
        probs = probs[:2]
    printed: dict[str, str] = {}
    for side, fn in (("v1", theirs), ("ours", ours)):
        out = tmp_path / side
        out.mkdir()
        source: np.ndarray | str = probs.copy()
        if opts.get("from_file"):
            np.save(out / "probs.npy", probs)
            source = str(out / "probs.npy")
        # nnUNetTrainerV2_fullEvals' positional call: (softmax, out, properties, order, region_class_order,
        # postprocess fn, its args, npz, non-postprocessed file, force_separate_z, order_z, verbose)
        fn(source, str(out / "case.nii.gz"), copy.deepcopy(properties), opts["order"], opts.get("regions"),
           _drop_label if opts.get("post") else None, (1,) if opts.get("post") else None,
           str(out / "case.npz") if opts.get("npz") else None,
           str(out / "case_raw.nii.gz") if opts.get("post") else None, opts.get("force_separate_z"),
           opts.get("order_z", 0), True)
        # verbose: the export's own lines, word for word (v1's resampling function prints more, not mirrored)
        printed[side] = [line for line in capsys.readouterr().out.splitlines()
                         if line.startswith(("force_separate_z:", "separate z:", "no resampling necessary"))]
        if opts.get("from_file"):
            assert not (out / "probs.npy").exists()  # v1 deletes the file it read
    assert printed["ours"] == printed["v1"] and (printed["v1"][-1] == "no resampling necessary") == (factor == 1.0)
    names = sorted(p.name for p in (tmp_path / "v1").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ours").iterdir())
    for name in names:
        a, b = tmp_path / "v1" / name, tmp_path / "ours" / name
        if name.endswith(".nii.gz"):
            for x, y in zip(_read_nifti(a), _read_nifti(b)):
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        elif name.endswith(".npz"):
            with np.load(a) as x, np.load(b) as y:
                assert x.files == y.files
                np.testing.assert_array_equal(x["softmax"], y["softmax"])
        else:
            x, y = pickle.loads(a.read_bytes()), pickle.loads(b.read_bytes())
            assert _equal(dict(x), dict(y)) and type(x) is type(y)
    if "regions" in case:
        assert list(pickle.loads((tmp_path / "ours" / "case.pkl").read_bytes())["regions_class_order"]) == [1, 2]
    if opts.get("post"):
        assert (tmp_path / "ours" / "case_raw.nii.gz").exists()


# --- (5) region evaluation, process counts -----------------------------------------------------------------

def _write_label_map(path: Path, array: np.ndarray) -> None:
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(array.astype(np.uint8)), str(path))


def test_evaluate_regions_writes_v1s_summary(v1, tmp_path, capsys):
    from nnunet.evaluation.region_based_evaluation import evaluate_regions as theirs

    from nnunet_explorer.v1.evaluation.region_based_evaluation import evaluate_regions as ours
    from nnunet_explorer.v1.evaluation.region_based_evaluation import get_brats_regions, get_KiTS_regions

    rng = np.random.RandomState(3)
    gt, pred_v1, pred_ours = tmp_path / "gt", tmp_path / "pred_v1", tmp_path / "pred_ours"
    for folder in (gt, pred_v1, pred_ours):
        folder.mkdir()
    for i in range(5):
        reference = rng.randint(0, 4 if i != 2 else 3, size=(6, 12, 12))  # case 2: no label 3 at all
        prediction = np.where(rng.uniform(size=reference.shape) < 0.8, reference, rng.randint(0, 4, reference.shape))
        if i == 2:
            prediction[prediction == 3] = 0  # enhancing tumour absent from both: NaN
        if i == 3:
            prediction[:] = 0  # nothing predicted: Dice 0
        _write_label_map(gt / f"case_{i:03d}.nii.gz", reference)
        if i < 4:  # case 4 has a reference but no prediction: v1 warns
            for folder in (pred_v1, pred_ours):
                _write_label_map(folder / f"case_{i:03d}.nii.gz", prediction)
    regions = get_brats_regions()
    assert regions == {"whole tumor": (1, 2, 3), "tumor core": (2, 3), "enhancing tumor": (3,)}
    assert get_KiTS_regions() == {"kidney incl tumor": (1, 2), "tumor": (2,)}
    theirs(str(pred_v1), str(gt), regions, processes=1)
    capsys.readouterr()
    ours(str(pred_ours), str(gt), regions)
    assert "were not predicted" in capsys.readouterr().out
    text = (pred_ours / "summary.csv").read_text()
    assert text == (pred_v1 / "summary.csv").read_text()
    assert ",nan" in text and text.splitlines()[-4].startswith("mean,")
    (pred_ours / "extra.nii.gz").write_bytes((pred_ours / "case_000.nii.gz").read_bytes())
    from nnunet_explorer.errors import DatasetError

    with pytest.raises(DatasetError, match="without a reference"):
        ours(str(pred_ours), str(gt), regions)


def test_process_counts_equal_v1(v1, monkeypatch):
    import nnunet.configuration as v1_configuration
    from nnunet.utilities.set_n_proc_DA import get_allowed_n_proc_DA as theirs

    from nnunet_explorer.v1.configuration import default_num_threads
    from nnunet_explorer.v1.utilities.set_n_proc_DA import get_allowed_n_proc_DA as ours

    assert default_num_threads == v1_configuration.default_num_threads
    for value in ("3", "1"):
        monkeypatch.setenv("nnUNet_n_proc_DA", value)
        assert ours() == theirs() == int(value)
    monkeypatch.delenv("nnUNet_n_proc_DA")
    if theirs() is not None:
        pytest.skip("this host is in v1's DKFZ host table")
    assert ours() is None


# --- (6) v1's module dicts, read by a variant after super().setup_DA_params() ---------------------------------

PORTED_IMPORTS = ("numpy", "typing", "batchgenerators.transforms", "nnunet.training.data_augmentation",
                  "nnunet.utilities.set_n_proc_DA")


def _ported_class(v1_class: str, methods: tuple[str, ...]):
    """v1's own methods ``methods`` of ``v1_class``, ported by the import rule, on the explorer's nnUNetTrainerV2.

    Only those methods and the file's data-side imports are taken (the classes also override ``initialize``,
    which the explorer does not call, and import trainer-side names); nothing of v1's code is copied here.
    """
    from nnunet_explorer.v1 import port_v1_source

    tree = ast.parse(Path(importlib.import_module(TRAINERS[v1_class]).__file__).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == v1_class)
    bodies = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in methods]
    assert sorted(n.name for n in bodies) == sorted(methods)
    imports = [n for n in tree.body if isinstance(n, ast.Import) and n.names[0].name in PORTED_IMPORTS
               or isinstance(n, ast.ImportFrom) and n.module.startswith(PORTED_IMPORTS)]
    source = "\n".join(ast.unparse(n) for n in imports)
    source += "\nfrom nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2\n"
    source += f"class {v1_class}(nnUNetTrainerV2):\n" + "\n".join(
        "    " + line for body in bodies for line in ast.unparse(body).splitlines())
    namespace: dict = {}
    exec(compile(port_v1_source(source), f"<ported {v1_class}>", "exec"), namespace)
    return namespace[v1_class]


def _explorer_trainer(cls, task, plans_name: str, out: Path, dummy_2d: bool | None):
    trainer = cls(task.preprocessed_dir / plans_name, 0, out, task.preprocessed_dir, True, 0, True, True, False)
    trainer.load_plans_file()  # v1's method: sets trainer.plans
    plans = trainer.plans
    if dummy_2d is not None:
        plans["plans_per_stage"][0]["do_dummy_2D_data_aug"] = dummy_2d
    trainer.process_plans(plans)
    return trainer


@pytest.mark.parametrize("config", ["ct-3d", "ct-3d-dummy2d", "ct-2d", "mr-2d"])
def test_DA3_reads_the_module_dict_v2_just_filled(v1, request, tmp_path, config):
    kind, plans, dummy = CONFIGS[config]
    task = _task(request, kind)
    theirs = v1_trainer(v1, "nnUNetTrainerV2_DA3", task, plans, tmp_path / "v1", dummy)
    cls = _ported_class("nnUNetTrainerV2_DA3", ("setup_DA_params",))
    ours = _explorer_trainer(cls, task, plans, tmp_path / "ours", dummy)
    ours.setup_DA_params()
    assert list(ours.basic_generator_patch_size) == list(theirs.basic_generator_patch_size)
    assert ours.data_aug_params.keys() == theirs.data_aug_params.keys()
    for key, value in theirs.data_aug_params.items():
        assert _equal(ours.data_aug_params[key], value), key
    assert _equal(ours.deep_supervision_scales, theirs.deep_supervision_scales)
    # what makes this test able to fail: v1 sized the loaded patch with V2's (0.7, 1.4), written into the module
    # dict by super().setup_DA_params(); the untouched defaults (0.85, 1.25) give a smaller patch
    from nnunet_explorer.training.data_augmentation_params import get_patch_size

    p = theirs.data_aug_params
    spatial = list(theirs.patch_size[1:]) if p["dummy_2D"] else list(theirs.patch_size)
    untouched = get_patch_size(spatial, p["rotation_x"], p["rotation_y"], p["rotation_z"], (0.85, 1.25))
    assert list(untouched) != list(theirs.basic_generator_patch_size)[-len(spatial):]


def test_module_dicts_hold_v1s_state_after_each_setup(v1, v1_ct_task, tmp_path):
    """After a setup the dict of its dimensionality equals v1's live dict, the other v1's untouched one."""
    from nnunet_explorer.network_training import nnUNetTrainerV2
    from nnunet_explorer.v1.training.data_augmentation import default_data_augmentation as shim

    for plans in (PLANS_3D, PLANS_2D, PLANS_3D):
        v1_trainer(v1, "nnUNetTrainerV2", v1_ct_task, plans, tmp_path / "v1")
        trainer = _explorer_trainer(nnUNetTrainerV2, v1_ct_task, plans, tmp_path / "ours", None)
        trainer.setup_DA_params()
        for ours, theirs in ((shim.default_3D_augmentation_params, v1.dda.default_3D_augmentation_params),
                             (shim.default_2D_augmentation_params, v1.dda.default_2D_augmentation_params)):
            assert ours.keys() == theirs.keys()
            for key, value in theirs.items():
                assert _equal(ours[key], value), key
        assert trainer.data_aug_params is not shim.default_3D_augmentation_params  # the trainer keeps its own


@pytest.mark.parametrize("config", ["ct-3d", "mr-2d"])
def test_insaneDA_reads_the_untouched_module_dicts(v1, request, tmp_path, config):
    """insaneDA never calls super().setup_DA_params(): in v1's fresh process it reads the untouched dicts. Here a
    plain V2 set up first in the same process leaves V2's values in them; the new trainer still reads them
    untouched (every trainer starts from a fresh process's dicts)."""
    from nnunet_explorer.network_training import nnUNetTrainerV2
    from nnunet_explorer.v1.training.data_augmentation import default_data_augmentation as shim

    kind, plans, dummy = CONFIGS[config]
    task = _task(request, kind)
    theirs = v1_trainer(v1, "nnUNetTrainerV2_insaneDA", task, plans, tmp_path / "v1", dummy)
    _explorer_trainer(nnUNetTrainerV2, task, plans, tmp_path / "v2", dummy).setup_DA_params()
    assert shim.default_3D_augmentation_params != shim._AT_IMPORT[0] or \
        shim.default_2D_augmentation_params != shim._AT_IMPORT[1]  # V2 left its values
    ours = _explorer_trainer(_ported_class("nnUNetTrainerV2_insaneDA", ("setup_DA_params",)), task, plans,
                             tmp_path / "ours", dummy)
    ours.setup_DA_params()
    assert list(ours.basic_generator_patch_size) == list(theirs.basic_generator_patch_size)
    assert ours.data_aug_params.keys() == theirs.data_aug_params.keys()
    for key, value in theirs.data_aug_params.items():
        assert _equal(ours.data_aug_params[key], value), key


def _with_prior(batch: dict) -> dict:
    """A second segmentation channel standing in for the cascade's previous-stage prediction."""
    seg = batch["seg"]
    prior = np.roll(np.where(seg < 0, 0, seg), 3, axis=-1)
    return dict(batch, seg=np.concatenate((seg, prior), 1))


@pytest.mark.parametrize("cascade", [False, True], ids=["plain", "cascade"])
@pytest.mark.parametrize("config", ["ct-3d", "ct-3d-dummy2d", "ct-2d", "mr-3d"])
def test_DA5_built_from_the_shim_equals_v1(v1, request, tmp_path, config, cascade):
    """v1's DA5 builds its own lists from nnU-Net's transforms (custom_transforms, downsampling,
    pyramid_augmentations, get_patch_size, get_allowed_n_proc_DA); its methods run on the explorer's trainer."""
    kind, plans, dummy = CONFIGS[config]
    task = _task(request, kind)
    theirs = v1_trainer(v1, "nnUNetTrainerV2_DA5", task, plans, tmp_path / "v1", dummy)
    cls = _ported_class("nnUNetTrainerV2_DA5", ("__init__", "setup_DA_params", "get_train_transforms",
                                                "get_val_transforms"))
    ours = _explorer_trainer(cls, task, plans, tmp_path / "ours", dummy)
    ours.setup_DA_params()
    assert list(ours.basic_generator_patch_size) == list(theirs.basic_generator_patch_size)
    assert (ours.num_proc_DA, ours.num_cached) == (theirs.num_proc_DA, theirs.num_cached)
    for trainer in (ours, theirs):
        trainer.data_aug_params["move_last_seg_chanel_to_data"] = cascade
        trainer.data_aug_params["cascade_do_cascade_augmentations"] = cascade
    pipelines = [(Compose(ours.get_train_transforms()), Compose(theirs.get_train_transforms())),
                 (Compose(ours.get_val_transforms()), Compose(theirs.get_val_transforms()))]
    for mine, v1s in pipelines:
        _same_lists(mine.transforms, v1s.transforms)
    folder = copy_stage(task, STAGE_3D if plans == PLANS_3D else STAGE_2D, tmp_path)
    loader = dl.make_data_loader(dl.load_dataset(folder), theirs.basic_generator_patch_size, theirs.patch_size,
                                 int(theirs.batch_size))
    np.random.seed(13)
    for i in range(3):
        batch = next(loader)
        if cascade:
            batch = _with_prior(batch)
        for mine, v1s in pipelines:
            try:
                out_v1, state_v1 = _run(v1s, batch, 60 + i)
            except RuntimeError as error:
                # 2D has no cascade: the binary operators' ball footprint is 3D, and scipy refuses it on a
                # 2D patch, in v1 as in the explorer
                assert cascade and len(theirs.patch_size) == 2, error
                with pytest.raises(RuntimeError, match="same dimensionality"):
                    _run(mine, batch, 60 + i)
                continue
            out_ours, state_ours = _run(mine, batch, 60 + i)
            _same_output(out_v1, out_ours)
            assert np.array_equal(state_v1, state_ours)


# --- (7) v1's signatures -------------------------------------------------------------------------------------

SIGNATURES = {  # v1 module:name -> shim module, parameters whose default deliberately differs
    "nnunet.training.data_augmentation.default_data_augmentation:get_default_augmentation":
        ("training.data_augmentation.default_data_augmentation", {"params"}),
    "nnunet.training.data_augmentation.default_data_augmentation:get_patch_size":
        ("training.data_augmentation.default_data_augmentation", set()),
    "nnunet.training.data_augmentation.data_augmentation_moreDA:get_moreDA_augmentation":
        ("training.data_augmentation.data_augmentation_moreDA", {"params"}),
    "nnunet.training.data_augmentation.data_augmentation_insaneDA:get_insaneDA_augmentation":
        ("training.data_augmentation.data_augmentation_insaneDA", {"params"}),
    "nnunet.training.data_augmentation.data_augmentation_insaneDA2:get_insaneDA_augmentation2":
        ("training.data_augmentation.data_augmentation_insaneDA2", {"params"}),
    "nnunet.training.data_augmentation.data_augmentation_noDA:get_no_augmentation":
        ("training.data_augmentation.data_augmentation_noDA", {"params"}),
    "nnunet.inference.segmentation_export:save_segmentation_nifti_from_softmax":
        ("inference.segmentation_export", set()),
    "nnunet.evaluation.region_based_evaluation:evaluate_regions": ("evaluation.region_based_evaluation",
                                                                   {"processes"}),
    "nnunet.evaluation.region_based_evaluation:evaluate_case": ("evaluation.region_based_evaluation", set()),
    "nnunet.utilities.set_n_proc_DA:get_allowed_n_proc_DA": ("utilities.set_n_proc_DA", {"environ"}),
    "nnunet.training.dataloading.dataset_loading:load_dataset": ("training.dataloading.dataset_loading", set()),
    "nnunet.training.dataloading.dataset_loading:unpack_dataset": ("training.dataloading.dataset_loading",
                                                                   {"threads"}),
}
for _name in ("Convert3DTo2DTransform", "Convert2DTo3DTransform", "MaskTransform",
              "ConvertSegmentationToRegionsTransform", "RemoveKeyTransform"):
    SIGNATURES[f"nnunet.training.data_augmentation.custom_transforms:{_name}"] = (
        "training.data_augmentation.custom_transforms", set())
for _name in ("DownsampleSegForDSTransform2", "DownsampleSegForDSTransform3"):
    SIGNATURES[f"nnunet.training.data_augmentation.downsampling:{_name}"] = (
        "training.data_augmentation.downsampling", set())
for _name in ("MoveSegAsOneHotToData", "ApplyRandomBinaryOperatorTransform",
              "RemoveRandomConnectedComponentFromOneHotEncodingTransform"):
    # any_of_these: the explorer's scipy versions of skimage's four operations (same names, same order)
    SIGNATURES[f"nnunet.training.data_augmentation.pyramid_augmentations:{_name}"] = (
        "training.data_augmentation.pyramid_augmentations", {"any_of_these"})
for _name in ("DataLoader3D", "DataLoader2D"):
    # pad_mode: v1's class default is "edge", every v1 trainer passes "constant" (the explorer's default)
    SIGNATURES[f"nnunet.training.dataloading.dataset_loading:{_name}"] = (
        "training.dataloading.dataset_loading", {"pad_mode"})


@pytest.mark.parametrize("reference", list(SIGNATURES))
def test_shim_names_have_v1s_signatures(v1, reference):
    """Same parameters, in the same order and kind, with v1's defaults: v1's calls (positional ones too) port."""
    import inspect

    module_name, name = reference.split(":")
    shim_module, differing = SIGNATURES[reference]
    theirs = getattr(importlib.import_module(module_name), name)
    ours = getattr(importlib.import_module(f"nnunet_explorer.v1.{shim_module}"), name)
    a, b = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
    extra = [n for n in a if n not in b]
    assert [n for n in a if n in b] == list(b) and extra in ([], ["environ"]), (list(a), list(b))
    for n, parameter in b.items():
        assert a[n].kind == parameter.kind, n
        if n not in differing:
            assert _equal(a[n].default, parameter.default), f"{name}({n}=...)"
