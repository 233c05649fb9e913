"""Augmentation split in two: the random draws in the worker processes, the arithmetic on the training device.

:class:`~.augmenter.MultiProcessAugmenter` runs all of v1's augmentation in its workers: ``DataLoader3D/2D`` cuts the
patches, batchgenerators' ``Compose`` augments them, and the finished batch travels to the training process.
On a GPU machine the workers' CPU time is then often what the GPU waits for (spline interpolation of the
rotated patch, Gaussian blur, the low-resolution simulation ...). :class:`DeviceAugmenter` keeps the workers
and everything random in them, and moves the arithmetic to the training device:

=====================================  ==================================  =====================================
step                                   where (``MultiProcessAugmenter``)   where (``DeviceAugmenter``)
=====================================  ==================================  =====================================
``next(data_loader)``                  worker                              worker (the same)
draw the random numbers                worker, inside each transform       worker: ``chain.draw_all(batch)``
transforms' arithmetic                 worker                              training process, on the device:
                                                                           ``chain.apply_all(...)``, in the
                                                                           feeder thread, ahead of ``next()``
to the training process                a pickle of the augmented batch     the patches in shared memory, the
                                       through a pipe                      draws (small) pickled
=====================================  ==================================  =====================================

The workers are :class:`~.augmenter.MultiProcessAugmenter`'s own (the same seeding of ``np.random`` and
``random`` per worker, the same ``set_thread_id``, the same round-robin order, the same error reporting and
shutdown): the device augmenter builds one whose "transform" is :class:`DrawInWorker`, a worker-side callable
that draws for the whole chain (:meth:`~.device_augmentation.chain.DeviceChain.draw_all`, which advances the
random streams exactly as ``Compose`` would) and writes the arrays into a shared-memory slot. Hence, for the
same loader, seeds and transforms, the batches are the same **bit for bit** on the CPU device
(``tests/loop/test_device_augmenter.py``); on a GPU they are what the device transforms compute there (see
:mod:`.device_augmentation`).

How the arrays travel: every worker owns ``num_cached_per_thread + 1`` slots of shared memory (created by the
training process before the workers start, ``multiprocessing.shared_memory``). The worker writes the patch, the
segmentation and the large arrays of its draws (the Gaussian noise fields, the elastic fields) into a free slot
and sends only the slot's number, the shapes and the pickled small draws. In the training process the
augmenter's feeder thread copies the slot out (into page-locked memory when training on CUDA, so that the copy
to the GPU does not wait) and hands the slot back to its worker. Arrays that do not fit a slot (a larger batch
than the loader announced) travel pickled, as they do in ``MultiProcessAugmenter``: slower, never wrong.

Who applies: the feeder thread, ``ahead`` batches ahead of the training thread. ``apply_all`` is hundreds to
thousands of small operations per batch: for the blog's 80x160x160 batch of 3, a median of 320 and up to 690
over ten seeds where the prefilters' recursions, the interpolation, scikit-image's resize, the float32 power and
sums run as exact Triton kernels (CUDA with Triton, ``device_augmentation/triton_gate.py``), a median of 9,600
and up to 20,600 where they run eagerly, one slab, tap or step at a time
(``benchmarks/bench_device_augmentation.py --ops``); on a GPU each one costs the launching thread several
microseconds while the kernel itself is tiny. Launched from the training thread, right after the iteration's one
read of the loss, they would keep the GPU idle for milliseconds to tens of milliseconds per iteration; launched
from the feeder thread, they overlap the previous iteration, and ``next()`` takes a batch that already lives on
the device. Both threads launch onto the device's same (default) stream, so the GPU runs the augmentation and
the training kernels in the order they were queued and a batch is complete before any kernel that reads it. Only
the copy of the patches to the GPU runs on a stream of its own (:class:`ApplyOnDevice`), so that it overlaps the
training kernels; the default stream waits for it on the GPU. Nothing waits for the device in either thread. A
chain with a mid-chain CPU fallback (a transform without a device version) is applied in ``next()`` instead, as
the fallback sets and restores the *global* random streams, which the training thread owns.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue as queue_module
import shutil
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch

from ..errors import TrainingError
from ..language import tr
from .augmenter import (POLL_SECONDS, MultiProcessAugmenter, WorkerStopped, _parent_gone, resolve_workers,
                        stop_at_exit)

if TYPE_CHECKING:  # the chain (batchgenerators, scipy) is imported when a DeviceAugmenter is made
    from .device_augmentation.chain import ChainDraws, DeviceChain

INLINE_BYTES = 64 * 1024
"""Arrays of the draws smaller than this travel inside the pickle; larger ones through the slot."""

SHM_FOLDER = "/dev/shm"


@dataclass(frozen=True)
class ArrayInSlot:
    """Where one array lies in a worker's slot: byte offset, dtype (numpy's ``dtype.str``) and shape."""

    offset: int
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.dtype(self.dtype).itemsize * int(np.prod(self.shape, dtype=np.int64)))


@dataclass(frozen=True)
class SlotBatch:
    """What a worker sends for one batch: its slot, the places of data and segmentation in it (or the arrays
    themselves when they did not fit), the pickled draws and the places of their large arrays."""

    worker: int
    slot: int | None
    data: Any            # ArrayInSlot, or the array itself
    seg: Any             # ArrayInSlot, the array, or None
    draws: bytes         # pickle protocol 5 of the ChainDraws, large arrays out of band
    draw_buffers: tuple  # (offset, nbytes) of each out-of-band buffer, in order


class DrawInWorker:
    """The worker side: ``draw_all`` for the chain, then the arrays into a shared-memory slot.

    Called by :class:`~.augmenter.MultiProcessAugmenter`'s worker loop as its transform (``f(**batch)``); the
    loop calls :meth:`bind_worker` once when the worker starts.
    """

    def __init__(self, chain: DeviceChain, slots: list[list[shared_memory.SharedMemory]],
                 free: list[Any]) -> None:
        self.chain = chain
        self.slots = slots      # slots[worker][i]
        self.free = free        # free[worker]: the slot numbers the training process handed back
        self._worker = 0
        self._abort: Any = None
        self._parent: int | None = None
        self._mine: list[int] = []
        self._views: list[np.ndarray] = []

    def bind_worker(self, worker_id: int, abort: Any, parent_pid: int | None) -> None:
        self._worker, self._abort, self._parent = worker_id, abort, parent_pid
        mine = self.slots[worker_id] if self.slots else []
        self._views = [np.ndarray((s.size,), dtype=np.uint8, buffer=s.buf) for s in mine]
        self._mine = list(range(len(mine)))  # every slot is free when the worker starts

    def _take_slot(self) -> int:
        if self._mine:
            return self._mine.pop()
        while True:
            if self._abort is not None and self._abort.is_set():
                raise WorkerStopped()
            if _parent_gone(self._parent):
                os._exit(0)
            try:
                return int(self.free[self._worker].get(timeout=POLL_SECONDS))
            except queue_module.Empty:
                continue

    def __call__(self, **batch: Any) -> dict:
        draws = self.chain.draw_all(batch)
        data = _host_array(batch[self.chain.data_key])
        seg = batch.get(draws.label_key)
        seg = None if seg is None else _host_array(seg)
        if not self._views:  # no shared memory: everything pickled
            return {"slot_batch": SlotBatch(self._worker, None, data, seg, _dumps(draws, None), ())}
        slot = self._take_slot()
        view = self._views[slot]
        offset = 0

        def place(array: np.ndarray) -> Any:
            nonlocal offset
            if offset + array.nbytes > view.size:
                return array
            where = ArrayInSlot(offset, array.dtype.str, tuple(array.shape))
            np.copyto(view[offset:offset + array.nbytes].view(array.dtype).reshape(array.shape), array)
            offset += _aligned(array.nbytes)
            return where

        data_at = place(data)
        seg_at = None if seg is None else place(seg)
        placed: list[tuple[int, int]] = []

        def out_of_band(buffer: pickle.PickleBuffer) -> bool:
            nonlocal offset
            raw = buffer.raw()
            if raw.nbytes < INLINE_BYTES or offset + raw.nbytes > view.size:
                return True  # in the pickle
            view[offset:offset + raw.nbytes] = np.frombuffer(raw, dtype=np.uint8)
            placed.append((offset, raw.nbytes))
            offset += _aligned(raw.nbytes)
            return False

        payload = _dumps(draws, out_of_band)
        return {"slot_batch": SlotBatch(self._worker, slot, data_at, seg_at, payload, tuple(placed))}


class ReceiveInTrainer:
    """The training-process side, run by the feeder thread: the slot copied out (page-locked for CUDA), the slot
    handed back to its worker, the draws unpickled. Returns ``{"data", "seg", "draws"}``, or, given ``apply``,
    what ``apply(data, seg, draws)`` returns (the augmented batch on the device)."""

    def __init__(self, slots: list[list[shared_memory.SharedMemory]], free: list[Any], pin: bool,
                 counts: dict | None = None, apply: Callable[[Any, Any, Any], dict] | None = None) -> None:
        self.free = free
        self.pin = pin
        self.counts = counts if counts is not None else {}
        self.apply = apply
        self.views = [[np.ndarray((s.size,), dtype=np.uint8, buffer=s.buf) for s in worker] for worker in slots]

    def __call__(self, item: dict) -> dict:
        received = self._receive(item["slot_batch"])
        if self.apply is None:
            return received
        return self.apply(received["data"], received["seg"], received["draws"])

    def _receive(self, sent: SlotBatch) -> dict:
        _count(self.counts, "batches")
        if sent.slot is None:
            _count(self.counts, "pickled")
            return {"data": self._tensor(sent.data), "seg": self._tensor(sent.seg),
                    "draws": pickle.loads(sent.draws)}
        view = self.views[sent.worker][sent.slot]
        try:
            data = self._from_slot(view, sent.data)
            seg = self._from_slot(view, sent.seg)
            buffers = [bytearray(view[offset:offset + n]) for offset, n in sent.draw_buffers]
        finally:
            self.free[sent.worker].put(sent.slot)
        _count(self.counts, "arrays_in_slot", isinstance(sent.data, ArrayInSlot) + isinstance(sent.seg, ArrayInSlot))
        _count(self.counts, "draw_arrays_in_slot", len(sent.draw_buffers))
        draws: ChainDraws = pickle.loads(sent.draws, buffers=buffers)
        return {"data": data, "seg": seg, "draws": draws}

    def _from_slot(self, view: np.ndarray, where: Any) -> torch.Tensor | None:
        if not isinstance(where, ArrayInSlot):
            return self._tensor(where)
        source = torch.from_numpy(view[where.offset:where.offset + where.nbytes].view(np.dtype(where.dtype)))
        out = torch.empty(where.shape, dtype=source.dtype, pin_memory=self.pin)
        out.view(-1).copy_(source)
        return out

    def _tensor(self, array: Any) -> torch.Tensor | None:
        if array is None:
            return None
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return tensor.pin_memory() if self.pin else tensor


class ApplyOnDevice:
    """``chain.apply_all(data, seg, draws, device)`` as a callable for the feeder thread.

    On CUDA the two large arrays (the enlarged patch and its segmentation: 227 MB per batch of 3 at the blog's
    plans, generator patch 175x257x210, several milliseconds over PCIe) are copied on a stream of their own. On the default stream the copy
    would wait for the training kernels queued before it, and the GPU would compute nothing while it runs; on a
    side stream the copy engine moves the next batch while the GPU computes the current one. The default stream
    then waits for the copy *on the GPU* (``wait_stream``: no thread waits), so the augmentation kernels queued
    after it read a complete batch, and ``record_stream`` tells the caching allocator that the default stream
    uses the copies, so their memory is not handed out again before it has finished with them."""

    def __init__(self, chain: DeviceChain, device: torch.device) -> None:
        self.chain, self.device = chain, device
        self.copy_stream: Any = None  # made by the first CUDA batch, in the feeder thread that uses it

    def __call__(self, data: Any, seg: Any, draws: ChainDraws) -> dict:
        if self.device.type == "cuda":
            data, seg = self.copy_aside(data, seg)
        return self.chain.apply_all(data, seg, draws, self.device)

    def copy_aside(self, *arrays: Any) -> list[Any]:
        """``arrays`` (page-locked host tensors, or None) on the GPU, copied on the side stream; see the class."""
        if self.copy_stream is None:
            self.copy_stream = torch.cuda.Stream(self.device)
        main = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self.copy_stream):
            copies = [None if a is None else torch.as_tensor(a).to(self.device, non_blocking=True) for a in arrays]
        main.wait_stream(self.copy_stream)
        for c in copies:
            if c is not None:
                c.record_stream(main)
        return copies


def _count(counts: dict, key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + int(n)


def _host_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.ascontiguousarray(value)


def _aligned(n: int, to: int = 64) -> int:
    return (n + to - 1) // to * to


def _dumps(draws: ChainDraws, callback: Callable | None) -> bytes:
    return pickle.dumps(draws, protocol=5, buffer_callback=callback)


def _slot_bytes(data_loader: Any) -> int | None:
    """Bytes one slot needs: data + segmentation of the loader's batch, plus twice the data for the draws'
    fields (v1's Gaussian noise: one float64 field per noised channel). None: the loader does not say its shapes."""
    data_shape, seg_shape = getattr(data_loader, "data_shape", None), getattr(data_loader, "seg_shape", None)
    if data_shape is None:
        return None
    data = 4 * int(np.prod(data_shape))  # float32, as DataLoader3D/2D fill them
    seg = 4 * int(np.prod(seg_shape)) if seg_shape is not None else 0
    return _aligned(data) + _aligned(seg) + 2 * _aligned(data) + 4096


def shared_memory_free(folder: str = SHM_FOLDER) -> int | None:
    """Bytes free in the shared-memory file system (None where there is no ``/dev/shm``)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


class DeviceAugmenter:
    """Loader and random draws in worker processes, the transforms' arithmetic on ``device``; see the module
    docstring. Same interface as :class:`~.augmenter.MultiProcessAugmenter` (iterator of batch dicts,
    ``start``, ``shutdown``, context manager, ``running``, ``worker_pids``).

    Args:
        data_loader: the loader (``DataLoader3D/2D``); each worker gets its copy (fork).
        transform: v1's transforms (a ``Compose`` or a list), as given to ``MultiProcessAugmenter``.
        device: the training device; the batches ``next()`` returns live there.
        num_processes, num_cached_per_thread, seeds, timeout: as ``MultiProcessAugmenter``.
        shared: pass the arrays through shared memory (default); False pickles them (for comparisons).
        ahead: batches the feeder thread applies ahead of ``next()`` and keeps on the device (see the module
            docstring); 0 applies in ``next()``, in the training thread, as does a chain with a CPU fallback.
    """

    def __init__(self, data_loader: Any, transform: Any, device: torch.device | str, num_processes: int | None = None,
                 num_cached_per_thread: int = 2, seeds: Sequence[int | None] | None = None,
                 timeout: float | None = None, *, shared: bool = True, ahead: int = 2) -> None:
        self.data_loader = data_loader
        self.transform = transform  # kept so that single_threaded_copy() can run the same list in-process
        from .device_augmentation.chain import DeviceChain

        self.device = torch.device(device)
        self.chain = DeviceChain(transform)
        self.shared = bool(shared)
        self.ahead = max(0, int(ahead))
        self.shared_memory_note: str | None = None
        self.num_processes, self.seeds = resolve_workers(num_processes, seeds)
        self.num_cached_per_thread = int(num_cached_per_thread)
        self.timeout = timeout
        self._inner: MultiProcessAugmenter | None = None  # made by start(): the workers, the feeder thread
        self._slots: list[list[shared_memory.SharedMemory]] = []
        self._free: list[Any] = []
        self.counts: dict[str, int] = {}
        """What the feeder received: ``batches``, ``pickled`` (no slot), ``arrays_in_slot`` (data/seg through
        shared memory), ``draw_arrays_in_slot`` (noise / elastic fields through shared memory)."""

    @classmethod
    def from_augmenter(cls, augmenter: MultiProcessAugmenter, device: torch.device | str,
                       **kwargs: Any) -> "DeviceAugmenter":
        """The device version of ``augmenter`` (not started): its loader, transforms, worker count, queue length,
        seeds and timeout. Stop ``augmenter`` yourself (its workers, if started, keep running otherwise)."""
        if not isinstance(augmenter, MultiProcessAugmenter):
            raise TrainingError(tr(f"{type(augmenter).__name__} is not a MultiProcessAugmenter",
                                   f"{type(augmenter).__name__} 不是 MultiProcessAugmenter"),
                                fix=tr("build the device augmenter from the loader and transforms directly",
                                       "请直接用数据加载器和变换列表构建设备增强器"))
        return cls(augmenter.data_loader, augmenter.transform, device, augmenter.num_processes,
                   augmenter.num_cached_per_thread, augmenter.seeds, augmenter.timeout, **kwargs)

    def describe(self) -> str:
        """Where each transform runs (:meth:`~.device_augmentation.chain.DeviceChain.describe`) and how the
        arrays travel."""
        note = self.shared_memory_note if self.running else self._plan()[1]
        how = tr("arrays through shared memory", "数组经共享内存传递") if self.shared and note is None \
            else tr("arrays pickled", "数组以 pickle 传递") + (f" ({note})" if note else "")
        if self.applies_ahead:
            who = tr(f"; the feeder thread applies {self.ahead} batch(es) ahead of the training thread",
                     f";供给线程比训练线程提前 {self.ahead} 个 batch 完成计算")
        else:
            who = tr("; applied in the training thread at next()" + (" (a CPU fallback uses the global random "
                     "streams)" if self.ahead else ""),
                     ";在训练线程的 next() 中计算" + (",因为 CPU 回退会使用全局随机数流" if self.ahead else ""))
        where = tr(f"{self.num_processes} worker(s) draw, {self.device} computes; ",
                   f"{self.num_processes} 个工作进程抽取随机数,{self.device} 计算;")
        from .device_augmentation import triton_gate

        return self.chain.describe() + "\n" + where + how + who + "\n" + triton_gate.describe(self.device)

    @property
    def applies_ahead(self) -> bool:
        """True when the feeder thread applies the chain (``ahead`` > 0 and no mid-chain CPU fallback)."""
        return self.ahead > 0 and not any(step.where == "cpu" for step in self.chain.steps)

    # lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> "DeviceAugmenter":
        if self.running:
            return self
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self._slots = self._create_slots()
        self._free = [ctx.Queue() for _ in range(self.num_processes)]
        pin = self.device.type == "cuda"
        # the feeder thread gets the chain and the device, not `self` (see MultiProcessAugmenter.start)
        apply = ApplyOnDevice(self.chain, self.device) if self.applies_ahead else None
        inner = MultiProcessAugmenter(self.data_loader, DrawInWorker(self.chain, self._slots, self._free),
                                      self.num_processes, self.num_cached_per_thread, self.seeds, self.timeout,
                                      pin_memory=pin, num_ready=self.ahead if apply else None,
                                      receive=ReceiveInTrainer(self._slots, self._free, pin, self.counts, apply))
        self._inner = inner
        try:
            inner.start()
        except BaseException:
            self.shutdown()
            raise
        stop_at_exit(self)  # the shared-memory slots are freed at exit too (the inner augmenter registered itself)
        return self

    def _plan(self) -> tuple[int, str | None]:
        """The bytes of one slot, or 0 with the reason why the arrays will travel pickled instead."""
        if not self.shared:
            return 0, tr("shared=False", "shared=False")
        size = _slot_bytes(self.data_loader)
        count = self.num_processes * (self.num_cached_per_thread + 1)
        if size is None:
            return 0, tr("the loader does not announce its batch shapes", "加载器没有给出 batch 的形状")
        free = shared_memory_free()
        if free is not None and free < 2 * size * count:  # twice: leave room for everything else using it
            return 0, tr(f"{SHM_FOLDER} has {free / 2**20:.0f} MiB free, {2 * size * count / 2**20:.0f} MiB wanted",
                         f"{SHM_FOLDER} 只剩 {free / 2**20:.0f} MiB,需要 {2 * size * count / 2**20:.0f} MiB")
        return size, None

    def _create_slots(self) -> list[list[shared_memory.SharedMemory]]:
        size, self.shared_memory_note = self._plan()
        if not size:
            return []
        slots: list[list[shared_memory.SharedMemory]] = []
        try:
            for _ in range(self.num_processes):
                slots.append([shared_memory.SharedMemory(create=True, size=size)
                              for _ in range(self.num_cached_per_thread + 1)])
        except BaseException:
            _release(slots)
            raise
        return slots

    @property
    def running(self) -> bool:
        return self._inner is not None and self._inner.running

    @property
    def worker_pids(self) -> list[int]:
        return self._inner.worker_pids if self._inner is not None else []

    def shutdown(self, grace_seconds: float = 2.0) -> None:
        """Stop the workers and the feeder (as ``MultiProcessAugmenter.shutdown``), then free the shared memory.
        Idempotent."""
        if self._inner is not None:
            self._inner.shutdown(grace_seconds)
            # the feeder's views of the slots go with the inner augmenter's receive callable
            self._inner.receive = None
            self._inner.transform = None
        for q in self._free:
            q.cancel_join_thread()
            q.close()
        self._free = []
        _release(self._slots)
        self._slots = []

    def __enter__(self) -> "DeviceAugmenter":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def __del__(self) -> None:  # last resort; prefer the context manager
        try:
            self.shutdown(grace_seconds=0.5)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # iteration ------------------------------------------------------------------------------------------
    def __iter__(self) -> "DeviceAugmenter":
        return self

    def __next__(self) -> dict:
        if not self.running:
            self.start()
        item = self._inner.__next__()
        if self.applies_ahead:
            return item  # applied by the feeder thread, already on the device
        return self.chain.apply_all(item["data"], item["seg"], item["draws"], self.device)

    next = __next__


AUGMENT_ON = ("auto", "workers", "device")
"""The values of ``--augment_on``."""


@dataclass(frozen=True)
class AugmentationChoice:
    """Where a run's augmentation computes: ``path`` is ``workers`` (batchgenerators in the worker processes, v1),
    ``device`` (:class:`DeviceAugmenter`) or ``in-process`` (``--single_threaded`` / ``--deterministic``);
    ``requested`` is the flag's value, ``reason`` says why ``auto`` chose this path (or None)."""

    requested: str
    path: str
    reason: str | None = None


def check_augment_on(requested: str, *, deterministic: bool, single_threaded: bool) -> None:
    """Refuse ``--augment_on device`` where it cannot run: with ``--deterministic`` (which augments in the training
    process, with the global seeds) or ``--single_threaded`` (no worker processes to draw in).

    Raises:
        ConfigurationError: with the fix.
    """
    from ..errors import ConfigurationError

    if requested not in AUGMENT_ON:
        raise ConfigurationError(tr(f"--augment_on must be one of {', '.join(AUGMENT_ON)}, got {requested!r}",
                                    f"--augment_on 必须是 {', '.join(AUGMENT_ON)} 之一,给出的是 {requested!r}"),
                                 fix=tr("give --augment_on auto, workers or device",
                                        "给出 --augment_on auto、workers 或 device"))
    if requested != "device":
        return
    if deterministic:
        raise ConfigurationError(
            tr("--augment_on device cannot be combined with --deterministic: a deterministic run augments in the "
               "training process with batchgenerators (the explorer's way to reproduce a run; v1 itself always "
               "uses worker processes), while the device path draws in worker processes",
               "--augment_on device 不能与 --deterministic 一起使用:确定性训练在训练进程中用 batchgenerators 做数据增强"
               "(这是 explorer 复现一次训练的办法;v1 本身总是使用工作进程),而 device 路径在工作进程中抽取随机数"),
            fix=tr("drop --deterministic, or use --augment_on workers (or auto)",
                   "去掉 --deterministic,或使用 --augment_on workers(或 auto)"))
    if single_threaded:
        raise ConfigurationError(
            tr("--augment_on device needs worker processes to draw in; --single_threaded runs none",
               "--augment_on device 需要在工作进程中抽取随机数;--single_threaded 不启动工作进程"),
            fix=tr("drop --single_threaded, or use --augment_on workers (or auto)",
                   "去掉 --single_threaded,或使用 --augment_on workers(或 auto)"))


def choose_augmentation(requested: str, *, device: torch.device, deterministic: bool, single_threaded: bool,
                        tr_gen: Any) -> AugmentationChoice:
    """Resolve ``--augment_on`` for an initialized trainer whose training augmenter is ``tr_gen``.

    ``auto``: the device path when the training device is CUDA, the run is neither deterministic nor
    single-threaded, and ``tr_gen`` is a :class:`~.augmenter.MultiProcessAugmenter`; otherwise the trainer's own
    augmenter, with the reason. ``device``: the device path, or an error that says why not.

    Raises:
        ConfigurationError: ``device`` with ``--deterministic`` / ``--single_threaded`` (:func:`check_augment_on`).
        TrainingError: ``device`` for a trainer whose ``tr_gen`` is not a ``MultiProcessAugmenter``.
    """
    check_augment_on(requested, deterministic=deterministic, single_threaded=single_threaded)
    own = "in-process" if single_threaded else "workers"
    if requested == "workers":
        return AugmentationChoice(requested, own)
    if single_threaded or deterministic:  # auto (device was refused above); the trainer's generator is in-process
        return AugmentationChoice(requested, own, tr("the run is --deterministic / --single_threaded",
                                                     "这次训练使用 --deterministic / --single_threaded"))
    if not isinstance(tr_gen, MultiProcessAugmenter):
        why = tr(f"the trainer trains with its own generator ({type(tr_gen).__name__}), not a MultiProcessAugmenter",
                 f"trainer 使用它自己的生成器({type(tr_gen).__name__}),而不是 MultiProcessAugmenter")
        if requested == "device":
            raise TrainingError(tr("--augment_on device: ", "--augment_on device:") + why,
                                fix=tr("use --augment_on workers (or auto) for this trainer, or build its augmentation "
                                       "with get_moreDA_augmentation", "对这个 trainer 使用 --augment_on workers(或 "
                                       "auto),或用 get_moreDA_augmentation 构建它的数据增强"))
        return AugmentationChoice(requested, own, why)
    if requested == "device":
        return AugmentationChoice(requested, "device")
    if device.type != "cuda":
        return AugmentationChoice(requested, own, tr(f"the training device is {device}, not CUDA",
                                                     f"训练设备是 {device},不是 CUDA"))
    return AugmentationChoice(requested, "device", tr(f"the training device is {device}", f"训练设备是 {device}"))


def _release(slots: list[list[shared_memory.SharedMemory]]) -> None:
    """Close and unlink every slot (a view still held elsewhere only delays the unmapping)."""
    for worker in slots:
        for segment in worker:
            try:
                segment.close()
            except BufferError:
                pass  # numpy views still point into it; unlinking below still frees the name
            try:
                segment.unlink()
            except FileNotFoundError:
                pass


__all__ = ["AUGMENT_ON", "ApplyOnDevice", "ArrayInSlot", "AugmentationChoice", "DeviceAugmenter", "check_augment_on",
           "choose_augmentation", "DrawInWorker", "ReceiveInTrainer", "SlotBatch", "shared_memory_free"]
