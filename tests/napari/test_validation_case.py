"""One validation case in a real napari viewer (Xvfb): image under the labels, the ITK direction applied."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from ..views.test_validation_table import make_validation_folder


def test_show_case_puts_the_image_under_the_labels_at_simpleitks_positions(tmp_path, make_napari_viewer):
    from nnunet_explorer.views.napari.show import show_case

    val, images = make_validation_folder(tmp_path)
    viewer = make_napari_viewer()
    show_case(val, "case_a", viewer, images_folder=images)
    names = [lay.name for lay in viewer.layers]
    assert names[0] == "case_a image 0000" and type(viewer.layers[0]).__name__ == "Image"
    assert [type(lay).__name__ for lay in viewer.layers][1:4] == ["Labels"] * 3
    reference = sitk.ReadImage(str(val.parent.parent / "gt_niftis" / "case_a.nii.gz"))
    for layer in viewer.layers:
        for index_xyz in ((0, 0, 0), (5, 8, 3), (11, 9, 5)):
            expected = np.asarray(reference.TransformIndexToPhysicalPoint(index_xyz))[::-1]
            assert np.asarray(layer.data_to_world(index_xyz[::-1])) == pytest.approx(expected), layer.name
    # the next case replaces this one: one case at a time
    show_case(val, "case_b", viewer, images_folder=images)
    assert {lay.metadata["case_id"] for lay in viewer.layers} == {"case_b"}
    assert len(viewer.layers) == 4
