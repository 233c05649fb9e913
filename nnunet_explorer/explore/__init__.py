"""Steps, step results, pipelines, summaries and HTML cards. Knows nothing of nnU-Net.

* :class:`Step` / :func:`make_step` / :func:`step`: a plain function with a name for the value it produces.
* :class:`StepResult`: one run of a step (inputs, params, output or error, seconds, seed, v1 reference);
  renders itself as a one-line ``repr`` and an HTML card.
* :class:`Shown`: what a step returns when its card shows more than its output (the value goes on, the look
  stays with the card).
* :class:`Pipeline`: runs steps in order, caches outputs by name, re-runs and invalidates downstream.
* :func:`summarize_text` / :func:`array_stats`: dtype, shape, range and label set of any output.
"""
from __future__ import annotations

from .pipeline import Pipeline, PipelineSummary, write_report
from .step import Shown, Step, StepError, StepFailed, StepResult, make_step, seed_everything, step
from .summary import ArrayStats, array_stats, summarize_text

__all__ = ["ArrayStats", "Pipeline", "PipelineSummary", "Shown", "Step", "StepError", "StepFailed", "StepResult",
           "array_stats", "make_step", "seed_everything", "step", "summarize_text", "write_report"]
