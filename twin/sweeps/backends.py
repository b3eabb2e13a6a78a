"""Execution backends: run tasks, yield outcomes as they finish. ``local`` is a process pool on this machine; ``ray``
sends the same tasks to a Ray cluster. Each keeps at most ``workers`` runs in flight, so stopping early (Ctrl-C)
abandons at most that many, and a crashed worker fails only the runs it held.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from twin.errors import InputError
from twin.sweeps.execute import Outcome, Task, init_worker, run_task

RAY_EXTRA = "pip install 'twin[ray]'"


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalBackend:
    """A pool of ``workers`` processes started with 'spawn' (no inherited torch threads or locks), one math thread each."""

    name = "local"
    writes_in_worker = True

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        pass  # the pool starts with the first task, so a sweep with nothing left to run starts no process

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker, initargs=(os.getpid(),))

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        queue = list(reversed(tasks))
        running: dict[Future, Task] = {}
        while queue or running:
            if self._pool is None:
                self._pool = self._new_pool()
            while queue and len(running) < self.workers:
                task = queue.pop()
                running[self._pool.submit(run_task, task)] = task
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                task = running.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    broken = True
                    yield Outcome(task.run_id, "failed", "the worker process died (killed, or out of memory)")
            if broken:  # the pool is unusable: fail what it held, start a fresh one for the rest
                for future, task in running.items():
                    future.cancel()
                    yield Outcome(task.run_id, "failed", "the worker process died (killed, or out of memory)")
                running.clear()
                self.close(abort=True)

    def close(self, abort: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if abort:
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:  # stop the runs in progress now rather than wait for them
                proc.terminate()
            for proc in processes:
                proc.join(timeout=5)
        else:
            pool.shutdown(wait=True)


class RayBackend:
    """Ray tasks (one CPU each) on the cluster at ``address``, or on a Ray started here for the sweep. Workers return
    the tables and the driver writes the run folders, so the cluster's nodes need no shared disk."""

    name = "ray"
    writes_in_worker = False

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers
        self._ray = None
        self._started_here = False
        self._refs: dict = {}

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise InputError(f"--backend ray: Ray is not installed ({RAY_EXTRA})") from None
        self._ray = ray
        if ray.is_initialized():  # a caller (a notebook, a test) already connected: use that cluster as it is
            return
        if self.address not in (None, "auto", "local"):
            _check_reachable(self.address)
        import twin

        try:
            if self.address is None or self.address == "local":
                # Same disk: let the workers import this very twin, installed or not (PYTHONPATH).
                root = str(Path(twin.__file__).resolve().parent.parent)
                path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
                ray.init(num_cpus=self.workers or default_workers(), include_dashboard=False, log_to_driver=False,
                         configure_logging=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
            else:
                # Another machine: ship this twin package with the tasks (its dependencies must be installed there).
                ray.init(address=self.address, log_to_driver=False, configure_logging=False,
                         runtime_env={"py_modules": [twin]})
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError ... depending on Ray's version
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"--address {self.address or 'local'}: cannot start or join a Ray cluster: {first}") \
                from None
        self._started_here = True

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=1)(run_task)
        limit = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        queue = list(reversed(tasks))
        while queue or self._refs:
            while queue and len(self._refs) < limit:
                task = queue.pop()
                self._refs[remote.remote(task)] = task
            done, _ = ray.wait(list(self._refs), num_returns=1)
            for ref in done:
                task = self._refs.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # the task's worker died (ray.exceptions.RayError)
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    yield Outcome(task.run_id, "failed", f"Ray task failed: {first}")

    def close(self, abort: bool = False) -> None:
        ray = self._ray
        if ray is None:
            return
        if abort:
            for ref in list(self._refs):
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished or gone
                    pass
        self._refs.clear()
        if self._started_here:
            ray.shutdown()
            self._started_here = False


def _check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, with one line, when nothing listens at ``host:port`` (Ray itself retries for a minute)."""
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise InputError(f"--address {address}: expected HOST:PORT (or ray://HOST:PORT, or auto)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(f"--address {address}: cannot reach a Ray cluster there ({exc.strerror or exc})") from None


def make_backend(kind: str, *, address: str | None = None, workers: int | None = None):
    if kind == "local":
        if address is not None:
            raise InputError("--address is for --backend ray")
        return LocalBackend(workers)
    if kind == "ray":
        return RayBackend(address, workers)
    raise InputError(f"--backend {kind}: expected local or ray")
