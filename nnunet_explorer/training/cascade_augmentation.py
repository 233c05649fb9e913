"""The cascade's extra augmentations: the low-resolution segmentation as input, and simulated mistakes in it.

In ``3d_cascade_fullres`` the full-resolution U-Net gets, besides the image, the segmentation that the
``3d_lowres`` network predicted for the same case (upsampled to the full-resolution grid). The loader carries
it as segmentation channel 1 (so the spatial augmentation treats it like a label map), and at the end of the
transform chain three transforms turn it into extra *image* channels:

1. :class:`MoveSegAsOneHotToData` — seg channel 1 ``(b, 1, z, y, x)`` becomes one binary channel per
   foreground label and is appended to ``data``: ``(b, C, z, y, x) -> (b, C + num_classes - 1, z, y, x)``.
2. :class:`ApplyRandomBinaryOperatorTransform` (p 0.4 per sample) — each of those channels is dilated, eroded,
   closed or opened with a ball of random radius in [1, 8): the low-res structures get too thick, too thin,
   merged or split.
3. :class:`RemoveRandomConnectedComponentFromOneHotEncodingTransform` (p 0.2 per sample) — meant to delete a
   whole small connected component, as if the low-res network had missed a structure. **With v1's cascade
   settings it never deletes anything** (see the class docstring: v1 passes two of its arguments swapped);
   it still draws its random numbers, which is why it is kept.

Why: the priors seen in training are v1's out-of-fold predictions (``predict_next_stage`` runs after each
3d_lowres fold on that fold's *validation* cases), realistic but fixed: every epoch shows the same prior for a
case. A network given a good, unchanging prior can learn to copy it and lean less on the image. Corrupting it
differently in every batch - structures too thick or too thin, merged or split - forces the full-resolution
network to check the hint against the image, as it must at test time, when the low-res stage can be wrong.

The transforms draw from ``np.random`` in exactly v1's order (``uniform`` coins, ``shuffle`` of the channel
list, ``choice`` of the operation, ``uniform`` radius, ``choice`` of the component ...), so with the same
seed they give the same arrays as v1's ``nnunet.training.data_augmentation.pyramid_augmentations`` (the
parity tests in ``tests/data/test_cascade_data.py`` check this array by array).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from batchgenerators.transforms.abstract_transforms import AbstractTransform
from scipy import ndimage
from skimage.measure import label as _label_components
from skimage.morphology import ball

from ..provenance import mirrors

# --- the four binary operations ------------------------------------------------------------------------
# v1 imports these from skimage.morphology.binary, which scikit-image deprecates (0.26) and will remove. They
# are thin wrappers around scipy.ndimage; re-written here with the exact semantics skimage gives them:
# * an even-sized footprint is first padded with a zero row/column at its END to an odd size
#   (skimage.morphology.pad_footprint(pad_end=True)) - ball() with a fractional radius can be even-sized;
# * outside the image, erosion assumes True (border_value=True: objects touching the border are not eaten
#   away from the border side) and dilation assumes False (skimage's mode='ignore');
# * closing is dilation then erosion, opening erosion then dilation, each with those border values (scipy's own
#   binary_closing/binary_opening use border_value=0 for both steps, which erodes objects at the border).


def _odd_footprint(footprint: np.ndarray) -> np.ndarray:
    pad = [(0, 1) if s % 2 == 0 else (0, 0) for s in footprint.shape]
    return np.pad(footprint, pad) if any(p[1] for p in pad) else footprint


def binary_dilation(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Binary dilation of ``image != 0`` by ``footprint`` (outside the image counts as background). Bool array."""
    return ndimage.binary_dilation(image, structure=_odd_footprint(footprint), border_value=False)


def binary_erosion(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Binary erosion of ``image != 0`` by ``footprint`` (outside the image counts as foreground). Bool array."""
    return ndimage.binary_erosion(image, structure=_odd_footprint(footprint), border_value=True)


def binary_closing(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Dilation then erosion: fills gaps and holes narrower than the footprint. Bool array."""
    return binary_erosion(binary_dilation(image, footprint), footprint)


def binary_opening(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Erosion then dilation: removes parts and bridges thinner than the footprint. Bool array."""
    return binary_dilation(binary_erosion(image, footprint), footprint)


BINARY_OPERATIONS: tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], ...] = (
    binary_dilation, binary_erosion, binary_closing, binary_opening)
"""v1's ``any_of_these`` default, in v1's order (the drawn index picks from this tuple)."""


# --- one-hot -------------------------------------------------------------------------------------------

@mirrors("nnunet.utilities.one_hot_encoding:to_one_hot")
def to_one_hot(seg: np.ndarray, all_seg_labels: Sequence[int] | None = None) -> np.ndarray:
    """One binary map per label: ``seg (*spatial)`` -> ``(len(all_seg_labels), *spatial)``, dtype of ``seg``.

    The cascade passes the foreground labels ``1 .. num_classes - 1``: background gets no channel (it is
    "none of the others"). Labels not listed (e.g. -1) are all-zero in every channel. Without
    ``all_seg_labels`` the labels present in ``seg`` are used (v1's default).
    """
    labels = np.unique(seg) if all_seg_labels is None else list(all_seg_labels)
    out = np.zeros((len(labels), *seg.shape), dtype=seg.dtype)
    for i, value in enumerate(labels):
        out[i][seg == value] = 1
    return out


# --- the transforms ------------------------------------------------------------------------------------

@mirrors("nnunet.training.data_augmentation.pyramid_augmentations:MoveSegAsOneHotToData")
class MoveSegAsOneHotToData(AbstractTransform):
    """Move segmentation channel ``channel_id`` into the image as one-hot channels (the cascade's input).

    ``data_dict[key_origin][:, channel_id]`` (the previous stage's label map, ``(b, z, y, x)``) is one-hot
    encoded over ``all_seg_labels`` and concatenated after the image channels of ``data_dict[key_target]``:
    ``(b, C, z, y, x) -> (b, C + len(all_seg_labels), z, y, x)``, in the dtype of the segmentation. With
    ``remove_from_origin`` the channel is dropped from the segmentation, which keeps only the ground truth
    ``(b, 1, z, y, x)`` to become the target.

    It runs after ``RemoveLabelTransform(-1, 0)``, so voxels that the spatial augmentation filled with -1 are
    background of the prior as well. Deterministic: no random draws.
    """

    def __init__(self, channel_id: int, all_seg_labels: Sequence[int], key_origin: str = "seg",
                 key_target: str = "data", remove_from_origin: bool = True) -> None:
        self.remove_from_origin = remove_from_origin
        self.all_seg_labels = all_seg_labels
        self.key_target = key_target
        self.key_origin = key_origin
        self.channel_id = channel_id

    def __call__(self, **data_dict: Any) -> dict:
        origin = data_dict.get(self.key_origin)
        prior = origin[:, self.channel_id]  # (b, *spatial)
        one_hot = np.zeros((prior.shape[0], len(self.all_seg_labels), *prior.shape[1:]), dtype=origin.dtype)
        for i, value in enumerate(self.all_seg_labels):
            one_hot[:, i][prior == value] = 1
        data_dict[self.key_target] = np.concatenate((data_dict.get(self.key_target), one_hot), 1)
        if self.remove_from_origin:
            keep = [c for c in range(origin.shape[1]) if c != self.channel_id]
            data_dict[self.key_origin] = origin[:, keep]
        return data_dict


@mirrors("nnunet.training.data_augmentation.pyramid_augmentations:ApplyRandomBinaryOperatorTransform")
class ApplyRandomBinaryOperatorTransform(AbstractTransform):
    """Randomly dilate, erode, close or open the one-hot prior channels (simulated low-res mistakes).

    For each sample, with probability ``p_per_sample``: the channels ``channel_idx`` (the cascade passes
    ``[-n, ..., -1]``, the last n data channels = the one-hot prior) are visited in a random order
    (``np.random.shuffle``); each, with probability ``p_per_label``, gets one operation drawn uniformly from
    ``any_of_these`` (dilation, erosion, closing, opening) with a ``ball`` footprint of radius
    ``U(strel_size)`` (cascade: ``U(1, 8)`` voxels; a fractional radius gives a ball of ``int(2r + 1)`` voxels
    per side, see ``skimage.morphology.ball``).

    One-hot consistency: voxels that an operation *added* to a channel are cleared in all the other channels
    (a voxel cannot be two labels); voxels it *removed* are left as background.

    Draw order (v1's, needed for parity): ``uniform()`` per sample; if it fires, ``shuffle`` of the channel
    list, then per channel ``uniform()``, ``choice`` of the operation, ``uniform(*strel_size)``.

    Args:
        channel_idx: an int or a list of ints (a tuple is refused, as in v1).
        p_per_sample, p_per_label, strel_size, key: see above (v1's defaults: 0.3, 1, (1, 10), ``'data'``).
        any_of_these: the operations; each maps ``(image, footprint)`` to a boolean array.
    """

    def __init__(self, channel_idx: int | list[int], p_per_sample: float = 0.3,
                 any_of_these: Sequence[Callable] = BINARY_OPERATIONS, key: str = "data",
                 strel_size: Sequence[float] = (1, 10), p_per_label: float = 1) -> None:
        self.p_per_label = p_per_label
        self.strel_size = strel_size
        self.key = key
        self.any_of_these = any_of_these
        self.p_per_sample = p_per_sample
        if isinstance(channel_idx, tuple):
            raise TypeError("channel_idx must be an int or a list, not a tuple (v1 asserts this)")
        self.channel_idx = channel_idx if isinstance(channel_idx, list) else [channel_idx]

    def __call__(self, **data_dict: Any) -> dict:
        data = data_dict.get(self.key)
        for b in range(data.shape[0]):
            if np.random.uniform() < self.p_per_sample:
                order = list(self.channel_idx)
                np.random.shuffle(order)
                for c in order:
                    if np.random.uniform() < self.p_per_label:
                        # drawing the index is the same draw as v1's choice over the operations themselves
                        operation = self.any_of_these[np.random.choice(len(self.any_of_these))]
                        footprint = ball(np.random.uniform(*self.strel_size))
                        before = data[b, c].astype(int)
                        after = operation(before, footprint).astype(int)
                        data[b, c] = after
                        added = after > before
                        for other in order:
                            if other != c:
                                data[b, other][added] = 0
        data_dict[self.key] = data
        return data_dict


@mirrors("nnunet.training.data_augmentation.pyramid_augmentations:"
         "RemoveRandomConnectedComponentFromOneHotEncodingTransform")
class RemoveRandomConnectedComponentFromOneHotEncodingTransform(AbstractTransform):
    """Delete one random small connected component from one-hot channels (a structure the low-res net missed).

    For each sample, with probability ``p_per_sample``, and per channel of ``channel_idx`` with probability
    ``p_per_label``: the channel's connected components are labelled (full connectivity: 26 neighbours in 3D,
    skimage's default); those *smaller than* ``dont_do_if_covers_more_than_X_percent`` times the number of
    voxels of the patch are eligible (the value is a fraction: 0.25 means 25 %); one is drawn and set to 0.
    Then, with probability ``fill_with_other_class_p``, its voxels are given to another channel of
    ``channel_idx`` drawn at random (the missed structure was mistaken for a neighbouring label).

    **v1 quirk, reproduced on purpose:** ``get_moreDA_augmentation`` builds this transform with
    ``fill_with_other_class_p=params['cascade_remove_conn_comp_max_size_percent_threshold']`` (0.15) and
    ``dont_do_if_covers_more_than_X_percent=params['cascade_remove_conn_comp_fill_with_other_class_p']``
    (0.0) - the two settings swapped. With a threshold of 0 no component is ever smaller than it, so in v1's
    cascade this transform **never removes anything**; it only consumes random numbers (one ``uniform()`` per
    sample and, when that fires, one per channel), which shifts every later draw. The explorer builds it the
    same way so that its batches equal v1's; a learner should read the cascade as "binary operators only".

    Draw order: ``uniform()`` per sample; per channel ``uniform()``; if a component is eligible, ``choice``
    of the component, ``uniform()`` for the fill, and (if filling) ``choice`` of the other channel.

    Args:
        channel_idx: an int or a list/tuple of ints.
        key, p_per_sample, fill_with_other_class_p, dont_do_if_covers_more_than_X_percent, p_per_label: as
            above (v1's defaults ``'data'``, 0.2, 0.25, 0.25, 1).
    """

    def __init__(self, channel_idx: int | Sequence[int], key: str = "data", p_per_sample: float = 0.2,
                 fill_with_other_class_p: float = 0.25, dont_do_if_covers_more_than_X_percent: float = 0.25,
                 p_per_label: float = 1) -> None:
        self.p_per_label = p_per_label
        self.dont_do_if_covers_more_than_X_percent = dont_do_if_covers_more_than_X_percent
        self.fill_with_other_class_p = fill_with_other_class_p
        self.p_per_sample = p_per_sample
        self.key = key
        self.channel_idx = channel_idx if isinstance(channel_idx, (list, tuple)) else [channel_idx]

    def __call__(self, **data_dict: Any) -> dict:
        data = data_dict.get(self.key)
        for b in range(data.shape[0]):
            if np.random.uniform() < self.p_per_sample:
                for c in self.channel_idx:
                    if np.random.uniform() < self.p_per_label:
                        self._remove_one(data, b, c)
        data_dict[self.key] = data
        return data_dict

    def _remove_one(self, data: np.ndarray, b: int, c: int) -> None:
        if not self.dont_do_if_covers_more_than_X_percent > 0:
            # no component can be smaller than 0 voxels: nothing is eligible and nothing more is drawn, so the
            # labelling v1 does here anyway can be skipped (v1's cascade always takes this exit)
            return
        channel = data[b, c]
        components, count = _label_components(channel, connectivity=channel.ndim, return_num=True)
        if count == 0:
            return
        limit = np.prod(channel.shape, dtype=np.uint64) * self.dont_do_if_covers_more_than_X_percent
        sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
        eligible = [i + 1 for i in range(count) if sizes[i] < limit]
        if not eligible:
            return  # v1's cascade settings always end here (threshold 0.0, see the class docstring)
        chosen = np.random.choice(eligible)
        where = components == chosen
        data[b, c][where] = 0
        if np.random.uniform() < self.fill_with_other_class_p:
            others = [i for i in self.channel_idx if i != c]
            if others:
                data[b, np.random.choice(others)][where] = 1


def cascade_transforms(params: dict, *, train: bool, use_p_per_label: bool = True,
                       skip_zero_p: bool = True) -> list:
    """The cascade transforms ``get_moreDA_augmentation`` inserts after ``RemoveLabelTransform(-1, 0)``.

    Nothing unless ``params['move_last_seg_chanel_to_data']``; then :class:`MoveSegAsOneHotToData` (train and
    val) and, for training with ``cascade_do_cascade_augmentations``, the binary-operator transform (if its p
    > 0) and the connected-component transform (if its p > 0), with v1's swapped arguments.

    v1's other augmentation functions build the same transforms slightly differently; the two switches reproduce them:
    ``use_p_per_label=False`` leaves the binary operator at its default ``p_per_label=1`` instead of
    ``params['cascade_random_binary_transform_p_per_label']`` (insaneDA, insaneDA2 and the default
    augmentation), ``skip_zero_p=False`` appends both corruptions even when their probability is 0 (the
    default augmentation).
    """
    if not params.get("move_last_seg_chanel_to_data"):
        return []
    labels = params.get("all_segmentation_labels")
    out: list = [MoveSegAsOneHotToData(1, labels, "seg", "data")]
    if not train or not params.get("cascade_do_cascade_augmentations"):
        return out
    prior_channels = list(range(-len(labels), 0))
    if not skip_zero_p or params.get("cascade_random_binary_transform_p") > 0:
        per_label = {"p_per_label": params.get("cascade_random_binary_transform_p_per_label")} \
            if use_p_per_label else {}
        out.append(ApplyRandomBinaryOperatorTransform(
            channel_idx=prior_channels, p_per_sample=params.get("cascade_random_binary_transform_p"), key="data",
            strel_size=params.get("cascade_random_binary_transform_size"), **per_label))
    if not skip_zero_p or params.get("cascade_remove_conn_comp_p") > 0:
        out.append(RemoveRandomConnectedComponentFromOneHotEncodingTransform(
            channel_idx=prior_channels, key="data", p_per_sample=params.get("cascade_remove_conn_comp_p"),
            # v1 quirk, kept for parity: these two parameters are passed SWAPPED in v1's get_moreDA_augmentation
            # (the size threshold becomes the fill probability and the fill probability, 0.0, the size
            # threshold), so with the cascade defaults no component is ever removed. See the class docstring.
            fill_with_other_class_p=params.get("cascade_remove_conn_comp_max_size_percent_threshold"),
            dont_do_if_covers_more_than_X_percent=params.get("cascade_remove_conn_comp_fill_with_other_class_p")))
    return out


def cascade_da_params(num_classes: int) -> dict[str, Any]:
    """The keys ``nnUNetTrainerV2CascadeFullRes.setup_DA_params`` adds to the V2 augmentation parameters.

    ``num_classes`` counts background. Merge into the V2 dict: ``{**params, **cascade_da_params(n)}``.
    """
    return {
        "num_cached_per_thread": 2,
        "move_last_seg_chanel_to_data": True,
        "cascade_do_cascade_augmentations": True,
        "cascade_random_binary_transform_p": 0.4,
        "cascade_random_binary_transform_p_per_label": 1,
        "cascade_random_binary_transform_size": (1, 8),
        "cascade_remove_conn_comp_p": 0.2,
        "cascade_remove_conn_comp_max_size_percent_threshold": 0.15,
        "cascade_remove_conn_comp_fill_with_other_class_p": 0.0,
        # the prior travels as seg channel 1 until MoveSegAsOneHotToData
        "selected_seg_channels": [0, 1],
        "all_segmentation_labels": list(range(1, num_classes)),
    }
