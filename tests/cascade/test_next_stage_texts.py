"""What ``predict_next_stage`` reports (its summary and one line per case), in English and under ``zh``.

The cascade's heavy tests (training, parity with v1) are in ``test_cascade.py``; these build the reports directly.
"""
from __future__ import annotations

from pathlib import Path

from nnunet_explorer.inference.cascade import NextStageCase, NextStageReport


def _report() -> NextStageReport:
    case = NextStageCase("case_000", (8, 9, 9), (8, 18, 18), Path("/m/pred_next_stage/case_000_segFromPrevStage.npz"),
                         (0, 1, 2), 0.54)
    return NextStageReport(Path("/m/pred_next_stage"), (case,), 2.04)


def test_the_summary_and_the_case_lines_speak_chinese_under_zh(monkeypatch):
    monkeypatch.delenv("NNUNET_EXPLORER_LANG", raising=False)
    report = _report()
    assert report.summary() == ("predicted 1 validation case(s) for the next stage of the cascade into "
                                "/m/pred_next_stage in 2.0 s")
    assert report.cases[0].summary() == ("case_000: predicted at [8, 9, 9], resampled to [8, 18, 18], labels "
                                         "[0, 1, 2] -> case_000_segFromPrevStage.npz (0.5 s)")
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    assert report.summary() == "为级联的下一级预测了 1 个验证病例，写入 /m/pred_next_stage，用时 2.0 s"
    assert report.cases[0].summary() == ("case_000：在 [8, 9, 9] 上预测，重采样到 [8, 18, 18]，标签 [0, 1, 2] -> "
                                         "case_000_segFromPrevStage.npz（用时 0.5 s）")
