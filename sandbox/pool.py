"""Worker processes that never outlive the process that started them.

``worker_pool(jobs)`` is a ``ProcessPoolExecutor`` whose workers start by ``fork`` when that
is safe (Linux, and this process runs a single thread: forking a threaded process can copy a
lock another thread holds), so they begin with the sandbox already imported (importing it
costs a fresh interpreter about a second, as long as a short run); elsewhere by ``spawn``. A run
holds no global state and seeds its own generators, so what a worker inherits cannot change a
run's tables (tests compare one worker with several, byte for byte). The workers

* ask the kernel to SIGKILL them when their parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``), so a
  ``kill -9`` of the command line leaves no orphan behind holding a run's memory;
* also watch their parent from a daemon thread and exit as soon as it is gone: this covers
  systems without ``prctl`` and a parent that died before the ``prctl`` call took effect;
* ignore SIGINT: Ctrl-C reaches the whole process group, and only the parent decides what
  happens (stop the pool, clean up, exit 130), so no worker prints a traceback of its own.

Leaving the ``with`` block by an exception (Ctrl-C included) kills the workers at once instead
of waiting for the tasks they are running. multiprocessing's resource tracker, a helper process
the pool's queues start, exits by itself when its last user (parent and workers) is gone.

The kernel sends the parent-death signal when the *thread* that started a worker exits, and
``ProcessPoolExecutor`` starts workers from the thread that calls ``submit``: submit from a
thread that outlives the pool (the main thread does).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_POLL_SECONDS = 1.0


def _die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux); a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no usable libc: the watchdog thread still covers it
        return


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:  # re-parented: the parent is gone
            os._exit(1)
        time.sleep(PARENT_POLL_SECONDS)


def init_worker(parent_pid: int) -> None:
    """A worker's first act: die with the parent, watch it, leave SIGINT to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()


def kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every worker of ``pool`` (their current tasks are lost, nothing else)."""
    # ProcessPoolExecutor has no public way to stop running tasks before Python 3.14
    # (terminate_workers); its _processes map is where the workers are.
    for process in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(Exception):
            process.kill()


def start_method() -> str:
    """``fork`` on Linux from a single-threaded process, else ``spawn`` (module docstring)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


@contextlib.contextmanager
def worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool of ``jobs`` workers that die with this process (see the module docstring).

    On a normal exit the pool is shut down after its tasks; on an exception its workers are
    killed first, so Ctrl-C or an error does not wait for long runs to finish.
    """
    method = start_method()
    if method == "fork":  # forked workers neither copy nor re-scan what this process holds
        gc.freeze()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method),
                               initializer=init_worker, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        kill_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        if method == "fork":
            gc.unfreeze()
    pool.shutdown(wait=True)


__all__ = ["init_worker", "kill_workers", "start_method", "worker_pool"]
