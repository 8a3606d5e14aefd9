"""The server's runs: each started on its own thread through the Python API (`Studio`), its events kept
for everyone following it (server-sent events, the OpenAI routes waiting for the result), owned by
the caller who started it, and on shutdown finished or stopped with its record saved.

Back ends are shared by every surface of the process: `registry.resolve` builds each spec once and
each loaded pipeline has one owner (local_models/owner.py) that batches what all runs ask of it."""
from __future__ import annotations

import asyncio
import bisect
import hmac
import logging
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator

from agent.core.records import RunStore
from agent.core.trust import TrustPolicy, check_untrusted_spec
from agent.core.types import Event, RunRecord
from agent.surfaces.api import Studio, runs_in_flight, stop_every_run
from agent.surfaces.mcp_callers import CallerRuns
from agent.surfaces.server.errors import APIError

log = logging.getLogger("atelier")

PROGRESS_EVERY_S = 0.1  # the most often a run's followers are woken for its step progress
KEEP_FINISHED = 512  # finished runs whose events stay in memory for late followers (their records stay on disk)
STOP_WAIT_S = 120.0  # after the grace period: how long stopped runs get to finish their step and save


class LiveRun:
    """One run in this process: its events so far (as JSON), then its summary when it ends."""

    def __init__(self, run_id: str, owner: str, loop: asyncio.AbstractEventLoop | None, first: int = 0):
        self.run_id, self.owner, self._loop = run_id, owner, loop
        # (number, type, Event JSON), numbered in the order they came: the number is the SSE id, and it keeps
        # counting when a step's progress replaces the one before (a follower that has read that one is still
        # behind the new one: it would miss every step after the first if the list's index were the id)
        self.events: list[tuple[int, str, str]] = []
        self.summary: dict[str, Any] | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._waiters: set[asyncio.Event] = set()
        self._count = first  # a resumed run's numbers go on from its first stretch's (a Last-Event-ID stays valid)
        self._progress_woken = 0.0

    def add(self, event: Event) -> None:  # on the run's thread
        with self._lock:
            if event.type == "progress" and self.events and self.events[-1][1] == "progress":
                self.events.pop()  # a late follower needs the latest step only, not twenty an image in memory
            self.events.append((self._count, event.type, event.model_dump_json()))
            self._count += 1
        if event.type == "progress":
            # a denoising step is a few milliseconds on the embedded model: followers are woken for one at most
            # every PROGRESS_EVERY_S (the latest is kept, and whatever comes next wakes them anyway)
            now = time.monotonic()
            if now - self._progress_woken < PROGRESS_EVERY_S:
                return
            self._progress_woken = now
        self._wake()

    @property
    def next_number(self) -> int:
        return self._count

    def finish(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self.done.set()
        self._wake()

    def _wake(self) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        for waiter in list(self._waiters):
            self._loop.call_soon_threadsafe(waiter.set)

    async def follow(self, start: int = 0) -> AsyncIterator[tuple[int, str, str]]:
        """(number, type, JSON) of every event numbered `start` or later, live, until the run has ended (of a
        step's progress only the latest)."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            number = start
            while True:
                waiter.clear()  # before the snapshot: an event added after it wakes us
                finished = self.done.is_set()  # before the snapshot too: once done, it holds every event
                with self._lock:
                    new = self.events[bisect.bisect_left(self.events, number, key=lambda e: e[0]):]
                for n, kind, data in new:
                    yield n, kind, data
                    number = n + 1
                if not new:
                    if finished:
                        return
                    await waiter.wait()
        finally:
            self._waiters.discard(waiter)

    async def result(self) -> dict[str, Any]:
        async for _ in self.follow(self.next_number):
            pass
        assert self.summary is not None
        return self.summary


class RunHub:
    def __init__(self, runs_dir: str | Path, *, llm: str, image_model: str, critic: str,
                 video_model: str | None = None, policy: TrustPolicy | None = None,
                 files_dir: str | Path | None = None):
        self.store = RunStore(Path(runs_dir).expanduser().resolve())
        self.defaults = {"llm": llm, "image_model": image_model, "critic": critic, "video_model": video_model}
        self.policy = (policy or TrustPolicy.from_env()).with_operator(llm, image_model, critic, video_model)
        self.own = CallerRuns(self.store, Path(files_dir).expanduser().resolve() if files_dir else None)
        self.live: dict[str, LiveRun] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing = False
        self._studios: dict[tuple, Studio] = {}
        self._guard = threading.Lock()

    # ---- starting ------------------------------------------------------------------------------
    def studio(self, *, llm: str | None = None, image_model: str | None = None, critic: str | None = None,
               video_model: str | None = None, video_format: str | None = None, mode: str = "agent",
               edits: bool = True) -> Studio:
        """A Studio over the server's runs folder for back ends a caller chose among what the operator
        allows (ConfigError naming the spec otherwise)."""
        for kind, spec in (("llm", llm), ("image", image_model), ("critic", critic), ("video", video_model)):
            check_untrusted_spec(kind, spec, self.policy)
        chosen = {"llm": llm or self.defaults["llm"], "image_model": image_model or self.defaults["image_model"],
                  "critic": critic or self.defaults["critic"],
                  "video_model": video_model or self.defaults["video_model"], "video_format": video_format,
                  "mode": mode, "edits": edits}
        key = tuple(sorted(chosen.items()))
        with self._guard:
            if key not in self._studios:
                self._studios[key] = Studio(runs_dir=self.store.root, **chosen)
            return self._studios[key]

    def start(self, who: str, studio: Studio, brief: str, *, run_id: str | None = None, **fields) -> LiveRun:
        """Check the brief (InputError / ConfigError: nothing is made), then run it on its own thread."""
        self._refuse_when_closing()
        record = studio.prepare(brief, run_id, **fields)
        return self._launch(who, record.run_id, lambda live: studio.run_prepared(record, on_event=live.add, owner=who),
                            record)

    def resume(self, who: str, run_id: str) -> LiveRun:
        """Continue `who`'s interrupted run within what is left of its budget."""
        self._refuse_when_closing()
        record = self.own.load(run_id, who)
        if self.get(who, run_id) is not None and not self.live[run_id].done.is_set():
            raise APIError(409, f"run {run_id} is already running", code="run_running")
        studio = self.studio(llm=record.llm, image_model=record.image_model, critic=record.critic,
                             video_model=record.video_model, mode=record.mode)
        before = self.live.get(run_id)
        return self._launch(who, run_id, lambda live: studio.resume(run_id, on_event=live.add), record,
                            first=before.next_number if before else 0)

    def _launch(self, who: str, run_id: str, drive, record: RunRecord, first: int = 0) -> LiveRun:
        live = LiveRun(run_id, who, self.loop, first)
        with self._guard:
            self.live[run_id] = live
            self._forget_old()

        def work() -> None:
            try:
                summary = drive(live).summary()
            except Exception as e:  # the run API's caller is told, the log has the traceback
                log.exception("run %s failed", run_id)
                if record.status == "running":
                    record.status, record.error = "failed", f"internal error ({type(e).__name__}: {e})"
                summary = record.summary()
            live.finish(summary)

        threading.Thread(target=work, daemon=True, name=f"serve-{run_id}").start()
        return live

    def _refuse_when_closing(self) -> None:
        if self.closing:
            raise APIError(503, "the server is shutting down: no new runs", code="shutting_down")

    def _forget_old(self) -> None:
        finished = [k for k, v in self.live.items() if v.done.is_set()]
        for key in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            self.live.pop(key, None)

    # ---- finding -------------------------------------------------------------------------------
    def get(self, who: str, run_id: str) -> LiveRun | None:
        """The run when it ran in this process and is `who`'s; None otherwise (ask the records)."""
        live = self.live.get(run_id)
        if live is None or not hmac.compare_digest(live.owner.encode(), who.encode()):
            return None
        return live

    def record(self, who: str, run_id: str) -> RunRecord:
        """`who`'s run from disk (404 "no run" for another's, a missing one, one leading outside)."""
        from agent.core.errors import InputError
        try:
            return self.own.load(run_id, who)
        except InputError as e:
            raise APIError(404, str(e), param="run_id", code="run_not_found") from None

    def stop(self, who: str, run_id: str) -> bool:
        live = self.get(who, run_id)
        if live is None:
            self.record(who, run_id)  # 404 when it is not the caller's
            return False
        if live.done.is_set():
            return False
        for studio in list(self._studios.values()):
            if studio.stop(run_id):
                return True
        return False

    # ---- shutting down -------------------------------------------------------------------------
    def busy(self) -> int:
        return max(sum(not live.done.is_set() for live in list(self.live.values())), runs_in_flight())

    async def drain(self, grace_s: float) -> None:
        """Refuse new runs; let the ones in flight (every surface's) finish for `grace_s`, then ask
        them to stop after their current step and wait until each has saved its record."""
        self.closing = True
        deadline = time.monotonic() + grace_s
        while self.busy() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not self.busy():
            return
        log.warning("shutting down: stopping %d run(s) in flight after their current step", self.busy())
        stop_every_run()
        deadline = time.monotonic() + STOP_WAIT_S
        while self.busy() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.busy():
            log.error("shutting down: %d run(s) did not stop in %.0f s; their records hold their last step",
                      self.busy(), STOP_WAIT_S)
