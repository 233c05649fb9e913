"""A training run under fp16 goes on through the steps its GradScaler skips, and says so in the log."""
from __future__ import annotations

import pytest
import torch

from nnunet_explorer.run.run_training import train_or_load

from .conftest import fold_folder, tiny_trainer


@pytest.mark.slow
def test_a_training_run_goes_on_through_skipped_fp16_steps(loop_ws, monkeypatch):
    """A real run whose GradScaler overflows at first: steps are skipped, logged, training finishes."""
    monkeypatch.setattr("nnunet_explorer.training.iteration.make_grad_scaler",
                        lambda fp16, device, cpu_amp=False: torch.amp.GradScaler("cpu", init_scale=float("inf"))
                        if fp16 else None)
    run, request = tiny_trainer(loop_ws, epochs=1, batches=3, val_batches=1, single_threaded=True)
    result = train_or_load(run, request)
    assert not result.stopped_early and len(result.epochs) == 1 and len(run.all_tr_losses) == 1
    assert run.explorer.guard.skipped_steps == 3  # an infinite scale overflows every step (half of inf is inf)
    assert "the GradScaler skipped 3 optimizer step(s) this epoch" in (fold_folder(loop_ws).glob("training_log_*.txt")
                                                                      .__next__().read_text())
