"""Benchmark: sliding-window prediction, v1's ``Generic_UNet.predict_3D`` vs the explorer's, same weights and input.

Builds v1's ``Generic_UNet`` as ``nnUNetTrainerV2`` does (3D, InstanceNorm, LeakyReLU, 3 poolings by default),
copies its ``state_dict`` into the explorer's ``Generic_UNet``, and predicts one random volume with both
(step 0.5, Gaussian, mirroring per ``--mirror``). Prints one table row per way of predicting: v1's default
(float32 sums in CPU memory), v1's ``all_in_gpu`` (float16 sums; on the CPU its ``.cuda()`` calls are made no-ops,
as v1 has no CPU path for it), and the explorer with each ``sums_on`` mode (``cpu``, ``device_fp32``,
``device_fp16``) at one tile per forward pass and at ``--tile-batch``. Columns: seconds (best of
``--repeats``), ratio to v1's default, the largest probability difference from v1's default everywhere and where
the summed Gaussian weight is at least 1e-3 (away from the image border), and the share of voxels whose argmax
differs. Not a test: times depend on the machine and its load; the differences do not.

    .venv/bin/python benchmarks/bench_inference.py
    .venv/bin/python benchmarks/bench_inference.py --shape 1 24 80 80 --mirror     # the docs' fp16 border figure
    .venv/bin/python benchmarks/bench_inference.py --shape 1 32 96 96 --base 32 --mirror --threads 2
"""
from __future__ import annotations

import argparse
import time
import warnings
from unittest import mock

import numpy as np
import torch


def _v1_net(in_ch: int, base: int, classes: int, pools, convs):
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.utilities.nd_softmax import softmax_helper

    nn = torch.nn
    net = Generic_UNet(in_ch, base, classes, len(pools), 2, 2, nn.Conv3d, nn.InstanceNorm3d,
                       {"eps": 1e-5, "affine": True}, nn.Dropout3d, {"p": 0, "inplace": True}, nn.LeakyReLU,
                       {"negative_slope": 1e-2, "inplace": True}, True, False, lambda x: x, InitWeights_He(1e-2),
                       pools, convs, False, True, True)
    net.inference_apply_nonlin = softmax_helper
    net.do_ds = False
    return net.eval()


def _best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[1, 24, 60, 60], metavar=("C", "Z", "Y", "X"))
    parser.add_argument("--patch", type=int, nargs=3, default=[16, 40, 40])
    parser.add_argument("--base", type=int, default=16, help="base_num_features (v1 plans: 32)")
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--mirror", action="store_true", help="test-time mirroring (8 predictions per tile)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--tile-batch", type=int, default=4, help="tiles per forward for the batched explorer rows")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--fp16", action="store_true", help="mixed precision (autocast; CUDA only, as in v1)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)

    from nnunet_explorer.device import resolve_device
    from nnunet_explorer.network_architecture.sliding_window import get_gaussian, predict_sliding_window
    from nnunet_explorer.training.generic_unet import build_network

    device = resolve_device(args.device)
    pools = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
    convs = [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
    torch.manual_seed(0)
    v1 = _v1_net(args.shape[0], args.base, args.classes, pools, convs)
    ours = build_network(args.shape[0], args.base, args.classes, pools, convs)
    ours.load_state_dict(v1.state_dict())
    v1.to(device)
    ours.to(device).eval()
    x = np.random.RandomState(0).randn(*args.shape).astype(np.float32)
    axes = (0, 1, 2)

    def v1_predict(all_in_gpu: bool):
        with torch.no_grad():
            return v1.predict_3D(x, args.mirror, axes, True, 0.5, args.patch, None, True, "constant", None,
                                 all_in_gpu, False, args.fp16)[1]

    def v1_all_in_gpu():
        if device.type == "cuda":
            return v1_predict(True)
        with mock.patch.object(torch.Tensor, "cuda", lambda self, *a, **k: self):  # v1 has no CPU path for it
            return v1_predict(True)

    t_v1, p_v1 = _best_of(lambda: v1_predict(False), args.repeats)
    rows = [("v1", "cpu (default)", 1, t_v1, p_v1)]
    t, p = _best_of(v1_all_in_gpu, args.repeats)
    rows.append(("v1", "all_in_gpu (fp16)", 1, t, p))
    result = None
    for sums_on in ("cpu", "device_fp32", "device_fp16"):
        for tile_batch in sorted({1, args.tile_batch}):
            t, result = _best_of(lambda: predict_sliding_window(
                ours, x, args.patch, do_mirroring=args.mirror, mirror_axes=axes, mixed_precision=args.fp16,
                device=device, sums_on=sums_on, tile_batch_size=tile_batch), args.repeats)
            rows.append(("explorer", sums_on, tile_batch, t, result.probabilities))

    # the Gaussian weight each voxel collected: tiny only where nothing but far tile edges reach (the border)
    weight = np.zeros(x.shape[1:], np.float32)
    for tile in result.tiles:
        weight[tuple(slice(lo, hi) for lo, hi in tile.box)] += (1 if result.gaussian is None
                                                                 else get_gaussian(args.patch))
    inner = weight >= 1e-3
    reference = np.asarray(p_v1, np.float32)
    print(f"input {args.shape}, patch {args.patch}, base {args.base}, {result.num_tiles} tiles, mirroring "
          f"{args.mirror}, device {device}, fp16 {args.fp16}, torch threads {args.threads}; "
          f"{100 * (1 - inner.mean()):.1f} % of voxels have a summed Gaussian weight below 1e-3")
    print(f"{'':9}{'sums':19}{'tiles/pass':>11}{'s':>9}{'/ v1':>7}{'max|dp| vs v1 default':>23}"
          f"{'(weight>=1e-3)':>16}{'argmax differs':>16}")
    for who, sums, tile_batch, seconds, probs in rows:
        diff = np.abs(np.asarray(probs, np.float32) - reference)
        changed = (np.asarray(probs, np.float32).argmax(0) != reference.argmax(0)).mean()
        print(f"{who:9}{sums:19}{tile_batch:>11}{seconds:>9.2f}{seconds / t_v1:>7.2f}{diff.max():>23.2e}"
              f"{diff.max(0)[inner].max():>16.2e}{100 * changed:>15.2f}%")


if __name__ == "__main__":
    main()
