"""A training run under fp16 goes on through the steps its GradScaler skips, and says so in the log."""
from __future__ import annotations

import torch

from nnunet_explorer.run.run_training import train_or_load

from .conftest import fold_folder, tiny_trainer


def test_a_training_run_goes_on_through_skipped_fp16_steps(loop_ws, monkeypatch):
    """A real run whose GradScaler overflows at first: steps are skipped, logged, training finishes."""
    monkeypatch.setattr("nnunet_explorer.training.iteration.make_grad_scaler",
                        lambda fp16, device, cpu_amp=False: torch.amp.GradScaler("cpu", init_scale=float("inf"))
                        if fp16 else None)
    # An infinite scale overflows whatever autocast computes in, so the run may compute in bfloat16: float16
    # convolutions on a CPU take ~40 s an iteration here, bfloat16 ones have fast kernels (the run: 100 s -> ~5 s)
    autocast = torch.autocast
    monkeypatch.setattr(torch, "autocast", lambda device_type, dtype=None, **kw: autocast(device_type,
                                                                                          dtype=torch.bfloat16, **kw))
    # two steps: both skipped, the run still ends
    run, request = tiny_trainer(loop_ws, epochs=1, batches=2, val_batches=1, single_threaded=True)
    result = train_or_load(run, request)
    assert not result.stopped_early and len(result.epochs) == 1 and len(run.all_tr_losses) == 1
    assert run.explorer.guard.skipped_steps == 2  # an infinite scale overflows every step (half of inf is inf)
    assert "the GradScaler skipped 2 optimizer step(s) this epoch" in (fold_folder(loop_ws).glob("training_log_*.txt")
                                                                      .__next__().read_text())


def test_v1s_fp16_branch_of_run_iteration_runs_on_a_cpu_in_float32(loop_ws):
    """v1 creates ``GradScaler()`` on any machine and it disables itself without CUDA, so the fp16 branch of v1's
    ``run_iteration`` — which a user's override copies — runs on a CPU: ``scale(l)`` is ``l`` and ``step`` is
    ``optimizer.step()``. The explorer's trainer holds such a disabled scaler too; the step equals a plain one."""
    import copy

    run, _ = tiny_trainer(loop_ws, epochs=1, batches=1, val_batches=1, single_threaded=True)
    assert run.fp16  # nnUNet_train's default
    run._maybe_init_amp()
    scaler = run.amp_grad_scaler
    assert isinstance(scaler, torch.amp.GradScaler) and not scaler.is_enabled()
    batch = next(run.tr_gen)
    data = torch.as_tensor(batch["data"]).float()
    target = [torch.as_tensor(t).float() for t in batch["target"]]
    weights, moments = copy.deepcopy(run.network.state_dict()), copy.deepcopy(run.optimizer.state_dict())

    def step(with_scaler: bool) -> dict:
        run.network.load_state_dict(weights)
        run.optimizer.load_state_dict(moments)
        run.optimizer.zero_grad()
        loss = run.loss(run.network(data), target)
        if with_scaler:  # v1's fp16 branch
            assert scaler.scale(loss) is loss
            scaler.scale(loss).backward()
            scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(run.network.parameters(), 12)
            scaler.step(run.optimizer)
            scaler.update()
        else:  # v1's float32 branch
            loss.backward()
            torch.nn.utils.clip_grad_norm_(run.network.parameters(), 12)
            run.optimizer.step()
        return copy.deepcopy(run.network.state_dict())

    scaled, plain = step(True), step(False)
    assert any(not torch.equal(scaled[k], weights[k]) for k in weights)  # the step changed the weights
    assert all(torch.equal(scaled[k], plain[k]) for k in plain)
