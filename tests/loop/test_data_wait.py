"""The epoch's "data wait X s / compute Y s" line: written by the loop's hook layer, read back by ``inspect``."""
from __future__ import annotations

from nnunet_explorer.inspection import DATA_BOUND_SHARE, inspect_fold
from nnunet_explorer.network_training.explorer_hooks import DATA_WAIT_LINE

from .conftest import fold_folder, log_text, tiny_trainer


def _log(folder, waits) -> None:
    """A log in v1's format with the explorer's data-wait line in every epoch."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = "2026-03-04 09:05:07.000000:"
    lines = ["Starting... ", f"{stamp} lr: 0.01 "]
    for e, (wait, compute) in enumerate(waits):
        lines += ["", f"{stamp} ", f"epoch:  {e} ", f"{stamp} train loss : {1 - e / 10:.4f} ",
                  f"{stamp} validation loss: {1 - e / 12:.4f} ", f"{stamp} Average global foreground Dice: [0.5] ",
                  f"{stamp} lr: 0.009 ", f"{stamp} {DATA_WAIT_LINE % (wait, compute)} ",
                  f"{stamp} This epoch took {wait + compute + 1:.6f} s", " "]
    (folder / "training_log_2026_3_4_09_05_07.txt").write_text("\n".join(lines) + "\n")


def test_inspect_reports_the_data_wait_and_calls_a_waiting_run_data_bound(tmp_path):
    _log(tmp_path / "bound", [(30.0, 20.0), (31.0, 19.0), (29.0, 21.0)])
    result = inspect_fold(tmp_path / "bound", read_checkpoints=False)
    assert result.data_wait_seconds == [30.0, 31.0, 29.0] and result.compute_seconds == [20.0, 19.0, 21.0]
    (finding,) = result.by_rule("data_wait")
    assert finding.severity == "warning" and "data-loading bound" in finding.message
    assert finding.numbers["data_wait_s"] == 30.0 and finding.numbers["wait_share"] > DATA_BOUND_SHARE
    assert result.to_json()["data_wait_seconds"] == [30.0, 31.0, 29.0]


def test_a_compute_bound_run_is_only_reported(tmp_path):
    _log(tmp_path / "fine", [(1.0, 40.0), (1.5, 41.0)])
    (finding,) = inspect_fold(tmp_path / "fine", read_checkpoints=False).by_rule("data_wait")
    assert finding.severity == "info" and "1.2 s waiting for data" in finding.message


def test_a_v1_log_without_the_line_has_no_data_wait_finding(tmp_path):
    folder = tmp_path / "v1"
    _log(folder, [(1.0, 2.0)])
    log = next(folder.glob("training_log_*"))
    log.write_text("\n".join(line for line in log.read_text().splitlines() if "data wait" not in line))
    result = inspect_fold(folder, read_checkpoints=False)
    assert result.data_wait_seconds == [None] and not result.by_rule("data_wait")
    assert "does not split data wait" in result.by_rule("epoch_time")[0].message


def test_the_training_loop_writes_the_line_every_epoch_and_inspect_reads_it(loop_ws):
    from nnunet_explorer.run.run_training import train_or_load

    trainer, request = tiny_trainer(loop_ws, epochs=2, batches=2, plot_progress=False)
    result = train_or_load(trainer, request)
    log = log_text(fold_folder(loop_ws))
    assert log.count("data wait ") == 2
    inspection = inspect_fold(fold_folder(loop_ws), read_checkpoints=False)
    waits = inspection.data_wait_seconds
    assert len(waits) == 2 and all(w is not None and w >= 0 for w in waits)
    # the logged figures are the epoch events' own (rounded to 0.01 s)
    assert [round(e.data_seconds, 2) for e in result.epochs] == waits
    assert [round(e.compute_seconds, 2) for e in result.epochs] == inspection.compute_seconds
    assert inspection.by_rule("data_wait")
