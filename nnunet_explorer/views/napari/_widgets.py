"""Dock widgets (magicgui containers): training batches, deep supervision, prediction errors, sliding window.

Each widget takes the viewer in its constructor (napari passes it) and does its work in plain methods
(``load``, ``draw``, ``next_batch``, ``run``, ``compare``, ``show``), so notebooks and tests can drive it
without clicking. All layers come from :mod:`nnunet_explorer.views.layers` (one validation case:
:func:`nnunet_explorer.views.validation_case.validation_case_layers`).

The constructors' ``viewer`` parameter is annotated ``napari.viewer.Viewer`` (a string, thanks to
``from __future__ import annotations``, so napari is not imported here): that annotation is how napari knows
to pass its viewer when the widget is opened from the Plugins menu. Labels, buttons and status lines follow the
language (``NNUNET_EXPLORER_LANG=zh``: Chinese) when the widget is built, and so do the names of the layers it
adds (they are made when drawn); the widgets find their own layers again by ``metadata`` (``role``,
``error_names`` and ``case_id``), never by name.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import (CheckBox, ComboBox, Container, FileEdit, FloatSpinBox, Label, LineEdit, PushButton,
                              SpinBox, TextEdit)

from ...errors import ExplorerError
from ...language import tr
from .. import layers as L
from ..validation_case import validation_case_layers
from .show import add_layers


class _Base(Container):
    def __init__(self, viewer: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.viewer = viewer
        self.status = Label(value="")
        self.last_error: str | None = None

    def _guard(self, fn, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn``; an explorer error is shown in the widget (and kept in ``last_error``) instead of raised."""
        try:
            result = fn(*args, **kwargs)
        except ExplorerError as exc:
            self.last_error = str(exc)
            self.status.value = tr(f"error: {exc}", f"错误：{exc}")
            return None
        self.last_error = None
        return result


class BatchWidget(_Base):
    """Training batches from a preprocessed stage folder: next batch, re-sample with a seed, transforms on/off.

    Every sample of the batch is shown (the first axis of the layers is the sample); the text box lists each
    sample's provenance (case, box in case voxels, forced foreground and its class, padding). The transforms of
    v1's moreDA pipeline that augment (spatial, noise, blur, brightness, contrast, low resolution, gamma,
    mirror) can be switched off one by one; formatting transforms always run.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, labels=True)
        self.folder = FileEdit(label=tr("stage folder", "stage 文件夹"), mode="d")
        self.trainer = LineEdit(label="trainer", value="nnUNetTrainerV2")  # a registered trainer name
        self.seed = SpinBox(label=tr("seed", "种子"), value=0, min=0, max=2**31 - 1)
        self.load_button = PushButton(text=tr("load folder", "加载文件夹"))
        self.resample_button = PushButton(text=tr("re-sample with seed", "用此种子重新采样"))
        self.next_button = PushButton(text=tr("next batch", "下一个 batch"))
        self.augment = CheckBox(text=tr("augment (all transforms)", "数据增强（全部变换）"), value=True)
        self.toggles = Container(labels=False)
        self.provenance = TextEdit(label=tr("provenance", "来源"), value="")
        self.source: L.BatchSource | None = None
        self.batch: dict | None = None
        self.extend([self.folder, self.trainer, self.load_button, self.seed, self.resample_button, self.next_button, self.augment,
                     self.toggles, self.provenance, self.status])
        self.load_button.changed.connect(lambda: self._guard(self.load, self.folder.value))
        self.resample_button.changed.connect(lambda: self._guard(self.draw))
        self.next_button.changed.connect(lambda: self._guard(self.next_batch))
        self.augment.changed.connect(self._all_toggles)

    def load(self, folder: str | Path, **kwargs: Any) -> L.BatchSource:
        """Read the stage folder and its plans (see :func:`~nnunet_explorer.views.layers.batch_source`)."""
        kwargs.setdefault("trainer", self.trainer.value or "nnUNetTrainerV2")
        self.source = L.batch_source(folder, **kwargs)
        self.folder.value = str(folder)
        self.toggles.clear()
        for i, name in enumerate(self.source.transform_names):
            if self.source.is_toggleable(i):
                box = CheckBox(text=name, value=True, name=f"t{i:02d}")
                box.changed.connect(lambda *_: self._guard(self.draw) if self.batch is not None else None)
                self.toggles.append(box)
        src = self.source
        cases, patch, cut = len(src.dataset), list(src.patch_size), list(src.basic_generator_patch_size)
        self.status.value = tr(f"{cases} cases, patch {patch}, loader cuts {cut}, batch_size {src.batch_size}",
                               f"{cases} 个病例，patch {patch}，加载器切出 {cut}，batch_size {src.batch_size}")
        return self.source

    def _all_toggles(self, value: bool) -> None:
        for box in self.toggles:
            box.value = bool(value)

    @property
    def enabled_transforms(self) -> list[int]:
        """Indices of the augmentation transforms switched on."""
        return [int(box.name[1:]) for box in self.toggles if box.value]

    def set_enabled(self, names_or_indices: list) -> None:
        """Switch on exactly the given transforms (indices or names such as ``'MirrorTransform'``)."""
        for box in self.toggles:
            index, name = int(box.name[1:]), box.text.split(" ", 1)[1]
            box.value = index in names_or_indices or name in names_or_indices

    def draw(self, seed: int | None = None) -> dict:
        """Draw the batch for ``seed`` (default: the seed box) and show it."""
        if self.source is None:
            self.load(self.folder.value)
        if seed is not None:
            self.seed.value = int(seed)
        self.batch = L.draw_batch(self.source, seed=int(self.seed.value), enabled=self.enabled_transforms)
        specs = L.batch_layers(self.batch, spacing=self.source.spacing, label_names=self.source.label_names,
                               modality_names=self.source.modality_names)
        add_layers(self.viewer, specs)
        lines = [tr(f"sample {j}: {line}", f"样本 {j}：{line}") for j, line in enumerate(specs[0].metadata["provenance"])]
        skipped = [n for i, n in enumerate(self.source.transform_names)
                   if self.source.is_toggleable(i) and i not in self.enabled_transforms]
        shape = list(self.batch["data"].shape)
        lines.append(tr(f"seed {self.seed.value}; data {shape}", f"种子 {self.seed.value}；data {shape}"))
        if skipped:
            lines.append(tr("switched off: ", "已关闭：") + ", ".join(skipped))
        self.provenance.value = "\n".join(lines)
        return self.batch

    def next_batch(self) -> dict:
        """Advance the seed by one and draw."""
        return self.draw(int(self.seed.value) + 1)


class DeepSupervisionWidget(_Base):
    """Every deep-supervision output next to its downsampled target, aligned in world space.

    By default the network is a freshly initialised Generic_UNet built from the stage's plans (seeded), run on
    one training batch of the stage; :meth:`run` also accepts your own network and batch (e.g. from the
    walkthrough), so a trained network can be inspected.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, labels=True)
        self.folder = FileEdit(label=tr("stage folder", "stage 文件夹"), mode="d")
        self.seed = SpinBox(label=tr("seed", "种子"), value=0, min=0, max=2**31 - 1)
        self.sample = SpinBox(label=tr("sample", "样本"), value=0, min=0, max=64)
        self.checkpoint = LineEdit(label=tr("checkpoint (optional)", "检查点（可选）"), value="")
        self.run_button = PushButton(text=tr("run network on a batch", "在一个 batch 上运行网络"))
        self.summary = TextEdit(label=tr("outputs", "输出"), value="")
        self.outputs: list[np.ndarray] | None = None
        self.extend([self.folder, self.seed, self.sample, self.checkpoint, self.run_button, self.summary,
                     self.status])
        self.run_button.changed.connect(lambda: self._guard(self.run))

    def run(self, network: Any = None, batch: Any = None, *, spacing: Any = None, weights: Any = None,
            device: Any = "auto") -> list[L.LayerSpec]:
        """Run ``network`` (default: built from the folder's plans) on ``batch`` and show outputs and targets.

        The network built here is placed on ``device`` (``"auto"``: the GPU where there is one, as v1); a network
        you pass stays where it is and the batch goes to it.
        """
        source = None
        if network is None or batch is None:
            source = L.batch_source(self.folder.value)
            spacing = source.spacing if spacing is None else spacing
        if batch is None:
            batch = L.draw_batch(source, seed=int(self.seed.value))
        if network is None:
            network = L.source_network(source, seed=int(self.seed.value))
            if self.checkpoint.value.strip():
                # a trained fold: model_final_checkpoint.model of the same plans (read with the safe loader)
                from ...training.checkpoints import load_checkpoint_file, load_state_dict_into

                load_state_dict_into(network, load_checkpoint_file(self.checkpoint.value.strip())["state_dict"])
            from ...device import resolve_device

            network = network.to(resolve_device(device))
        if weights is None and source is not None:
            from ...training.deep_supervision import ds_loss_weights

            weights = ds_loss_weights(source.pool_op_kernel_sizes)
        data, _seg, _keys, _prov = L._batch_parts(batch)
        targets = batch["target"] if isinstance(batch, dict) else getattr(batch, "target")
        targets = list(targets) if isinstance(targets, (list, tuple)) else [targets]
        self.outputs = L.network_outputs(network, data)
        sample = min(int(self.sample.value), data.shape[0] - 1)
        spacing = tuple(spacing) if spacing is not None else tuple([1.0] * (data.ndim - 2))
        specs = [L._image(tr("ds input", "ds 输入"), data[sample, 0].astype(np.float32), scale=spacing, colormap="gray")]
        specs += L.deep_supervision_layers(self.outputs, targets, sample=sample, spacing=spacing, weights=weights)
        add_layers(self.viewer, specs)
        heads = [s for s in specs if s.metadata.get("role") == "ds prediction"]
        lines = []
        for i, (o, head) in enumerate(zip(self.outputs, heads)):
            shape, factor = list(o.shape[2:]), [round(f, 3) for f in head.metadata["factor"]]
            line = tr(f"output {i}: {shape}, pooled by {factor}", f"输出 {i}：{shape}，池化倍数 {factor}")
            if weights is not None:
                line += tr(f", loss weight {weights[i]:.3f}", f"，损失权重 {weights[i]:.3f}")
            lines.append(line)
        self.summary.value = "\n".join(lines)
        return specs


class PredictionWidget(_Base):
    """Prediction vs ground truth: an error layer (FP red, FN cyan, wrong class yellow) and Dice per class.

    Either open a v1 validation/prediction folder (ground truth found in v1's layout or given), or compare two
    labels layers already in the viewer.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, labels=True)
        self.folder = FileEdit(label=tr("prediction folder", "预测文件夹"), mode="d")
        self.gt_folder = LineEdit(label=tr("ground truth (optional)", "参考标注（可选）"), value="")
        self.case = ComboBox(label=tr("case", "病例"), choices=[])
        self.show_button = PushButton(text=tr("show case", "显示病例"))
        self.prediction_layer = ComboBox(label=tr("prediction layer", "预测图层"), choices=self._labels_layers)
        self.reference_layer = ComboBox(label=tr("truth layer", "参考标注图层"), choices=self._labels_layers)
        self.compare_button = PushButton(text=tr("compare layers", "比较图层"))
        self.dice = TextEdit(label=tr("Dice per class", "各类别的 Dice"), value="")
        self.extend([self.folder, self.gt_folder, self.case, self.show_button, self.prediction_layer,
                     self.reference_layer, self.compare_button, self.dice, self.status])
        self.folder.changed.connect(lambda *_: self._guard(self.open_folder, self.folder.value))
        self.show_button.changed.connect(lambda: self._guard(self.show))
        self.compare_button.changed.connect(lambda: self._guard(self.compare))
        viewer.layers.events.inserted.connect(self._refresh_layers)
        viewer.layers.events.removed.connect(self._refresh_layers)

    def _labels_layers(self, _widget: Any = None) -> list[str]:
        return [layer.name for layer in self.viewer.layers if type(layer).__name__ == "Labels"]

    def _refresh_layers(self, *_: Any) -> None:
        self.prediction_layer.reset_choices()
        self.reference_layer.reset_choices()

    def open_folder(self, folder: str | Path) -> list[str]:
        """List the cases of a prediction folder."""
        cases = L.prediction_folder_cases(folder)
        self.case.choices = cases
        if cases:
            self.case.value = cases[0]
        self.status.value = tr(f"{len(cases)} predictions in {folder}", f"{folder} 中有 {len(cases)} 个预测")
        return cases

    def show(self, case_id: str | None = None) -> list[L.LayerSpec]:
        """Show one case of the folder (:func:`~nnunet_explorer.views.validation_case.validation_case_layers`:
        image when found, ground truth, prediction, errors, ``CASE.npz`` probabilities); Dice per class in the text
        box."""
        folder = self.folder.value
        if not self.case.choices:
            self.open_folder(folder)
        case_id = case_id or self.case.value
        gt = self.gt_folder.value or None
        specs = validation_case_layers(folder, case_id, gt_folder=gt)
        add_layers(self.viewer, self._replace_error_layers(specs))
        self._report_dice(_error_layer(specs).metadata)
        return specs

    def compare(self, prediction: str | None = None, reference: str | None = None) -> list[L.LayerSpec]:
        """Compare two labels layers of the viewer (names; default: the two combo boxes)."""
        pred = self.viewer.layers[prediction or self.prediction_layer.value]
        ref = self.viewer.layers[reference or self.reference_layer.value]
        specs = L.prediction_layers(np.asarray(pred.data), np.asarray(ref.data), case_id=pred.name,
                                    scale=tuple(pred.scale), translate=tuple(pred.translate))
        errors = _error_layer(specs)
        affine = np.asarray(pred.affine.affine_matrix)
        if not np.allclose(affine, np.eye(len(affine))):  # placed like the prediction (e.g. a case's ITK affine)
            errors = L.LayerSpec(errors.name, errors.kind, errors.data, {**errors.meta, "affine": affine})
        add_layers(self.viewer, self._replace_error_layers([errors]))
        self._report_dice(errors.metadata)
        return [errors]

    def _replace_error_layers(self, specs: list[L.LayerSpec]) -> list[L.LayerSpec]:
        # the error layer's name carries the Dice values (and follows the language): the previous error layer of
        # the same case is found by its metadata and dropped
        for spec in specs:
            if "error_names" in spec.metadata:
                case = spec.metadata.get("case_id")
                for layer in [lay for lay in self.viewer.layers
                              if "error_names" in lay.metadata and lay.metadata.get("case_id") == case]:
                    self.viewer.layers.remove(layer)
        return specs

    def _report_dice(self, meta: dict) -> None:
        names = meta.get("label_names") or {}
        absent = tr("nan (absent in both)", "nan（两者中都没有）")
        lines = [tr(f"class {c} {names.get(c, '')}: Dice {absent if math.isnan(d) else f'{d:.4f}'}",
                    f"类别 {c} {names.get(c, '')}：Dice {absent if math.isnan(d) else f'{d:.4f}'}")
                 for c, d in meta["dice"].items()]
        lines += [tr(f"{name}: {count} voxels", f"{name}：{count} 个体素") for name, count in meta["counts"].items()]
        self.dice.value = "\n".join(lines)


def _error_layer(specs: list[L.LayerSpec]) -> L.LayerSpec:
    return next(spec for spec in specs if "error_names" in spec.metadata)


class SlidingWindowWidget(_Base):
    """Sliding-window tiles (v1's step rule) over an image layer, with the Gaussian weight and the summed weight.

    The patch size is typed in (``z, y, x``) or read from a plans file; the image is padded to at least the
    patch as v1 does (half below, half above), and the tiles are drawn in the image layer's world coordinates.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, labels=True)
        self.image_layer = ComboBox(label=tr("image layer", "图像图层"), choices=self._image_layers)
        self.patch = LineEdit(label=tr("patch size", "patch 大小"), value="")
        self.plans = FileEdit(label=tr("or plans file", "或 plans 文件"), mode="r", filter="*.pkl")
        self.step = FloatSpinBox(label=tr("step size", "步长"), value=0.5, min=0.05, max=1.0, step=0.05)
        self.gaussian = CheckBox(text=tr("Gaussian weighting", "高斯加权"), value=True)
        self.show_button = PushButton(text=tr("show tiles", "显示窗口"))
        self.extend([self.image_layer, self.patch, self.plans, self.step, self.gaussian, self.show_button,
                     self.status])
        self.show_button.changed.connect(lambda: self._guard(self.show))
        viewer.layers.events.inserted.connect(lambda *_: self.image_layer.reset_choices())
        viewer.layers.events.removed.connect(lambda *_: self.image_layer.reset_choices())

    def _image_layers(self, _widget: Any = None) -> list[str]:
        return [layer.name for layer in self.viewer.layers if type(layer).__name__ == "Image"]

    def patch_size(self) -> tuple[int, ...]:
        """The patch size from the text box, or from the plans file (its last stage's ``patch_size``)."""
        text = self.patch.value.strip()
        if text:
            try:
                return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
            except ValueError as exc:
                raise ExplorerError(tr(f"patch size {text!r} is not a list of integers",
                                       f"patch 大小 {text!r} 不是一列整数"),
                                    fix=tr("type e.g. 20, 40, 40 (z, y, x)", "请输入例如 20, 40, 40（z, y, x）")) from exc
        plans = Path(str(self.plans.value))
        if plans.is_file():
            from ...fileio import load_pickle

            stages = load_pickle(plans)["plans_per_stage"]
            return tuple(int(v) for v in stages[max(stages)]["patch_size"])
        raise ExplorerError(tr("no patch size given", "没有给出 patch 大小"),
                            fix=tr("type a patch size (z, y, x) or choose a plans file",
                                   "请输入 patch 大小（z, y, x），或选择一个 plans 文件"))

    def show(self, layer: str | None = None, patch_size: Any = None, step_size: float | None = None
             ) -> list[L.LayerSpec]:
        """Draw the tiles over ``layer`` (name; default: the combo box)."""
        image = self.viewer.layers[layer or self.image_layer.value]
        patch = tuple(int(v) for v in patch_size) if patch_size is not None else self.patch_size()
        if step_size is not None:
            self.step.value = float(step_size)
        specs = L.sliding_window_layers(image.data.shape[-len(image.data.shape):], patch,
                                        step_size=float(self.step.value), spacing=tuple(image.scale),
                                        translate=tuple(image.translate), use_gaussian=bool(self.gaussian.value))
        # the previous tiles, Gaussian and summed weight (found by metadata: their names follow the language)
        for old in [lay for lay in self.viewer.layers
                    if lay.metadata.get("role") in ("tiles", "gaussian", "summed weight")]:
            self.viewer.layers.remove(old)
        add_layers(self.viewer, specs)
        meta = specs[-1].metadata
        tiles, padded = meta["num_tiles"], list(meta["padded_shape"])
        self.status.value = tr(f"{tiles} tiles of {list(patch)}, step {self.step.value}; padded to {padded}",
                               f"{tiles} 个 {list(patch)} 的窗口，步长 {self.step.value}；填充到 {padded}")
        return specs
