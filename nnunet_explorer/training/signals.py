"""SIGTERM as a polite stop: turn a scheduler's termination signal into the loop's Ctrl-C path.

Cluster schedulers end a job in two steps: SLURM (``scancel``, the time limit, preemption) and Kubernetes (pod
deletion, eviction) first send ``SIGTERM``, wait a grace period (SLURM's ``KillWait``, 30 s by default;
Kubernetes' ``terminationGracePeriodSeconds``, 30 s by default), then send ``SIGKILL``. Python's default
reaction to ``SIGTERM`` is to die on the spot, so nnU-Net v1 loses everything since its last scheduled
checkpoint (up to 50 epochs) and may leave augmentation workers behind.

The training loop already knows how to stop cleanly on ``KeyboardInterrupt`` (what ``SIGINT``/Ctrl-C raises):
it writes ``model_latest.model`` with the finished epochs and shuts the augmentation workers down.
:func:`sigterm_as_interrupt` reuses exactly that path: while it is active, ``SIGTERM`` raises
:class:`TerminationRequested`, a subclass of ``KeyboardInterrupt``, in the main thread. Code that catches
``KeyboardInterrupt`` handles it unchanged; the ``train`` command tells the two apart and exits with 143
(128 + 15, the shell's status for "terminated by SIGTERM") instead of 130 (128 + 2, SIGINT).

Two details matter:

* **Forked children.** Augmentation workers are forked from the main process and inherit its signal
  handlers. A worker must not raise the main process's exception (its own ``except KeyboardInterrupt``
  would treat it as a shutdown request of the whole pool). The handler therefore checks the process id: in
  any other process it puts the default action back and re-sends the signal to itself, so a worker dies of
  ``SIGTERM`` as it would without the handler (which is also how ``MultiProcessAugmenter.shutdown`` stops a
  worker that ignores its abort event: ``terminate()`` sends ``SIGTERM``). The main process shuts the
  workers down itself.
* **One request is enough.** Only the first ``SIGTERM`` raises. Later ones (a second ``scancel``, or a
  scheduler that signals every process of the job) are reported and ignored while the checkpoint is
  written, so a repeated signal cannot interrupt the save it asked for. ``SIGKILL`` still ends everything.

The previous handler is restored when the context ends. Outside the main thread (where Python cannot
install signal handlers) the context does nothing.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

from ..language import tr

#: the exit status of a process that stopped because of SIGTERM (128 + signal number, as shells report it)
EXIT_SIGTERM = 128 + int(signal.SIGTERM)


class TerminationRequested(KeyboardInterrupt):
    """``SIGTERM`` arrived: stop as after Ctrl-C (save ``model_latest.model``, stop the workers), exit 143.

    A ``KeyboardInterrupt`` subclass on purpose: every ``except KeyboardInterrupt`` cleanup path (the training
    loop's checkpoint save, the augmenter's worker shutdown) runs for it unchanged.
    """

    def __init__(self, signum: int = int(signal.SIGTERM)) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = int(signum)


@contextmanager
def sigterm_as_interrupt(signum: int = int(signal.SIGTERM)) -> Iterator[None]:
    """While active, ``signum`` (default ``SIGTERM``) raises :class:`TerminationRequested` in the main thread.

    Example::

        with sigterm_as_interrupt():
            run.run()          # kill -TERM <pid>  ->  model_latest.model saved, TerminationRequested raised

    Only the installing process raises; forked children that inherited the handler die of the signal as
    if no handler were installed. The handler that was installed before is put back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal.signal() only works in the main thread; there is nothing to install
        return
    owner = os.getpid()
    requested = False

    def handler(received: int, frame: FrameType | None) -> None:
        nonlocal requested
        if os.getpid() != owner:
            # a forked child (an augmentation worker): behave as without this handler, i.e. die of the signal
            signal.signal(received, signal.SIG_DFL)
            os.kill(os.getpid(), received)
            return
        if requested:
            # differs from Python's default: a repeated SIGTERM must not interrupt the checkpoint save it asked for
            name = signal.Signals(received).name
            print(tr(f"{name} again: already stopping (saving model_latest.model)",
                     f"又收到 {name}：已经在停止（正在保存 model_latest.model）"), file=sys.stderr, flush=True)
            return
        requested = True
        raise TerminationRequested(received)

    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)


__all__ = ["EXIT_SIGTERM", "TerminationRequested", "sigterm_as_interrupt"]
