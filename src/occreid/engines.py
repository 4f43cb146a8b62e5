"""Engines: who runs the per-chunk work and hands the results back.

An engine knows nothing of a worker's insides (img2dataset's distributors): it is given ``build``,
a picklable callable that makes one process's worker (``functools.partial(Worker, plan)``), and
asks each worker it made for ``process(chunk)`` or ``save_parts(chunk)``. What it decides itself is
where the workers run: how many, which start method, which Ray resources, the parser's threads.

Every engine runs the same work on the same chunks; the main process commits each finished chunk
to the run state as it comes back, in whatever order, so the output bytes depend on no engine.

- ``local``: in the main process (one worker) or a ``ProcessPoolExecutor`` of worker processes.
  Workers die with the main process, whatever kills it (kill -9, the OOM killer, a scheduler):
  each asks Linux for a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) and runs a
  watchdog thread that ends it when its parent is gone (other systems, or a parent that died
  before the request), so no orphan keeps working or holds the output.
- ``ray``: Ray actors (``pip install 'occreid[ray]'``), each holding one ``Worker`` and so one
  parser, built once; each actor asks Ray for one CPU, and for one GPU when the parser is SCHP on
  CUDA. ``--ray-address`` joins an existing cluster (every node must see the input and the output
  at the same paths, and import occreid and any plugin parser); without it a private local one is
  started (Ray >= 2.59 protects it with a token of its own) and stopped at the end. Actors are
  owned by the driver (not detached): Ray ends them when the driver dies, and the processes of a
  private cluster that ``ray.init`` started share its fate on Linux the same way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from .config import GenerateConfig
from .errors import EXIT_INTERRUPTED, OccreidError
from .parser import parser_class

#: The engines ``--engine`` accepts.
ENGINES = ("local", "ray")
#: Modules whose threads or devices make a forked child unsafe; with any of them loaded, workers are spawned.
_FORK_UNSAFE = ("torch", "mediapipe", "tensorflow", "onnxruntime", "cv2", "jax", "ray", "grpc")


class WorkerLost(OccreidError, RuntimeError):
    """A worker process died mid-run (killed by the system); finished chunks are kept (exit 130)."""

    exit_code = EXIT_INTERRUPTED


class EngineError(OccreidError, RuntimeError):
    """The engine cannot start as asked (Ray missing, cluster unreachable); one sentence (exit 2)."""


class Work(Protocol):
    """What an engine asks of a worker (``worker.Worker``): one chunk's state entries, and the
    parse phase of pasted shapes."""

    def process(self, records: list) -> list: ...

    def save_parts(self, records: list) -> int: ...


#: Makes one process's worker: ``build(parser=None, threads=None)``; picklable (it travels to each process).
Build = Callable[..., Work]

_LOST = ("a worker process died (killed by the system, out of memory?); what finished is kept: rerun the same "
         "command to resume, with fewer --workers if memory is short.")


# -- local -----------------------------------------------------------------------------------
_WORKER: Work | None = None  # this pool process's worker, made by _init_worker
#: How often a worker's watchdog looks whether its parent is still there (seconds).
WATCH_INTERVAL = 0.5
_PR_SET_PDEATHSIG = 1


def die_with_parent(main_pid: int) -> None:
    """End this process when its parent (the run's main process, or the fork server between them)
    or the run's main process ends: a parent-death signal on Linux, and a watchdog thread as the
    fallback (other systems; a parent that died before the request was made)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog alone
            pass
    parent = os.getppid()
    if parent == 1 or not _exists(main_pid):  # orphaned already
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, main_pid), name="occreid-watchdog", daemon=True).start()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's: not ours, but not gone either
        return True
    return True


def _watch(parent: int, main_pid: int) -> None:
    while os.getppid() == parent and _exists(main_pid):
        time.sleep(WATCH_INTERVAL)
    os._exit(1)


def _init_worker(build: Build, main_pid: int | None = None) -> None:
    global _WORKER
    if main_pid is not None:
        die_with_parent(main_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's: it stops the pool, exit 130
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the main's handler (forked): terminate() ends a worker
    _WORKER = build()


def _work(records):
    assert _WORKER is not None, "a pool worker runs _init_worker first"
    return _WORKER.process(records)


def _save_parts(records) -> int:
    assert _WORKER is not None, "a pool worker runs _init_worker first"
    return _WORKER.save_parts(records)


def pool_context(parser):
    """Fork when the main process holds no parser and none of the libraries that start threads
    (workers then start in milliseconds, and a worker that only reuses part maps never imports a
    parser's libraries); spawn otherwise, as forking such a process is unsafe."""
    if parser is None and "fork" in mp.get_all_start_methods() and not any(m in sys.modules for m in _FORK_UNSAFE):
        return mp.get_context("fork")
    return mp.get_context("spawn")


class LocalEngine:
    """The main process alone (one worker, or a single chunk), or a pool of worker processes."""

    def __init__(self, config: GenerateConfig, build: Build, parser, n_chunks: int):
        self.pool = None
        self.worker = None
        if config.workers <= 1 or n_chunks <= 1:
            self.worker = build(parser=parser)
            return
        if parser is not None and hasattr(parser, "close"):
            parser.close()
        # an executor, not multiprocessing.Pool: a worker killed by the system (out of memory) breaks
        # the run with an error instead of leaving it waiting forever for the lost chunk
        self.pool = ProcessPoolExecutor(min(config.workers, n_chunks), mp_context=pool_context(parser),
                                        initializer=_init_worker, initargs=(build, os.getpid()))

    def _map(self, fn, method: str, chunks: list) -> Iterator:
        if self.pool is None:
            for c in chunks:
                yield getattr(self.worker, method)(c)
            return
        try:
            for f in as_completed([self.pool.submit(fn, c) for c in chunks]):
                yield f.result()
        except BrokenProcessPool:
            raise WorkerLost(_LOST) from None

    def save_parts(self, chunks: list) -> None:
        """The parse phase, finished everywhere before the first draw."""
        for _ in self._map(_save_parts, "save_parts", chunks):
            pass

    def process(self, chunks: list) -> Iterator:
        """Each chunk's state entries, in the order they finish."""
        return self._map(_work, "process", chunks)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def stop(self) -> None:
        """Stop now: cancel what has not started and end the running workers."""
        if self.pool is None:
            return
        for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
            proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


# -- Ray -------------------------------------------------------------------------------------
class RayWorker:
    """What one Ray actor holds: one worker (so one parser, built on its first chunk)."""

    def __init__(self, build: Build, threads: int | None):
        self.worker = build(threads=threads)

    def process(self, records):
        return self.worker.process(records)

    def save_parts(self, records) -> int:
        return self.worker.save_parts(records)


def _needs_gpu(config, resources: dict) -> bool:
    """SCHP actors ask for a GPU when their device is CUDA (given, or the default with GPUs in the cluster)."""
    if not getattr(parser_class(config.parser), "uses_gpu", False):
        return False
    device = str(config.parser_options.get("device") or "")
    if device.startswith("cuda"):
        if not resources.get("GPU"):
            raise EngineError(f"--device {device} with --engine ray needs GPUs in the Ray cluster, and it has none; "
                              "use --device cpu, or join a cluster with GPU nodes (--ray-address).")
        return True
    return not device and bool(resources.get("GPU"))


def _check_reachable(address: str) -> None:
    """EngineError when a host:port address takes no TCP connection (nothing listens there)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", ray:// client addresses: left to Ray
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass
    except OSError as exc:
        raise EngineError(f"cannot join the Ray cluster at {address} ({exc.strerror or exc}); check --ray-address "
                          "(the head node's host:port, as ray start printed it) and that the cluster runs.") from None


class RaySession:
    """Ray started (a private local cluster) or joined (``--ray-address``) before the
    run writes anything, so a cluster that cannot be had stops it with one sentence (exit 2)."""

    def __init__(self, config):
        try:
            import ray
        except ImportError:
            raise EngineError("--engine ray needs Ray: pip install 'occreid[ray]'.") from None
        import logging

        self.ray = ray
        self.started = not ray.is_initialized()  # inside a Ray job (or a caller's ray.init): use it as it is
        if not self.started:
            return
        address = config.ray_address or "local"
        kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                      configure_logging=False)
        if address == "local":  # a private cluster on this machine (Ray's token authentication on), sized to -j
            kwargs.update(num_cpus=config.workers or None)
        else:
            _check_reachable(address)  # Ray's own client ends the whole process when nobody answers
        try:
            ray.init(address=address, **kwargs)
        except Exception as exc:
            what = "start a local Ray cluster" if address == "local" else f"join the Ray cluster at {address}"
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise EngineError(f"cannot {what} ({type(exc).__name__}: {first}); check --ray-address and that "
                              "the cluster runs the same Ray and Python versions.") from None

    def close(self) -> None:
        """Stop the local cluster this session started (a joined one keeps running)."""
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


def open_session(config) -> RaySession | None:
    """The Ray session of a ``--engine ray`` run (None for the local engine)."""
    return RaySession(config) if config.engine == "ray" else None


class RayEngine:
    """Ray actors over the session's cluster; at most two chunks in flight per actor."""

    IN_FLIGHT = 2

    def __init__(self, config: GenerateConfig, build: Build, n_chunks: int, session: RaySession):
        ray = self.ray = session.ray
        self.actors: list = []
        try:
            resources = ray.cluster_resources()
            gpu = _needs_gpu(config, resources)
            per = "GPU" if gpu else "CPU"
            n = config.workers or int(resources.get(per, 1))
            n = max(1, min(n, n_chunks))
            threads = None
            if getattr(parser_class(config.parser), "takes_threads", False) and not gpu:  # one CPU each: one thread
                threads = 1
            actor = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0, max_restarts=0)(RayWorker)
            build_ref = ray.put(build)  # the plan (and its donors) into the object store once, for every actor
            self.actors = [actor.remote(build_ref, threads) for _ in range(n)]
        except BaseException:
            self._shutdown()
            raise

    def _map(self, method: str, chunks: list) -> Iterator:
        ray = self.ray
        from ray.exceptions import RayActorError, RayTaskError

        todo = iter(chunks)
        in_flight: dict = {}

        def submit(actor) -> None:
            chunk = next(todo, None)
            if chunk is not None:
                in_flight[getattr(actor, method).remote(chunk)] = actor

        for _ in range(self.IN_FLIGHT):
            for a in self.actors:
                submit(a)
        while in_flight:
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            actor = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except RayActorError:
                raise WorkerLost(_LOST.replace("a worker process", "a Ray worker")) from None
            except RayTaskError as exc:  # the worker's own exception (disk full, parser cannot be built)
                cause = getattr(exc, "cause", None)
                if isinstance(cause, BaseException):
                    raise cause from None
                raise
            submit(actor)
            yield result

    def save_parts(self, chunks: list) -> None:
        for _ in self._map("save_parts", chunks):
            pass

    def process(self, chunks: list) -> Iterator:
        return self._map("process", chunks)

    def _shutdown(self) -> None:
        for a in getattr(self, "actors", []):
            try:
                self.ray.kill(a)
            except Exception:
                pass
        self.actors = []

    def close(self) -> None:
        self._shutdown()

    def stop(self) -> None:
        self._shutdown()


def make_engine(config: GenerateConfig, build: Build, parser, n_chunks: int, session: RaySession | None = None):
    """The engine ``config.engine`` names, ready to take chunks (Ray: on the session's cluster);
    ``build`` makes each worker, ``parser`` the one the main process built (or None)."""
    if config.engine == "ray":
        if parser is not None and hasattr(parser, "close"):
            parser.close()  # built in the main process only to check it; each actor builds its own
        return RayEngine(config, build, n_chunks, session or RaySession(config))
    return LocalEngine(config, build, parser, n_chunks)

