"""The whole run as steps, after ``iteration``: an epoch's end, a few epochs, validation, prediction.

v1's ``run_training.py`` continues after the first iteration with ``trainer.run_training()`` (epochs of 250
iterations, each ending in ``on_epoch_end``), then ``trainer.validate(...)`` and, later, ``nnUNet_predict``.
These steps show that in v1's order::

    ... -> iteration -> epoch_end -> training_epochs -> validate -> prediction

* ``epoch_end`` runs v1's end-of-epoch bookkeeping on the one iteration of the previous step, as if the
  epoch had been that single iteration (nothing is written: checkpoints are only *named*);
* ``training_epochs`` really trains a few short epochs (:class:`~nnunet_explorer.training.loop.TrainingRun`,
  from the same ``nnUNet_train`` arguments, seeded), writing v1's files into the fold folder;
* ``validate`` runs v1's ``validate`` on that network (sliding window, export, ``summary.json``,
  postprocessing);
* ``prediction`` predicts one new case through ``nnUNet_predict``'s path from the saved checkpoint.

Functions of the training and inference layers used here: ``training.loop``: ``LoopState``, ``global_dice``,
``update_train_loss_MA``, ``after_online_evaluation``, ``TrainingRun`` (``from_args``, ``run``, ``network``,
``output_folder``); ``training.lr_schedule.poly_lr``; ``inference.validation.validate``;
``inference.predict.predict_from_folder``.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .provenance import mirrors


@dataclass(frozen=True)
class EpochEnd:
    """What v1's ``on_epoch_end`` decided after an epoch (here: an epoch of one iteration)."""

    epoch: int
    train_loss: float
    global_dice_per_class: tuple[float, ...]
    mean_global_dice: float
    train_loss_MA: float
    val_eval_criterion_MA: float
    lr_next: float
    checkpoints: tuple[str, ...]
    new_best: bool
    continue_training: bool

    def summary(self) -> str:
        files = ", ".join(self.checkpoints) or "no checkpoint file"
        return (f"epoch {self.epoch}: train loss {self.train_loss:.4f} (MA {self.train_loss_MA:.4f}); global Dice "
                f"{[round(d, 4) for d in self.global_dice_per_class]} (mean {self.mean_global_dice:.4f}, MA "
                f"{self.val_eval_criterion_MA:.4f}); next lr {self.lr_next:.6f}; would save: {files}; "
                f"new best: {self.new_best}; V2 continues: {self.continue_training}")


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.on_epoch_end")
def epoch_end(trainer: Any, iteration: Any, *, epoch: int = 0) -> EpochEnd:
    """One epoch's end, v1's order: global Dice, moving averages, ``maybe_update_lr``, checkpoints, patience.

    ``finish_online_evaluation`` sums the validation batches' tp/fp/fn (here: the one iteration's) into the
    "Average global foreground Dice"; ``update_train_loss_MA`` and ``update_eval_criterion_MA`` smooth the
    train loss (alpha 0.93) and that Dice (alpha 0.9); ``maybe_update_lr`` sets the *next* epoch's poly rate;
    ``model_latest.model`` is written every ``save_every`` (50) epochs; ``model_best.model`` when the Dice MA
    strictly improves (never at the first epoch, which sets the reference). V2's ``on_epoch_end`` continues
    while ``epoch < max_num_epochs``: patience never stops V2. Nothing is written here.
    """
    from .training.loop import LoopState, after_online_evaluation, global_dice, update_train_loss_MA

    counts = iteration.online_evaluation
    tp, fp, fn = ([counts.tp], [counts.fp], [counts.fn]) if counts is not None else ([], [], [])
    per_class, mean = global_dice(tp, fp, fn) if tp else ([], np.float32(np.nan))
    state = LoopState(epoch=epoch)
    state.all_tr_losses.append(np.float32(iteration.loss))
    state.all_val_losses.append(np.float32(iteration.loss))
    state.all_val_eval_metrics.append(mean)
    update_train_loss_MA(state, float(trainer.train_loss_MA_alpha))
    named: list[str] = []
    lr_next, saved, new_best = after_online_evaluation(state, trainer, set_lr=trainer.learning_rate,
                                                       save=named.append)
    continue_training = state.epoch + 1 < int(trainer.max_num_epochs)  # V2: epoch += 1, then epoch < max
    return EpochEnd(epoch, float(iteration.loss), tuple(float(d) for d in per_class), float(mean),
                    float(state.train_loss_MA), float(state.val_eval_criterion_MA), float(lr_next), tuple(saved),
                    bool(new_best), continue_training)


@dataclass(frozen=True)
class TrainedEpochs:
    """A short training run: its curves, its fold folder and the files v1 writes there."""

    output_folder: Path
    all_tr_losses: tuple[float, ...]
    all_val_losses: tuple[float, ...]
    all_val_eval_metrics: tuple[float, ...]
    files: tuple[str, ...]
    reason: str
    network: Any = field(repr=False, compare=False)

    def summary(self) -> str:
        return (f"{len(self.all_tr_losses)} epoch(s) in {self.output_folder}: train loss "
                f"{[round(x, 4) for x in self.all_tr_losses]}, val loss {[round(x, 4) for x in self.all_val_losses]}, "
                f"global Dice {[round(x, 4) for x in self.all_val_eval_metrics]}; files: {', '.join(self.files)}")


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_training")
def training_epochs(parsed_arguments: Any, *, workspace: Any = None, max_num_epochs: int = 2,
                    num_batches_per_epoch: int = 2, num_val_batches_per_epoch: int = 1, training_seed: int = 12345,
                    overwrite: bool = False) -> TrainedEpochs:
    """A few short epochs of ``run_training``, with the files v1 writes into ``fold_<k>/``.

    Each epoch: ``num_batches_per_epoch`` training iterations (v1: 250), ``num_val_batches_per_epoch``
    validation batches without backprop (v1: 50), then ``on_epoch_end`` (previous step). At the end v1 saves
    ``model_final_checkpoint.model`` (+ ``.pkl``), and writes ``progress.png``, ``debug.json`` and the
    ``training_log_*.txt``. A fresh network is trained from the same arguments (seeded), augmenting in this
    process. ``overwrite`` lets it start over in a fold folder that already holds checkpoints.
    """
    from .device import resolve_device
    from .walkthrough import training_run_from_args  # at call time: walkthrough.py lists this module's steps

    run = training_run_from_args(parsed_arguments, max_num_epochs=max_num_epochs,
                                 num_batches_per_epoch=num_batches_per_epoch,
                                 num_val_batches_per_epoch=num_val_batches_per_epoch, workspace=workspace,
                                 seed=training_seed, device=str(resolve_device("auto")), single_threaded=True,
                                 echo=False, overwrite=overwrite)
    result = run.run()
    folder = Path(result.output_folder)
    state = result.state
    return TrainedEpochs(folder, tuple(float(x) for x in state.all_tr_losses),
                         tuple(float(x) for x in state.all_val_losses),
                         tuple(float(x) for x in state.all_val_eval_metrics),
                         tuple(sorted(p.name for p in folder.iterdir() if p.is_file())), result.reason, run.network)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.validate")
def validate(training_epochs: TrainedEpochs, configuration: Any, split: Any, *, step_size: float = 0.5,
             do_mirroring: bool = True):
    """v1's ``validate``: each validation case predicted by sliding window, exported, scored, postprocessed.

    Per case: the preprocessed volume is cut into patch-sized tiles overlapping by ``1 - step_size``, each
    tile weighted by a Gaussian (centre counts most), with mirroring test-time augmentation; the softmax is
    resampled back to the original geometry and exported as ``validation_raw/CASE.nii.gz``. Then
    ``summary.json`` (Dice and more per label, vs ``gt_segmentations``) and ``determine_postprocessing``
    (keep only the largest connected component of a label where that improves the Dice).
    """
    from .fileio import load_pickle
    from .inference.validation import validate as run_validate

    plans = load_pickle(configuration.plans_file)
    return run_validate(training_epochs.network, plans, configuration.stage, training_epochs.output_folder,
                        configuration.folder_with_preprocessed_data, list(split.val),
                        Path(configuration.dataset_directory) / "gt_segmentations", do_mirroring=do_mirroring,
                        step_size=step_size, mixed_precision=False, task_name=Path(configuration.dataset_directory).name,
                        device="cpu")


@dataclass(frozen=True)
class Prediction:
    """The new case and where its segmentation went."""

    case: str
    input_files: tuple[str, ...]
    output_file: Path
    labels: tuple[int, ...]

    def summary(self) -> str:
        return f"{self.case} -> {self.output_file} (labels {list(self.labels)})"


@mirrors("nnunet.inference.predict:predict_from_folder")
def prediction(training_epochs: TrainedEpochs, configuration: Any, *, workspace: Any = None,
               do_tta: bool = False) -> Prediction:
    """``nnUNet_predict`` on a new case: the raw test image, preprocessed as in training, predicted, exported.

    The case is the first of the raw task's ``imagesTs`` (else the first training image, as a stand-in). The
    model is read back from ``model_final_checkpoint.model`` of the fold, as ``nnUNet_predict -f FOLD`` does;
    ``do_tta`` (mirroring) is off here to keep the step fast (v1's default is on).
    """
    import SimpleITK as sitk

    from .inference.predict import predict_from_folder
    from .paths import get_workspace

    ws = workspace or get_workspace(announce=False)
    raw = ws.raw_task_dir(Path(configuration.dataset_directory).name)
    images = sorted((raw / "imagesTs").glob("*_0000.nii.gz")) or sorted((raw / "imagesTr").glob("*_0000.nii.gz"))
    if not images:
        from .errors import DatasetError

        raise DatasetError(f"{raw} has no images to predict", fix="add a case to imagesTs", step="prediction")
    case = images[0].name[: -len("_0000.nii.gz")]
    files = sorted(images[0].parent.glob(f"{case}_[0-9][0-9][0-9][0-9].nii.gz"))
    out_dir = training_epochs.output_folder / "prediction_of_a_new_case"
    in_dir = out_dir / "input"
    in_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, in_dir / f.name)
    fold = training_epochs.output_folder.name
    folds = ["all"] if fold == "all" else [int(fold.split("_")[1])]
    predict_from_folder(training_epochs.output_folder.parent, in_dir, out_dir, folds, do_tta=do_tta,
                        mixed_precision=False, overwrite_existing=True, device="cpu", log=lambda *a, **k: None)
    output = out_dir / f"{case}.nii.gz"
    labels = np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(output))))
    return Prediction(case, tuple(str(f) for f in files), output, tuple(int(v) for v in labels))


RUN_STEPS = (epoch_end, training_epochs, validate, prediction)
RUN_STEP_NAMES = tuple(f.__name__ for f in RUN_STEPS)
