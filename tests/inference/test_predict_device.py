"""``predict`` places the network on the device it was asked for, once (issue 13: it never moved it).

No GPU is needed: the ``meta`` device stands for one. A tensor placed there is visibly not on the CPU, so a
network left where ``build_network`` made it (the CPU) is caught.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from nnunet_explorer.inference import predict as predict_module
from nnunet_explorer.inference.predict import load_model_and_checkpoint_files, predict_case


def _fake_sliding_window(calls):
    def fake(network, data, patch_size, **kwargs):
        calls.append({"weights": next(network.parameters()).device, **kwargs})
        probabilities = np.full((network.num_classes, *data.shape[1:]), 1.0 / network.num_classes, np.float32)
        return types.SimpleNamespace(probabilities=probabilities, num_tiles=1)
    return fake


def test_predict_case_moves_the_network_to_the_requested_device(small_model, monkeypatch):
    calls = []
    monkeypatch.setattr(predict_module, "predict_sliding_window", _fake_sliding_window(calls))
    model = load_model_and_checkpoint_files(small_model.model_folder, [0, 1], device="cpu")
    assert model.device == torch.device("cpu")
    files = sorted(small_model.images.glob("*_0000.nii.gz"))[:1]
    torch.backends.cudnn.benchmark = False
    predict_case(model, files, do_tta=False, device="meta", all_in_gpu=True)
    # both folds predicted with the weights on the requested device, and told to compute there
    assert [c["weights"].type for c in calls] == ["meta", "meta"]
    assert [torch.device(c["device"]).type for c in calls] == ["meta", "meta"]
    assert all(c["all_in_gpu"] for c in calls)
    assert all((c["sums_on"], c["tile_batch_size"]) == ("auto", None) for c in calls)  # resolved per device there
    assert all(p.device.type == "meta" for p in model.network.parameters())
    assert torch.backends.cudnn.benchmark  # as v1's predict (deterministic=False)
    # device=None keeps the network where it is
    calls.clear()
    predict_case(model, files, do_tta=False)
    assert [c["weights"].type for c in calls] == ["meta", "meta"]


def test_loading_places_the_network(small_model):
    model = load_model_and_checkpoint_files(small_model.model_folder, [0], device="meta")
    assert model.device.type == "meta" and "device meta" in model.summary()
    auto = load_model_and_checkpoint_files(small_model.model_folder, [0])  # "auto": CUDA where available
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_predictor_resolves_sums_and_tile_batch_for_its_device():
    """auto: v1's CPU sums and one tile on the CPU; float32 sums on the device, 4 tiles per pass, on CUDA."""
    from nnunet_explorer.errors import ConfigurationError
    from nnunet_explorer.inference import Predictor

    def on(device, **kwargs):
        p = Predictor(types.SimpleNamespace(device=torch.device(device)), **kwargs)  # no GPU needed: a name only
        return p.sums_on, p.tile_batch_size, p.all_in_gpu

    assert on("cpu") == ("cpu", 1, False)
    assert on("cuda") == ("device_fp32", 4, False)
    assert on("cuda", all_in_gpu=True) == ("device_fp16", 1, True)  # v1's all_in_gpu: float16, one tile
    assert on("cuda", sums_on="cpu", tile_batch_size=2) == ("cpu", 2, False)
    with pytest.raises(ConfigurationError):
        on("cuda", all_in_gpu=True, sums_on="cpu")
