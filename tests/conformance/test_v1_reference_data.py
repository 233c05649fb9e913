"""The v1 reference data: what nnU-Net v1 1.7.1 itself gives for every trainer class of ``nnUNet_variants/``.

``v1_reference.json`` is written by ``scripts/v1_variant_reference.py`` (per class: ``trains`` with the per-epoch
train / validation losses as v1's log prints them, ``fails_in_v1`` with the reason, or ``nondeterministic_in_v1``).
Running v1 for all of them takes ~20 minutes, so:

* the cheap tests check that the data covers every file and class of the installed v1 and is well-formed;
* the slow parity test re-runs a *rotating* sample of three stored entries with the real v1 (the harness of
  ``v1_harness.py``, the tasks of ``variant_tasks.py``) and asserts that v1 still gives exactly the stored
  strings. The sample changes with the ISO week, so every week checks others; set
  ``NNUNET_EXPLORER_V1_SAMPLE`` to keys (``FILE::CLASS`` or ``plain::CLASS``, separated by commas or spaces) to
  choose it.
"""
from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path

import pytest

import v1_harness as harness

REFERENCE = Path(__file__).with_name("v1_reference.json")
SAMPLE_ENV = "NNUNET_EXPLORER_V1_SAMPLE"
SAMPLE_SIZE = 3
STATUSES = {"trains", "fails_in_v1", "nondeterministic_in_v1"}
LOSS = re.compile(r"^-?\d+\.\d{4}$")


def load_reference() -> dict:
    return json.loads(REFERENCE.read_text())


def entries(data: dict) -> dict[str, dict]:
    """Every stored entry by key: ``FILE::CLASS[@2d]`` and ``plain::CLASS[@2d]``."""
    found = {f"plain::{key}": e for key, e in data["plain"].items()}
    for file, classes in data["files"].items():
        found.update({f"{file}::{key}": e for key, e in classes.items()})
    return found


def sample_keys(data: dict, today: datetime.date | None = None, environ=os.environ) -> list[str]:
    """The keys to re-derive: ``$NNUNET_EXPLORER_V1_SAMPLE``, else three ``trains`` entries chosen by ISO week."""
    chosen = environ.get(SAMPLE_ENV, "").replace(",", " ").split()
    if chosen:
        return chosen
    candidates = sorted(k for k, e in entries(data).items() if e["status"] == "trains")
    year, week, _ = (today or datetime.date.today()).isocalendar()
    start = ((year * 53 + week) * SAMPLE_SIZE) % len(candidates)
    return [candidates[(start + i) % len(candidates)] for i in range(min(SAMPLE_SIZE, len(candidates)))]


def test_reference_is_well_formed():
    data = load_reference()
    assert data["nnunet"] == "1.7.1"
    assert (data["epochs"], data["batches_per_epoch"], data["val_batches_per_epoch"]) == \
        (harness.EPOCHS, harness.BATCHES, harness.VAL_BATCHES)
    for key, e in entries(data).items():
        assert e["status"] in STATUSES, key
        assert e["network"] in ("2d", "3d_fullres", "3d_cascade_fullres") and e["task"] in ("ct", "cascade"), key
        if e["status"] == "trains":
            for losses in (e["train"], e["val"]):
                assert len(losses) == data["epochs"] and all(LOSS.match(v) for v in losses), key
            assert e["seconds"] > 0, key
        elif e["status"] == "fails_in_v1":
            assert e["reason"] and "\n" not in e["reason"], key
        else:
            assert len(e["runs"]) == 2, key
    assert {"nnUNetTrainerV2", "nnUNetTrainerV2@2d", "nnUNetTrainerV2CascadeFullRes"} <= set(data["plain"])
    assert len(sample_keys(data, environ={})) == SAMPLE_SIZE


def test_reference_covers_every_variant_file():
    data = load_reference()
    files = data["files"]
    assert len(files) == 72
    training = [f for f, classes in files.items() if any(e["status"] == "trains" for e in classes.values())]
    assert len(training) >= 50, training
    try:
        installed = harness.variant_files()
    except ModuleNotFoundError:
        return  # nnunet is not installed: the count above is all one can check
    assert sorted(files) == installed
    for file in installed:
        stored = {key.split("@")[0] for key in files[file]}
        assert stored == set(harness.classes_in(file)), file


def test_sample_rotates_weekly():
    data = load_reference()
    weeks = [sample_keys(data, datetime.date(2025, 1, 6) + datetime.timedelta(weeks=w), environ={})
             for w in range(3)]
    assert all(len(set(keys)) == SAMPLE_SIZE for keys in weeks)
    assert weeks[0] != weeks[1] != weeks[2]
    assert sample_keys(data, environ={SAMPLE_ENV: "a::b, c::d"}) == ["a::b", "c::d"]


def _sample_ids() -> list[str]:
    try:
        return sample_keys(load_reference())
    except (OSError, ValueError, KeyError):
        return []


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("key", _sample_ids(), ids=str)
def test_v1_still_gives_the_stored_losses(key, v1_variant_workspaces):
    pytest.importorskip("nnunet")
    data = load_reference()
    stored = entries(data).get(key)
    assert stored is not None, f"{key} is not in {REFERENCE.name}"
    section, name = key.split("::", 1)
    if stored["status"] == "fails_in_v1" and stored["reason"].startswith("not run"):
        pytest.skip(f"{key}: {stored['reason']}")
    result = harness.run_class(v1_variant_workspaces[stored["task"]], name.split("@")[0],
                               None if section == "plain" else section, stored["network"], timeout=600,
                               plans_identifier=stored.get("plans", harness.PLANS_IDENTIFIER))
    versions = {k: data[k] for k in ("nnunet", "batchgenerators", "torch", "numpy")}
    if stored["status"] == "fails_in_v1":
        assert result["status"] == "fails_in_v1", (key, result)
        return
    assert result["status"] == "trains", (key, result.get("reason"), result.get("log_tail", "")[-2000:])
    if stored["status"] == "nondeterministic_in_v1":
        return
    assert (result["train"], result["val"]) == (stored["train"], stored["val"]), \
        f"{key}: v1 now gives {result['train']} / {result['val']}; stored (with {versions}): " \
        f"{stored['train']} / {stored['val']}"
