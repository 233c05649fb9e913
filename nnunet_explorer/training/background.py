"""One background thread that takes work off the training thread at an epoch's end.

The epoch's end is where v1's training thread draws ``progress.png`` and writes checkpoints while the GPU waits.
:class:`~.progress_plot.ProgressPlotter` and :class:`~.checkpoint_saving.CheckpointWriter` hand that work to a
thread of their own; this base class holds what they share: the lock and condition that guard the queued work,
the thread (started with the first job), the error of a job that failed (handed back to the training thread,
never raised in the background), :meth:`flush` and :meth:`close`.
"""
from __future__ import annotations

import threading


class BackgroundWorker:
    """The shared part of a one-thread background worker; subclasses queue jobs and implement :meth:`_run`.

    Subclasses hold ``self._changed`` while they change their queue, report whether they have nothing left to do
    in :meth:`_idle`, and call :meth:`_notify` after each job.
    """

    thread_name = "nnunet-explorer-background"

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _idle(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _start(self) -> None:
        """Start the thread if it is not running (call with ``self._changed`` held)."""
        if self._closed:
            raise RuntimeError(f"the {type(self).__name__} is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name=self.thread_name)
            self._thread.start()

    def _take_error(self) -> BaseException | None:
        """The error of a failed job, forgotten once handed out (call with ``self._changed`` held)."""
        error, self._error = self._error, None
        return error

    def flush(self, timeout: float | None = None) -> BaseException | None:
        """Wait until every queued job is done (or ``timeout`` seconds); returns (and forgets) the error of a
        failed job, if any."""
        with self._changed:
            self._changed.wait_for(self._idle, timeout)
            return self._take_error()

    def close(self, timeout: float | None = None) -> BaseException | None:
        """:meth:`flush`, then end the thread. Idempotent."""
        error = self.flush(timeout)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return error


__all__ = ["BackgroundWorker"]
