"""v1's ``NetworkTrainer``: the generic training loop, its bookkeeping and its checkpoints.

``nnUNet_train`` builds a trainer, calls ``initialize`` and then ``run_training``, which is this loop::

    while epoch < max_num_epochs:
        num_batches_per_epoch x run_iteration(tr_gen)                     -> all_tr_losses
        num_val_batches_per_epoch x run_iteration(val_gen, online eval)   -> all_val_losses
        update_train_loss_MA()
        on_epoch_end():  finish_online_evaluation, plot_progress, maybe_update_lr, maybe_save_checkpoint,
                         update_eval_criterion_MA, manage_patience
        epoch += 1
    save model_final_checkpoint.model; delete model_latest.model

Every method here has v1's name, signature and place in that order, so a subclass that overrides one (v1's
``nnUNet_variants`` do: ``on_epoch_end``, ``maybe_update_lr``, ``run_iteration``, ``save_checkpoint`` ...) is
called exactly where v1 would call it. What the explorer adds (observers, a stop request, the NaN guard,
Ctrl-C/SIGTERM saving, timings, DDP) lives in :mod:`.explorer_hooks` and :mod:`nnunet_explorer.training.strategy`
and is called at four named points of :meth:`NetworkTrainer.run_training`.

v1 writes its files as ``join(self.output_folder, name)`` with string paths; so does this class (a variant
that builds paths the same way keeps working). Files are written atomically; while ``run_training`` runs,
``progress.png`` and the checkpoints by background threads (see :meth:`NetworkTrainer.save_checkpoint`).
"""
from __future__ import annotations

import os
import sys
from collections import OrderedDict
from pathlib import Path
from time import time
from typing import Any

import numpy as np
import torch

from ..errors import ConfigurationError, ExplorerError, TrainingError
from ..language import tr
from ..provenance import mirrors
from ..training.checkpoint_saving import BEST, FINAL, LATEST, RESUME_ORDER
from ..training.strategy import SingleProcess
from .explorer_hooks import ExplorerHooks
from .provenance import HYPERPARAMETERS, check_trainer_class_definition, note_assignment

DETERMINISTIC_SEED = 12345  # v1's seed with --deterministic


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer")
class NetworkTrainer:
    """v1's ``NetworkTrainer``: a generic loop (nothing nnU-Net specific) and its bookkeeping.

    An epoch is ``num_batches_per_epoch`` training iterations followed by ``num_val_batches_per_epoch``
    validation iterations (not a pass over the data). Training ends after ``max_num_epochs`` epochs or, for
    trainers that honour it (not V2), when the training-loss moving average has not improved by
    ``train_loss_MA_eps`` for more than ``patience`` epochs and the learning rate has fallen to ``lr_threshold``
    or below (while it is still higher, the patience count is set back to ``patience // 2``).

    Subclasses implement ``initialize`` (set ``network``, ``optimizer``, ``tr_gen``, ``val_gen``, ``loss``),
    ``validate`` and, optionally, ``run_online_evaluation`` / ``finish_online_evaluation``.
    """

    def __init__(self, deterministic: bool = True, fp16: bool = False) -> None:
        self.fp16 = fp16
        self.amp_grad_scaler: Any = None
        if deterministic:
            # v1 seeds here: the initial weights drawn later in initialize() follow from this seed
            np.random.seed(DETERMINISTIC_SEED)
            torch.manual_seed(DETERMINISTIC_SEED)
            if torch.cuda.is_available():
                torch.cuda.manual_seed_all(DETERMINISTIC_SEED)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        else:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
        # set in initialize()
        self.network: Any = None
        self.optimizer: Any = None
        self.lr_scheduler: Any = None
        self.tr_gen = self.val_gen = None
        self.was_initialized = False
        # set in __init__ of the subclass
        self.output_folder: Any = None
        self.fold: Any = None
        self.loss: Any = None
        self.dataset_directory: Any = None
        # set in load_dataset / do_split
        self.dataset = None
        self.dataset_tr = self.dataset_val = None
        # the loop's settings
        self.patience = 50
        self.val_eval_criterion_alpha = 0.9
        self.train_loss_MA_alpha = 0.93
        self.train_loss_MA_eps = 5e-4
        self.max_num_epochs = 1000
        self.num_batches_per_epoch = 250
        self.num_val_batches_per_epoch = 50
        self.also_val_in_tr_mode = False
        self.lr_threshold = 1e-6
        # the loop's state
        self.val_eval_criterion_MA = None
        self.train_loss_MA = None
        self.best_val_eval_criterion_MA = None
        self.best_MA_tr_loss_for_patience = None
        self.best_epoch_based_on_MA_tr_loss = None
        self.all_tr_losses: list = []
        self.all_val_losses: list = []
        self.all_val_losses_tr_mode: list = []
        self.all_val_eval_metrics: list = []
        self.epoch = 0
        self.log_file: Any = None
        self.deterministic = deterministic
        self.use_progress_bar = bool(int(os.environ.get("nnunet_use_progress_bar", "0") or 0))
        # checkpoints
        self.save_every = 50
        self.save_latest_only = True
        self.save_intermediate_checkpoints = True
        self.save_best_checkpoint = True
        self.save_final_checkpoint = True
        # differs from v1: the explorer's own attributes. v1 calls .cuda() whenever CUDA exists; here the device
        # is decided once by the command (--device) and kept; the strategy is one process unless DDP; the
        # explorer's additions to the loop live in one object; echo=False keeps the console quiet.
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.augment_on = "auto"  # where the augmentation computes (--augment_on; ExplorerHooks.choose_augmentation)
        self.strategy: Any = SingleProcess()
        self.explorer = ExplorerHooks()
        self.echo = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check a user's trainer when its class is defined (see :func:`.provenance.check_trainer_class_definition`)."""
        super().__init_subclass__(**kwargs)
        check_trainer_class_definition(cls)

    def __setattr__(self, name: str, value: Any) -> None:
        # remember which class's __init__ assigned a hyperparameter (for the provenance table)
        if name in HYPERPARAMETERS:
            note_assignment(self, name, value, sys._getframe(1).f_code)
        object.__setattr__(self, name, value)

    # -------------------------------------------------------------------------------------- abstract
    def initialize(self, training: bool = True) -> None:
        """Set ``self.network``, ``self.optimizer``, ``self.tr_gen``/``self.val_gen`` and ``self.was_initialized``."""
        raise NotImplementedError("the trainer must implement initialize (nnUNetTrainer does)")

    def load_dataset(self) -> None:
        raise NotImplementedError("the trainer must implement load_dataset (nnUNetTrainer does)")

    def initialize_network(self) -> None:
        raise NotImplementedError("the trainer must implement initialize_network (nnUNetTrainer does)")

    def initialize_optimizer_and_scheduler(self) -> None:
        raise NotImplementedError("the trainer must implement initialize_optimizer_and_scheduler")

    def validate(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the trainer must implement validate (nnUNetTrainer does)")

    # ---------------------------------------------------------------------------------------- split
    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.do_split")
    def do_split(self) -> None:
        """5-fold split of the sorted case ids (KFold seed 12345), kept in ``splits_final.pkl``."""
        from ..training.splits import load_splits, make_splits
        from ..fileio import write_pickle

        splits_file = os.path.join(self.dataset_directory, "splits_final.pkl")
        if not os.path.isfile(splits_file):
            self.print_to_log_file("Creating new split...")
            write_pickle(make_splits(self.dataset.keys()), splits_file)
        splits = load_splits(splits_file)
        if self.fold == "all":
            tr_keys = val_keys = list(self.dataset.keys())
        else:
            tr_keys, val_keys = list(splits[self.fold]["train"]), list(splits[self.fold]["val"])
        self._set_split(tr_keys, val_keys)

    def _set_split(self, tr_keys: list, val_keys: list) -> None:
        """``self.dataset_tr`` / ``self.dataset_val`` from the sorted keys (the end of v1's ``do_split``)."""
        from ..training.dataloading import subset

        self.dataset_tr = subset(self.dataset, sorted(tr_keys))
        self.dataset_val = subset(self.dataset, sorted(val_keys))

    # ----------------------------------------------------------------------------------- logging
    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.print_to_log_file")
    def print_to_log_file(self, *args: Any, also_print_to_console: bool = True, add_timestamp: bool = True) -> None:
        """Append a line to ``training_log_<date>.txt`` in the fold folder (created on the first call) and print it."""
        if not self.strategy.is_global_zero or self.explorer.log_muted:
            return  # DDP: rank 0 writes the log (as v1's DDP trainer); the walkthrough's looks write nothing
        from ..training.progress_log import TrainingLogFile

        if self.output_folder is None:
            # differs from v1: a trainer made without an output folder (to look at its settings) prints only
            if also_print_to_console and self.echo:
                print(*args)
            return
        writer = self.__dict__.get("_log_writer")
        if writer is None or self.log_file is None:
            writer = TrainingLogFile(self.output_folder, echo=self.echo)
            self.__dict__["_log_writer"] = writer
        writer(*args, also_print_to_console=also_print_to_console, add_timestamp=add_timestamp)
        self.log_file = str(writer.path)

    # --------------------------------------------------------------------------------- checkpoints
    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.save_checkpoint")
    def save_checkpoint(self, fname: str, save_optimizer: bool = True) -> None:
        """Write the weights, optimizer, epoch (``self.epoch + 1``) and curves to ``fname``, atomically.

        While ``run_training`` runs (and no class of the user's overrides a method that saves or reads the
        checkpoints, see :func:`.explorer_hooks.writes_checkpoints_in_background`), the file is written by a
        background thread: this returns once the tensors are copied, and "done, saving took" is logged when
        the file is on disk. ``model_final_checkpoint.model`` is always written here, after every pending one.
        """
        from ..training.checkpoint_saving import checkpoint_dict, save_checkpoint_files

        self.explorer.checkpoint_saved(fname)
        if not self.strategy.is_global_zero:
            return  # DDP: rank 0 writes the checkpoints
        start_time = time()
        self.print_to_log_file("saving checkpoint...")
        writer = self.explorer.checkpoint_writer
        background = writer is not None and os.path.basename(fname) != FINAL
        scaler = self.amp_grad_scaler
        checkpoint = checkpoint_dict(
            self.network, self.optimizer if save_optimizer else None, self.epoch + 1,
            (self.all_tr_losses, self.all_val_losses, self.all_val_losses_tr_mode, self.all_val_eval_metrics),
            (self.best_epoch_based_on_MA_tr_loss, self.best_MA_tr_loss_for_patience, self.best_val_eval_criterion_MA),
            grad_scaler_state=scaler.state_dict() if scaler is not None else {}, has_grad_scaler=bool(self.fp16),
            lr_scheduler=self.lr_scheduler, snapshot=background)

        def done() -> None:
            self.print_to_log_file("done, saving took %.2f seconds" % (time() - start_time))

        if background:
            # differs from v1: v1 writes in the training thread (the GPU idles while the disk works); here a
            # thread writes a copy while the next epoch trains
            writer.submit(fname, checkpoint, self._checkpoint_info(), on_done=done)
            return
        if writer is not None:  # the final checkpoint: after the pending ones, so that no older file lands later
            writer.wait_until_written()
        save_checkpoint_files(fname, checkpoint, self._checkpoint_info())
        done()

    def _checkpoint_info(self) -> Any:
        """The ``.model.pkl`` companion (nnUNetTrainer writes one; the generic trainer none)."""
        return None

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_best_checkpoint")
    def load_best_checkpoint(self, train: bool = True) -> None:
        if self.fold is None:
            raise TrainingError(tr("Cannot load best checkpoint if self.fold is None",
                                   "self.fold 为 None，无法加载最佳检查点"
                                   "(v1 的报错:Cannot load best checkpoint if self.fold is None)"),
                                fix=tr("construct with a fold", "请在构造 trainer 时给出 fold"))
        best = os.path.join(self.output_folder, BEST)
        if os.path.isfile(best):
            self.load_checkpoint(best, train=train)
        else:
            self.print_to_log_file("WARNING! model_best.model does not exist! Cannot load best checkpoint. Falling "
                                   "back to load_latest_checkpoint")
            self.load_latest_checkpoint(train)

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_latest_checkpoint")
    def load_latest_checkpoint(self, train: bool = True) -> None:
        """``-c``: ``model_final_checkpoint``, else ``model_latest``, else ``model_best`` (v1's preference,
        ``RESUME_ORDER``)."""
        for name in RESUME_ORDER:
            path = os.path.join(self.output_folder, name)
            if os.path.isfile(path):
                return self.load_best_checkpoint(train) if name == BEST else self.load_checkpoint(path, train=train)
        raise TrainingError(tr(f"No checkpoint found in {self.output_folder} (-c needs {FINAL}, {LATEST} or {BEST})",
                               f"{self.output_folder} 中没有检查点(v1 的报错:No checkpoint found)；"
                               f"-c 需要 {FINAL}、{LATEST} 或 {BEST}"),
                            fix=tr("start without -c, or point the run at the folder of the interrupted training",
                                   "不带 -c 重新开始，或让这次运行指向被中断的训练所在的文件夹"))

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_final_checkpoint")
    def load_final_checkpoint(self, train: bool = False) -> None:
        filename = os.path.join(self.output_folder, FINAL)
        if not os.path.isfile(filename):
            raise TrainingError(tr(f"Final checkpoint not found. Expected: {filename}. Please finish the training "
                                   "first.",
                                   f"找不到最终检查点，应在：{filename}。请先完成训练"
                                   "(v1 的报错:Final checkpoint not found)。"),
                                fix=tr("train this fold to the end, or validate model_best with --valbest",
                                       "把这个 fold 训练完，或用 --valbest 验证 model_best"))
        return self.load_checkpoint(filename, train=train)

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_checkpoint")
    def load_checkpoint(self, fname: str, train: bool = True) -> None:
        """Read ``fname`` (safely) and restore it with :meth:`load_checkpoint_ram`."""
        from ..training.pretrained import read_checkpoint

        self.print_to_log_file("loading checkpoint", fname, "train=", train)
        writer = self.explorer.checkpoint_writer
        if writer is not None:  # a checkpoint saved a moment ago may still be on its way to the disk
            writer.wait_until_written()
        if not self.was_initialized:
            self.initialize(train)
        try:
            checkpoint = read_checkpoint(fname)
        except ExplorerError as exc:  # unreadable or unsafe: say which checkpoints of the fold are intact
            raise TrainingError(exc.cause, fix=_intact_checkpoints_fix(str(fname))) from None
        self.load_checkpoint_ram(checkpoint, train)

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_checkpoint_ram")
    def load_checkpoint_ram(self, checkpoint: dict, train: bool = True) -> None:
        """Restore weights, GradScaler, epoch, optimizer (and scheduler) and the curves from a checkpoint dict."""
        if not self.was_initialized:
            self.initialize(train)
        current = set(self.network.state_dict())
        new_state_dict = OrderedDict((k[7:] if k not in current and k.startswith("module.") else k, v)
                                     for k, v in checkpoint["state_dict"].items())
        if self.fp16:
            self._maybe_init_amp()
            if train and checkpoint.get("amp_grad_scaler") and self.amp_grad_scaler is not None:
                self.amp_grad_scaler.load_state_dict(checkpoint["amp_grad_scaler"])
        try:
            self.network.load_state_dict(new_state_dict)
        except RuntimeError as exc:
            reason = str(exc).splitlines()[0]
            raise TrainingError(tr(f"the checkpoint does not fit this network: {reason}",
                                   f"检查点与这个网络不匹配：{reason}"),
                                fix=tr("resume with the same plans, configuration and trainer that wrote it",
                                       "请用写出它的同一套 plans、配置和 trainer 继续训练")) from None
        self.epoch = checkpoint["epoch"]
        if train:
            if checkpoint.get("optimizer_state_dict") is not None:
                self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
            if self.lr_scheduler is not None and hasattr(self.lr_scheduler, "load_state_dict") and \
                    checkpoint.get("lr_scheduler_state_dict") is not None:
                self.lr_scheduler.load_state_dict(checkpoint["lr_scheduler_state_dict"])
            if isinstance(self.lr_scheduler, torch.optim.lr_scheduler.LRScheduler):
                self.lr_scheduler.step(self.epoch)
        (self.all_tr_losses, self.all_val_losses, self.all_val_losses_tr_mode,
         self.all_val_eval_metrics) = (list(x) for x in checkpoint["plot_stuff"])
        if "best_stuff" in checkpoint:
            (self.best_epoch_based_on_MA_tr_loss, self.best_MA_tr_loss_for_patience,
             self.best_val_eval_criterion_MA) = checkpoint["best_stuff"]
        if self.epoch != len(self.all_tr_losses):
            self.print_to_log_file("WARNING in loading checkpoint: self.epoch != len(self.all_tr_losses). This is "
                                   "due to an old bug and should only appear when you are loading old models. New "
                                   "models should have this fixed! self.epoch is now set to len(self.all_tr_losses)")
            self.epoch = len(self.all_tr_losses)
            for name in ("all_tr_losses", "all_val_losses", "all_val_losses_tr_mode", "all_val_eval_metrics"):
                setattr(self, name, getattr(self, name)[:self.epoch])
        self._maybe_init_amp()

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer._maybe_init_amp")
    def _maybe_init_amp(self) -> None:
        """fp16: the GradScaler, created once (on a CPU a disabled one, as v1's disables itself there)."""
        from ..training.iteration import make_grad_scaler

        if self.fp16 and self.amp_grad_scaler is None:
            scaler = make_grad_scaler(True, self.device, cpu_amp=bool(getattr(self, "cpu_amp", False)))
            # v1 creates GradScaler() on any machine; without CUDA it disables itself (scale(l) returns l, step() is
            # optimizer.step()), so a run_iteration override written for v1 runs unchanged on a CPU
            self.amp_grad_scaler = scaler if scaler is not None else torch.amp.GradScaler("cuda", enabled=False)

    def plot_network_architecture(self) -> None:
        """v1's generic trainer draws nothing (nnUNetTrainer tries hiddenlayer, then prints the network)."""

    # --------------------------------------------------------------------------------------- the loop
    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.run_training")
    def run_training(self) -> None:
        """Train from ``self.epoch`` to ``max_num_epochs``: v1's loop, with the explorer's four named points."""
        if not torch.cuda.is_available():
            self.print_to_log_file("WARNING!!! You are attempting to run training on a CPU (torch.cuda.is_available() "
                                   "is False). This can be VERY slow!")
        _ = next(self.tr_gen)  # v1 draws one batch of each and throws them away
        _ = next(self.val_gen)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self._maybe_init_amp()
        os.makedirs(self.output_folder, exist_ok=True)
        self.plot_network_architecture()
        if not self.was_initialized:
            self.initialize(True)
        self.strategy.prepare(self)
        with self.explorer.training(self):
            while self.epoch < self.max_num_epochs:
                self.print_to_log_file("\nepoch: ", self.epoch)
                epoch_start_time = time()
                self.explorer.epoch_start(self)
                train_losses_epoch = []
                self.network.train()
                for b in range(self.num_batches_per_epoch):
                    loss = self.run_iteration(self.tr_gen, True)
                    train_losses_epoch.append(loss)
                    self.explorer.iteration_end(self, "training", b, loss)
                self.all_tr_losses.append(np.mean(train_losses_epoch))
                self.print_to_log_file("train loss : %.4f" % self.all_tr_losses[-1])
                with torch.no_grad():
                    self.network.eval()
                    val_losses = []
                    for b in range(self.num_val_batches_per_epoch):
                        loss = self.run_iteration(self.val_gen, False, True)
                        val_losses.append(loss)
                        self.explorer.iteration_end(self, "validation", b, loss)
                    self.all_val_losses.append(np.mean(val_losses))
                    self.print_to_log_file("validation loss: %.4f" % self.all_val_losses[-1])
                    if self.also_val_in_tr_mode:
                        self.network.train()
                        val_losses = [self.run_iteration(self.val_gen, False)
                                      for _ in range(self.num_val_batches_per_epoch)]
                        self.all_val_losses_tr_mode.append(np.mean(val_losses))
                        self.print_to_log_file("validation loss (train=True): %.4f" % self.all_val_losses_tr_mode[-1])
                self.update_train_loss_MA()  # needed for the lr scheduler and the patience
                continue_training = self.on_epoch_end()
                epoch_end_time = time()
                self.explorer.epoch_end(self, epoch_end_time - epoch_start_time, continue_training)
                if not continue_training:
                    break
                self.epoch += 1
                self.print_to_log_file("This epoch took %f s\n" % (epoch_end_time - epoch_start_time))
            # v1: model_final_checkpoint stores max_num_epochs after a full run (one less after an early stop)
            self.epoch -= 1
            if self.save_final_checkpoint:
                self.save_checkpoint(os.path.join(self.output_folder, FINAL))
            if self.strategy.is_global_zero:  # model_latest is identical to the final checkpoint now
                for name in (LATEST, LATEST + ".pkl"):
                    if os.path.isfile(os.path.join(self.output_folder, name)):
                        os.remove(os.path.join(self.output_folder, name))
            self.strategy.barrier()

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.maybe_update_lr")
    def maybe_update_lr(self) -> None:
        """Step the scheduler: ReduceLROnPlateau on the training-loss MA, any other with ``epoch + 1``."""
        scheduler = self.lr_scheduler
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(self.train_loss_MA)
            else:
                scheduler.step(self.epoch + 1)
        self.print_to_log_file("lr is now (scheduler) %s" % str(self.optimizer.param_groups[0]["lr"]))

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.maybe_save_checkpoint")
    def maybe_save_checkpoint(self) -> None:
        """``model_latest.model`` after epochs ``save_every - 1``, ``2 save_every - 1``, ... (v1: 49, 99, ...)."""
        if self.save_intermediate_checkpoints and (self.epoch % self.save_every == (self.save_every - 1)):
            self.print_to_log_file("saving scheduled checkpoint file...")
            if not self.save_latest_only:
                self.save_checkpoint(os.path.join(self.output_folder, "model_ep_%03.0d.model" % (self.epoch + 1)))
            self.save_checkpoint(os.path.join(self.output_folder, LATEST))
            self.print_to_log_file("done")

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.update_eval_criterion_MA")
    def update_eval_criterion_MA(self) -> None:
        """MA of the online Dice (``-val loss`` when no metric): first value, then ``a * MA + (1 - a) * new``."""
        alpha = self.val_eval_criterion_alpha
        if self.val_eval_criterion_MA is None:
            self.val_eval_criterion_MA = (-self.all_val_losses[-1] if len(self.all_val_eval_metrics) == 0
                                          else self.all_val_eval_metrics[-1])
        elif len(self.all_val_eval_metrics) == 0:
            # the validation loss: lower is better, hence the minus
            self.val_eval_criterion_MA = alpha * self.val_eval_criterion_MA - (1 - alpha) * self.all_val_losses[-1]
        else:
            self.val_eval_criterion_MA = (alpha * self.val_eval_criterion_MA
                                          + (1 - alpha) * self.all_val_eval_metrics[-1])

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.manage_patience")
    def manage_patience(self) -> bool:
        """``model_best.model`` when the Dice MA strictly improves; early stop when the train-loss MA stalls.

        The best values start as the current ones, so the first epoch is never a new best. The run stops only
        when ``patience`` epochs passed without improvement *and* the LR is at most ``lr_threshold``
        (V2 ignores the answer: it always trains ``max_num_epochs``).
        """
        continue_training = True
        if self.patience is not None:
            if self.best_MA_tr_loss_for_patience is None:
                self.best_MA_tr_loss_for_patience = self.train_loss_MA
            if self.best_epoch_based_on_MA_tr_loss is None:
                self.best_epoch_based_on_MA_tr_loss = self.epoch
            if self.best_val_eval_criterion_MA is None:
                self.best_val_eval_criterion_MA = self.val_eval_criterion_MA
            if self.val_eval_criterion_MA > self.best_val_eval_criterion_MA:
                self.best_val_eval_criterion_MA = self.val_eval_criterion_MA
                if self.save_best_checkpoint:
                    self.save_checkpoint(os.path.join(self.output_folder, BEST))
            if self.train_loss_MA + self.train_loss_MA_eps < self.best_MA_tr_loss_for_patience:
                self.best_MA_tr_loss_for_patience = self.train_loss_MA
                self.best_epoch_based_on_MA_tr_loss = self.epoch
            if self.epoch - self.best_epoch_based_on_MA_tr_loss > self.patience:
                if self.optimizer.param_groups[0]["lr"] > self.lr_threshold:
                    self.best_epoch_based_on_MA_tr_loss = self.epoch - self.patience // 2
                else:
                    continue_training = False
        return continue_training

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.on_epoch_end")
    def on_epoch_end(self) -> bool:
        """v1's order: online Dice, progress.png, the next LR, the scheduled checkpoint, the Dice MA, patience."""
        self.finish_online_evaluation()
        self.plot_progress()
        self.maybe_update_lr()
        self.maybe_save_checkpoint()
        self.update_eval_criterion_MA()
        return self.manage_patience()

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.update_train_loss_MA")
    def update_train_loss_MA(self) -> None:
        """First epoch: the epoch's training loss; then ``0.93 * MA + 0.07 * loss``."""
        if self.train_loss_MA is None:
            self.train_loss_MA = self.all_tr_losses[-1]
        else:
            self.train_loss_MA = (self.train_loss_MA_alpha * self.train_loss_MA
                                  + (1 - self.train_loss_MA_alpha) * self.all_tr_losses[-1])

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.run_iteration")
    def run_iteration(self, data_generator: Any, do_backprop: bool = True, run_online_evaluation: bool = False) -> Any:
        """One batch: forward, loss, (backward and step). The generic trainer does not clip gradients."""
        return self._iteration(data_generator, do_backprop, run_online_evaluation, clip_norm=None)

    def _iteration(self, data_generator: Any, do_backprop: bool, run_online_evaluation: bool,
                   clip_norm: float | None) -> np.ndarray:
        """The body of v1's ``run_iteration``, recorded with one read from the device (training/iteration.py).

        Returns the loss as a numpy float32 (v1: a 0-d float32 array; the epoch means are float32 either way); the
        full record goes to ``self.explorer``.
        """
        from ..training.iteration import run_iteration

        start = time()
        data_dict = next(data_generator)
        waited = time() - start
        network = self.strategy.training_module(self.network) if do_backprop else self.network
        target = data_dict["target"]
        record = run_iteration(network, self.loss, self.optimizer, data_dict["data"],
                               list(target) if isinstance(target, (list, tuple)) else target,
                               do_backprop=do_backprop, fp16=bool(self.fp16), grad_scaler=self.amp_grad_scaler,
                               clip_norm=clip_norm,
                               run_online_evaluation=self.run_online_evaluation if run_online_evaluation else False,
                               strategy=self.strategy, stop_requested=self.explorer.control.stop_requested)
        if record.online_evaluation is not None:
            self.online_evaluation_counted(record.online_evaluation)
        self.explorer.record_iteration(record, waited)
        return np.float32(record.loss)

    def run_online_evaluation(self, *args: Any, **kwargs: Any) -> Any:
        """Optional: count what the epoch's online metric needs (nnUNetTrainer: tp/fp/fn per class)."""

    def online_evaluation_counted(self, counts: Any) -> None:
        """Optional: receive the counts ``run_online_evaluation`` returned, after the iteration's one read."""

    def finish_online_evaluation(self) -> None:
        """Optional: turn the epoch's counts into ``all_val_eval_metrics`` (nnUNetTrainer: the global Dice)."""

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.plot_progress")
    def plot_progress(self) -> None:
        """``progress.png``: losses per epoch and the online Dice estimate (rank 0 writes it)."""
        if not (self.strategy.is_global_zero and self.explorer.plot_progress):
            return
        plotter = self.explorer.progress_plotter  # set while run_training runs
        if plotter is not None:
            # differs from v1: drawn by a background thread (the GPU does not wait for matplotlib at every epoch's
            # end); complete when run_training returns
            failed = plotter.submit(Path(self.output_folder) / "progress.png", self.all_tr_losses,
                                    self.all_val_losses, self.all_val_losses_tr_mode, self.all_val_eval_metrics)
            if failed is not None:
                self.print_to_log_file("failed to plot: ", repr(failed))
            return
        from ..training.progress_plot import save_progress_png

        try:
            save_progress_png(Path(self.output_folder) / "progress.png", self.all_tr_losses, self.all_val_losses,
                              self.all_val_losses_tr_mode, self.all_val_eval_metrics)
        except (OSError, ImportError, ValueError):
            self.print_to_log_file("failed to plot: ", sys.exc_info())

    def find_lr(self, *args: Any, **kwargs: Any) -> Any:
        # differs from v1: v1 1.7.1's find_lr calls `.data.item()` on run_iteration's numpy result, which fails
        raise ConfigurationError(tr("--find_lr does not run in nnU-Net v1 1.7.1 (find_lr calls .data.item() on the "
                                    "numpy loss run_iteration returns), so the explorer does not offer it",
                                    "--find_lr 在 nnU-Net v1 1.7.1 中无法运行（find_lr 会对 run_iteration 返回的 "
                                    "numpy 损失调用 .data.item() 而出错），所以 explorer 不提供它"),
                                 fix=tr("train without --find_lr", "请不带 --find_lr 训练"))

    # ------------------------------------------------------------------------------- inspection
    def hyperparameters(self) -> dict[str, Any]:
        """The current value of every hyperparameter this trainer has."""
        return {name: getattr(self, name) for name in HYPERPARAMETERS if hasattr(self, name)}

    def provenance(self) -> Any:
        """For every hyperparameter: its value, who set it (an ``__init__``, a flag, a literal of a method)."""
        from .provenance import attribute_provenance

        return attribute_provenance(self)

    def summary(self) -> str:
        return self.provenance().summary()

    def _repr_html_(self) -> str:
        return self.provenance()._repr_html_()

    def __repr__(self) -> str:
        state = f"epoch {self.epoch}" if self.was_initialized else "not initialized"
        return f"<{type(self).__name__} trainer, {state}>"


def _intact_checkpoints_fix(broken: str) -> str:
    """How to go on when ``broken`` cannot be read: the other checkpoints of the fold that can."""
    from ..training.pretrained import read_checkpoint

    folder = os.path.dirname(broken)
    intact = []
    for name in (FINAL, LATEST, BEST):
        path = os.path.join(folder, name)
        if path == broken or not os.path.isfile(path):
            continue
        try:
            read_checkpoint(path)
        except Exception:  # noqa: BLE001 - only intact files are offered
            continue
        intact.append(name)
    if not intact:
        return tr("no intact checkpoint is left in this fold: start the training again without -c",
                  "这个 fold 中已没有完好的检查点：请不带 -c 重新开始训练")
    first = intact[0]
    names, name = ", ".join(intact), os.path.basename(broken)
    if first != BEST:
        return tr(f"intact in {folder}: {names}. Resume from {first}: move {name} away "
                  f"(mv {broken} {broken}.broken) and run the same command with -c again",
                  f"{folder} 中完好的检查点：{names}。从 {first} 继续：把 {name} 移走"
                  f"(mv {broken} {broken}.broken)，再用 -c 运行同一条命令")
    return tr(f"intact in {folder}: {names}. Resume from {BEST}: move {name} away "
              "and run the same command with -c (v1 falls back to model_best when no final/latest exists)",
              f"{folder} 中完好的检查点：{names}。从 {BEST} 继续：把 {name} 移走，"
              "再用 -c 运行同一条命令（没有 final/latest 时 v1 会退回到 model_best）")


__all__ = ["BEST", "DETERMINISTIC_SEED", "FINAL", "LATEST", "NetworkTrainer"]
