"""Benchmark: sliding-window prediction, v1's ``Generic_UNet.predict_3D`` vs the explorer's, same weights and input.

Builds v1's ``Generic_UNet`` as ``nnUNetTrainerV2`` does (3D, InstanceNorm, LeakyReLU, 3 poolings by default),
copies its ``state_dict`` into the explorer's ``GenericUNet``, and predicts one random volume with both
(step 0.5, Gaussian, mirroring per ``--mirror``). Prints seconds per call (best of ``--repeats``), the
explorer / v1 ratio, and the largest probability difference. The explorer is also timed with several tiles per
forward pass (``--tile-batch``). Not a test: numbers depend on the machine and its load.

    .venv/bin/python benchmarks/bench_inference.py
    .venv/bin/python benchmarks/bench_inference.py --shape 1 32 96 96 --base 32 --mirror --threads 2
"""
from __future__ import annotations

import argparse
import time
import warnings

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
    parser.add_argument("--tile-batch", type=int, default=4, help="tiles per forward for the batched explorer run")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)

    from nnunet_explorer.network_architecture.sliding_window import predict_sliding_window
    from nnunet_explorer.training.generic_unet import GenericUNet

    pools = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
    convs = [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
    torch.manual_seed(0)
    v1 = _v1_net(args.shape[0], args.base, args.classes, pools, convs)
    ours = GenericUNet(args.shape[0], args.base, args.classes, pools, convs)
    ours.load_state_dict(v1.state_dict())
    ours.eval()
    x = np.random.RandomState(0).randn(*args.shape).astype(np.float32)
    axes = (0, 1, 2)

    t_v1, (_, p_v1) = _best_of(lambda: v1.predict_3D(x, args.mirror, axes, True, 0.5, args.patch, None, True,
                                                     "constant", None, False, False, False), args.repeats)
    t_ours, result = _best_of(lambda: predict_sliding_window(ours, x, args.patch, do_mirroring=args.mirror,
                                                             mirror_axes=axes), args.repeats)
    t_batch, batched = _best_of(lambda: predict_sliding_window(ours, x, args.patch, do_mirroring=args.mirror,
                                                               mirror_axes=axes, tile_batch_size=args.tile_batch),
                                args.repeats)
    print(f"input {args.shape}, patch {args.patch}, base {args.base}, {result.num_tiles} tiles, mirroring "
          f"{args.mirror}, torch threads {args.threads}, device cpu")
    print(f"v1 predict_3D:                          {t_v1:8.2f} s")
    print(f"explorer predict_sliding_window:        {t_ours:8.2f} s   ratio explorer/v1 = {t_ours / t_v1:.2f}")
    print(f"explorer, tile_batch_size={args.tile_batch}:           {t_batch:8.2f} s   ratio explorer/v1 = "
          f"{t_batch / t_v1:.2f}")
    print(f"max |p_explorer - p_v1| = {np.abs(result.probabilities - p_v1).max():.2e} (tile batch: "
          f"{np.abs(batched.probabilities - p_v1).max():.2e})")


if __name__ == "__main__":
    main()
