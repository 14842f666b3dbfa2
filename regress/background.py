"""A worker thread for a run's file work that the next case need not wait for.

Why: on a GPU runner a tiny case's pipeline call takes tens of milliseconds, and reading its
golden (PNG/npz decode, sha256) and writing its report media (PNG/WAV encode, one file per
video frame) took another ~3 ms per case on the critical path. Both are mostly C code that
releases the GIL (zlib, file I/O, numpy), so a worker thread does them while the main thread
runs the pipeline: the golden is loaded while its case runs, and a case's media are written
while the next case runs.

One thread per :class:`Background`, not a pool: its work stays in submission order, and more
threads would only contend with the pipeline's Python for the GIL. A session keeps two, one
for reads and one for writes, so that a golden is never queued behind the previous case's
media.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Background:
    """:meth:`submit` work whose result the caller collects, or :meth:`defer` work nobody
    waits for until :meth:`drain`, which re-raises the first error of the deferred work."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[Any]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on the worker; the caller reads the future (its error included)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regress-io")
            return self._pool.submit(fn, *args)

    def defer(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the worker; :meth:`drain` waits for it and raises its error."""
        fut = self.submit(fn, *args)
        with self._lock:
            self._pending.append(fut)

    def drain(self) -> None:
        """Wait for everything submitted so far; the first failure is raised here, where the
        report it belongs to is written, instead of being lost in the thread."""
        with self._lock:
            pending, self._pending = self._pending, []
        first: BaseException | None = None
        for fut in pending:
            exc = fut.exception()
            if exc is not None and first is None:
                first = exc
        if first is not None:
            raise first

    def close(self) -> None:
        """Drain, then stop the thread (a session that ends)."""
        try:
            self.drain()
        finally:
            with self._lock:
                pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=True)
