"""The run after the first iteration, as steps: a few epochs, one epoch's end, validation, prediction.

v1's ``run_training.py`` continues with ``trainer.run_training()`` (epochs of 250 iterations, each ending in
``on_epoch_end``), then ``trainer.validate(...)`` and, later, ``nnUNet_predict``::

    ... -> iteration -> training_epochs -> epoch_end -> validate -> prediction

* ``training_epochs`` calls the trainer's ``run_training`` — the real loop, on the same trainer object the
  walkthrough built and initialized, with every flag (``-c``, ``--max_num_epochs`` ...) — and records the v1
  methods it called, in order;
* ``epoch_end`` shows the last epoch's end from that record: which methods ``on_epoch_end`` called, in which
  order, and what each one set;
* ``validate`` calls the trainer's ``validate`` as v1's ``main`` does;
* ``prediction`` predicts one new case through ``nnUNet_predict``'s path from the saved checkpoint.

This module imports nothing from :mod:`nnunet_explorer.walkthrough` (which lists these steps).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigurationError
from .explore.calltrace import Call, CallTrace, trace_calls
from .language import tr
from .provenance import mirrors
from .run.run_training import ExplorerOptions, TrainRequest


@dataclass(frozen=True)
class TrainedEpochs:
    """What ``run_training`` did: its curves, its fold folder, the files v1 writes there, the calls it made."""

    output_folder: Path
    all_tr_losses: tuple[float, ...]
    all_val_losses: tuple[float, ...]
    all_val_eval_metrics: tuple[float, ...]
    files: tuple[str, ...]
    reason: str
    trace: CallTrace | None = field(default=None, repr=False, compare=False)
    network: Any = field(default=None, repr=False, compare=False)

    def summary(self) -> str:
        tr_loss, val_loss = [round(x, 4) for x in self.all_tr_losses], [round(x, 4) for x in self.all_val_losses]
        dice, files = [round(x, 4) for x in self.all_val_eval_metrics], ", ".join(self.files)
        return tr(f"{len(self.all_tr_losses)} epoch(s) in {self.output_folder}: train loss {tr_loss}, val loss "
                  f"{val_loss}, global Dice {dice}; files: {files}",
                  f"{len(self.all_tr_losses)} 个 epoch,位于 {self.output_folder}:训练损失 {tr_loss},验证损失 "
                  f"{val_loss},全局 Dice {dice};文件:{files}")


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_training")
def training_epochs(trainer: Any, parsed_arguments: Any, *,
                    options: ExplorerOptions | None = None, trace: bool = True) -> TrainedEpochs:
    """``trainer.run_training()`` (after ``-c`` / ``-pretrained_weights``, as v1's ``main``): the real loop.

    With ``-val`` nothing is trained: the final checkpoint (``--valbest``: the best) is loaded, as v1 does.

    Each epoch: ``num_batches_per_epoch`` training iterations (v1: 250), ``num_val_batches_per_epoch``
    validation batches without backprop (v1: 50), then ``on_epoch_end`` (next step). At the end v1 saves
    ``model_final_checkpoint.model`` (+ ``.pkl``) and deletes ``model_latest.model``; ``progress.png``,
    ``debug.json`` and ``training_log_*.txt`` are in the fold folder. The trainer's knobs decide the length
    (``--max_num_epochs`` ...). With ``trace`` the v1 methods it calls are recorded (slower; for short runs).
    """
    from .run.run_training import train_or_load

    if trainer.explorer.result is not None:
        raise ConfigurationError(tr("this trainer has already trained (run_training ends with the final checkpoint)",
                                    "这个 trainer 已经训练过了(run_training 以最终检查点结束)"),
                                 fix=tr("re-run the 'trainer' step for a fresh trainer",
                                        "重新运行 'trainer' 这一步,得到一个新的 trainer"),
                                 step="training_epochs")
    request = TrainRequest(parsed_arguments, options or ExplorerOptions(device=trainer.device))
    if trace:
        with trace_calls(trainer, _RUN_METHODS, max_depth=8) as calls:
            result = train_or_load(trainer, request)
    else:
        calls, result = None, train_or_load(trainer, request)
    folder = Path(trainer.output_folder)
    return TrainedEpochs(folder, tuple(float(x) for x in trainer.all_tr_losses),
                         tuple(float(x) for x in trainer.all_val_losses),
                         tuple(float(x) for x in trainer.all_val_eval_metrics),
                         tuple(sorted(p.name for p in folder.iterdir() if p.is_file())),
                         result.reason if result is not None else "finished", calls, trainer.network)


_RUN_METHODS = ("run_training", "update_train_loss_MA", "on_epoch_end", "finish_online_evaluation", "plot_progress",
                "maybe_update_lr", "maybe_save_checkpoint", "update_eval_criterion_MA", "manage_patience",
                "save_checkpoint", "load_latest_checkpoint", "load_checkpoint")


@dataclass(frozen=True)
class EpochEnd:
    """The end of the last trained epoch: the calls ``on_epoch_end`` made, in order, and the values they left."""

    epoch: int
    calls: tuple[Call, ...]
    train_loss: float
    global_dice: float
    train_loss_MA: float
    val_eval_criterion_MA: float
    lr_next: float
    continue_training: bool | None  # what on_epoch_end returned (V2: epoch < max_num_epochs, before epoch += 1)
    another_epoch: bool

    @property
    def order(self) -> tuple[str, ...]:
        """The method names in the order they ran (a ``super()`` call of the same method counts once)."""
        names: list[str] = []
        for top in self.calls:
            for c in top.walk():
                if not names or names[-1] != c.name:
                    names.append(c.name)
        return tuple(names)

    def summary(self) -> str:
        if self.another_epoch:
            then = tr("another epoch follows", "接着还有一个 epoch")
        elif self.continue_training is False:
            then = tr("the loop ends: on_epoch_end returned False", "循环结束:on_epoch_end 返回了 False")
        else:
            then = tr("the loop ends because epoch + 1 reached max_num_epochs",
                      "循环结束,因为 epoch + 1 达到了 max_num_epochs")
        lines = [tr(f"epoch {self.epoch}: train loss {self.train_loss:.4f} (MA {self.train_loss_MA:.4f}); global Dice "
                    f"{self.global_dice:.4f} (MA {self.val_eval_criterion_MA:.4f}); next lr {self.lr_next:.6f}; "
                    f"on_epoch_end returned {self.continue_training}; {then}",
                    f"epoch {self.epoch}:训练损失 {self.train_loss:.4f}(滑动平均 {self.train_loss_MA:.4f});全局 Dice "
                    f"{self.global_dice:.4f}(滑动平均 {self.val_eval_criterion_MA:.4f});下一个学习率 "
                    f"{self.lr_next:.6f};on_epoch_end 返回 {self.continue_training};{then}"),
                 tr("calls, in v1's order:", "调用,按 v1 的顺序:")]
        base = min((c.depth for c in self.calls), default=0)
        lines += ["  " * (c.depth - base) + f"{c.name} [{c.defined_in}]"
                  + (f"  ({tr('sets', '设置')} {', '.join(c.set_attributes)})" if c.set_attributes else "")
                  for top in self.calls for c in top.walk()]
        return "\n".join(lines)


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.on_epoch_end")
def epoch_end(trainer: Any, training_epochs: TrainedEpochs) -> EpochEnd:
    """The end of an epoch, as it ran: ``update_train_loss_MA``, then ``on_epoch_end``.

    ``on_epoch_end`` (v1's ``NetworkTrainer``): ``finish_online_evaluation`` (the "Average global foreground
    Dice" from the tp/fp/fn summed over the epoch's validation batches), ``plot_progress`` (progress.png),
    ``maybe_update_lr`` (the *next* epoch's rate), ``maybe_save_checkpoint`` (``model_latest.model`` every
    ``save_every`` epochs), ``update_eval_criterion_MA`` (the Dice moving average, alpha 0.9) and
    ``manage_patience`` (``model_best.model`` when that average strictly improves). V2's own ``on_epoch_end`` adds
    one rule: at epoch 100, if the last Dice estimate is exactly 0, the momentum drops to 0.95 and the weights
    are re-initialised. V2 then continues while ``epoch < max_num_epochs``: patience never stops V2. The calls
    below were recorded during the last epoch.
    """
    if training_epochs.trace is None:
        raise ConfigurationError(tr("training_epochs ran without its call record",
                                    "training_epochs 运行时没有记录调用"),
                                 fix=tr("run it with trace=True", "用 trace=True 运行它"), step="epoch_end")
    flat = training_epochs.trace.flat()
    ends = [i for i, c in enumerate(flat) if c.name == "update_train_loss_MA"]
    if not ends:
        raise ConfigurationError(tr("no epoch ended in training_epochs (was the run stopped in its first epoch?)",
                                    "training_epochs 中没有一个 epoch 结束(训练是否在第一个 epoch 就停止了?)"),
                                 fix=tr("train at least one epoch", "至少训练一个 epoch"), step="epoch_end")
    start = ends[-1]
    # the last epoch's update_train_loss_MA and the on_epoch_end called right after it (the outermost one: a
    # subclass's on_epoch_end calls super().on_epoch_end inside it)
    after = next((c for c in flat[start + 1:] if c.name == "on_epoch_end" and c.depth <= flat[start].depth), None)
    last = (flat[start],) + ((after,) if after is not None else ())
    final_epoch = len(trainer.all_tr_losses) - 1
    events = getattr(getattr(trainer, "explorer", None), "epochs", None) or ()
    returned = events[-1].on_epoch_end_returned if events else None
    another = returned is not False and final_epoch + 1 < int(trainer.max_num_epochs)
    return EpochEnd(final_epoch, last, float(trainer.all_tr_losses[-1]), float(trainer.all_val_eval_metrics[-1]),
                    float(trainer.train_loss_MA), float(trainer.val_eval_criterion_MA),
                    float(trainer.optimizer.param_groups[0]["lr"]), returned, another)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.validate")
def validate(trainer: Any, parsed_arguments: Any, training_epochs: TrainedEpochs) -> Any:
    """v1's ``validate`` after training: each validation case predicted by sliding window, exported, scored.

    Per case: the preprocessed volume is cut into patch-sized tiles overlapping by half, each tile weighted by a
    Gaussian (the centre counts most), with mirroring test-time augmentation; the softmax is resampled back to
    the original geometry and exported as ``validation_raw/CASE.nii.gz``. Then ``summary.json`` (Dice and more
    per label, against ``gt_segmentations``) and ``determine_postprocessing`` (keep only the largest connected
    component of a label where that improves the Dice). Called with v1's arguments from the flags (``--npz``,
    ``--val_folder``, ``--disable_postprocessing_on_folds``, ``--val_disable_overwrite``).
    """
    from .run.run_training import TrainRequest as Request, validate_after_training

    return validate_after_training(trainer, Request(parsed_arguments))


@dataclass(frozen=True)
class Prediction:
    """The new case and where its segmentation went."""

    case: str
    input_files: tuple[str, ...]
    output_file: Path
    labels: tuple[int, ...]

    def summary(self) -> str:
        return f"{self.case} -> {self.output_file} ({tr('labels', '标签')} {list(self.labels)})"


@mirrors("nnunet.inference.predict:predict_from_folder")
def prediction(trainer: Any, training_epochs: TrainedEpochs, configuration: Any, *, workspace: Any = None,
               do_tta: bool = False) -> Prediction:
    """``nnUNet_predict`` on a new case: the raw test image, preprocessed as in training, predicted, exported.

    The case is the first of the raw task's ``imagesTs`` (else the first training image, as a stand-in). The
    model is read back from ``model_final_checkpoint.model`` of the fold, as ``nnUNet_predict -f FOLD`` does;
    ``do_tta`` (mirroring) is off here to keep the step fast (v1's default is on).
    """
    import SimpleITK as sitk

    from .inference.predict import predict_from_folder
    from .network_training import data_aug_mirroring
    from .paths import get_workspace

    ws = workspace or get_workspace(announce=False)
    raw = ws.raw_task_dir(Path(configuration.dataset_directory).name)
    images = sorted((raw / "imagesTs").glob("*_0000.nii.gz")) or sorted((raw / "imagesTr").glob("*_0000.nii.gz"))
    if not images:
        from .errors import DatasetError

        raise DatasetError(tr(f"{raw} has no images to predict", f"{raw} 中没有可预测的图像"),
                           fix=tr("add a case to imagesTs", "向 imagesTs 添加一个病例"), step="prediction")
    case = images[0].name[: -len("_0000.nii.gz")]
    files = sorted(images[0].parent.glob(f"{case}_[0-9][0-9][0-9][0-9].nii.gz"))
    out_dir = training_epochs.output_folder / "prediction_of_a_new_case"
    in_dir = out_dir / "input"
    in_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, in_dir / f.name)
    fold = training_epochs.output_folder.name
    folds = ["all"] if fold == "all" else [int(fold.split("_")[1])]
    # with mirroring, the trainer's own axes (and its refusal, if it trained without mirroring), as in v1: read
    # off the trainer at hand, which is what v1 rebuilds from the checkpoint
    mirroring = data_aug_mirroring(trainer.data_aug_params)
    predict_from_folder(training_epochs.output_folder.parent, in_dir, out_dir, folds, do_tta=do_tta,
                        mixed_precision=False, overwrite_existing=True, device=trainer.device,
                        trainer_mirroring=(lambda _info: mirroring) if do_tta else None, log=lambda *a, **k: None)
    output = out_dir / f"{case}.nii.gz"
    labels = np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(output))))
    return Prediction(case, tuple(str(f) for f in files), output, tuple(int(v) for v in labels))


RUN_STEPS = (training_epochs, epoch_end, validate, prediction)
RUN_STEP_NAMES = tuple(f.__name__ for f in RUN_STEPS)
