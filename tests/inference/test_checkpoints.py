"""Safe checkpoint loading: v1-shaped checkpoints load, crafted malicious ones are refused before anything runs."""
from __future__ import annotations

import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

from nnunet_explorer.errors import ExplorerError, UnsafeFileError
from nnunet_explorer.training.checkpoints import load_checkpoint_file, load_model_pkl, load_state_dict_into
from nnunet_explorer.training.generic_unet import Generic_UNet, build_network


class _RunsCode:
    """Unpickling this calls os.system: the classic pickle payload."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _tiny_net() -> Generic_UNet:
    return build_network(1, 2, 3, [[2, 2, 2]], [[3, 3, 3], [3, 3, 3]])


def test_v1_shaped_checkpoint_loads(tmp_path):
    net = _tiny_net()
    checkpoint = {"epoch": 2, "state_dict": net.state_dict(), "optimizer_state_dict": None,
                  "lr_scheduler_state_dict": None,
                  "plot_stuff": ([np.float32(0.9), np.float32(0.8)], [np.float32(1.0)], [], [np.float64(0.3)]),
                  "best_stuff": (1, np.float32(0.8), np.float64(0.3)), "amp_grad_scaler": {}}
    torch.save(checkpoint, tmp_path / "model_final_checkpoint.model")
    loaded = load_checkpoint_file(tmp_path / "model_final_checkpoint.model")
    assert loaded["epoch"] == 2 and loaded["plot_stuff"][0][1] == np.float32(0.8)
    other = _tiny_net()
    # DataParallel-prefixed keys are accepted, as in v1's load_checkpoint_ram
    load_state_dict_into(other, OrderedDict(("module." + k, v) for k, v in loaded["state_dict"].items()))
    for k, v in net.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    info = OrderedDict(init=("plans.pkl", 0, None, None, True, 0, True, True, True), name="nnUNetTrainerV2",
                       plans={"num_classes": 2, "spacing": np.array([1.0, 2.0])})
    info["class"] = "<class 'nnunet...nnUNetTrainerV2'>"
    (tmp_path / "model_final_checkpoint.model.pkl").write_bytes(pickle.dumps(info))
    assert load_model_pkl(tmp_path / "model_final_checkpoint.model.pkl")["name"] == "nnUNetTrainerV2"


def test_malicious_checkpoint_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "epoch": _RunsCode(str(marker))}, tmp_path / "evil.model")
    with pytest.raises(UnsafeFileError) as info:
        load_checkpoint_file(tmp_path / "evil.model")
    assert not marker.exists()
    message = str(info.value)
    assert "system" in message and "refused" in message and "evil.model" in message
    # the same payload in the .model.pkl companion
    (tmp_path / "evil.model.pkl").write_bytes(pickle.dumps({"init": _RunsCode(str(marker)), "name": "x",
                                                            "plans": {}}))
    with pytest.raises(UnsafeFileError, match="system"):
        load_model_pkl(tmp_path / "evil.model.pkl")
    assert not marker.exists()
    # sanity: the payload really would run under a plain unpickler
    pickle.loads(pickle.dumps(_RunsCode(str(marker))))
    assert marker.exists()


def test_missing_corrupt_and_mismatched(tmp_path):
    with pytest.raises(ExplorerError, match="does not exist"):
        load_checkpoint_file(tmp_path / "nope.model")
    (tmp_path / "broken.model").write_bytes(b"not a checkpoint")
    with pytest.raises(ExplorerError):
        load_checkpoint_file(tmp_path / "broken.model")
    torch.save({"epoch": 1}, tmp_path / "nostate.model")
    with pytest.raises(ExplorerError, match="state_dict"):
        load_checkpoint_file(tmp_path / "nostate.model")
    wrong = build_network(1, 2, 4, [[2, 2, 2]], [[3, 3, 3], [3, 3, 3]])  # 4 classes instead of 3
    with pytest.raises(ExplorerError, match="do not fit"):
        load_state_dict_into(_tiny_net(), wrong.state_dict())
