"""A watchdog that ends a local Ray's processes when the process that started them dies.

A local Ray (``ray.init`` without an address) starts a GCS server, a raylet, agents and workers.
``ray.shutdown`` stops them; a ``kill -9`` of the command line does not run it, and Ray's own
agents then linger for up to a minute after the raylet is gone. ``start(parent)`` runs this file
as a small separate process (standard library only, its own session, so it outlives a kill of
the command line): every half second it notes the parent's descendants (pid and start time);
once the parent is gone it SIGKILLs those still alive with the same start time (no reused pid is
touched), then exits. It also exits when told to (``stop``), after a normal shutdown. Linux only
(``/proc``); elsewhere ``start`` returns None and Ray's own clean-up is all there is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_SECONDS = 0.5


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid -> start time."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                children.setdefault(info[0], []).append(int(entry))
                starts[int(entry)] = info[1]
    found: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found and pid in starts:
            found[pid] = starts[pid]
            todo += children.get(pid, [])
    return found


def watch(parent: int, parent_start: int) -> None:
    """Note ``parent``'s descendants until it is gone, then kill them."""
    seen: dict[int, int] = {}
    me = os.getpid()
    while True:
        info = _stat(parent)
        if info is None or info[1] != parent_start:
            break
        seen.update({p: s for p, s in descendants(parent).items() if p != me})
        time.sleep(POLL_SECONDS)
    for pid, start in seen.items():
        info = _stat(pid)
        if info is not None and info[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def start(parent: int | None = None) -> subprocess.Popen | None:
    """A watchdog over ``parent``'s (default: this process's) descendants; None off Linux."""
    parent = os.getpid() if parent is None else parent
    info = _stat(parent) if sys.platform.startswith("linux") else None
    if info is None:
        return None
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), str(parent), str(info[1])],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def stop(watchdog: subprocess.Popen | None) -> None:
    """End a watchdog after a normal shutdown (nothing left for it to do)."""
    if watchdog is not None and watchdog.poll() is None:
        watchdog.kill()
        watchdog.wait()


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]))
