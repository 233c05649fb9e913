"""Device moreDA transforms vs batchgenerators 0.25.5, transform by transform, on one device: bits and milliseconds.

For each transform after the spatial one in v1's moreDA chain (noise, blur, brightness, contrast, low resolution,
gamma inverted and not, mirror, mask, -1 -> 0, deep-supervision targets; the cascade's corruption), with its
probabilities raised to 1 so that it acts in every sample, and for several seeds: batchgenerators on the CPU,
the device transform on ``--device``, the float32 images compared bit for bit, the segmentations voxel for voxel,
the random streams' end states, and the time of each side (median over the seeds after the first). Also numpy's
float32 power (what gamma needs) on the device against numpy on the CPU, on inputs around every step of its
reciprocal table.

    python benchmarks/device_transforms_check.py --device cpu --quick           # CI size, seconds
    python benchmarks/device_transforms_check.py --device cuda --out $OUT/device_transforms.json

The synthetic image is smooth structure plus noise, z-scored (what v1's normalisation gives), 80 x 160 x 160 by
default (KiTS19's 3d_fullres patch in the blog's plans), batch 3; no SimpleITK needed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batchgenerators.transforms.color_transforms import (BrightnessMultiplicativeTransform,  # noqa: E402
                                                         ContrastAugmentationTransform, GammaTransform)
from batchgenerators.transforms.noise_transforms import GaussianBlurTransform, GaussianNoiseTransform  # noqa: E402
from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform  # noqa: E402
from batchgenerators.transforms.spatial_transforms import MirrorTransform  # noqa: E402
from batchgenerators.transforms.utility_transforms import RemoveLabelTransform  # noqa: E402
from scipy import ndimage  # noqa: E402

from nnunet_explorer.training.augmentation import DownsampleSegForDSTransform2, MaskTransform  # noqa: E402
from nnunet_explorer.training.cascade_augmentation import ApplyRandomBinaryOperatorTransform  # noqa: E402
from nnunet_explorer.training.deep_supervision import ds_scales  # noqa: E402
from nnunet_explorer.training.device_augmentation.numpy_power import (host_power_is_reproduced,  # noqa: E402
                                                                      probe_inputs, svml_powf)
from nnunet_explorer.training.device_augmentation.parity import compare_transform  # noqa: E402

POOLS = [[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]]


def transforms() -> list[tuple[str, object, str]]:
    """(name, transform at p 1, the key it reads the segmentation from)."""
    return [
        ("GaussianNoise", GaussianNoiseTransform(p_per_sample=1), "seg"),
        ("GaussianBlur", GaussianBlurTransform((0.5, 1.), different_sigma_per_channel=True, p_per_sample=1,
                                               p_per_channel=1), "seg"),
        ("BrightnessMultiplicative", BrightnessMultiplicativeTransform((0.75, 1.25), p_per_sample=1), "seg"),
        ("Contrast", ContrastAugmentationTransform(p_per_sample=1), "seg"),
        ("SimulateLowResolution", SimulateLowResolutionTransform(zoom_range=(0.5, 1), per_channel=True,
                                                                 p_per_channel=1, order_downsample=0,
                                                                 order_upsample=3, p_per_sample=1), "seg"),
        ("GammaInverted", GammaTransform((0.7, 1.5), True, True, retain_stats=True, p_per_sample=1), "seg"),
        ("Gamma", GammaTransform((0.7, 1.5), False, True, retain_stats=True, p_per_sample=1), "seg"),
        ("Mirror", MirrorTransform((0, 1, 2)), "seg"),
        ("Mask", MaskTransform({0: True}, mask_idx_in_seg=0, set_outside_to=0), "seg"),
        ("RemoveLabel", RemoveLabelTransform(-1, 0), "seg"),
        ("DownsampleSegForDS", DownsampleSegForDSTransform2(ds_scales(POOLS), 0, input_key="target",
                                                           output_key="target"), "target"),
        ("CascadeBinaryOperator", ApplyRandomBinaryOperatorTransform([0], p_per_sample=1, strel_size=(1, 8)), "seg"),
    ]


def synthetic_batch(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A z-scored smooth image with noise, and labels 0..2 with a band of -1, both float32."""
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.standard_normal(shape), (0, 0) + (3,) * (len(shape) - 2))
    image = smooth / smooth.std() + 0.3 * rng.standard_normal(shape)
    image = ((image - image.mean()) / image.std()).astype(np.float32)
    labels = np.digitize(smooth[:, :1] / smooth.std(), [0.8, 1.6]).astype(np.float32)
    labels[..., :3] = -1
    return image, labels


def power_check(device: torch.device) -> dict:
    x = probe_inputs()
    worst, differing = 0.0, 0
    for gamma in (0.7000000476837158, 0.8344125747680664, 1.2345678806304932, 1.4999998807907104):
        got = svml_powf(torch.from_numpy(x).to(device), gamma).cpu().numpy()
        expected = np.power(x, gamma)
        differing += int((got.view(np.uint32) != expected.view(np.uint32)).sum())
        worst = max(worst, float(np.nanmax(np.abs(got.astype(np.float64) - expected))))
    return {"host_power_is_reproduced": host_power_is_reproduced(), "inputs": int(x.size) * 4,
            "differing_values": differing, "max_abs_diff": worst}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 3 seeds (CI)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    shape = (2, 1, 16, 40, 40) if args.quick else (3, 1, 80, 160, 160)
    seeds = range(args.seeds or (3 if args.quick else 5))
    started = time.perf_counter()
    report: dict = {"device": str(device), "shape": list(shape), "seeds": len(seeds), "transforms": {}}
    for name, transform, seg_key in transforms():
        rows = []
        for seed in seeds:
            data, seg = synthetic_batch(shape, seed)
            if name == "CascadeBinaryOperator":
                data = (seg > 0).astype(np.float32)  # a one-hot prior channel
            rows.append(compare_transform(transform, data, seg, seed, device, seg_key=seg_key))
        if "fallback" in rows[0]:
            report["transforms"][name] = {"fallback": rows[0]["fallback"]}
            continue
        timed = rows[1:] or rows
        report["transforms"][name] = {
            "max_abs_diff_data": max(r["max_abs_diff_data"] for r in rows),
            "differing_data_values": sum(r["differing_data_values"] for r in rows),
            "worst": next(((r["worst_at"], r["worst_values"]) for r in rows if r["worst_at"]), None),
            "mismatched_seg_voxels": sum(r["mismatched_seg_voxels"] for r in rows),
            "streams_equal": all(r["streams_equal"] for r in rows),
            "cpu_ms": statistics.median(r["cpu_ms"] for r in timed),
            "draw_ms": statistics.median(r["draw_ms"] for r in timed),
            "device_ms": statistics.median(r["device_ms"] for r in timed),
        }
    covered = {k: v for k, v in report["transforms"].items() if "fallback" not in v}
    report["transforms_covered"] = sorted(covered)
    report["max_abs_diff_data"] = max((v["max_abs_diff_data"] for v in covered.values()), default=0.0)
    report["mismatched_seg_voxels"] = sum(v["mismatched_seg_voxels"] for v in covered.values())
    report["power"] = power_check(device)
    report["seconds"] = time.perf_counter() - started
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
