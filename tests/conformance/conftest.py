"""Fixtures of the conformance suite: the v1-preprocessed CT task (tests/conftest.py's ``v1_ct_task``)."""
