"""``benchmarks/device_transforms_check.py --device cpu --quick``: every transform at 0 difference (the CI form)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from nnunet_explorer.training.device_augmentation import host_checks

ROOT = Path(__file__).resolve().parents[2]


def test_quick_check_reports_no_difference(tmp_path):
    spec = importlib.util.spec_from_file_location("device_transforms_check",
                                                  ROOT / "benchmarks" / "device_transforms_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main(["--device", "cpu", "--quick", "--out", str(tmp_path / "check.json")])
    assert (tmp_path / "check.json").exists()
    assert report["max_abs_diff_data"] == 0 and report["mismatched_seg_voxels"] == 0
    # every transform is covered on the device, or a named fallback because a host check failed on this machine
    fallbacks = {name: v["fallback"] for name, v in report["transforms"].items() if "fallback" in v}
    assert len(report["transforms_covered"]) + len(fallbacks) == len(module.transforms())
    assert all("host check" in why for why in fallbacks.values()), fallbacks
    assert bool(fallbacks) == bool(host_checks.failed()) or not fallbacks
    assert all(v["streams_equal"] and v["differing_data_values"] == 0 for v in report["transforms"].values()
               if "fallback" not in v)
    assert report["power"]["differing_values"] == 0 or not report["power"]["host_power_is_reproduced"]
