"""Background augmentation: worker processes that load and augment batches while the network trains.

nnU-Net v1 wraps its data loader and transforms in batchgenerators' ``MultiThreadedAugmenter`` (despite the
name: processes). Each of ``num_threads`` workers (``nnUNet_n_proc_DA``; 12 when unset on a host outside v1's
DKFZ hostname table, validation half as many) seeds ``np.random`` with its seed (``None`` = fresh OS entropy, so
v1's augmentation is never reproducible; and Python's ``random``, which draws the noise and blur sigmas, is
reseeded from OS entropy in every forked process anyway), then loops: ``next(loader)`` → transforms → put into
its *own* queue of ``num_cached_per_thread`` batches. The main process takes batches round-robin from the
queues, which keeps the order fixed for fixed seeds.

:class:`MultiProcessAugmenter` does the same with a small implementation of its own, because the explorer
needs what batchgenerators' version does not give:

* a failing worker's *own* traceback is raised in the main process (as :class:`AugmenterWorkerError`),
  instead of printed to the worker's stderr followed by "One or more background workers are no longer alive";
* shutdown is bounded: a context manager / ``shutdown()`` stops the workers (abort event, then terminate,
  then kill) within seconds, also after ``KeyboardInterrupt``, and leaves no child process and no thread behind
  (also when it comes halfway through a batch in the pipe); an augmenter still running when the interpreter
  exits is shut down by an exit handler;
* workers die with their parent whatever ends it, ``kill -9`` and the OOM killer included (batchgenerators'
  workers are daemonic, which only helps when the parent exits normally): on Linux each worker asks the kernel
  for ``SIGKILL`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and every worker also checks that its
  parent is still the same process and exits when it is not.

As batchgenerators' pin-memory thread does, a background thread in the training process (the *feeder*) takes
the batches from the workers' queues round-robin, unpickles them, page-locks them when CUDA is available, and
keeps a few of them ready in a bounded queue: ``next()`` in the training thread only takes a ready batch, so
the GPU does not wait for a pipe read, an unpickle or a pinned copy.

:class:`SingleThreadedAugmenter` runs the same loader and transforms in the calling process (debugging, tracing, tests).
"""
from __future__ import annotations

import atexit
import ctypes
import multiprocessing as mp
import multiprocessing.util  # noqa: F401 - registers its exit handler before ours (see _shutdown_running)
import os
import queue as queue_module
import random
import signal
import sys
import threading
import time
import traceback
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import TrainingError
from ..language import tr
from ..provenance import mirrors

POLL_SECONDS = 0.05
STALL_SECONDS = 300.0
"""How long ``next()`` waits for a batch before it says so on stderr (once per wait; it goes on waiting)."""

_RUNNING: "weakref.WeakSet[Any]" = weakref.WeakSet()
"""Augmenters started and not yet shut down (see :func:`stop_at_exit`)."""


def stop_at_exit(augmenter: Any) -> None:
    """Have ``augmenter.shutdown()`` called when the interpreter exits, if nobody called it before.

    A notebook or script that forgets the ``with`` block (or holds its trainer in a global) would otherwise
    reach interpreter shutdown with the feeder thread still running: a daemon thread that may be inside torch
    while the interpreter tears torch down under it. The registry holds weak references only, so an augmenter
    nobody holds is still garbage-collected (and shut down by its ``__del__``).
    """
    _RUNNING.add(augmenter)


@atexit.register
def _shutdown_running() -> None:
    # registered after multiprocessing's own exit handler (multiprocessing.util, imported above), so it runs
    # before it (atexit runs last-in first-out): the feeders stop before multiprocessing terminates the workers
    for augmenter in list(_RUNNING):
        try:
            augmenter.shutdown(grace_seconds=0.5)
        except Exception:  # noqa: BLE001 - exiting anyway; one failure must not stop the others
            pass


def usable_cpu_count() -> int:
    """The CPU cores this process may run on: its affinity mask where the OS has one (a container or ``taskset``
    limit), else ``os.cpu_count()``. The one count the explorer uses for workers, ``doctor`` and the throughput
    advice, so they never disagree about the machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_num_processes(environ: dict | None = None, *, local_world_size: int | None = None,
                          cpu_count: int | None = None) -> int:
    """How many augmentation workers one training process starts.

    * ``nnUNet_n_proc_DA`` set: exactly that many, per training process — as in v1, where
      ``get_allowed_n_proc_DA`` returns it unchanged and every DDP rank starts that many workers (so with 4 GPUs
      and ``nnUNet_n_proc_DA=12`` a node runs 48 training workers, plus 24 validation workers, half as many per
      rank; the variable means "per process" in v1 and here).
    * unset: the node's cores shared among the ``local_world_size`` training processes of this node (one per
      GPU under DDP): ``(cpu_count - local_world_size) // local_world_size``, at least 1, at most v1's 12
      (``cpu_count`` defaults to :func:`usable_cpu_count`).
      ``local_world_size`` defaults to ``LOCAL_WORLD_SIZE`` (which ``torchrun`` sets), else 1.

    # differs from v1: v1 uses 12 workers (6 for validation) per process on every machine whose hostname is not
    # in its DKFZ table; on a laptop, or with several GPUs per node, that oversubscribes the CPU. We keep one core
    # per training process, share the rest among the local ranks and cap at v1's 12. Set nnUNet_n_proc_DA to get
    # exactly v1's number.
    """
    env = os.environ if environ is None else environ
    value = env.get("nnUNet_n_proc_DA")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise TrainingError(tr(f"nnUNet_n_proc_DA={value!r} is not a whole number",
                                   f"nnUNet_n_proc_DA={value!r} 不是整数"),
                                fix=tr("set nnUNet_n_proc_DA to the number of augmentation processes, e.g. 4",
                                       "请把 nnUNet_n_proc_DA 设为数据增强进程的个数，例如 4")) from None
    if local_world_size is None:
        try:
            local_world_size = int(env.get("LOCAL_WORLD_SIZE") or 1)
        except ValueError:
            local_world_size = 1
    local = max(1, int(local_world_size))
    cores = int(cpu_count if cpu_count is not None else usable_cpu_count())
    return max(1, min(12, (cores - local) // local))


class AugmenterWorkerError(TrainingError):
    """An augmentation worker raised; the message holds the worker's own traceback."""


class WorkerStopped(Exception):
    """Raised inside a worker by a worker-side callable that saw the abort event (shutdown): the worker ends
    quietly, as when its loop sees the event itself."""


class SingleThreadedAugmenter:
    """Loader + transforms in the calling process: ``next()`` = ``transform(**next(loader))``."""

    def __init__(self, data_loader: Any, transform: Callable | None) -> None:
        self.data_loader = data_loader
        self.transform = transform

    def __iter__(self) -> "SingleThreadedAugmenter":
        return self

    def __next__(self) -> dict:
        item = next(self.data_loader)
        return self.transform(**item) if self.transform is not None else item

    next = __next__

    def shutdown(self) -> None:
        """Nothing to stop (present so both augmenters can be used alike)."""

    def __enter__(self) -> "SingleThreadedAugmenter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


class _TensorAsArray:
    """A torch tensor travelling between processes as its numpy array (re-wrapped without a copy)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _pack(value: Any) -> Any:
    """Replace CPU torch tensors by :class:`_TensorAsArray` inside dicts/lists (for the queue)."""
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pack(v) for v in value]
    if type(value).__module__.startswith("torch") and hasattr(value, "numpy") and not value.requires_grad \
            and value.device.type == "cpu":
        return _TensorAsArray(value.numpy())
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    if isinstance(value, _TensorAsArray):
        import torch

        return torch.from_numpy(value.array)
    return value


def _pin(value: Any) -> Any:
    """Page-lock tensors (faster host-to-GPU copies), as batchgenerators does when CUDA is available."""
    if isinstance(value, dict):
        return {k: _pin(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pin(v) for v in value]
    if hasattr(value, "pin_memory") and type(value).__module__.startswith("torch"):
        # a tensor already on the GPU (the device augmenter applies ahead) or already pinned stays as it is
        return value if value.device.type != "cpu" or value.is_pinned() else value.pin_memory()
    return value


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies; False where that is not available.

    The kernel sends the signal when the *thread* that forked this process ends, not the whole parent process,
    so it is only requested when the parent forked from its main thread (see ``MultiProcessAugmenter.start``).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return False


def _parent_gone(parent_pid: int | None) -> bool:
    """True when the process that started this worker has ended (the worker was re-parented)."""
    return parent_pid is not None and os.getppid() != parent_pid


def _worker(out_queue: Any, error_queue: Any, data_loader: Any, transform: Callable | None, worker_id: int,
            seed: int | None, abort: Any, parent_pid: int | None = None, death_signal: bool = False) -> None:
    """One augmentation process: loop ``next(loader)`` → transform → own queue, until ``abort`` is set.

    The worker also ends when its parent has died (``parent_pid`` is no longer its parent): SIGKILL of the
    training process (the OOM killer, a scheduler's hard kill) leaves no orphan behind.
    """
    if death_signal:
        _die_with_parent()
    if _parent_gone(parent_pid):  # the parent died before the death signal was armed
        os._exit(0)
    # never block process exit on unsent batches: at shutdown the main process no longer reads them
    out_queue.cancel_join_thread()
    torch = sys.modules.get("torch")
    if torch is not None:
        # differs from v1: batchgenerators' workers keep torch's thread count. A forked worker that starts an
        # OpenMP parallel region (a large cast in NumpyToTensor, a custom transform) after its parent used
        # OpenMP threads (a network ran: notebook 06, `-c`) waits forever for threads fork did not copy (GNU
        # libgomp is not fork-safe). As PyTorch's own DataLoader workers do, run torch single-threaded here: the
        # workers are the parallelism, and v1's transforms (casts, copies) give the same values on any thread count.
        torch.set_num_threads(1)
    np.random.seed(seed)
    if seed is not None:
        # differs from v1: Python reseeds its `random` module from OS entropy in every forked child (random
        # registers an at-fork hook), so in v1 the noise and blur sigmas (drawn with `random`) differ from run to
        # run even when worker seeds are given. Seeding it too makes seeded runs fully reproducible.
        random.seed(seed)
    if hasattr(data_loader, "set_thread_id"):
        data_loader.set_thread_id(worker_id)
    bind = getattr(transform, "bind_worker", None)
    if callable(bind):
        # a worker-side callable that needs to know which worker runs it (the device augmenter's shared-memory
        # slots) and when to give up waiting (the abort event, the parent's death)
        bind(worker_id, abort, parent_pid)
    try:
        from threadpoolctl import threadpool_limits

        # as batchgenerators does: one BLAS thread per worker, the workers themselves are the parallelism
        limits = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with batchgenerators
        limits = None
    try:
        while not abort.is_set():
            if _parent_gone(parent_pid):
                os._exit(0)  # nobody reads our batches any more; exit without flushing queues
            stage = "data loader"
            item = next(data_loader)
            stage = "transforms"
            if transform is not None:
                item = transform(**item)
            # differs from v1: tensors cross the process boundary as plain numpy buffers. Pickling a tensor
            # through a multiprocessing queue moves it into a new shared-memory segment per tensor, which
            # cost about half the throughput on small batches; the values are identical.
            item = _pack(item)
            while not abort.is_set():
                try:
                    out_queue.put(item, timeout=POLL_SECONDS * 2)
                    break
                except queue_module.Full:
                    if _parent_gone(parent_pid):
                        os._exit(0)
                    continue
    except KeyboardInterrupt:
        abort.set()
    except WorkerStopped:
        pass
    except BaseException as exc:  # noqa: BLE001 - everything must reach the main process
        where = "数据加载器" if stage == "data loader" else "变换"
        message = (tr(f"augmentation worker {worker_id} failed in the {stage}: ",
                      f"增强工作进程 {worker_id} 在{where}中出错: ") + f"{type(exc).__name__}: {exc}\n"
                   + tr(f"--- worker {worker_id} traceback ---", f"--- 工作进程 {worker_id} 的 traceback ---")
                   + f"\n{traceback.format_exc()}")
        # the error queue is unbounded and keeps its join thread, so the message is in the pipe before exit
        try:
            error_queue.put(message)
        finally:
            abort.set()
    finally:
        if limits is not None:
            limits.restore_original_limits()


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


def resolve_workers(num_processes: int | None, seeds: Sequence[int | None] | None) -> tuple[int, list[int | None]]:
    """``(worker count, one seed per worker)``: the count given, else :func:`default_num_processes`; the seeds
    given (one per worker, else an error with the fix), else ``None`` for each (OS entropy, v1's default)."""
    count = int(num_processes) if num_processes else default_num_processes()
    if seeds is not None and len(seeds) != count:
        raise TrainingError(tr(f"{len(seeds)} seeds given for {count} workers",
                               f"给了 {len(seeds)} 个种子，但有 {count} 个工作进程"),
                            fix=tr("give one seed per worker, or seeds=None", "请为每个工作进程给一个种子，或用 seeds=None"))
    return count, list(seeds) if seeds is not None else [None] * count


@mirrors("nnunet.training.data_augmentation.data_augmentation_moreDA:get_moreDA_augmentation")
class MultiProcessAugmenter:
    """Loader + transforms in ``num_processes`` worker processes, batches delivered round-robin.

    Args:
        data_loader: an iterator of batch dicts (e.g. :class:`~nnunet_explorer.training.dataloading.DataLoader3D`).
            Each worker gets its own copy (processes are forked).
        transform: a callable ``transform(**batch) -> batch`` (a batchgenerators ``Compose``), or None.
        num_processes: worker count (see :func:`default_num_processes`).
        num_cached_per_thread: queue length per worker (V2: 2).
        seeds: one ``np.random`` seed per worker; None = OS entropy (v1's default, not reproducible).
        timeout: seconds ``next()`` may wait for a batch before raising (None = wait forever, as v1).
        pin_memory: page-lock the delivered tensors when CUDA is available (v1's trainers pass True).
        num_ready: batches the feeder thread keeps unpickled (and pinned) ahead of the training thread
            (default as batchgenerators' pin-memory queue: ``max(3, num_cached_per_thread * num_processes // 2)``).
        receive: a callable the feeder thread applies to every batch it takes from a worker, before pinning
            (the device augmenter copies its shared-memory slots out there); None: the batch as it came.
        stall_seconds: after this long without a batch, ``next()`` says on stderr whether the workers are busy
            (augmentation is that slow here) or idle (stuck), and goes on waiting; None: silent, as v1.

    Use as a context manager, or call :meth:`shutdown`. Python's ``random`` module (used by batchgenerators for
    the noise and blur sigmas) is reseeded from OS entropy by Python itself in every forked worker; with
    ``seeds`` given, each worker also seeds ``random`` with its seed, so seeded runs repeat exactly.
    """

    def __init__(self, data_loader: Any, transform: Callable | None, num_processes: int | None = None,
                 num_cached_per_thread: int = 2, seeds: Sequence[int | None] | None = None,
                 timeout: float | None = None, pin_memory: bool = False, num_ready: int | None = None,
                 receive: Callable[[Any], Any] | None = None, stall_seconds: float | None = STALL_SECONDS) -> None:
        self.data_loader = data_loader
        self.transform = transform
        self.num_processes, self.seeds = resolve_workers(num_processes, seeds)
        self.num_cached_per_thread = int(num_cached_per_thread)
        self.timeout = timeout
        self.pin_memory = bool(pin_memory)
        self.num_ready = int(num_ready) if num_ready else max(3, self.num_cached_per_thread * self.num_processes // 2)
        self.receive = receive
        self.stall_seconds = stall_seconds
        self._processes: list[Any] = []
        self._queues: list[Any] = []
        self._abort: Any = None
        self._next_queue = 0
        self._ready: queue_module.Queue | None = None
        self._feeder: threading.Thread | None = None
        self._stop_feeder = threading.Event()

    # lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> "MultiProcessAugmenter":
        """Start the workers and the feeder thread (done automatically on the first ``next()``)."""
        if self._processes:
            return self
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self._abort = ctx.Event()
        self._errors = ctx.Queue()
        # PR_SET_PDEATHSIG fires when the forking *thread* ends: only safe to ask for when forking from the main
        # thread (a notebook may train in a background thread that ends before the workers should); the
        # parent-pid check in the worker loop covers the other cases, and other systems.
        death_signal = threading.current_thread() is threading.main_thread()
        for i in range(self.num_processes):
            q = ctx.Queue(self.num_cached_per_thread)
            p = ctx.Process(target=_worker, args=(q, self._errors, self.data_loader, self.transform, i, self.seeds[i],
                                                  self._abort, os.getpid(), death_signal),
                            daemon=True, name=f"nnunet-explorer-DA-{i}")
            p.start()
            self._queues.append(q)
            self._processes.append(p)
        self._next_queue = 0
        # the feeder is started after the fork, so no worker inherits a half-held lock of it
        self._ready = queue_module.Queue(self.num_ready)
        self._stop_feeder = threading.Event()
        pin_device = None
        if self.pin_memory and _cuda_available():
            import torch

            pin_device = torch.cuda.current_device()  # the training thread's GPU (DDP: this rank's)
        # the thread gets the queues and processes, not `self`, so that an augmenter nobody holds any more is
        # still garbage-collected (and its __del__ stops the workers)
        self._feeder = threading.Thread(target=_feed, args=(list(self._queues), list(self._processes), self._errors,
                                                            self._abort, self._stop_feeder, self._ready, pin_device,
                                                            self.receive),
                                        daemon=True, name="nnunet-explorer-feeder")
        self._feeder.start()
        stop_at_exit(self)
        return self

    @property
    def running(self) -> bool:
        return bool(self._processes)

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def shutdown(self, grace_seconds: float = 2.0) -> None:
        """Stop the feeder thread and every worker: abort event, wait ``grace_seconds``, then terminate, then
        kill. Idempotent."""
        if not self._processes:
            return
        self._abort.set()
        self._stop_feeder.set()
        # A worker stops at once when it sees the abort event, even while its queue's thread is still writing a
        # batch into the pipe (it must not hang on batches nobody will read). A feeder in the middle of reading
        # that batch would then wait forever for the rest. This process never writes into the workers' queues:
        # closing its copy of their write ends lets such a read end with EOFError as soon as the worker is gone.
        for q in self._queues:
            _close_write_end(q)
        feeder = self._feeder if self._feeder is not threading.current_thread() else None
        if feeder is not None:
            feeder.join(timeout=max(1.0, grace_seconds))
        self._feeder = None
        deadline = time.monotonic() + grace_seconds
        for p in self._processes:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
        for p in self._processes:
            if p.is_alive():
                p.terminate()
        for p in self._processes:
            p.join(timeout=1.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=1.0)
        if feeder is not None and feeder.is_alive():  # it was reading a half-sent batch: EOF now the workers are gone
            feeder.join(timeout=1.0)
        for q in self._queues + [self._errors]:
            q.cancel_join_thread()
            q.close()
        self._processes, self._queues, self._ready = [], [], None
        _RUNNING.discard(self)

    def __enter__(self) -> "MultiProcessAugmenter":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def __del__(self) -> None:  # last resort; prefer the context manager
        try:
            self.shutdown(grace_seconds=0.5)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # iteration ----------------------------------------------------------------------------------------
    def __iter__(self) -> "MultiProcessAugmenter":
        return self

    def __next__(self) -> dict:
        if not self._processes:
            self.start()
        index = self._next_queue % self.num_processes
        ready, feeder = self._ready, self._feeder
        started = time.monotonic()
        stall = None  # made on the first empty poll: a batch that is ready costs nothing extra
        try:
            while True:
                try:
                    batch = ready.get(timeout=POLL_SECONDS)
                    break
                except queue_module.Empty:
                    if feeder is None or not feeder.is_alive():
                        raise AugmenterWorkerError(tr("the augmenter's feeder thread ended unexpectedly",
                                                      "增强器的供给线程意外结束了"),
                                                   fix=tr("start a new augmenter (or report this as a bug)",
                                                          "请新建一个增强器（或把这个问题作为 bug 报告）"))
                    waited = time.monotonic() - started
                    if self.timeout is not None and waited > self.timeout:
                        raise TrainingError(tr(f"no batch from augmentation worker {index} within {self.timeout} s",
                                               f"增强工作进程 {index} 在 {self.timeout} 秒内没有送来批次"),
                                            fix=tr("make the loader faster, use more workers or a larger timeout",
                                                   "请让数据加载更快、使用更多工作进程，或加大超时时间"))
                    if self.stall_seconds is not None:
                        stall = stall or _StallWatch(self._processes, self.stall_seconds)
                        stall.check(waited)
            if isinstance(batch, _Failure):
                raise batch.exc
        except BaseException:
            self.shutdown(grace_seconds=0.5)
            raise
        self._next_queue += 1
        return batch

    next = __next__


class _StallWatch:
    """Says once on stderr that ``next()`` has waited ``seconds`` for a batch, and whether the workers are busy
    or idle over the second half of that wait (their CPU use, read with psutil).

    A slow batch and a stuck worker look the same from the training loop (v1 waits in silence either way; "training
    freezes" is a common report); the workers' CPU use tells them apart. Nothing is read before half the time
    has passed, so a normal wait costs nothing.
    """

    def __init__(self, processes: Sequence[Any], seconds: float) -> None:
        self.processes, self.seconds = processes, seconds
        self.watched: list[Any] | None = None  # the workers' psutil handles, from half the time on
        self.said = False

    def check(self, waited: float) -> None:
        if self.said or waited <= self.seconds / 2:
            return
        if self.watched is None:
            self.watched = _cpu_watch([p.pid for p in self.processes if p.pid is not None])
        elif waited > self.seconds:
            self.said = True  # once; go on waiting
            try:
                print(stall_message(waited, _cpu_percents(self.watched), usable_cpu_count()), file=sys.stderr,
                      flush=True)
            except (OSError, ValueError):  # a closed or broken stderr must not end the training
                pass


def _cpu_watch(pids: Sequence[int]) -> list[Any]:
    """psutil handles of the workers, their CPU counters started (the first ``cpu_percent`` call reads 0)."""
    import psutil

    watched = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            process.cpu_percent(None)
            watched.append(process)
        except psutil.Error:
            pass
    return watched


def _cpu_percents(watched: Sequence[Any]) -> dict[int, float]:
    """Each worker's CPU use (%) since :func:`_cpu_watch`; a worker that has ended is left out."""
    import psutil

    percents = {}
    for process in watched:
        try:
            percents[process.pid] = process.cpu_percent(None)
        except psutil.Error:
            pass
    return percents


def stall_message(waited: float, percents: dict[int, float], cores: int) -> str:
    """What a long wait for a batch means, from the workers' CPU use (``{pid: %}``) over the second half of it."""
    busy = sum(1 for value in percents.values() if value >= 5.0)
    pids = " ".join(str(pid) for pid in percents)
    if busy:
        return tr(f"No batch from the augmentation workers for {waited:.0f} s, with {busy} of {len(percents)} "
                  f"workers using the CPU: loading and augmenting a batch takes that long here. More workers "
                  f"(`nnUNet_n_proc_DA`, {cores} cores here), data unpacked to .npy or a smaller patch make it "
                  "faster. Still waiting.",
                  f"增强工作进程已有 {waited:.0f} 秒没有送来批次；{len(percents)} 个中有 {busy} 个正在工作（占用 CPU），"
                  f"说明在这台机器上载入并增强一个批次就需要这么久。更多工作进程（`nnUNet_n_proc_DA`，本机 {cores} 个"
                  "核）、解包为 .npy 的数据或更小的 patch 会更快。仍在等待。")
    return tr(f"No batch from the augmentation workers for {waited:.0f} s, and they use no CPU (pids {pids}): "
              "they look stuck, waiting on a lock or a disk. `py-spy dump --pid PID` (pip install py-spy) shows "
              "where each one waits. Still waiting, as v1 does; Ctrl-C stops the run.",
              f"增强工作进程已有 {waited:.0f} 秒没有送来批次，而且不占用 CPU（pids {pids}）：它们看起来卡住了，在等待某个锁或"
              "磁盘。`py-spy dump --pid PID`（pip install py-spy）会显示每个进程停在哪里。与 v1 一样继续等待；"
              "Ctrl-C 可停止训练。")


def _close_write_end(q: Any) -> None:
    """Close this process's copy of ``q``'s write end (the workers hold their own)."""
    writer = getattr(q, "_writer", None)  # multiprocessing.Queue's pipe end; a queue without one is left alone
    try:
        if writer is not None and not writer.closed:
            writer.close()
    except OSError:
        pass


class _Failure:
    """An exception raised in the feeder thread, queued for the training thread."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Stopped(Exception):
    """The feeder saw the abort event set by ``shutdown``: end quietly."""


def _feed(queues: list, processes: list, errors: Any, abort: Any, stop: threading.Event,
          ready: queue_module.Queue, pin_device: int | None, receive: Callable[[Any], Any] | None = None) -> None:
    """The feeder thread: worker queues round-robin → unpickle → ``receive`` → pin → ``ready``, until ``stop``.

    Anything that goes wrong (a worker's error, a worker that died, a failed pin) is put into ``ready`` as a
    :class:`_Failure`, which ``next()`` raises in the training thread in its turn.
    """
    try:
        if pin_device is not None:
            import torch

            torch.cuda.set_device(pin_device)  # as batchgenerators: pinned buffers belong to this rank's GPU
        index = 0
        while not stop.is_set():
            q = queues[index % len(queues)]
            try:
                item = q.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                _check_health(processes, errors, abort, stop)
                continue
            except (OSError, ValueError, EOFError):  # the queue was closed by shutdown
                return
            item = _unpack(item)
            if receive is not None:
                item = receive(item)
            if pin_device is not None:
                item = _pin(item)
            index += 1
            if not _put_ready(ready, item, stop):
                return
    except _Stopped:
        return
    except BaseException as exc:  # noqa: BLE001 - handed to the training thread
        _put_ready(ready, _Failure(exc), stop)


def _put_ready(ready: queue_module.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            ready.put(item, timeout=POLL_SECONDS)
            return True
        except queue_module.Full:
            continue
    return False


def _check_health(processes: list, errors: Any, abort: Any, stop: threading.Event) -> None:
    """Raise the worker's error if any worker failed, or a clear error if one died without a word."""
    if abort.is_set() or not all(p.is_alive() for p in processes):
        # a failing worker leaves its traceback in the error queue before it sets the abort event
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                message = errors.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                if stop.is_set() or (not any(p.is_alive() for p in processes) and errors.empty()):
                    break
                continue
            raise AugmenterWorkerError(message, fix=tr("the traceback above is the worker's; fix that error "
                                                       "(debug it in-process with SingleThreadedAugmenter)",
                                                       "上面的 traceback 来自工作进程；请修正那个错误"
                                                       "（可用 SingleThreadedAugmenter 在本进程内调试）"))
        if stop.is_set():  # shutdown set the abort event: not a failure
            raise _Stopped()
        dead = [(i, p.exitcode) for i, p in enumerate(processes) if not p.is_alive()]
        raise AugmenterWorkerError(
            tr(f"augmentation worker(s) {dead} ended without reporting an error (exit codes; negative = killed "
               "by a signal, -9 often means out of memory)",
               f"增强工作进程 {dead} 结束了，却没有报告错误（列出的是序号和退出码；负数表示被信号终止，"
               "-9 通常意味着内存不足）"),
            fix=tr("lower nnUNet_n_proc_DA or the batch size; check the system log for the OOM killer",
                   "请调低 nnUNet_n_proc_DA 或 batch 大小；并在系统日志中查看是否有 OOM killer 的记录"))


def single_threaded_copy(augmenter: Any) -> SingleThreadedAugmenter:
    """An in-process augmenter over the same loader and transforms as ``augmenter`` (whose workers are stopped).

    Works for the explorer's augmenters (``data_loader``, ``transform``) and batchgenerators' (``generator``,
    ``transform``), so a v1 variant that builds its own ``MultiThreadedAugmenter`` is covered too.
    """
    if isinstance(augmenter, SingleThreadedAugmenter):
        return augmenter
    loader = getattr(augmenter, "data_loader", None)
    if loader is None:
        loader = getattr(augmenter, "generator", None)
    if loader is None or not hasattr(augmenter, "transform"):
        raise TrainingError(tr(f"cannot run {type(augmenter).__name__} in this process: it exposes no "
                               "loader/transform",
                               f"无法在本进程中运行 {type(augmenter).__name__}：它没有提供 loader/transform"),
                            fix=tr("build the augmentation with get_moreDA_augmentation (or batchgenerators' "
                                   "MultiThreadedAugmenter), or train without --single_threaded/--deterministic",
                                   "请用 get_moreDA_augmentation（或 batchgenerators 的 MultiThreadedAugmenter）"
                                   "构建数据增强，或者不加 --single_threaded/--deterministic 训练"))
    for name in ("shutdown", "_finish"):
        stop = getattr(augmenter, name, None)
        if callable(stop):
            try:
                stop()
            except Exception:  # noqa: BLE001 - nothing was started yet in the usual case
                pass
            break
    return SingleThreadedAugmenter(loader, augmenter.transform)
