"""Helpers of ``benchmarks/gpu_session.sh`` (a GPU session in one run): a GPU utilisation sampler, notebook
execution in a real kernel, the session's summary, and v1's ``run_training`` with a short-schedule variant trainer
(also used by ``gpu_check.py``'s ``run`` section)."""
