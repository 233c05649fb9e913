"""v1's ``nnUNetTrainer``: plans in, data and network out; the online Dice; validation.

The original nnU-Net trainer (Adam 3e-4 + ReduceLROnPlateau, the default augmentation, no deep supervision).
``nnUNetTrainerV2`` derives from it and keeps most of it: ``process_plans`` (the plans -> ``self.patch_size``,
``self.num_classes``, ...), ``load_dataset``, ``get_basic_generators`` (the one place the loaders are built),
the online evaluation (tp/fp/fn per class, pooled into the "Average global foreground Dice"),
``save_checkpoint`` (adds the ``.model.pkl`` companion) and ``validate``.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ConfigurationError, PlansError
from ..language import tr
from ..provenance import mirrors
from .network_trainer import NetworkTrainer


def _as_str(path: Any) -> Any:
    # differs from v1: a pathlib.Path argument is kept as a string, as v1's command line always passes strings
    # (variants build paths with os.path.join and str methods; the .model.pkl then holds plain strings)
    return None if path is None else str(path)


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer")
class nnUNetTrainer(NetworkTrainer):
    """v1's original nnU-Net trainer (not the default: ``nnUNetTrainerV2`` is).

    Args:
        plans_file: the plans pickle; everything about the network, patch and batch comes from it.
        fold: 0-4, or ``"all"`` (train and validate on every case).
        output_folder: ``RESULTS_FOLDER/nnUNet/<network>/<Task>/<Trainer>__<plans>``; the fold folder below it.
        dataset_directory: ``nnUNet_preprocessed/<Task>`` (splits_final.pkl, gt_segmentations, the stages).
        batch_dice: Dice over the whole batch (True) or per sample (False).
        stage: the plans stage (None: the plans' only stage).
        unpack_data: decompress ``.npz`` to ``.npy`` once before training (``--use_compressed_data`` = False).
        deterministic: seed numpy and torch with 12345 now, and make cuDNN deterministic.
        fp16: mixed precision (``nnUNet_train``'s default; ``--fp32`` turns it off).

    The constructor stores its arguments and sets attributes, as v1's does: also the global cuDNN flags, the
    seeds when deterministic, and the loss (``DC_and_CE_loss``); nothing that needs the plans.
    """

    def __init__(self, plans_file: Any, fold: Any, output_folder: Any = None, dataset_directory: Any = None,
                 batch_dice: bool = True, stage: int | None = None, unpack_data: bool = True,
                 deterministic: bool = True, fp16: bool = False) -> None:
        from ..training.data_augmentation_params import trainer_created

        super().__init__(deterministic, fp16)
        trainer_created()  # v1 file shims: the module-level augmentation dicts as a fresh process has them
        plans_file, output_folder, dataset_directory = map(_as_str, (plans_file, output_folder, dataset_directory))
        self.unpack_data = unpack_data
        self.init_args = (plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
                          deterministic, fp16)
        self.stage = stage
        self.experiment_name = self.__class__.__name__
        self.plans_file = plans_file
        self.output_folder = output_folder
        self.dataset_directory = dataset_directory
        self.output_folder_base = self.output_folder
        self.fold = fold
        self.plans: Any = None
        if self.dataset_directory is not None and os.path.isdir(self.dataset_directory):
            self.gt_niftis_folder = os.path.join(self.dataset_directory, "gt_segmentations")
        else:
            self.gt_niftis_folder = None
        self.folder_with_preprocessed_data: Any = None
        self.dl_tr = self.dl_val = None
        # set by process_plans
        self.num_input_channels = self.num_classes = self.net_pool_per_axis = self.patch_size = self.batch_size = \
            self.threeD = self.base_num_features = self.intensity_properties = self.normalization_schemes = \
            self.net_num_pool_op_kernel_sizes = self.net_conv_kernel_sizes = None
        self.basic_generator_patch_size = self.data_aug_params = self.transpose_forward = \
            self.transpose_backward = None
        self.batch_dice = batch_dice
        self.loss = self._default_loss()
        self.online_eval_foreground_dc: list = []
        self.online_eval_tp: list = []
        self.online_eval_fp: list = []
        self.online_eval_fn: list = []
        self.classes = self.do_dummy_2D_aug = self.use_mask_for_norm = self.only_keep_largest_connected_component = \
            self.min_region_size_per_class = self.min_size_per_class = None
        self.inference_pad_border_mode = "constant"
        self.inference_pad_kwargs = {"constant_values": 0}
        self.update_fold(fold)
        self.pad_all_sides = None
        self.lr_scheduler_eps = 1e-3
        self.lr_scheduler_patience = 30
        self.initial_lr = 3e-4
        self.weight_decay = 3e-5
        self.oversample_foreground_percent = 0.33
        self.conv_per_stage = None
        self.regions_class_order = None

    def _default_loss(self) -> Any:
        """``DC_and_CE_loss({'batch_dice': self.batch_dice, 'smooth': 1e-5, 'do_bg': False}, {})``."""
        from ..training.loss import trainer_dc_and_ce_loss

        return trainer_dc_and_ce_loss(self.batch_dice)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.update_fold")
    def update_fold(self, fold: Any) -> None:
        """``output_folder`` becomes ``<output_folder_base>/fold_<k>`` (or ``/all``)."""
        if fold is None or self.output_folder is None:
            self.fold = fold
            return
        if isinstance(fold, str):
            if fold != "all":
                raise ConfigurationError(tr(f"fold {fold!r}: a string fold must be 'all'",
                                            f"fold {fold!r}：字符串形式的 fold 只能是 'all'"),
                                         fix=tr("give 0-4 or 'all'", "请给出 0-4 或 'all'"))
            if self.output_folder.endswith(str(self.fold)):
                self.output_folder = self.output_folder_base
            self.output_folder = os.path.join(self.output_folder, str(fold))
        else:
            if self.output_folder.endswith("fold_%s" % str(self.fold)):
                self.output_folder = self.output_folder_base
            self.output_folder = os.path.join(self.output_folder, "fold_%s" % str(fold))
        self.fold = fold

    # ------------------------------------------------------------------------------------------ plans
    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.load_plans_file")
    def load_plans_file(self) -> None:
        """``self.plans``: the plans pickle (read with the explorer's restricted unpickler)."""
        from ..planning.plans import load_plans

        self.plans = load_plans(self.plans_file)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.process_plans")
    def process_plans(self, plans: dict) -> None:
        """Set ``self.batch_size``, ``self.patch_size``, ``self.num_classes`` ... from the plans of ``self.stage``.

        ``num_classes`` counts the background (``plans['num_classes'] + 1``); ``threeD`` is
        ``len(patch_size) == 3``; kernel sizes stay v1's lists of lists (a variant may edit them in place).
        """
        if self.stage is None:
            stages = list(plans["plans_per_stage"].keys())
            if len(stages) != 1:
                raise PlansError(tr(f"the plans have {len(stages)} stages, so the stage must be given",
                                    f"plans 有 {len(stages)} 个 stage，所以必须指定 stage"),
                                 fix=tr("pass stage= (get_default_configuration chooses it from the network)",
                                        "请传入 stage=（get_default_configuration 会根据网络选择它）"))
            self.stage = stages[0]
        self.plans = plans
        if self.stage not in plans["plans_per_stage"]:
            stages = list(plans["plans_per_stage"])
            raise PlansError(tr(f"stage {self.stage} is not in the plans (stages: {stages})",
                                f"plans 中没有 stage {self.stage}（已有的 stage：{stages}）"),
                             fix=tr("choose one of those stages", "请从这些 stage 中选择一个"))
        stage_plans = plans["plans_per_stage"][self.stage]
        from ..planning.plans import check_stage_values

        check_stage_values(stage_plans, self.stage)
        self.batch_size = stage_plans["batch_size"]
        self.net_pool_per_axis = stage_plans["num_pool_per_axis"]
        self.patch_size = np.array(stage_plans["patch_size"]).astype(int)
        self.do_dummy_2D_aug = stage_plans["do_dummy_2D_data_aug"]
        if "pool_op_kernel_sizes" not in stage_plans:
            self.print_to_log_file("WARNING! old plans file with missing pool_op_kernel_sizes. Attempting to fix it...")
            most = max(self.net_pool_per_axis)
            self.net_num_pool_op_kernel_sizes = [[2 if most - j <= i else 1 for j in self.net_pool_per_axis]
                                                 for i in range(most)]
        else:
            self.net_num_pool_op_kernel_sizes = stage_plans["pool_op_kernel_sizes"]
        if "conv_kernel_sizes" not in stage_plans:
            self.print_to_log_file("WARNING! old plans file with missing conv_kernel_sizes. Attempting to fix it...")
            self.net_conv_kernel_sizes = [[3] * len(self.net_pool_per_axis)] * (max(self.net_pool_per_axis) + 1)
        else:
            self.net_conv_kernel_sizes = stage_plans["conv_kernel_sizes"]
        self.pad_all_sides = None
        self.intensity_properties = plans["dataset_properties"]["intensityproperties"]
        self.normalization_schemes = plans["normalization_schemes"]
        self.base_num_features = plans["base_num_features"]
        self.num_input_channels = plans["num_modalities"]
        self.num_classes = plans["num_classes"] + 1  # the plans count the foreground classes only
        self.classes = plans["all_classes"]
        self.use_mask_for_norm = plans["use_mask_for_norm"]
        self.only_keep_largest_connected_component = plans["keep_only_largest_region"]
        self.min_region_size_per_class = plans["min_region_size_per_class"]
        self.min_size_per_class = None  # v1: "DONT USE THIS"
        if plans.get("transpose_forward") is None or plans.get("transpose_backward") is None:
            print("WARNING! You seem to have data that was preprocessed with a previous version of nnU-Net. You should "
                  "rerun preprocessing. We will proceed and assume that both transpose_foward and transpose_backward "
                  "are [0, 1, 2]. If that is not correct then weird things will happen!")
            plans["transpose_forward"] = [0, 1, 2]
            plans["transpose_backward"] = [0, 1, 2]
        self.transpose_forward = plans["transpose_forward"]
        self.transpose_backward = plans["transpose_backward"]
        if len(self.patch_size) not in (2, 3):
            patch = list(self.patch_size)
            raise PlansError(tr(f"invalid patch size in plans file: {patch}",
                                f"plans 文件中的 patch 大小无效(v1 的报错:invalid patch size in plans file):{patch}"),
                             fix=tr("re-run planning", "请重新运行规划"))
        self.threeD = len(self.patch_size) == 3
        self.conv_per_stage = plans.get("conv_per_stage", 2)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.setup_DA_params")
    def setup_DA_params(self) -> None:
        """``self.data_aug_params`` and ``self.basic_generator_patch_size`` (base trainer, 3D: ±15°, elastic on;
        dummy 2D and 2D: in-plane ±180°, ±15° for elongated 2D patches)."""
        self._apply_augmentation_setup(v2=False)

    def _apply_augmentation_setup(self, v2: bool) -> None:
        """The shared body of both trainers' ``setup_DA_params`` (see ``training/data_augmentation_params.py``)."""
        from ..training.data_augmentation_params import setup_DA_params

        setup = setup_DA_params(self.patch_size, do_dummy_2D_aug=bool(self.do_dummy_2D_aug),
                                use_mask_for_norm=self.use_mask_for_norm,
                                pool_op_kernel_sizes=self.net_num_pool_op_kernel_sizes if v2 else None, v2=v2)
        if setup.data_aug_params.get("dummy_2D"):
            self.print_to_log_file("Using dummy2d data augmentation")
        if not self.threeD:
            self.do_dummy_2D_aug = False
        self.data_aug_params = dict(setup.data_aug_params)
        self.basic_generator_patch_size = np.array(setup.basic_generator_patch_size)
        if v2:
            self.deep_supervision_scales = [list(s) for s in setup.deep_supervision_scales]

    # ------------------------------------------------------------------------------------- initialize
    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.initialize")
    def initialize(self, training: bool = True, force_load_plans: bool = False) -> None:
        """Plans, augmentation parameters, (training:) loaders and augmentation, network, optimizer."""
        from ..training.augmentation_variants import get_default_augmentation
        from ..training.dataloading import unpack_dataset

        os.makedirs(self.output_folder, exist_ok=True)
        if force_load_plans or self.plans is None:
            self.load_plans_file()
        self.process_plans(self.plans)
        self.setup_DA_params()
        if training:
            self.folder_with_preprocessed_data = os.path.join(self.dataset_directory,
                                                              self.plans["data_identifier"] + "_stage%d" % self.stage)
            self.dl_tr, self.dl_val = self.get_basic_generators()
            if self.unpack_data:
                self.print_to_log_file("unpacking dataset")
                unpack_dataset(self.folder_with_preprocessed_data)
                self.print_to_log_file("done")
            else:
                self.print_to_log_file("INFO: Not unpacking data! Training may be slow due to that. Pray you are not "
                                       "using 2d or you will wait all winter for your model to finish!")
            self.tr_gen, self.val_gen = get_default_augmentation(self.dl_tr, self.dl_val,
                                                                 self.data_aug_params["patch_size_for_spatialtransform"],
                                                                 self.data_aug_params)
            self.print_to_log_file("TRAINING KEYS:\n %s" % (str(self.dataset_tr.keys())), also_print_to_console=False)
            self.print_to_log_file("VALIDATION KEYS:\n %s" % (str(self.dataset_val.keys())),
                                   also_print_to_console=False)
        self.initialize_network()
        self.initialize_optimizer_and_scheduler()
        self.was_initialized = True

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.initialize_network")
    def initialize_network(self) -> None:
        """``self.network``: Generic_UNet without deep supervision (the base trainer), softmax for inference."""
        self._build_generic_unet(deep_supervision=False)

    def _build_generic_unet(self, deep_supervision: bool) -> None:
        """Generic_UNet as both trainers build it: InstanceNorm, LeakyReLU(1e-2), He init, conv pooling/upsampling.

        ``build_network`` makes v1's call argument for argument (only ``deep_supervision`` differs between the two
        trainers), so ``print(self.network)`` shows the module tree v1 prints.
        """
        from ..training.generic_unet import build_network, softmax_helper

        self.network = build_network(self.num_input_channels, self.base_num_features, self.num_classes,
                                     self.net_num_pool_op_kernel_sizes, self.net_conv_kernel_sizes,
                                     self.conv_per_stage, self.threeD, deep_supervision)
        # differs from v1: v1 calls .cuda() whenever CUDA exists; the explorer moves it to the chosen device
        self.network.to(self.device)
        self.network.inference_apply_nonlin = softmax_helper

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.initialize_optimizer_and_scheduler")
    def initialize_optimizer_and_scheduler(self) -> None:
        """Adam(amsgrad) + ReduceLROnPlateau on the training-loss MA (see ``training/optim.py``)."""
        from ..training.optim import v1_adam_optimizer_and_scheduler

        if self.network is None:
            raise ConfigurationError(tr("self.initialize_network must be called first",
                                        "必须先调用 self.initialize_network"
                                        "(v1 的报错:self.initialize_network must be called first)"),
                                     fix=tr("call initialize_network() before initialize_optimizer_and_scheduler()",
                                            "请在 initialize_optimizer_and_scheduler() 之前调用 initialize_network()"))
        self.optimizer, self.lr_scheduler = v1_adam_optimizer_and_scheduler(
            self.network.parameters(), self.initial_lr, self.weight_decay, self.lr_scheduler_patience,
            self.lr_scheduler_eps)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.plot_network_architecture")
    def plot_network_architecture(self) -> None:
        """v1 draws the graph with hiddenlayer when installed; otherwise (as almost always) prints the network."""
        # differs from v1: no hiddenlayer attempt; the explorer's 'architecture' step draws the network instead
        self.print_to_log_file("Unable to plot network architecture:")
        self.print_to_log_file(tr("(the explorer draws it in the walkthrough's 'architecture' step)",
                                  "(explorer 在 walkthrough 的 'architecture' 步骤中画出它)"))
        self.print_to_log_file("\nprinting the network instead:\n")
        self.print_to_log_file(self.network)
        self.print_to_log_file("\n")

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.save_debug_information")
    def save_debug_information(self) -> None:
        """``debug.json`` (every non-callable attribute as a string) and a copy of the plans as ``plans.pkl``."""
        if not self.strategy.is_global_zero:
            return
        from ..fileio import copy_atomic
        from ..training.progress_log import write_debug_json

        attributes = {k: getattr(self, k) for k in dir(self) if not k.startswith("__")
                      and not callable(getattr(self, k, None)) and not k.startswith("_")}
        write_debug_json(self.output_folder, attributes)
        copy_atomic(self.plans_file, os.path.join(self.output_folder_base, "plans.pkl"))

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.run_training")
    def run_training(self) -> None:
        self.save_debug_information()
        super().run_training()

    # ------------------------------------------------------------------------------------------ data
    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.load_dataset")
    def load_dataset(self) -> None:
        """``self.dataset``: ``{case: {'data_file', 'properties_file', 'properties'}}`` of the stage folder."""
        from ..training.dataloading import load_dataset

        self.dataset = load_dataset(self.folder_with_preprocessed_data)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.get_basic_generators")
    def get_basic_generators(self) -> tuple[Any, Any]:
        """The training and validation loaders (the one place they are built: the run, DDP and the views).

        Training cuts ``basic_generator_patch_size`` patches (larger than the network's, so rotating and scaling
        keeps context), validation the network's ``patch_size``; the last ``batch_size - round(batch_size *
        (1 - oversample_foreground_percent))`` samples of each batch are centred on foreground (one of two at
        batch size 2). Under DDP each rank loads its share of the batch.
        """
        self.load_dataset()
        self.do_split()
        return self._loaders(has_prev_stage=False)

    def _loaders(self, has_prev_stage: bool) -> tuple[Any, Any]:
        """v1's two DataLoader3D/2D constructions (shared by the cascade, whose loaders read the prior)."""
        from ..training.dataloading import DataLoader2D, DataLoader3D

        batch_size, oversample = self.strategy.rank_batch(self.batch_size, self.oversample_foreground_percent)
        if self.threeD:
            dl_tr = DataLoader3D(self.dataset_tr, self.basic_generator_patch_size, self.patch_size, batch_size,
                                 has_prev_stage, oversample_foreground_percent=oversample, pad_mode="constant",
                                 pad_sides=self.pad_all_sides, memmap_mode="r")
            dl_val = DataLoader3D(self.dataset_val, self.patch_size, self.patch_size, batch_size, has_prev_stage,
                                  oversample_foreground_percent=oversample, pad_mode="constant",
                                  pad_sides=self.pad_all_sides, memmap_mode="r")
        else:
            if has_prev_stage:
                raise ConfigurationError(tr("2D has no cascade", "2D 没有级联"),
                                         fix=tr("train the cascade with 3d_cascade_fullres",
                                                "请用 3d_cascade_fullres 训练级联"))
            dl_tr = DataLoader2D(self.dataset_tr, self.basic_generator_patch_size, self.patch_size, batch_size,
                                 oversample_foreground_percent=oversample, pad_mode="constant",
                                 pad_sides=self.pad_all_sides, memmap_mode="r")
            dl_val = DataLoader2D(self.dataset_val, self.patch_size, self.patch_size, batch_size,
                                  oversample_foreground_percent=oversample, pad_mode="constant",
                                  pad_sides=self.pad_all_sides, memmap_mode="r")
        return dl_tr, dl_val

    # ---------------------------------------------------------------------------- online evaluation
    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.run_online_evaluation")
    def run_online_evaluation(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Hard tp/fp/fn per foreground class of ``argmax(softmax(output))``, summed over the batch.

        Returns them as one ``(3, C-1)`` tensor left on the device: the iteration reads it together with the
        loss, and :meth:`online_evaluation_counted` appends the numbers to ``online_eval_tp/fp/fn``.
        """
        from ..training.iteration import online_evaluation_counts

        # differs from v1: v1 reads the counts here (.cpu().numpy(), a second sync per validation iteration)
        return online_evaluation_counts(output.detach(), target)

    def online_evaluation_counted(self, counts: Any) -> None:
        """v1's lists, filled from the counts read with the iteration's loss."""
        tp, fp, fn = (np.asarray(v, dtype=np.float32) for v in (counts.tp, counts.fp, counts.fn))
        self.online_eval_foreground_dc.append(list((2 * tp) / (2 * tp + fp + fn + 1e-8)))
        self.online_eval_tp.append(list(tp))
        self.online_eval_fp.append(list(fp))
        self.online_eval_fn.append(list(fn))

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.finish_online_evaluation")
    def finish_online_evaluation(self) -> None:
        """Pool the epoch's tp/fp/fn, log the "Average global foreground Dice", append its mean to the metrics."""
        from ..training.online_evaluation import global_dice

        global_dc_per_class, mean = global_dice(self.online_eval_tp, self.online_eval_fp, self.online_eval_fn)
        self.all_val_eval_metrics.append(mean)
        self.print_to_log_file("Average global foreground Dice:", [np.round(i, 4) for i in global_dc_per_class])
        self.print_to_log_file("(interpret this as an estimate for the Dice of the different classes. This is not "
                               "exact.)")
        self.online_eval_foreground_dc = []
        self.online_eval_tp = []
        self.online_eval_fp = []
        self.online_eval_fn = []

    # ----------------------------------------------------------------------------------- checkpoints
    def _checkpoint_info(self) -> Any:
        """``<checkpoint>.pkl``: ``init`` (the constructor's arguments), ``name``, ``class``, ``plans``."""
        from ..training.checkpoint_saving import model_pkl_info

        return model_pkl_info(self.init_args, type(self), self.plans)

    # ------------------------------------------------------------------------------------- inference
    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.predict_preprocessed_data_return_seg_and_softmax")
    def predict_preprocessed_data_return_seg_and_softmax(
            self, data: np.ndarray, do_mirroring: bool = True, mirror_axes: Sequence[int] | None = None,
            use_sliding_window: bool = True, step_size: float = 0.5, use_gaussian: bool = True,
            pad_border_mode: str = "constant", pad_kwargs: dict | None = None, all_in_gpu: bool = False,
            verbose: bool = True, mixed_precision: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Sliding-window prediction of one preprocessed case ``(c, x, y, z)``: ``(segmentation, softmax)``."""
        result = self._sliding_window(data, do_mirroring, mirror_axes, use_sliding_window, step_size, use_gaussian,
                                      pad_border_mode, pad_kwargs, all_in_gpu, mixed_precision)
        return result.segmentation, result.probabilities

    def _sliding_window(self, data: np.ndarray, do_mirroring: bool, mirror_axes: Sequence[int] | None,
                        use_sliding_window: bool, step_size: float, use_gaussian: bool, pad_border_mode: str,
                        pad_kwargs: dict | None, all_in_gpu: bool, mixed_precision: bool) -> Any:
        from ..network_architecture.sliding_window import predict_sliding_window

        if not use_sliding_window:
            raise ConfigurationError(tr("use_sliding_window=False (predicting the whole image at once) is not "
                                        "implemented by the explorer",
                                        "explorer 没有实现 use_sliding_window=False（一次预测整幅图像）"),
                                     fix=tr("use the sliding window (v1's default)", "请使用滑动窗口（v1 的默认做法）"))
        if pad_border_mode == "constant" and pad_kwargs is None:
            pad_kwargs = {"constant_values": 0}
        if do_mirroring and mirror_axes is None:
            mirror_axes = self.data_aug_params["mirror_axes"]
        if do_mirroring and not self.data_aug_params["do_mirror"]:
            raise ConfigurationError(tr("Cannot do mirroring as test time augmentation when training was done "
                                        "without mirroring",
                                        "训练时没有做镜像，所以不能把镜像用作测试时增强(v1 的报错:Cannot do mirroring "
                                        "as test time augmentation when training was done without mirroring)"),
                                     fix=tr("pass do_mirroring=False", "请传入 do_mirroring=False"))
        training = self.network.training
        try:
            return predict_sliding_window(self.network, data, self.patch_size, do_mirroring=do_mirroring,
                                          mirror_axes=tuple(mirror_axes or ()), step_size=step_size,
                                          use_gaussian=use_gaussian, pad_border_mode=pad_border_mode,
                                          pad_kwargs=pad_kwargs, mixed_precision=mixed_precision,
                                          all_in_gpu=all_in_gpu)
        finally:
            self.network.train(training)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.validate")
    def validate(self, do_mirroring: bool = True, use_sliding_window: bool = True, step_size: float = 0.5,
                 save_softmax: bool = True, use_gaussian: bool = True, overwrite: bool = True,
                 validation_folder_name: str = "validation_raw", debug: bool = False, all_in_gpu: bool = False,
                 segmentation_export_kwargs: dict | None = None, run_postprocessing_on_folds: bool = True) -> Any:
        """Predict every validation case, export it, score it (``summary.json``), decide postprocessing.

        Returns the explorer's :class:`~nnunet_explorer.inference.validation.ValidationReport` (v1 returns None).
        """
        from ..inference.validation import validate

        if not self.was_initialized:
            raise ConfigurationError(tr("must initialize, ideally with checkpoint (or train first)",
                                        "必须先初始化，最好同时加载检查点，或者先训练"
                                        "(v1 的报错:must initialize, ideally with checkpoint)"),
                                     fix=tr("call initialize(False) and load a checkpoint before validate()",
                                            "请在 validate() 之前调用 initialize(False) 并加载一个检查点"))
        training = self.network.training
        self.network.eval()
        if self.dataset_val is None:
            self.load_dataset()
            self.do_split()
        if do_mirroring and not self.data_aug_params["do_mirror"]:
            raise ConfigurationError(tr("We did not train with mirroring so you cannot do inference with mirroring "
                                        "enabled",
                                        "训练时没有做镜像，所以推理时不能开启镜像(v1 的报错:We did not train with "
                                        "mirroring so you cannot do inference with mirroring enabled)"),
                                     fix=tr("validate with do_mirroring=False", "请用 do_mirroring=False 进行验证"))
        mirror_axes = tuple(self.data_aug_params["mirror_axes"]) if do_mirroring else ()
        predict = None
        if type(self).predict_preprocessed_data_return_seg_and_softmax is not \
                nnUNetTrainer.predict_preprocessed_data_return_seg_and_softmax:
            # a subclass's own prediction is honoured (v1 calls this method for every case)
            def predict(data: np.ndarray) -> np.ndarray:
                return self.predict_preprocessed_data_return_seg_and_softmax(
                    data, do_mirroring=do_mirroring, mirror_axes=mirror_axes, use_sliding_window=use_sliding_window,
                    step_size=step_size, use_gaussian=use_gaussian, all_in_gpu=all_in_gpu,
                    mixed_precision=bool(self.fp16))[1]
        try:
            return validate(self.network, self.plans, self.stage, self.output_folder,
                            self.folder_with_preprocessed_data or self._stage_folder(), list(self.dataset_val.keys()),
                            self.gt_niftis_folder, do_mirroring=do_mirroring, mirror_axes=mirror_axes,
                            step_size=step_size, use_gaussian=use_gaussian, save_softmax=save_softmax,
                            overwrite=overwrite, validation_folder_name=validation_folder_name,
                            run_postprocessing_on_folds=run_postprocessing_on_folds,
                            mixed_precision=bool(self.fp16), segmentation_export_kwargs=segmentation_export_kwargs,
                            experiment_name=self.experiment_name, task_name=os.path.basename(self.dataset_directory),
                            debug=debug, all_in_gpu=all_in_gpu, predict=predict,
                            segs_from_prev_stage_folder=self._validation_prior_folder())
        finally:
            self.network.train(training)

    def _stage_folder(self) -> str:
        return os.path.join(self.dataset_directory, self.plans["data_identifier"] + "_stage%d" % self.stage)

    def _validation_prior_folder(self) -> Any:
        """The cascade's previous-stage folder (validation appends that segmentation to the input)."""
        return None


__all__ = ["nnUNetTrainer"]
