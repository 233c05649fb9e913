"""Training on several processes (GPUs): DistributedDataParallel launched by ``torchrun``, as v1's DDP trainer.

v1 ships ``nnUNetTrainerV2_DDP`` (started with ``python -m torch.distributed.launch ... run_training_DDP.py``).
The explorer runs the same ideas inside ``nnunet-explorer train`` / ``python -m nnunet_explorer.commands.run_training``
when it is started by ``torchrun``::

    torchrun --standalone --nproc_per_node 2 -m nnunet_explorer.commands.run_training 3d_fullres nnUNetTrainerV2 TASK 0

Every process (a *rank*) runs the whole training loop on its own batches; they meet at a few fixed points:

* **batch size per process** — v1 default: every rank draws the plans' ``batch_size`` (the global batch is
  ``batch_size x world_size``); with ``--dbs`` (distribute batch size) the plans' batch is split, each rank
  taking ``ceil(batch_size / world_size)`` (the last rank what is left);
* **foreground oversampling per rank** — v1 keeps "the last 33 % of the *global* batch are forced
  foreground": ranks whose share lies before that point force none, ranks after it force all, the rank
  that straddles it gets the fraction that keeps the global proportion (:func:`rank_oversample_percents`);
* **seeds** — each rank seeds ``np.random`` with its rank and draws the seeds of its augmentation workers
  from it, so ranks see different batches (:func:`rank_augmentation_seeds`);
* **gradients** — the network is wrapped in ``torch.nn.parallel.DistributedDataParallel``: ``backward()``
  all-reduces (averages) every gradient across ranks while it runs, so after each step the weights of all
  ranks are identical (DDP broadcasts rank 0's weights once when wrapping);
* **loss and online evaluation** — the tp/fp/fn counts of the online evaluation are summed over ranks, as in
  v1 (which gathers them with ``all_gather``); each iteration's loss is averaged over ranks, which v1 does not do
  (each of its ranks keeps its own loss, and rank 0 logs its own). Both travel in one ``all_reduce``, so every
  rank logs the same numbers and takes the same decisions ("best" checkpoint, patience, stop requests);
* **files** — only rank 0 writes the log, ``debug.json``, ``progress.png``, checkpoints and runs the
  validation; the others wait at a barrier. Checkpoints store the *unwrapped* network's ``state_dict`` (no
  ``module.`` prefix), so they load into a one-process run (the explorer's, or v1's trainers and
  ``nnUNet_predict``) or a run with another number of processes; not into v1's own ``nnUNetTrainerV2_DDP``,
  whose loader expects the prefix (it cuts 7 characters off every key it does not find).

:func:`ddp_plan` shows all of this for a chosen number of processes without starting any.

Stopping: a stop asked for on any rank (``trainer.explorer.stop()``, a live view's Stop button on rank 0)
travels with the next iteration's ``all_reduce`` (``stop_anywhere``), so every rank ends after the same iteration
and rank 0 writes ``model_latest.model``. Ctrl-C reaches every rank (torchrun forwards SIGINT); each ends through the loop's
``KeyboardInterrupt`` path and rank 0 writes ``model_latest.model`` — unless a rank is stuck waiting inside a
collective for one that already left, in which case torchrun kills it after its shutdown timeout and the last
scheduled checkpoint (written atomically) is what ``-c`` resumes from.
"""
from __future__ import annotations

import hashlib
import html
import math
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import mirrors

#: environment variable: a folder where every rank writes ``rank<R>.json`` (its local losses, the aggregated
#: ones and a checksum of its weights) — for tests and for looking at what each process did.
RECORD_ENV = "NNUNET_EXPLORER_DDP_RECORD"
#: seeds of the augmentation workers are drawn in [0, SEED_HIGH] as v1's ``random_integers(0, 99999, n)``
SEED_HIGH = 99999


# ------------------------------------------------------------------------------------------- rank info
@dataclass(frozen=True)
class DistInfo:
    """Who this process is in a distributed run (what ``torchrun`` puts into the environment).

    Attributes:
        rank: global index of the process, 0 .. world_size - 1 (rank 0 writes files).
        local_rank: index on this machine; selects the GPU (``cuda:<local_rank>``).
        world_size: number of processes.
        backend: ``"nccl"`` (GPUs) or ``"gloo"`` (CPU).
        device: where this rank trains: ``"cuda:<local_rank>"`` or ``"cpu"``.
    """

    rank: int
    local_rank: int
    world_size: int
    backend: str
    device: str

    @property
    def is_main_process(self) -> bool:
        return self.rank == 0


def torchrun_environment(environ: Mapping[str, str] | None = None) -> tuple[int, int, int] | None:
    """``(rank, local_rank, world_size)`` when started by ``torchrun`` (RANK/WORLD_SIZE set), else None."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", rank))
    except ValueError:
        values = (f"RANK={env.get('RANK')!r} / WORLD_SIZE={env.get('WORLD_SIZE')!r} / "
                  f"LOCAL_RANK={env.get('LOCAL_RANK')!r}")
        raise ConfigurationError(tr(f"{values} are not whole numbers", f"{values} 不是整数"),
                                 fix=tr("start distributed training with torchrun, which sets them",
                                        "请用 torchrun 启动分布式训练，它会设置这些变量")) from None
    return rank, local, world


def wants_distributed(args: Any = None, environ: Mapping[str, str] | None = None) -> bool:
    """Train with DDP? Yes with ``--dist``, or automatically under ``torchrun`` with ``WORLD_SIZE > 1``."""
    if args is not None and getattr(args, "dist", False):
        return True
    found = torchrun_environment(environ)
    return found is not None and found[2] > 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_dist_info(device: str | None = None, backend: str | None = None,
                      environ: Mapping[str, str] | None = None) -> DistInfo:
    """Rank, world size, backend and device of this process (does not start anything).

    Without torchrun's variables this is a one-process "distributed" run (rank 0 of 1) — useful to try the
    DDP code path on a laptop. ``device`` ``None`` picks CUDA when available; the backend follows the
    device (NCCL for CUDA, gloo for CPU) unless given.
    """
    found = torchrun_environment(environ) or (0, 0, 1)
    rank, local, world = found
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigurationError(tr("--device cuda was asked for but torch sees no GPU",
                                        "要求了 --device cuda，但 torch 看不到 GPU"),
                                     fix=tr("train on the CPU (--device cpu: gloo backend) or fix the CUDA setup",
                                            "请在 CPU 上训练(--device cpu：gloo 后端)，或修好 CUDA 环境"))
        if local >= torch.cuda.device_count():
            raise ConfigurationError(tr(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) are visible",
                                        f"LOCAL_RANK 为 {local}，但只能看到 {torch.cuda.device_count()} 个 GPU"),
                                     fix=tr("use --nproc_per_node <= the number of GPUs (one process per GPU)",
                                            "请让 --nproc_per_node <= GPU 的数量（每个 GPU 一个进程）"))
        device = f"cuda:{local}"
    else:
        device = "cpu"
    backend = backend or ("nccl" if device.startswith("cuda") else "gloo")
    return DistInfo(rank, local, world, backend, device)


# ---- process-group timeout (issue 13, item 6)
DIST_TIMEOUT_ENV = "NNUNET_EXPLORER_DIST_TIMEOUT_MIN"
DEFAULT_DIST_TIMEOUT_MIN = 60.0


def dist_timeout(minutes: float | None = None, environ: Mapping[str, str] | None = None):
    """How long a collective may wait before the process group gives up: ``minutes``, else
    ``$NNUNET_EXPLORER_DIST_TIMEOUT_MIN``, else 60 minutes.

    NCCL's default is 10 minutes, but rank 0 unpacks the whole dataset (``.npz`` to ``.npy``) before the
    first barrier while the other ranks wait in it: on a large dataset that takes longer, and the run would
    die before its first iteration.
    """
    import datetime

    env = os.environ if environ is None else environ
    if minutes is None:
        raw = env.get(DIST_TIMEOUT_ENV)
        try:
            minutes = DEFAULT_DIST_TIMEOUT_MIN if raw in (None, "") else float(raw)
        except ValueError:
            raise ConfigurationError(tr(f"{DIST_TIMEOUT_ENV}={raw!r} is not a number of minutes",
                                        f"{DIST_TIMEOUT_ENV}={raw!r} 不是分钟数"),
                                     fix=tr(f"set {DIST_TIMEOUT_ENV} to e.g. 60, or unset it",
                                            f"请把 {DIST_TIMEOUT_ENV} 设为例如 60，或取消设置它")) from None
    if not minutes > 0:
        raise ConfigurationError(tr(f"the process-group timeout must be positive (got {minutes} minutes)",
                                    f"进程组的超时时间必须为正数（得到的是 {minutes} 分钟）"),
                                 fix=tr(f"give a positive number of minutes (default {DEFAULT_DIST_TIMEOUT_MIN:g})",
                                        f"请给出一个正的分钟数（默认为 {DEFAULT_DIST_TIMEOUT_MIN:g}）"))
    return datetime.timedelta(minutes=minutes)


@contextmanager
def distributed_context(device: str | None = None, backend: str | None = None,
                        environ: Mapping[str, str] | None = None, *,
                        timeout_minutes: float | None = None) -> Iterator[DistInfo]:
    """Start the process group for the block and always tear it down (``destroy_process_group``) after it.

    ``init_method='env://'`` reads MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE as torchrun sets them; outside
    torchrun a one-process group on a free local port is made. Collectives time out after
    :func:`dist_timeout` (``timeout_minutes``, ``$NNUNET_EXPLORER_DIST_TIMEOUT_MIN``, default 60 minutes).
    """
    import torch.distributed as dist

    info = resolve_dist_info(device, backend, environ)
    if dist.is_initialized():  # e.g. a notebook that started the group itself: use it, leave it running
        yield info
        return
    if torchrun_environment(environ) is None:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        os.environ.setdefault("RANK", "0")
        os.environ.setdefault("WORLD_SIZE", "1")
    if info.device.startswith("cuda"):
        torch.cuda.set_device(info.local_rank)  # v1 does the same before init_process_group
    timeout = dist_timeout(timeout_minutes, environ)
    # differs from v1: v1 passes no timeout (torch's NCCL default, 10 minutes), which unpacking a large
    # dataset before the first barrier can exceed
    dist.init_process_group(backend=info.backend, init_method="env://", rank=info.rank, world_size=info.world_size,
                            timeout=timeout)
    try:
        yield info
    finally:
        dist.destroy_process_group()


# ------------------------------------------------------------------------------- v1's per-rank rules
@mirrors("nnunet.training.network_training.nnUNetTrainerV2_DDP:nnUNetTrainerV2_DDP.set_batch_size_and_oversample")
def rank_batch_sizes(batch_size: int, world_size: int, distribute_batch_size: bool = False) -> list[int]:
    """Batch size of every rank.

    v1's default: each rank uses the plans' ``batch_size`` (global batch ``batch_size * world_size``). With
    ``distribute_batch_size`` (``--dbs``) the plans' batch is the global one: ``ceil(batch_size / world_size)``
    per rank, the last rank(s) taking what is left (5 over 2 ranks: [3, 2]; 4 over 3 ranks: [2, 2, 0] — a rank
    without samples is refused here).
    """
    if world_size < 1:
        raise ConfigurationError(tr(f"world_size must be at least 1, got {world_size}",
                                    f"world_size 至少为 1，得到的是 {world_size}"),
                                 fix=tr("start >= 1 process", "请启动 >= 1 个进程"))
    if not distribute_batch_size:
        return [int(batch_size)] * world_size
    per = int(math.ceil(batch_size / world_size))
    sizes = []
    for rank in range(world_size):
        if (rank + 1) * per > batch_size:
            sizes.append(per - ((rank + 1) * per - batch_size))
        else:
            sizes.append(per)
    if min(sizes) < 1:
        # differs from v1: v1 would build loaders with batch size <= 0 and fail obscurely
        raise ConfigurationError(tr(f"--dbs splits batch_size {batch_size} over {world_size} processes as {sizes}: "
                                    "some processes get no sample",
                                    f"--dbs 把 batch_size {batch_size} 分到 {world_size} 个进程上，结果是 {sizes}："
                                    "有的进程分不到样本"),
                                 fix=tr("use fewer processes or drop --dbs", "请减少进程数，或去掉 --dbs"))
    return sizes


@mirrors("nnunet.training.network_training.nnUNetTrainerV2_DDP:nnUNetTrainerV2_DDP.set_batch_size_and_oversample")
def rank_oversample_percents(batch_sizes: Sequence[int], oversample_foreground_percent: float) -> list[float]:
    """Each rank's ``oversample_foreground_percent`` so that the last ``p`` of the *global* batch are forced.

    Ranks are laid end to end over the global batch; rank r covers samples ``[low, high)``. A rank entirely
    before ``1 - p`` of the global batch forces nothing (0.0), one entirely after forces everything (1.0),
    and the rank that straddles ``1 - p`` gets ``1 - ((1 - p) - low/B) / ((high - low)/B)``. Example: plans
    batch 2, p = 0.33, 2 ranks without ``--dbs`` (global batch 4): rank 0 covers [0, 2) and forces none, rank 1
    covers [2, 4) and gets 0.66, i.e. forces its second sample — 1 of 4 global samples, where one process
    forces 1 of 2 (v1's arithmetic, rounding included).
    """
    total = float(sum(batch_sizes))
    p = float(oversample_foreground_percent)
    out = []
    for rank in range(len(batch_sizes)):
        low = float(sum(batch_sizes[:rank]))
        high = float(sum(batch_sizes[:rank + 1]))
        if high / total < 1 - p:
            out.append(0.0)
        elif low / total > 1 - p:
            out.append(1.0)
        else:
            covered = high / total - low / total
            out.append(1 - (((1 - p) - low / total) / covered))
    return out


@mirrors("nnunet.training.network_training.nnUNetTrainerV2_DDP:nnUNetTrainerV2_DDP.initialize")
def rank_augmentation_seeds(rank: int, num_train_workers: int, num_val_workers: int | None = None
                            ) -> tuple[list[int], list[int]]:
    """Seeds of a rank's training and validation augmentation workers.

    v1 calls ``np.random.seed(local_rank)`` when the trainer is built and later draws
    ``random_integers(0, 99999, num_threads)`` for training, then ``max(num_threads // 2, 1)`` for
    validation. ``random_integers(0, h, n)`` is ``randint(0, h + 1, n)`` of the same legacy generator.
    """
    # differs from v1: seeded with the global rank (v1: local_rank), so two machines do not share streams
    rs = np.random.RandomState(int(rank))
    n_val = max(num_train_workers // 2, 1) if num_val_workers is None else num_val_workers
    seeds_train = [int(s) for s in rs.randint(0, SEED_HIGH + 1, num_train_workers)]
    seeds_val = [int(s) for s in rs.randint(0, SEED_HIGH + 1, n_val)]
    return seeds_train, seeds_val


# -------------------------------------------------------------------------- v1's global batch Dice
class _AllGatherOwnGrad(torch.autograd.Function):
    """``all_gather`` along dim 0 whose backward keeps only this rank's slice (v1's ``awesome_allgather_function``).

    Each rank then differentiates *its own copy* of the global loss with respect to *its own* inputs; DDP's
    gradient averaging adds the ranks up (divided by world size).
    """

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rows = tensor.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        rank = dist.get_rank()
        return grad[rank * ctx.rows:(rank + 1) * ctx.rows]


def all_gather_own_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (``(n, ...)``) of every rank along dim 0 (``(world_size * n, ...)``)."""
    return _AllGatherOwnGrad.apply(tensor)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2_DDP:nnUNetTrainerV2_DDP.compute_loss")
class GlobalBatchSoftDiceLoss(torch.nn.Module):
    """Batch soft Dice over the *global* batch: v1's DDP loss when ``batch_dice`` is on.

    Per class, ``2 tp`` and ``2 tp + fp + fn`` are summed over this rank's batch, gathered from all ranks and
    summed, then ``-mean((nom + 1e-5) / (den + 1e-5))`` over foreground classes. So each rank's Dice term is
    the Dice of the whole global batch (what one process with ``world_size`` times the batch would compute),
    not the mean of per-rank Dice values. With sample Dice (``batch_dice`` False) v1 does not gather.
    """

    def __init__(self, smooth: float = 1e-5) -> None:
        super().__init__()
        self.smooth = smooth
        self.batch_dice = True

    def forward(self, x: torch.Tensor, y: torch.Tensor, loss_mask: torch.Tensor | None = None) -> torch.Tensor:
        from .generic_unet import softmax_helper
        from .loss import get_tp_fp_fn_tn

        probs = softmax_helper(x)
        tp, fp, fn, _ = get_tp_fp_fn_tn(probs, y, tuple(range(2, x.ndim)), loss_mask, False)  # (b, C)
        nominator = (2 * tp[:, 1:]).sum(0, keepdim=True)
        denominator = (2 * tp[:, 1:] + fp[:, 1:] + fn[:, 1:]).sum(0, keepdim=True)
        nominator = all_gather_own_grad(nominator).sum(0)
        denominator = all_gather_own_grad(denominator).sum(0)
        return (-(nominator + self.smooth) / (denominator + self.smooth)).mean()


def use_global_batch_dice(loss: torch.nn.Module) -> bool:
    """Swap the batch soft Dice inside v1's loss (``MultipleOutputLoss2(DC_and_CE_loss)``) for the global one.

    Returns True when a swap happened (``batch_dice`` on); sample Dice stays local, as in v1.
    """
    inner = getattr(loss, "loss", loss)
    dc = getattr(inner, "dc", None)
    if dc is None or not getattr(dc, "batch_dice", False) or isinstance(dc, GlobalBatchSoftDiceLoss):
        return False
    inner.dc = GlobalBatchSoftDiceLoss(smooth=float(getattr(dc, "smooth", 1e-5)))
    return True


def state_dict_checksum(module: torch.nn.Module) -> str:
    """SHA-256 over the names and bytes of a module's ``state_dict`` (equal weights <=> equal checksum)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------ the strategy
class DistributedStrategy:
    """One rank of a DDP run: the named points of :mod:`.strategy`, filled with v1's DDP rules.

    * ``rank_zero_first``: rank 0 unpacks the data (v1's rule) and writes ``splits_final.pkl`` (the explorer's:
      v1's ranks each run ``do_split``), the others wait, then read;
    * ``rank_batch``: this rank's batch size and oversampling (:func:`rank_batch_sizes`,
      :func:`rank_oversample_percents`), printed as v1 prints them;
    * ``augmentation_seeds``: v1's per-rank worker seeds (:func:`rank_augmentation_seeds`);
    * ``prepare`` (training starts): the network is wrapped in ``DistributedDataParallel`` (which copies rank 0's
      weights to every rank) and, with batch Dice, the Dice term is computed over the global batch;
      ``trainer.network`` stays the *unwrapped* network: checkpoints, validation and the walkthrough see the
      plain U-Net;
    * ``training_module``: training iterations go through the wrapper (its backward all-reduces the gradients);
    * ``all_reduce_sum``: the iteration's one packed vector (loss and its parts, finiteness flags, tp/fp/fn, the
      stop request) is summed over ranks before it is read, so every rank logs the same numbers and takes the
      same decisions;
    * log, ``debug.json``, ``progress.png``, checkpoints: rank 0 (``is_global_zero``); observers: rank 0 only.

    Args:
        dist_info: this process (the process group must be started: :func:`distributed_context`).
        distribute_batch_size: v1's ``--dbs``: split the plans' batch size over the ranks.
        record_dir: write ``rank<R>.json`` there at the end (default: ``$NNUNET_EXPLORER_DDP_RECORD``).
    """

    is_distributed = True

    def __init__(self, dist_info: DistInfo, *, distribute_batch_size: bool = False,
                 record_dir: str | os.PathLike | None = None) -> None:
        self.dist_info = dist_info
        self.distribute_batch_size = bool(distribute_batch_size)
        env_record = os.environ.get(RECORD_ENV)
        self.record_dir = Path(record_dir) if record_dir is not None else (Path(env_record) if env_record else None)
        self.ddp_network: torch.nn.Module | None = None
        self.rank_batch_size: int | None = None
        self.rank_oversample_foreground_percent: float | None = None
        self.seeds_train: list[int] = []
        self.seeds_val: list[int] = []
        self.global_batch_dice = False
        self._record: dict[str, list] = {"local_train_losses": [], "global_train_losses": [],
                                         "local_val_losses": [], "global_val_losses": [], "local_tp": [],
                                         "global_tp": []}

    @property
    def rank(self) -> int:
        return self.dist_info.rank

    @property
    def world_size(self) -> int:
        return self.dist_info.world_size

    @property
    def is_global_zero(self) -> bool:
        return self.dist_info.is_main_process

    def describe(self) -> str:
        info = self.dist_info
        return f"rank {info.rank} of {info.world_size}, backend {info.backend}, device {info.device}"

    # ------------------------------------------------------------------------------- the named points
    def barrier(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_world_size() > 1:
            if self.dist_info.backend == "nccl":
                dist.barrier(device_ids=[self.dist_info.local_rank])
            else:
                dist.barrier()

    @contextmanager
    def rank_zero_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (it writes files the others read), then every other rank."""
        if not self.is_global_zero:
            self.barrier()
        yield
        if self.is_global_zero:
            self.barrier()

    def rank_batch(self, batch_size: int, oversample_foreground_percent: float) -> tuple[int, float]:
        sizes = rank_batch_sizes(int(batch_size), self.world_size, self.distribute_batch_size)
        percents = rank_oversample_percents(sizes, float(oversample_foreground_percent))
        self.rank_batch_size, self.rank_oversample_foreground_percent = sizes[self.rank], percents[self.rank]
        # v1 prints these on every rank (console only, not the log)
        print("worker", self.rank, "oversample", percents[self.rank], flush=True)
        print("worker", self.rank, "batch_size", sizes[self.rank], flush=True)
        return sizes[self.rank], percents[self.rank]

    def augmentation_seeds(self, num_threads: Any = None) -> tuple[list[int], list[int]]:
        from .augmenter import default_num_processes

        # differs from v1: the worker count follows the explorer's default_num_processes (see augmenter.py)
        self.seeds_train, self.seeds_val = rank_augmentation_seeds(self.rank, default_num_processes())
        print("seeds train", self.seeds_train, flush=True)
        print("seeds_val", self.seeds_val, flush=True)
        return self.seeds_train, self.seeds_val

    def prepare(self, trainer: Any) -> None:
        """Training starts: wrap the network in DDP; global batch Dice; refuse what would silently break."""
        from torch.nn.parallel import DistributedDataParallel

        if not getattr(type(trainer).run_iteration, "__module__", "").startswith("nnunet_explorer.network_training"):
            # differs from v1: v1's DDP trainer replaces self.network by the wrapper; the explorer keeps the plain
            # network and routes its own run_iteration through the wrapper, which an override would bypass
            raise ConfigurationError(tr(f"{type(trainer).__name__} overrides run_iteration, which the explorer "
                                        "cannot run under DDP (the gradients would not be averaged over the processes)",
                                        f"{type(trainer).__name__} 重写了 run_iteration，explorer 无法在 DDP 下运行它"
                                        "（梯度不会在各进程间取平均）"),
                                     fix=tr("train it in one process, or call super().run_iteration(...) from yours",
                                            "请在单个进程中训练它，或在你的 run_iteration 中调用 "
                                            "super().run_iteration(...)"))
        trainer.print_to_log_file(f"distributed training: {self.describe()}")
        self.global_batch_dice = use_global_batch_dice(trainer.loss)
        if self.global_batch_dice:
            trainer.print_to_log_file("batch Dice is computed over the global batch (tp/fp/fn gathered from every "
                                      "rank, as v1's DDP)")
        device_ids = [self.dist_info.local_rank] if self.dist_info.device.startswith("cuda") else None
        # find_unused_parameters: the loss skips deep-supervision outputs whose weight is 0 (v1's
        # MultipleOutputLoss2 does too), so such a segmentation head gets no gradient; DDP must be told, or it
        # waits for that gradient forever. (v1's DDP loss multiplies them by 0 instead.)
        weights = [float(w) for w in (getattr(trainer, "ds_loss_weights", None) if getattr(trainer, "ds_loss_weights",
                                                                                           None) is not None else [])]
        find_unused = any(w == 0 for w in weights[1:])
        # differs from v1: v1 replaces self.network by the DDP wrapper, so its checkpoints hold "module."-prefixed
        # keys (v1's loaders strip them again). The explorer keeps self.network unwrapped: checkpoints hold the
        # plain keys and load into one process, into v1's nnUNetTrainerV2 and nnUNet_predict.
        self.ddp_network = DistributedDataParallel(trainer.network, device_ids=device_ids,
                                                   find_unused_parameters=find_unused)

    def training_module(self, network: torch.nn.Module) -> torch.nn.Module:
        return self.ddp_network if self.ddp_network is not None else network

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if self.dist_info.backend != "nccl":
            tensor = tensor.cpu()
        dist.all_reduce(tensor)  # SUM over ranks
        return tensor

    def any_rank(self, flag: bool) -> bool:
        from .nonfinite import agree_to_stop

        return agree_to_stop(flag, self.dist_info.device if self.dist_info.backend == "nccl" else "cpu")

    def broadcast_module(self, module: torch.nn.Module) -> None:
        import torch.distributed as dist

        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)

    def observe_iteration(self, record: Any, training: bool) -> None:
        """Keep this rank's own and the aggregated numbers (``rank<R>.json``, for tests and inspection)."""
        if self.record_dir is None or record is None or getattr(record, "local_loss", None) is None:
            return
        kind = "train" if training else "val"
        ev = getattr(record, "online_evaluation", None)
        if training or ev is not None:
            self._record[f"local_{kind}_losses"].append(record.local_loss)
            self._record[f"global_{kind}_losses"].append(record.loss)
        if ev is not None and record.local_tp is not None:
            self._record["local_tp"].append(list(record.local_tp))
            self._record["global_tp"].append(list(ev.tp))

    def finish(self, trainer: Any) -> Path | None:
        """``rank<R>.json`` in ``record_dir``: batch share, seeds, local vs aggregated losses, weight checksum."""
        if self.record_dir is None:
            return None
        from ..fileio import write_json

        info = self.dist_info
        path = self.record_dir / f"rank{info.rank}.json"
        write_json({"rank": info.rank, "world_size": info.world_size, "backend": info.backend,
                    "device": info.device, "batch_size": self.rank_batch_size,
                    "oversample_foreground_percent": self.rank_oversample_foreground_percent,
                    "seeds_train": self.seeds_train, "seeds_val": self.seeds_val,
                    "global_batch_dice": self.global_batch_dice, "epoch": int(trainer.epoch),
                    "all_tr_losses": [float(x) for x in trainer.all_tr_losses],
                    "state_dict_sha256": state_dict_checksum(trainer.network), **self._record}, path)
        return path


# ------------------------------------------------------------------------------- the walkthrough step
@dataclass(frozen=True)
class RankShare:
    """What one rank does in a DDP run (see :func:`ddp_plan`)."""

    rank: int
    batch_size: int
    oversample_foreground_percent: float
    global_sample_range: tuple[int, int]  # [low, high) of the global batch
    forced_foreground: tuple[bool, ...]  # per sample of this rank's batch
    seeds_train: tuple[int, ...]
    seeds_val: tuple[int, ...]
    first_batches: tuple[tuple[str, ...], ...]  # per training worker: case ids of its first batch


@dataclass(frozen=True)
class SyncPoint:
    """A place where ranks wait for each other."""

    where: str
    what: str
    collective: str


SYNC_POINTS = (
    SyncPoint("DistributedDataParallel(network)", "rank 0's initial weights are copied to every rank", "broadcast"),
    SyncPoint("setup", "rank 0 unpacks the data and writes splits_final.pkl before the others read them", "barrier"),
    SyncPoint("loss.backward() (training iteration)", "every gradient is averaged over ranks, bucket by bucket, "
              "while backward runs; then each rank clips and steps the same gradient", "all_reduce (mean)"),
    SyncPoint("batch Dice loss (batch_dice=True only)", "2tp and 2tp+fp+fn per class are gathered so the Dice is "
              "the global batch's", "all_gather"),
    SyncPoint("after every iteration", "loss (and CE/Dice parts) averaged (v1: each rank keeps its own; rank 0 "
              "logs its own); online tp/fp/fn summed (as v1, which gathers them); NaN and stop flags shared",
              "all_reduce (sum)"),
    SyncPoint("model_final_checkpoint", "rank 0 writes it and removes model_latest; the others wait", "barrier"),
    SyncPoint("validation after training", "rank 0 alone predicts the validation cases (v1 spreads them over the "
              "ranks); the others are done", "none"),
)


@dataclass(frozen=True)
class DDPPlan:
    """What each rank sees and where they synchronise, for ``world_size`` processes (a walkthrough card)."""

    world_size: int
    plans_batch_size: int
    distribute_batch_size: bool
    oversample_foreground_percent: float
    global_batch_size: int
    ranks: tuple[RankShare, ...]
    sync_points: tuple[SyncPoint, ...]
    num_train_workers: int

    def summary(self) -> str:
        lines = [f"{self.world_size} process(es); plans batch_size {self.plans_batch_size} -> global batch "
                 f"{self.global_batch_size} ({'split over ranks: --dbs' if self.distribute_batch_size else 'full batch per rank'}); "
                 f"oversample_foreground_percent {self.oversample_foreground_percent} of the global batch"]
        for r in self.ranks:
            forced = "".join("F" if f else "." for f in r.forced_foreground)
            lines.append(f"rank {r.rank}: batch {r.batch_size} (global samples {r.global_sample_range[0]}.."
                         f"{r.global_sample_range[1] - 1}), oversample {r.oversample_foreground_percent:.3g}, "
                         f"forced [{forced}], seeds train {list(r.seeds_train)}, val {list(r.seeds_val)}")
            for w, keys in enumerate(r.first_batches):
                lines.append(f"    worker {w} (seed {r.seeds_train[w]}) first batch: {list(keys)}")
        lines.append("synchronisation:")
        lines += [f"  - {s.where}: {s.collective} — {s.what}" for s in self.sync_points]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"DDPPlan(\n{self.summary()}\n)"

    def _repr_html_(self) -> str:
        e = html.escape
        rows = []
        for r in self.ranks:
            cells = "".join(f"<td style='background:{'#f6c177' if f else '#e0e0e0'};padding:2px 6px'>"
                            f"{'F' if f else '&middot;'}</td>" for f in r.forced_foreground)
            batches = "<br>".join(f"worker {w} (seed {r.seeds_train[w]}): {e(', '.join(k))}"
                                  for w, k in enumerate(r.first_batches))
            rows.append(f"<tr><td><b>rank {r.rank}</b></td><td>{r.batch_size}</td>"
                        f"<td>{r.global_sample_range[0]}&ndash;{r.global_sample_range[1] - 1}</td>"
                        f"<td>{r.oversample_foreground_percent:.3g}</td><td><table><tr>{cells}</tr></table></td>"
                        f"<td style='font-size:90%'>{batches}</td></tr>")
        syncs = "".join(f"<li><b>{e(s.where)}</b> <code>{e(s.collective)}</code>: {e(s.what)}</li>"
                        for s in self.sync_points)
        return (f"<div><p><b>{self.world_size} process(es)</b>: plans batch_size {self.plans_batch_size} &rarr; "
                f"global batch {self.global_batch_size}; the last {self.oversample_foreground_percent:.0%} of the "
                f"global batch are forced foreground (F).</p>"
                "<table><tr><th>rank</th><th>batch</th><th>global samples</th><th>oversample</th><th>forced</th>"
                f"<th>first batch of each augmentation worker</th></tr>{''.join(rows)}</table>"
                f"<p>Where the processes synchronise:</p><ol>{syncs}</ol></div>")


def ddp_plan(world_size: int, batch_size: int, oversample_foreground_percent: float = 0.33, *,
             case_ids: Sequence[str] = (), distribute_batch_size: bool = False, num_train_workers: int = 1,
             batch_dice: bool = False) -> DDPPlan:
    """Show, for ``world_size`` processes, each rank's batch share, forced-foreground samples and seeds.

    Args:
        world_size: number of processes (``torchrun --nproc_per_node``).
        batch_size: the plans' batch size.
        oversample_foreground_percent: the trainer's (V2: 0.33).
        case_ids: the fold's training cases; when given, each worker's *first* batch is drawn exactly as its
            loader will: the worker seeds ``np.random`` with its seed, and the loader's first draw is
            ``np.random.choice(case_ids, batch_size, replace=True)``. (Later batches also depend on the
            augmentation's draws in between.) Workers hand out batches in turn, and ``run_training`` first
            draws one batch it never trains on (v1's ``_ = self.tr_gen.next()``): worker 0's first batch is
            that one, worker w's (w >= 1) is iteration w - 1 of the first epoch (counted from 0).
        distribute_batch_size: v1's ``--dbs``.
        num_train_workers: augmentation workers per rank (``nnUNet_n_proc_DA``).
        batch_dice: whether the loss uses batch Dice (then its terms are gathered across ranks).
    """
    from .dataloading import is_forced_foreground

    sizes = rank_batch_sizes(batch_size, world_size, distribute_batch_size)
    percents = rank_oversample_percents(sizes, oversample_foreground_percent)
    ranks = []
    keys = list(case_ids)
    for rank in range(world_size):
        seeds_train, seeds_val = rank_augmentation_seeds(rank, num_train_workers)
        first = []
        if keys:
            state = np.random.get_state()
            try:
                for seed in seeds_train:
                    np.random.seed(seed)
                    first.append(tuple(str(k) for k in np.random.choice(keys, sizes[rank], True, None)))
            finally:
                np.random.set_state(state)
        low = int(sum(sizes[:rank]))
        ranks.append(RankShare(rank, sizes[rank], percents[rank], (low, low + sizes[rank]),
                               tuple(is_forced_foreground(j, sizes[rank], percents[rank]) for j in range(sizes[rank])),
                               tuple(seeds_train), tuple(seeds_val), tuple(first)))
    syncs = tuple(s for s in SYNC_POINTS if batch_dice or "batch Dice" not in s.where)
    return DDPPlan(world_size, int(batch_size), bool(distribute_batch_size), float(oversample_foreground_percent),
                   int(sum(sizes)), tuple(ranks), syncs, int(num_train_workers))


def ddp_plan_for(trainer: Any, world_size: int, *, distribute_batch_size: bool = False,
                 num_train_workers: int | None = None) -> DDPPlan:
    """:func:`ddp_plan` with the values of an initialized trainer.

    The plans' ``batch_size``, the trainer's ``oversample_foreground_percent`` and ``batch_dice``, the fold's
    training cases (sorted, as the loader lists them) and ``nnUNet_n_proc_DA`` workers per rank.
    """
    from .augmenter import default_num_processes

    if trainer.dataset_tr is None:
        raise ConfigurationError(tr("the trainer is not initialized", "trainer 还没有初始化"),
                                 fix=tr("call trainer.initialize() first", "请先调用 trainer.initialize()"))
    return ddp_plan(world_size, int(trainer.batch_size),
                    float(trainer.oversample_foreground_percent), case_ids=sorted(trainer.dataset_tr),
                    distribute_batch_size=distribute_batch_size,
                    num_train_workers=default_num_processes() if num_train_workers is None else num_train_workers,
                    batch_dice=bool(getattr(trainer, "batch_dice", False)))


__all__ = ["DDPPlan", "DistInfo", "DistributedStrategy", "GlobalBatchSoftDiceLoss", "RECORD_ENV", "RankShare",
           "SYNC_POINTS", "SyncPoint", "all_gather_own_grad", "ddp_plan", "ddp_plan_for",
           "distributed_context", "rank_augmentation_seeds", "rank_batch_sizes", "rank_oversample_percents",
           "resolve_dist_info", "state_dict_checksum", "torchrun_environment",
           "use_global_batch_dice", "wants_distributed"]
