"""The batch: which briefs of the file are left, handing them to an executor within the batch's
budget, the progress display, and the ledger and report at the end."""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, Field

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import InputError, OutOfSpace
from agent.core.types import RunRecord
from agent.surfaces.batch.briefs import BriefEntry, load_briefs
from agent.surfaces.batch.executors import Executor, LocalExecutor, RayExecutor, ServerExecutor, WorkerLost
from agent.surfaces.batch.jobs import RUNS, make_job
from agent.surfaces.batch.ledger import SummaryLog

SUMMARY, REPORT = "summary.jsonl", "report.html"
MAX_LOST = 3  # workers a brief may outlive before it is failed (a brief that kills every worker)


class BatchResult(BaseModel):
    lines: list[dict] = Field(description="summary lines of the file's finished briefs, in file order")
    failed: list[str] = Field(default_factory=list, description="ids of briefs that failed with an error")
    pending: list[str] = Field(default_factory=list, description="ids not run (batch budget spent or interrupted)")
    done_before: int = Field(0, description="briefs already finished in OUT when this batch started")
    stop_reason: str = ""
    report: Path | None = None
    error: str | None = Field(None, description="why the batch could not go on (the disk is full): one line")


def run_batch(file: Path | str, out: Path | str = "batch", *, concurrency: int = 2,
              executor: Literal["local", "ray"] = "local", max_seconds: float | None = None,
              max_cost: float | None = None, defaults: dict[str, str] | None = None,
              retry_failed: bool = False, ray_address: str | None = None, gpus_per_worker: float = 0.0,
              briefs_per_worker: int | None = None, progress: bool | None = None, console=None,
              files: Iterable[Path | str] = (), credentials: bool = True, server=None) -> BatchResult:
    """Run every brief of FILE not yet finished in OUT (see the package's docstring). `files`:
    folders besides the brief file's own that its reference images may come from. `server`: a warm
    `atelier serve` (server.client.WarmServer) keeping its runs in OUT/runs, for the local executor."""
    if concurrency < 1 or concurrency > 256:
        raise InputError(f"--concurrency must be between 1 and 256, not {concurrency}")
    if max_seconds is not None and max_seconds <= 0 or max_cost is not None and max_cost < 0:
        raise InputError("the batch budget (--max-seconds, --max-cost) must be positive")
    if briefs_per_worker is not None and not 1 <= briefs_per_worker <= 64:
        raise InputError(f"--briefs-per-worker must be between 1 and 64, not {briefs_per_worker}")
    defaults = {k: v for k, v in (defaults or {}).items() if v}
    entries = load_briefs(file, defaults, files)
    out = Path(out).expanduser().resolve()
    try:
        (out / RUNS).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out must be a folder Atelier can write: {out} ({e.strerror})") from None
    lock = _lock(out)
    try:
        from rich.console import Console
        batch = _Batch(entries, out, defaults, max_seconds, max_cost, retry_failed,
                       console or Console(stderr=True), progress, credentials)
        return batch.run(lambda on_event: (
            RayExecutor(concurrency, ray_address, gpus_per_worker, briefs_per_worker, say=batch.say)
            if executor == "ray" else LocalExecutor(concurrency, on_event) if server is None else
            ServerExecutor(server, concurrency, on_event, say=batch.say)),
            warm=executor == "local" and server is None)
    finally:
        lock.close()


def _lock(out: Path):
    """One batch per output folder at a time (the OS drops the lock if the process is killed)."""
    import fcntl
    f = open(out / ".batch.lock", "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise InputError(f"another `atelier brief` is already running on {out}") from None
    return f


class _Batch:
    def __init__(self, entries: list[BriefEntry], out: Path, defaults, max_seconds, max_cost, retry_failed,
                 console, show_progress, credentials: bool = True):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.entries, self.out, self.defaults, self.retry = entries, out, defaults, retry_failed
        self.credentials = credentials
        self.max_seconds, self.max_cost, self.console = max_seconds, max_cost, console
        self.log = SummaryLog(out / SUMMARY)
        if retry_failed:
            ids = {e.id for e in entries}
            self.log.drop({i for i, line in self.log.lines.items() if i in ids and line.get("status") == "failed"})
        self.todo = deque(e for e in entries if not self.log.finished(e.id, e.brief, out / RUNS))
        self.done_before = len(entries) - len(self.todo)
        self.started = time.monotonic()
        self.spent_before = sum(float(l.get("cost_usd") or 0) for l in self.log.lines.values())
        self.spent_now, self.stop_reason, self.error = 0.0, "", None
        self.lost: dict[str, int] = {}
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                                 disable=show_progress is False, transient=False,
                                 # off a terminal only the final table is printed, but the refresh thread
                                 # built it 10 times a second, holding the GIL the pipeline's thread needs
                                 auto_refresh=console.is_terminal)
        self.rows: dict[str, Any] = {}

    def say(self, text: str) -> None:
        """A line on stderr (not only in the live display), however progress is shown."""
        self.console.print(text, highlight=False, soft_wrap=True)

    def left(self) -> tuple[float | None, float | None]:
        secs = None if self.max_seconds is None else self.max_seconds - (time.monotonic() - self.started)
        money = None if self.max_cost is None else self.max_cost - self.spent_before - self.spent_now
        return secs, money

    def on_event(self, event) -> None:
        row = self.rows.get(event.run_id)
        if row is None:
            return
        status = {"attempt_made": lambda: event.message, "verdict": lambda: event.message[:70],
                  "prompt_refined": lambda: "prompt refined", "tool_error": lambda: "tool error: " + event.message[:60],
                  "run_started": lambda: "started"}.get(event.type)
        if status:
            self.progress.update(row, status=status())
        if event.type == "verdict" and event.attempt is not None:
            self.progress.update(row, completed=event.attempt.iteration)

    on_event.hears_steps = False  # the table shows rounds, not denoising steps (RunContext.reporting_steps)

    def run(self, make_executor, warm: bool) -> BatchResult:
        total = len(self.entries)
        if self.done_before and self.todo:
            self.say(f"{self.done_before} of {total} done, resuming: {len(self.todo)} to go")
        elif not self.todo:
            self.say(f"all {total} briefs done already (in {self.out / SUMMARY}); nothing to run")
        overall = self.progress.add_task("batch", total=total, completed=self.done_before,
                                         status=f"{self.done_before} done before" if self.done_before else "")
        executor: Executor | None = None
        inflight: dict[Future, BriefEntry] = {}
        interrupted = False
        with self.progress:
            try:
                if self.todo:
                    if warm:  # a Ray worker resolves its own
                        _warm(self.todo, self.defaults)
                    executor = make_executor(self.on_event)
                while self.todo or inflight:
                    self._fill(executor, inflight)
                    if not inflight:
                        break
                    done, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._finish(inflight.pop(future), future, overall)
            except KeyboardInterrupt:
                interrupted = True
                self.stop_reason = "interrupted; run the same command again to finish"
                if executor:
                    executor.stop_all()
                    for future in list(inflight):  # stopped runs keep no line: they resume next time
                        try:
                            future.result(timeout=60)
                        except Exception:
                            pass
            finally:
                if executor:
                    executor.shutdown()
        return self._result(interrupted)

    def _fill(self, executor: Executor, inflight: dict) -> None:
        while self.todo and len(inflight) < executor.slots and not self.stop_reason:
            secs, money = self.left()
            if secs is not None and secs <= 0:
                self.stop_reason = f"batch time budget spent ({self.max_seconds:g} s)"
            elif money is not None and money <= 0:
                self.stop_reason = f"batch money budget spent (${self.max_cost:.2f})"
            else:
                entry = self.todo.popleft()
                if entry.id not in self.rows:
                    self.rows[entry.id] = self.progress.add_task(f"  {entry.id}", status="starting",
                                                                 total=entry.to_brief().budget.max_iterations)
                job = make_job(entry, self.out, self.defaults, secs, money, self.retry, self.credentials)
                inflight[executor.submit(job)] = entry

    def _finish(self, entry: BriefEntry, future: Future, overall) -> None:
        try:
            line = future.result()
        except WorkerLost as e:
            self.lost[entry.id] = self.lost.get(entry.id, 0) + 1
            if self.lost[entry.id] < MAX_LOST:  # not finished: it resumes from its run.json elsewhere
                self.say(f"[yellow]worker lost[/] running {entry.id} ({e}); it resumes on another worker")
                self.todo.appendleft(entry)
                return
            line = {"id": entry.id, **RunRecord(
                run_id=entry.id, brief=entry.to_brief(), status="failed", stop_reason="error",
                error=f"{MAX_LOST} workers lost running it, the last: {e}").summary()}
        except Exception as e:  # run_job itself never raises; an executor's own failure lands here
            line = {"id": entry.id, **RunRecord(run_id=entry.id, brief=entry.to_brief(), status="failed",
                                                stop_reason="error", error=f"{type(e).__name__}: {e}").summary()}
        if line.get("stop_reason") == OutOfSpace.reason:  # not finished: it runs again next time
            self.stop_reason = self.error = line.get("error") or OutOfSpace(self.out / RUNS).args[0]
        else:
            try:
                self.log.append(line)
            except OutOfSpace as e:
                self.stop_reason = self.error = str(e)
        self.spent_now += float(line.get("cost_usd") or 0)
        self.progress.remove_task(self.rows.pop(entry.id))
        self.progress.advance(overall)
        self.progress.update(overall, status=f"last: {entry.id}")
        self.progress.console.print(_describe(line), highlight=False, soft_wrap=True)

    def _result(self, interrupted: bool) -> BatchResult:
        order = {e.id: n for n, e in enumerate(self.entries)}
        lines = sorted((l for i, l in self.log.lines.items() if i in order), key=lambda l: order[l["id"]])
        from agent.surfaces.report import write_report
        try:
            self.log.sync()  # its lines were not fsynced one by one (SummaryLog)
            report = write_report(self.out, self.entries, self.log.lines)
        except OutOfSpace as e:  # the old report (if any) is kept
            report, self.error = None, self.error or str(e)
        pending = [e.id for e in self.entries if not self.log.finished(e.id, e.brief, self.out / RUNS)]
        if interrupted:
            raise KeyboardInterrupt
        return BatchResult(lines=lines, failed=[l["id"] for l in lines if l.get("status") == "failed"],
                           pending=pending, done_before=self.done_before, stop_reason=self.stop_reason,
                           report=report, error=self.error)


def _warm(todo: Iterable[BriefEntry], defaults: dict[str, str]) -> None:
    """Resolve each back end once before the threads start, so pipelines load once (not once per
    thread) and a missing package shows up before any brief runs."""
    from agent.core import registry
    specs = set()
    for e in todo:
        specs |= {("llm", e.llm or defaults.get("llm", DEFAULT_LLM)),
                  ("image", e.image_model or defaults.get("image_model", DEFAULT_IMAGE_MODEL)),
                  ("critic", e.critic or defaults.get("critic", DEFAULT_CRITIC))}
        if video := e.video_model or defaults.get("video_model"):
            specs.add(("video", video))
    for kind, spec in sorted(specs):
        try:
            registry.resolve(kind, spec)
        except Exception:
            pass  # the briefs that need it fail with this error on their own lines


def _describe(line: dict) -> str:
    run = f" (run {line['run_id']})" if line.get("run_id") and line["run_id"] != line["id"] else ""
    note = f" [yellow]note:[/] {line['note']}" if line.get("note") else ""
    node = f" [dim]on node {line['node_id'][:8]}[/]" if line.get("node_id") else ""
    if line.get("status") == "failed":
        return f"[red]✗ {line['id']}[/]{run} failed: {line.get('error')}{note}"
    state = "[green]✓ approved[/]" if line.get("approved") else f"[yellow]○ {line.get('status')}[/]"
    return (f"{state} {line['id']}{run}: {len(line.get('attempts') or [])} attempt(s), "
            f"{line.get('seconds', 0):.1f} s, ${line.get('cost_usd') or 0:.2f}{node}{note}")
