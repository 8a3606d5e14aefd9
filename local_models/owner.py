"""One owner per loaded pipeline: a worker thread that alone calls it, coalescing compatible requests.

Diffusers pipelines are not re-entrant: a scheduler keeps per-call state (`set_timesteps`,
`step_index`), and LoRA adapters, IP-Adapter scales and offload hooks are pipeline state too;
pipelines made with `from_pipe` share all of it. So every call to a family's pipelines goes
through its `PipelineOwner`. Requests with equal keys (same task, size, steps, guidance,
scheduler, ...) that are waiting together run as one batched call, each with its own generator,
so a request's images do not depend on what else ran with it. A lone request waits at most
`window_s` (default 5 ms, `ATELIER_BATCH_WINDOW_MS`) for company.

Under steady concurrency (the batch runner's threads, each coming back after its critic and run
record) the callers split into cohorts: while one batch runs the others queue, and the next batch
starts the moment it ends, with only those. So when the last call held more than one request, the
owner waits longer for the recent callers (threads seen within three calls) not queued yet: at most
`regroup` of the last call's duration (`ATELIER_BATCH_REGROUP`, default 0.5; 0 turns it off) and
`max_regroup_s` (default 2 s), and no longer once all of them are queued. Each caller is waited for
only until twice its usual time away (from its last result to its next request) has passed, so a
caller that has finished for good costs that much, not the whole bound: on a loaded 2-core machine
the briefs stayed away 0.7-1 s (critic, record, next run's plan), past the former fixed 0.5 s bound,
and batches of 8 callers split into 1, 7, 3, 8, 1, 6, 1. A lone caller waits `window_s` only.

A server runs each run on a thread of its own, ended with the run: its next request comes from a
thread never seen. So for each caller of the last call whose thread has ended since (its run over,
another likely to follow), the owner waits, within the same bound, for one caller it has not seen
there: at 8 one-image briefs at once through `atelier serve`, batches had averaged 3.9.

`warm(key)`, when given, loads what a call with that key needs, on the owner's thread, before the
first batch of that key is gathered: callers arriving during the load (15-20 s under load) join
that batch. A load inside the first call held only the callers of its first 5 ms: 96 one-image
briefs at concurrency 8 ran as batches of 7, 8, ..., 8 and a last brief alone (1.8 s of 63).
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

# run(key, payloads) -> one result per payload, in order
BatchRunner = Callable[[Hashable, list[Any]], list[Any]]
AWAY_FACTOR = 2.0  # a caller is expected back within this many times its usual time away
AWAY_MARGIN_S = 0.02
FIRST_RETURN_S = 0.5  # how long a caller not yet seen coming back is waited for (the former fixed bound)


@dataclass
class _Job:
    key: Hashable
    payload: Any
    size: int
    client: threading.Thread | None = None  # the submitting thread
    future: Future = field(default_factory=Future)
    queued: float = field(default_factory=time.perf_counter)


@dataclass
class OwnerStats:
    calls: int = 0  # pipeline calls made
    requests: int = 0  # requests served
    images: int = 0
    largest_batch: int = 0
    busy_seconds: float = 0.0


class PipelineOwner:
    def __init__(self, name: str, run: BatchRunner, *, max_batch: int = 16, window_s: float | None = None,
                 regroup: float | None = None, max_regroup_s: float = 2.0,
                 warm: Callable[[Hashable], None] | None = None):
        self.name, self.run, self.max_batch = name, run, max_batch
        self.warm, self._warmed = warm, set()  # keys whose pipelines `warm` has loaded
        env = os.environ.get("ATELIER_BATCH_WINDOW_MS")
        self.window_s = window_s if window_s is not None else (float(env) / 1000 if env else 0.005)
        env = os.environ.get("ATELIER_BATCH_REGROUP")  # 0 turns the regrouping off
        self.regroup = regroup if regroup is not None else (float(env) if env else 0.5)
        self.max_regroup_s = max_regroup_s
        self.stats = OwnerStats()
        self._clients: dict[threading.Thread, float] = {}  # caller -> when it last submitted
        self._returned: dict[threading.Thread, float] = {}  # caller -> when its last result was handed back
        self._away: dict[threading.Thread, float] = {}  # caller -> its time away between calls (running mean)
        self._last_call = (0.0, 1)  # (seconds, requests) of the last pipeline call
        self._last_clients: list[threading.Thread | None] = []  # the last call's callers
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, key: Hashable, payload: Any, size: int = 1) -> Any:
        """Queue one request and wait for its result (the exception it raised, if it failed)."""
        if threading.current_thread() is self._thread:  # a runner calling back in would wait on itself
            return self.run(key, [payload])[0]
        job = _Job(key, payload, max(1, size), threading.current_thread())
        with self._cond:
            now = self._clients[job.client] = time.perf_counter()
            back = self._returned.pop(job.client, None)
            if back is not None:
                old = self._away.get(job.client)
                self._away[job.client] = now - back if old is None else 0.5 * (old + now - back)
            self._jobs.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name=f"owner:{self.name}", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job.future.result()

    # ---- the owner's thread ----------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            self._warm_next()
            batch = self._gather()
            try:
                self._execute(batch)
            except BaseException as error:  # noqa: BLE001 - never leave a caller waiting forever
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(error)

    def _warm_next(self) -> None:
        """`warm` for the next request's key if not done yet, outside the lock (callers queue meanwhile).
        Its failure is left to the call, which raises it to its callers."""
        if self.warm is None:
            return
        with self._cond:
            while not self._jobs:
                self._cond.wait()
            key = self._jobs[0].key
            if key in self._warmed:
                return
            self._warmed.add(key)
        try:
            self.warm(key)
        except Exception:  # noqa: BLE001 - the call meets it again and hands it to its callers
            pass

    def _gather(self) -> list[_Job]:
        with self._cond:
            while not self._jobs:
                self._cond.wait()
            first = self._jobs.popleft()
            batch, total = [first], first.size
            start = time.perf_counter()
            deadline = start + self.window_s
            last_seconds, last_requests = self._last_call
            for client in [c for c in self._clients if not c.is_alive()]:  # a thread per run: never back
                self._forget(client)
            if last_requests > 1 and self.regroup > 0:  # concurrent callers: wait for the ones not queued
                regroup_deadline = start + min(self.max_regroup_s, self.regroup * last_seconds)
                horizon = start - max(1.0, 3 * last_seconds)  # callers seen since are still about
                for client, seen in list(self._clients.items()):
                    if seen < horizon and self._due(client) < start:  # neither recent nor expected back
                        self._forget(client)
            else:
                regroup_deadline = deadline
            while total < self.max_batch:
                for job in list(self._jobs):  # in arrival order; incompatible ones keep their place
                    if job.key == first.key and total + job.size <= self.max_batch:
                        self._jobs.remove(job)
                        batch.append(job)
                        total += job.size
                now = time.perf_counter()
                until = min(regroup_deadline, max(self._expected(batch), self._successors_due(batch, regroup_deadline)))
                if until <= now:
                    until = deadline
                remaining = until - now
                if remaining <= 0 or total >= self.max_batch:
                    break
                self._cond.wait(min(remaining, 0.05))  # a caller's thread ending wakes no one: look again
            return batch

    def _expected(self, batch: list[_Job]) -> float:
        """Until when a recent caller neither in the batch nor queued may still come back: twice its
        usual time away after its last result (FIRST_RETURN_S for one not seen coming back yet); 0: none.
        A caller whose thread has ended (a server run's own thread, its run over) is not waited for."""
        waiting = {j.client for j in batch} | {j.client for j in self._jobs}
        until = 0.0
        for client in self._clients:
            if client in waiting or not client.is_alive():
                continue
            until = max(until, self._due(client))
        return until

    def _successors_due(self, batch: list[_Job], regroup_deadline: float) -> float:
        """`regroup_deadline` while fewer callers new since the last call are in `batch` or queued
        than that call's callers whose threads have ended (runs over, each likely followed by a run on
        a new thread); else 0."""
        ended = sum(1 for c in self._last_clients if c is not None and not c.is_alive())
        if not ended:
            return 0.0
        last = set(self._last_clients)
        newcomers = {j.client for j in batch if j.client not in last} | \
                    {j.client for j in self._jobs if j.client not in last}
        return regroup_deadline if len(newcomers) < ended else 0.0

    def _forget(self, client: threading.Thread) -> None:
        self._clients.pop(client, None)
        self._returned.pop(client, None)
        self._away.pop(client, None)

    def _due(self, client: threading.Thread) -> float:
        """When `client` should be back if it is still calling (0: it has no result to come back from)."""
        back, away = self._returned.get(client), self._away.get(client)
        if back is None:
            return 0.0
        return back + (FIRST_RETURN_S if away is None else AWAY_FACTOR * away + AWAY_MARGIN_S)

    def _execute(self, batch: list[_Job]) -> None:
        t0 = time.perf_counter()
        try:
            results = self.run(batch[0].key, [j.payload for j in batch])
            self._last_call = (time.perf_counter() - t0, len(batch))
            self._last_clients = [j.client for j in batch]
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} requests")
        except BaseException as error:  # noqa: BLE001 - handed to the callers, never lost
            if len(batch) == 1:
                self._handed_back(batch)
                batch[0].future.set_exception(error)
            else:  # one bad request must not fail the others: run each alone
                for job in batch:
                    self._execute([job])
            return
        finally:
            self.stats.busy_seconds += time.perf_counter() - t0
        self._handed_back(batch)
        for job, result in zip(batch, results):
            job.future.set_result(result)
        self._count(batch, calls=1)

    def _handed_back(self, batch: list[_Job]) -> None:
        with self._cond:
            handed = time.perf_counter()
            for job in batch:
                self._returned[job.client] = handed

    def _count(self, batch: list[_Job], calls: int) -> None:
        s = self.stats
        s.calls += calls
        s.requests += len(batch)
        s.images += sum(j.size for j in batch)
        s.largest_batch = max(s.largest_batch, sum(j.size for j in batch))
