"""The chat UI's runs in flight: a pump that runs a blocking Studio call in a thread and hands its
events to a Gradio generator, a gate that lets the user review a rewritten prompt asynchronously,
a per-session registry of runs (so Stop and the review buttons reach the right run), who owns a
run, and each tab's Desk with the worker threads that run its queued briefs. Imports no Gradio.
"""
from __future__ import annotations

import queue
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from agent.core.errors import AtelierError, StopRun
from agent.core.types import Event
from agent.surfaces.ui_text import (RunView, edit_words, error_msg, final_msg, msg, progress_fraction, progress_text,
                                    scrub, short, status_words)

if TYPE_CHECKING:
    from agent.surfaces.ui_support import Settings

REVIEW_TIMEOUT_S = 600.0


# ---- running a blocking call as a stream of items ------------------------------------------------
class Pump:
    """Runs `work` in a thread; its events, review requests, errors and the end arrive as
    `(kind, payload)` items: ("event", Event), ("review", dict), ("error", str), ("done", None).
    A ("tick", None) item comes every `heartbeat` seconds of silence so the UI can show time passing."""

    def __init__(self, heartbeat: float = 0.5):
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.heartbeat = heartbeat
        self.thread: threading.Thread | None = None

    def put(self, kind: str, payload: Any = None) -> None:
        self.items.put((kind, payload))

    def on_event(self, event: Event) -> None:
        self.put("event", event)

    def start(self, work: Callable[[], Any], name: str = "ui-run") -> "Pump":
        def target():
            try:
                work()
            except AtelierError as e:
                self.put("error", str(e))
            except StopRun as e:  # e.g. an edit asked for after the run's time or money ran out
                self.put("error", str(e))
            except Exception as e:  # a bug: one line for the user, never a stack trace
                self.put("error", f"internal error {type(e).__name__}: {e}")
            finally:
                self.put("done")

        self.thread = threading.Thread(target=target, daemon=True, name=name)
        self.thread.start()
        return self

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        while True:
            try:
                kind, payload = self.items.get(timeout=self.heartbeat)
            except queue.Empty:
                yield "tick", None
                continue
            yield kind, payload
            if kind == "done":
                return


class ReviewGate:
    """The `review` callback of a run, answered from another request: the run's thread blocks
    here until the user accepts, edits or refuses the rewrite (or the timeout passes)."""

    def __init__(self, pump: Pump, timeout: float = REVIEW_TIMEOUT_S):
        self.pump, self.timeout = pump, timeout
        self.answers: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.pending: str | None = None
        self.timed_out = False

    def __call__(self, brief: str, proposed: str) -> str | None:
        from tools.refine_prompt import _changes
        self.pending = proposed
        self.pump.put("review", {"brief": brief, "proposed": proposed, "changes": _changes(brief, proposed)})
        try:
            kind, text = self.answers.get(timeout=self.timeout)
        except queue.Empty:
            kind, text, self.timed_out = "accept", proposed, True
        finally:
            self.pending = None
        if kind == "refuse":
            return None
        return text.strip() if text and text.strip() else proposed

    def answer(self, kind: str, text: str | None = None) -> bool:
        """kind: "accept" (text is the prompt to use, edited or not) or "refuse"."""
        if self.pending is None:
            return False
        self.answers.put((kind, text))
        return True


# ---- runs in flight, one per browser session ---------------------------------------------------
@dataclass
class Live:
    studio: Any
    gate: ReviewGate | None = None
    run_id: str | None = None
    stop_requested: bool = False
    started: float = field(default_factory=time.monotonic)


class Hub:
    """Which run each browser session has in flight. Keys are Gradio session hashes (one per page
    load), so Stop and the review buttons of one tab never touch another tab's run."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: dict[str, Live] = {}

    def begin(self, key: str, studio, gate: ReviewGate | None = None) -> Live | None:
        with self._lock:
            if key in self._live:
                return None
            live = self._live[key] = Live(studio, gate)
            return live

    def get(self, key: str) -> Live | None:
        with self._lock:
            return self._live.get(key)

    def started(self, key: str, run_id: str) -> None:
        with self._lock:
            live = self._live.get(key)
            if live:
                live.run_id = run_id
                if live.stop_requested:
                    live.studio.stop(run_id)

    def stop(self, key: str) -> str:
        with self._lock:
            live = self._live.get(key)
            if live is None:
                return "nothing is running"
            live.stop_requested = True
            if live.gate is not None and live.gate.pending is not None:
                live.gate.answer("accept", live.gate.pending)
            if live.run_id:
                live.studio.stop(live.run_id)
                return f"stopping run {live.run_id} after its current step…"
            return "stopping as soon as the run starts…"

    def answer(self, key: str, kind: str, text: str | None = None) -> bool:
        live = self.get(key)
        return bool(live and live.gate and live.gate.answer(kind, text))

    def run_ids(self) -> set[str]:
        with self._lock:
            return {live.run_id for live in self._live.values() if live.run_id}

    def end(self, key: str) -> None:
        with self._lock:
            self._live.pop(key, None)


# ---- ownership -------------------------------------------------------------------------------
def owner_id(username: str | None, browser_token: str | None, session_hash: str | None) -> str:
    """Who a session's runs belong to: the logged-in user when auth is on, else the browser (a
    random token kept in its local storage), else the page session."""
    if username:
        return f"user:{username}"
    if browser_token:
        return f"browser:{browser_token}"
    return f"session:{session_hash or secrets.token_hex(8)}"


def new_token() -> str:
    return secrets.token_urlsafe(16)


def visible_runs(studio, owner: str, all_runs: bool = False, limit: int = 200) -> list[dict]:
    return studio.history(limit, owner=None if all_runs else owner)


def may_open(studio, owner: str, run_id: str, all_runs: bool = False) -> bool:
    if all_runs:
        return True
    return any(r["run_id"] == run_id for r in studio.history(10_000, owner=owner))


# ---- a tab's conversation, kept on the server ---------------------------------------------------
@dataclass
class Job:
    """One thing a tab asked for: a brief to run ("brief"), an attempt to edit ("edit") or to set words on
    ("typeset": `text` is the words)."""

    kind: str
    text: str
    settings: Settings
    refs: list[str] = field(default_factory=list)
    run_id: str | None = None  # edits: the run and attempt they edit, and how
    index: int = 0
    mask: str | None = None
    instruction: str = ""
    strength: float = 0.75
    seed: int | None = None
    feather: int | None = None  # an edit: the painted mask's edge softened by this many pixels (None: the model's)
    typeset: dict = field(default_factory=dict)  # typeset: where and how (Studio.typeset's keywords)
    id: str = field(default_factory=lambda: secrets.token_hex(4))  # names it in the queue panel

    @property
    def planned(self) -> int:
        """How many attempts the job may make at most (its budget's rounds x images per round)."""
        return 1 if self.kind != "brief" else max(1, self.settings.max_iterations * self.settings.candidates)


class Desk:
    """One browser tab's conversation, kept on the server so that it outlives the page: its chat,
    its runs, the briefs queued behind the one in flight, and that run's progress. The run is
    driven by a worker thread, not by the page, so a reload reattaches instead of stopping it."""

    def __init__(self, key: str, owner: str):
        self.key, self.owner = key, owner
        self.chat: list[dict] = []
        self.runs: list[str] = []
        self.current: str | None = None
        self.selected: list | None = None
        self.viewing: int | None = None  # the gallery item the viewer shows (for ←/→)
        self.refs: list = []
        self.ticked: list[str] = []  # "run_id:index" of the attempts ticked for a zip download
        self.last: dict | None = None
        self.compare = True
        self.form: list | None = None  # the settings widgets' values, restored on reload
        self.queue: deque[Job] = deque()
        self.busy = False
        self.version = 0
        self.status: tuple[str, str] = ("Ready", "idle")
        self.progress: dict | None = None
        self.review: dict | None = None
        self.cond = threading.Condition(threading.RLock())
        self.touched = time.monotonic()

    def bump(self) -> None:
        with self.cond:
            self.version += 1
            self.touched = time.monotonic()
            self.cond.notify_all()

    def tell(self, text: str, kind: str) -> None:
        """Set the status line: it always describes the latest thing done or asked (no stale error)."""
        with self.cond:
            self.status = (text, kind)
        self.bump()

    def waiting(self) -> list[Job]:
        with self.cond:
            return list(self.queue)

    def say(self, message: dict, status: tuple[str, str] | None = None) -> None:
        with self.cond:
            self.chat.append(message)
            if status:
                self.status = status
        self.bump()

    def status_line(self) -> tuple[str, str, float | None, str | None]:
        """(text, style, progress 0..1 or None, the denoising preview's data URL or None) as shown now."""
        with self.cond:
            p = self.progress
            text, kind = self.status
            if not self.busy or p is None:
                return text, kind, None, None
            queued = f" · {n} brief{'s' if n != 1 else ''} queued" if (n := len(self.queue)) else ""
            if p.get("phase") == "slot":
                return "waiting for a free slot (other runs are using the machine)" + queued, "queued", 0.0, None
            if p.get("phase") == "review":
                return "waiting for you to review the rewritten prompt" + queued, "busy", 0.0, None
            now, preview = time.monotonic(), p.get("preview") if p.get("step") else None
            return progress_text(p, now) + queued, "busy", progress_fraction(p, now), preview


class Desks:
    """Every tab's Desk, and the worker threads that run their jobs, at most `max_runs` at once
    across all tabs (the rest wait for a slot, shown as such)."""

    def __init__(self, runs_dir: Path, max_runs: int = 4, review_timeout: float = REVIEW_TIMEOUT_S,
                 keep: int = 500):
        self.runs_dir, self.review_timeout, self.keep = Path(runs_dir), review_timeout, keep
        self.hub = Hub()
        self.slots = threading.BoundedSemaphore(max(1, max_runs))
        self._lock = threading.Lock()
        self._desks: dict[str, Desk] = {}

    def attach(self, key: str | None, owner: str) -> Desk:
        """The tab's desk when `key` names one of this owner's, else a new one (with a new key: a
        key the page brings is never trusted to name someone else's desk)."""
        with self._lock:
            desk = self._desks.get(key or "")
            if desk is not None and desk.owner == owner:
                desk.touched = time.monotonic()
                return desk
            new_key = secrets.token_urlsafe(18)
            desk = self._desks[new_key] = Desk(new_key, owner)
            self._forget_old()
            return desk

    def get(self, key: str | None, owner: str) -> Desk | None:
        with self._lock:
            desk = self._desks.get(key or "")
        return desk if desk is not None and desk.owner == owner else None

    def _forget_old(self) -> None:
        if len(self._desks) <= self.keep:
            return
        idle = sorted((d.touched, k) for k, d in self._desks.items() if d is not None and not d.busy)
        for _, k in idle[:len(self._desks) - self.keep]:
            self._desks.pop(k, None)

    def submit(self, desk: Desk, job: Job) -> bool:
        """Queue `job`; True when it starts now, False when it waits behind the tab's current run."""
        with desk.cond:
            desk.queue.append(job)
            if desk.busy:
                desk.bump()
                return False
            desk.busy = True
            desk.progress = {"phase": "slot", "planned": job.planned, "done": 0, "started": time.monotonic()}
        desk.bump()
        threading.Thread(target=self._work, args=(desk,), daemon=True, name=f"ui-desk-{desk.key[:6]}").start()
        return True

    def stop(self, desk: Desk) -> str:
        """Stop the tab's run after its current step, and cancel every brief queued behind it."""
        with desk.cond:
            cancelled = list(desk.queue)
            desk.queue.clear()
            for job in cancelled:
                self._mark_cancelled(desk, job)
        said = self.hub.stop(desk.key) if self.hub.get(desk.key) else "nothing is running"
        if cancelled:
            said += f" · {len(cancelled)} queued brief{'s' if len(cancelled) != 1 else ''} cancelled"
        desk.bump()
        return said

    def take(self, desk: Desk, job_id: str, *, to_front: bool = False) -> Job | None:
        """Take one queued brief out of the tab's queue: cancelled, or (`to_front`) put first in line.
        None when it is not queued any more."""
        with desk.cond:
            job = next((j for j in desk.queue if j.id == job_id), None)
            if job is not None:
                desk.queue.remove(job)
                desk.queue.appendleft(job) if to_front else self._mark_cancelled(desk, job)
        desk.bump()
        return job

    @staticmethod
    def _mark_cancelled(desk: Desk, job: Job) -> None:
        for m in desk.chat:
            if m.get("key") == f"queued:{job.id}":
                m["text"] = f"✖ **Cancelled** — this brief was taken out of the queue: _{short(job.text, 80)}_"

    def live_runs(self) -> set[str]:
        """The run ids in flight in any tab right now."""
        return self.hub.run_ids()

    def answer(self, desk: Desk, kind: str, text: str | None = None) -> bool:
        ok = self.hub.answer(desk.key, kind, text)
        if ok:
            with desk.cond:
                desk.review = None
                if desk.progress:
                    desk.progress["phase"] = "run"
            desk.bump()
        return ok

    # -- the worker --
    def _work(self, desk: Desk) -> None:
        while True:
            with desk.cond:
                if not desk.queue:
                    desk.busy, desk.progress = False, None
                    desk.bump()
                    return
                job = desk.queue.popleft()
                desk.status = ("Running", "busy")  # what an earlier run or refusal said is over
                for m in desk.chat:
                    if m.get("key") == f"queued:{job.id}":
                        m["text"] = f"▶ **Started** — queued earlier, running now: _{short(job.text, 80)}_"
                desk.progress = {"phase": "slot", "planned": job.planned, "done": 0, "started": time.monotonic(),
                                 "kind": job.kind, "max_seconds": job.settings.max_seconds}
            desk.bump()
            try:
                with self.slots:
                    self._run(desk, job)
            except Exception as e:  # a bug here must not leave the tab busy forever
                desk.say(error_msg(f"internal error {type(e).__name__}: {scrub(str(e), self.runs_dir)}"),
                         (f"Failed — internal error {type(e).__name__}", "error"))

    def _run(self, desk: Desk, job: Job) -> None:
        with desk.cond:
            desk.progress.update(phase="run", started=time.monotonic())
        desk.bump()
        try:
            studio = job.settings.studio(self.runs_dir)
        except AtelierError as e:
            desk.say(error_msg(scrub(str(e), self.runs_dir)), (f"Failed — {scrub(str(e), self.runs_dir)}", "error"))
            return
        pump = Pump()
        gate = ReviewGate(pump, self.review_timeout) if job.settings.review and job.kind == "brief" else None
        live = self.hub.begin(desk.key, studio, gate)
        if live is None:  # cannot happen: one worker per desk
            desk.say(error_msg("a run is already in progress in this tab"))
            return
        view = RunView(desk.chat)
        if job.kind != "brief":
            live.run_id = view.run_id = job.run_id
        pump.start(self._work_fn(job, studio, pump, gate, desk.owner))
        finished: dict | None = None
        try:
            for kind, payload in pump:
                if kind == "tick":
                    continue
                with desk.cond:
                    if kind == "event":
                        view.apply(payload)
                        p = desk.progress
                        if payload.type == "run_started":
                            self.hub.started(desk.key, payload.run_id)
                            if payload.run_id not in desk.runs:
                                desk.runs.append(payload.run_id)
                            desk.current, desk.selected = payload.run_id, None
                        elif payload.type == "attempt_made":
                            p["judging"], p["step"] = True, None
                        elif payload.type == "progress":  # a denoising step: "step 12/20", its preview
                            p.update(step=(payload.data["step"], payload.data["total"]), preview=payload.data.get("preview"))
                        elif payload.type == "verdict":
                            now = time.monotonic()
                            p["done"] = min(p["done"] + 1, p["planned"])
                            p["first_at"] = p.get("first_at") or now
                            p["last_at"], p["judging"] = now, False
                        elif payload.type == "run_finished":
                            finished = payload.data.get("summary") or None
                    elif kind == "review":
                        desk.review = payload
                        desk.progress["phase"] = "review"
                    elif kind == "result":
                        finished = finished or payload
                        desk.chat.append(final_msg(payload, edit=job.kind != "brief") | {"key": f"final:{payload['run_id']}:{len(desk.chat)}"})
                    elif kind == "error":
                        text = scrub(payload, self.runs_dir)
                        desk.chat.append(error_msg(text))
                        desk.status = (f"Failed — {text}", "error")
                desk.bump()
        finally:
            self.hub.end(desk.key)
        with desk.cond:
            desk.review = None
            if live.gate is not None and live.gate.timed_out:
                desk.chat.append(msg(f"⏱ No answer to the review in {self.review_timeout:.0f} s: "
                                     "the proposed prompt was used."))
            if finished:
                text, kind = edit_words(finished) if job.kind != "brief" else status_words(finished)
                desk.status = (scrub(text, self.runs_dir), kind)
                if job.kind == "brief":
                    desk.last = {"text": job.text, "refs": list(job.refs),
                                 "seed": _first_seed(self.runs_dir, finished) or job.settings.seed}
            elif desk.status[1] != "error":
                desk.status = ("Failed — the run ended without a result", "error")
        desk.bump()

    @staticmethod
    def _work_fn(job: Job, studio, pump: Pump, gate, owner: str) -> Callable[[], None]:
        if job.kind == "typeset":
            def typeset():
                result = studio.typeset(job.run_id, job.index, job.text, on_event=pump.on_event, **job.typeset)
                pump.put("result", result.summary())
            return typeset
        if job.kind == "edit":
            def edit():
                result = studio.iterate(job.run_id, job.index, job.text, mask=job.mask, instruction=job.instruction,
                                        strength=job.strength, seed=job.seed, feather=job.feather, on_event=pump.on_event)
                pump.put("result", result.summary())
            return edit
        fields = job.settings.brief_fields()
        if job.refs:
            fields["reference_images"] = list(job.refs)

        def run():
            for event in studio.stream(job.text, review=gate, owner=owner, **fields):
                pump.on_event(event)
        return run


def _first_seed(runs_dir: Path, summary: dict) -> int | None:  # noqa: ARG001
    attempts = summary.get("attempts") or []
    return attempts[0].get("seed") if attempts else None
