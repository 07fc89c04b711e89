"""The ``ray`` executor: a sweep's runs on Ray actors, each holding a warm chain.

``RayExecutor(jobs, address)`` joins the Ray cluster at ``address`` or, without one, starts a
local Ray with ``jobs`` CPUs (and stops it when done; workers import the same ``sandbox`` as
this process; ``sandbox.sweep.reaper`` ends Ray's processes if this process is killed). It
makes ``jobs`` actors (``ChainWorker``: one CPU each, a ``sandbox.sweep.warm.WarmChains``
inside), hands them runs in batches of one seed
(``sandbox.sweep.executors.batches``: run back to back on the actor's warm chain), two batches
queued per actor, and gathers whatever has finished as it finishes (``ray.wait``). An actor that
dies (its process killed, its node lost) is replaced and the batches it held go back to the
queue, to whichever actor is free: each batch is tried ``MAX_ATTEMPTS`` times before its runs
are recorded as failed.

Ray is an optional extra (``pip install 'liquidation-sandbox[ray]'``) imported only here, when
the executor is made.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, deque
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from sandbox.errors import SandboxError

from .executors import RunOutput, RunTask, batches, execute, failed

QUEUED_PER_ACTOR = 2  # batches: one running, one waiting
MAX_ATTEMPTS = 3
OBJECT_STORE_BYTES = 256 * 2**20  # outputs are small and fetched at once: a local Ray needs little


class RayUnavailable(SandboxError):
    """Ray is not installed, or the cluster cannot be reached."""


def require_ray() -> None:
    """RayUnavailable (one line: how to install it) when Ray cannot be imported."""
    _ray()


def _ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable("the ray executor needs Ray: pip install 'liquidation-sandbox[ray]'") from None
    return ray


class ChainWorker:
    """A Ray actor's body: runs tasks one at a time on its own warm chain."""

    def __init__(self):
        from sandbox.sweep.warm import WarmChains

        self.chains = WarmChains()

    def pid(self) -> int:
        return os.getpid()

    def run(self, batch: list[RunTask]) -> list[RunOutput]:
        return [execute(task, self.chains) for task in batch]

    def close(self) -> None:
        self.chains.close()


@contextmanager
def _package_on_path() -> Iterator[None]:
    """PYTHONPATH names this ``sandbox``'s folder while a local Ray starts: its workers inherit
    the environment, so they import the same code as this process."""
    root = str(Path(__file__).resolve().parents[2])
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, before]))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


class RayExecutor:
    """Ray actors holding a chain each; results as they finish; dead actors' runs retried."""

    name = "ray"

    def __init__(self, jobs: int = 2, address: str | None = None):
        self.jobs = max(1, int(jobs))
        self.address = address
        self._ray = _ray()
        self._started = False
        self._watchdog: Any = None  # the reaper process while a local Ray runs
        self._actors: list = []
        self.retried = 0  # runs sent again after their actor died

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        try:
            if self.address:
                ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False)
            else:
                from . import reaper

                self._watchdog = reaper.start()  # kills what Ray starts here if this process is killed
                with _package_on_path():
                    ray.init(num_cpus=self.jobs, include_dashboard=False, logging_level=logging.ERROR,
                             log_to_driver=False, object_store_memory=OBJECT_STORE_BYTES)
                self._started = True
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"at {self.address}" if self.address else "locally"
            raise RayUnavailable(f"cannot start or join Ray {where}: {str(e).splitlines()[0]}") from None

    def _new_actor(self):
        actor_cls = self._ray.remote(num_cpus=1, max_restarts=0)(ChainWorker)
        return actor_cls.remote()

    def start(self) -> None:
        """Join or start Ray and make the actors (``run`` does it when not done yet)."""
        if not self._actors:
            self._connect()
            self._actors = [self._new_actor() for _ in range(self.jobs)]

    def pids(self) -> list[int]:
        """The actors' process ids (for tests that kill one)."""
        self.start()
        return self._ray.get([actor.pid.remote() for actor in self._actors])

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutput]:
        ray = self._ray
        from ray.exceptions import RayActorError, RayTaskError

        self.start()
        queue = deque(batches(tasks, self.jobs))
        attempts: Counter = Counter()
        inflight: dict = {}  # object ref -> (actor slot, actor, batch)
        load: Counter = Counter()
        while queue or inflight:
            for slot, actor in enumerate(self._actors):
                while queue and load[slot] < QUEUED_PER_ACTOR:
                    batch = queue.popleft()
                    attempts[batch[0].run] += 1
                    inflight[actor.run.remote(batch)] = (slot, actor, batch)
                    load[slot] += 1
            ready, rest = ray.wait(list(inflight), num_returns=1)
            if rest:  # whatever else has finished comes in the same round
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for ref in ready:
                slot, actor, batch = inflight.pop(ref)
                load[slot] -= 1
                try:
                    yield from ray.get(ref)
                except RayActorError as exc:
                    if self._actors[slot] is actor:  # replace it once, whatever it held
                        self._actors[slot] = self._new_actor()
                    if attempts[batch[0].run] < MAX_ATTEMPTS:
                        self.retried += len(batch)
                        queue.appendleft(batch)
                    else:
                        yield from (failed(task, _actor_failure(task, exc)) for task in batch)
                except RayTaskError as exc:  # an error outside the runs themselves (execute catches those)
                    from sandbox.runs import RunFailure

                    yield from (failed(t, RunFailure.from_exception(t.mechanism, t.seed, exc)) for t in batch)

    def close(self) -> None:
        """End the actors (their chains with them) and a Ray this executor started."""
        ray = self._ray
        if ray.is_initialized():
            for actor in self._actors:
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001 - already dead
                    pass
        self._actors = []
        if self._started:
            from . import reaper

            ray.shutdown()
            self._started = False
            reaper.stop(self._watchdog)
            self._watchdog = None


def _actor_failure(task: RunTask, exc: BaseException):
    from sandbox.errors import one_line
    from sandbox.runs import RunFailure

    return RunFailure(mechanism=task.mechanism, seed=int(task.seed), internal=False,
                      error=f"Ray actor died {MAX_ATTEMPTS} times running it ({one_line(exc)})")


__all__ = ["ChainWorker", "MAX_ATTEMPTS", "RayExecutor", "RayUnavailable", "require_ray"]
