"""Where briefs run: behind one narrow Protocol, threads in this process (`LocalExecutor`) or
workers on a Ray cluster (`RayExecutor`). An executor's future gives the brief's summary line, or
raises `WorkerLost` when the worker running it died (the brief is not finished: run it elsewhere)."""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Protocol

from agent.core.errors import InputError
from agent.surfaces.batch.jobs import BriefJob, run_job


class WorkerLost(Exception):
    """The worker running a brief died (its node was lost, it ran out of memory) before answering."""


class Executor(Protocol):
    slots: int  # briefs it runs at once

    def submit(self, job: BriefJob) -> Future: ...  # -> the brief's summary line, or WorkerLost
    def stop_all(self) -> None: ...  # ask every running brief to stop after its step
    def shutdown(self) -> None: ...


class LocalExecutor:
    """Briefs on a thread pool in this process; back ends (and their pipelines' owners) are shared,
    so briefs in flight together are batched by each pipeline's owner."""

    def __init__(self, concurrency: int, on_event: Callable | None = None):
        self.slots = concurrency
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="brief")
        self.on_event = on_event
        self.running: dict[str, Any] = {}

    def submit(self, job: BriefJob) -> Future:
        def work():
            try:
                return run_job(job, self.on_event, lambda studio, run_id: self.running.__setitem__(run_id, studio))
            finally:
                self.running.pop(job.id, None)
        return self.pool.submit(work)

    def stop_all(self) -> None:
        for run_id, studio in list(self.running.items()):
            studio.stop(run_id)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class ServerExecutor:
    """Briefs on a warm `atelier serve` (agent/surfaces/server/briefs_api.py), each one request run
    there by `run_job` with this batch's rules, so they share its warm pipelines. Briefs naming files
    (reference images, a mask) run here, and so does every brief once the server stops answering or
    stops a brief itself (shutting down): that brief resumes here from its run.json."""

    def __init__(self, server, concurrency: int, on_event: Callable | None = None,
                 say: Callable[[str], None] = lambda _: None):
        self.server, self.slots, self.say = server, concurrency, say
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="brief-client")
        self.here = LocalExecutor(concurrency, on_event)  # threads start only when a brief runs here
        self.gone = ""  # why the server is no longer used
        self.stopping = False
        self.on_server: set[str] = set()

    def submit(self, job: BriefJob) -> Future:
        if self.gone or job.brief.reference_images or job.brief.mask is not None:
            return self.here.submit(job)

        def work():
            from agent.surfaces.server.client import ServerGone
            self.on_server.add(job.id)
            try:
                line = self.server.brief(job.model_dump(mode="json"))
                if line.get("status") != "stopped" or self.stopping:
                    return line
                why = f"the server at {self.server.url} stopped brief {job.id} (shutting down)"
            except ServerGone as e:
                why = str(e)
            finally:
                self.on_server.discard(job.id)
            if not self.gone:
                self.gone = why
                self.say(f"[yellow]{why}[/]: the batch goes on in this process")
            return self.here.submit(job).result()
        return self.pool.submit(work)

    def stop_all(self) -> None:
        self.stopping = True
        for brief_id in list(self.on_server):
            self.server.stop_brief(brief_id)
        self.here.stop_all()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.here.shutdown()


def connect_ray(address: str | None, say: Callable[[str], None]) -> bool:
    """Join the cluster at `address` (or RAY_ADDRESS), else one started on this machine with
    `ray start`, else start a local instance (and say so). True when this process started it."""
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install 'atelier[ray]'") from None
    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in ("ATELIER_PLUGINS", "PYTHONPATH", "ATELIER_TORCH_THREADS") if k in os.environ}
    options = dict(runtime_env={"env_vars": env} if env else None, log_to_driver=False)
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address != "auto":
        _reachable(address)
    elif not address and not _running_here():  # Ray would retry a dead one for a minute or more
        return _start_local(ray, options, say)
    try:
        ray.init(address=address or "auto", **options)
    except (ConnectionError, RuntimeError) as e:
        if address:
            raise InputError(f"no Ray cluster at {address!r} ({str(e).splitlines()[0]}); start one with "
                             f"`ray start --head` there, or unset RAY_ADDRESS to run on this machine") from None
        return _start_local(ray, options, say)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    say(f"ray: joined the cluster at {address or 'this machine (ray start)'}: {len(nodes)} node(s), "
        f"{int(ray.cluster_resources().get('CPU', 0))} CPUs")
    return False


def _start_local(ray, options: dict, say: Callable[[str], None]) -> bool:
    ray.init(address="local", include_dashboard=False, **options)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    say(f"ray: no cluster running and RAY_ADDRESS unset, so started a local Ray instance ({cpus} CPUs) "
        f"for this batch; to use a cluster, `ray start --head` on one machine and set RAY_ADDRESS")
    return True


def _running_here() -> bool:
    """Whether the cluster `ray start` last began on this machine (its address file) still answers."""
    try:
        from ray._private.utils import read_ray_address  # where ray.init("auto") looks
        address = read_ray_address()
    except Exception:
        return False
    if not address:
        return False
    try:
        _reachable(address, seconds=2.0)
        return True
    except InputError:
        return False


def _reachable(address: str, seconds: float = 5.0) -> None:
    """Fail fast (Ray itself retries for a minute or more) when nothing listens at host:port."""
    import socket
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=seconds).close()
    except ValueError:
        raise InputError(f"RAY_ADDRESS / --ray-address must be HOST:PORT (or ray://HOST:PORT), not {address!r}") from None
    except OSError as e:
        raise InputError(f"no Ray cluster at {address!r} (nothing answers there: {e.strerror or e}); start one with "
                         f"`ray start --head` there, or unset RAY_ADDRESS to run on this machine") from None


class RayExecutor:
    """Briefs on long-lived Ray actors, one per node (or per `gpus_per_worker` GPUs), each running
    `briefs_per_worker` briefs at once in its threads: its back ends load once and its pipeline
    owner batches the briefs in flight together. The output folder must be on storage every worker
    shares. An actor that dies takes no brief with it: its briefs come back as WorkerLost (the
    scheduler runs them again, resuming their run.json) and a fresh actor, on any live node, takes
    its place."""

    def __init__(self, concurrency: int, address: str | None = None, gpus_per_worker: float = 0.0,
                 briefs_per_worker: int | None = None, say: Callable[[str], None] = lambda _: None):
        self.started = connect_ray(address, say)
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        self.ray, self.affinity = ray, NodeAffinitySchedulingStrategy
        nodes = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1]
        if gpus_per_worker:
            workers = int(ray.cluster_resources().get("GPU", 0) / gpus_per_worker)
            if workers < 1:
                raise InputError(f"--gpus-per-worker {gpus_per_worker:g}: the cluster has "
                                 f"{ray.cluster_resources().get('GPU', 0):g} GPUs")
        else:
            workers = max(1, len(nodes))
        workers = min(workers, concurrency)
        self.per_worker = briefs_per_worker or math.ceil(concurrency / workers)
        self.slots = workers * self.per_worker
        self.worker = ray.remote(num_cpus=1, num_gpus=gpus_per_worker, max_restarts=0)(_RayBriefWorker)
        self.gpus = gpus_per_worker
        self.lock = threading.Lock()
        self.load: dict[Any, int] = {}  # actor -> briefs in flight on it
        self.dead: list = []  # actors that died, to be replaced from the scheduler's thread
        for n in range(workers):
            self.load[self._spawn(None if gpus_per_worker else nodes[n]["NodeID"])] = 0
        say(f"ray: {workers} worker(s) × {self.per_worker} briefs at once")

    def _spawn(self, node_id: str | None):
        options: dict = {"max_concurrency": self.per_worker}
        if node_id:  # soft: a worker whose node is gone is placed on any live one
            options["scheduling_strategy"] = self.affinity(node_id, soft=True)
        return self.worker.options(**options).remote()

    def submit(self, job: BriefJob) -> Future:
        self._replace_dead()
        with self.lock:
            actor = min(self.load, key=self.load.get)
            self.load[actor] += 1
        result: Future = Future()

        def done(f: Future) -> None:  # on Ray's own thread: plain Python only, never a Ray call
            error = f.exception()
            with self.lock:
                if actor in self.load:
                    self.load[actor] -= 1
                    if error is not None and isinstance(error, self.ray.exceptions.RayActorError):
                        del self.load[actor]
                        self.dead.append(actor)
            if error is None:
                result.set_result(f.result())
            else:
                result.set_exception(WorkerLost(f"{type(error).__name__}: "
                                                f"{str(error).splitlines()[0] if str(error) else ''}"))
        actor.run.remote(job).future().add_done_callback(done)
        return result

    def _replace_dead(self) -> None:
        """A fresh actor, on any live node, for each that died (its node lost, out of memory)."""
        with self.lock:
            dead, self.dead = self.dead, []
        for actor in dead:
            try:
                self.ray.kill(actor)
            except Exception:
                pass
            fresh = self._spawn(None)
            with self.lock:
                self.load[fresh] = 0

    def stop_all(self) -> None:
        pass  # a killed or interrupted brief resumes from its run.json on the next start

    def shutdown(self) -> None:
        for actor in list(self.load) + self.dead:
            try:
                self.ray.kill(actor)
            except Exception:
                pass
        if self.started:
            self.ray.shutdown()


class _RayBriefWorker:
    """One per node: briefs run in its threads (the actor's max_concurrency) and share its back ends."""

    def run(self, job: BriefJob) -> dict:
        import ray
        return {**run_job(job), "node_id": ray.get_runtime_context().get_node_id()}
