"""One brief of a batch: the `BriefJob` a worker gets (typed, plain data, so it can travel to a Ray
worker) and `run_job`, which runs it, resumes it, or only records it, by these rules:

- the run is OUT/runs/<brief id>/ (a deterministic name), unless that folder holds the run of an
  earlier text of the brief: then a run named after the new text is used beside it, never over it;
- a run.json whose run had ended before the kill is only recorded (its line was missing);
- a run.json of an unfinished run (running, stopped) is resumed within its budget;
- a folder without run.json holds nothing recorded and is started afresh;
- with retry, a failed run is run again (from scratch when it made nothing);
- a brief sent to a warm server by a caller (`owner`) is that caller's: its run is OUT/runs/<brief id>@<a
  digest of the caller>/, saved as theirs, so one caller's brief id never resumes, reads, retries or
  deletes another caller's run of the same id."""
from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import AtelierError, InputError, OutOfSpace
from agent.core.options import MAX_COST_USD, MAX_SECONDS, RunOptions
from agent.core.types import Brief, RunRecord
from agent.surfaces.batch.briefs import BriefEntry
from agent.surfaces.batch.ledger import brief_digest

TERMINAL = ("approved", "budget_spent", "ended", "failed", "unverified")  # "stopped" and "running" get resumed
RUNS = "runs"
HELD_WAIT = 120.0  # seconds a resumed brief waits for a worker still holding its run (see _wait_while_driven)


class BriefJob(BaseModel):
    """Everything a worker needs to run one brief: the brief with its budget capped by the batch's,
    the back ends it resolves, and where its run lives (storage every worker shares)."""

    model_config = ConfigDict(frozen=True)
    id: str = Field(description="the brief's id in its file; names its run folder")
    out: Path = Field(description="the batch's output folder (OUT; runs in OUT/runs)")
    brief: Brief
    llm: str = DEFAULT_LLM
    image_model: str = DEFAULT_IMAGE_MODEL
    video_model: str | None = None
    critic: str = DEFAULT_CRITIC
    mode: Literal["agent", "loop"] = "agent"
    retry: bool = Field(False, description="run a failed brief again (--retry-failed)")
    credentials: bool = Field(True, description="sign the delivered image with a C2PA manifest")

    @property
    def runs(self) -> Path:
        return self.out / RUNS


def make_job(entry: BriefEntry, out: Path, defaults: dict[str, str], max_seconds: float | None,
             max_cost: float | None, retry: bool = False, credentials: bool = True) -> BriefJob:
    """The job for one entry; `max_seconds` / `max_cost` are what is left of the batch's budget, so
    an in-flight brief ends when the batch's time or money does."""
    brief = entry.to_brief()
    budget = brief.budget
    if max_seconds is not None:  # never past one run's own limit, however long the batch's budget
        budget.max_seconds = max(1.0, min(budget.max_seconds or max_seconds, max_seconds, MAX_SECONDS))
    if max_cost is not None:
        budget.max_cost_usd = max(0.0, min(budget.max_cost_usd if budget.max_cost_usd is not None else max_cost,
                                           max_cost, MAX_COST_USD))
    options = entry.run_options(defaults)
    return BriefJob(id=entry.id, out=out, brief=brief, llm=options.llm, image_model=options.image_model,
                    video_model=options.video_model, critic=options.critic, mode=options.mode, retry=retry,
                    credentials=credentials)


def run_job(job: BriefJob, on_event: Callable | None = None,
            on_start: Callable[[Any, str], None] | None = None, owner: str | None = None) -> dict:
    """Run (or resume, or just record) one brief; return its summary line. Never raises: a brief
    that cannot run becomes a failed line naming the error. `owner`: the server's caller who sent it
    (None: the operator's own batch, in this process or on Ray workers)."""
    from agent.surfaces.api import Studio

    brief_id = job.id
    run_id = brief_id if owner is None else owned_run_id(brief_id, owner)
    brief = job.brief
    note = credentials = ""
    try:
        brief = Brief.model_validate(brief.model_dump(mode="json"))  # e.g. a reference image deleted since
        studio = Studio(llm=job.llm, image_model=job.image_model, critic=job.critic, video_model=job.video_model,
                        mode=job.mode, runs_dir=job.runs, on_event=on_event)
        run_id, note = _run_id_for(studio.store, run_id, brief.text)
        folder = studio.store.run_dir(run_id)
        _wait_while_driven(studio.store, run_id)
        record = _existing(studio, run_id, brief)
        if record is not None and record.status == "failed" and job.retry and not record.attempts:
            shutil.rmtree(folder)
            record = None
        if record is not None and record.status in TERMINAL and not (job.retry and record.status == "failed"):
            result_record = record  # it ended before the kill; only its line was missing
        elif record is not None:
            if on_start:
                on_start(studio, run_id)
            result_record = studio.resume(run_id).record
        else:
            if folder.exists():
                shutil.rmtree(folder)  # nothing in it was recorded
            if on_start:
                on_start(studio, run_id)
            result_record = studio.run(brief, run_id=run_id, owner=owner or "batch").record
        if job.credentials and result_record.best is not None:
            from agent.surfaces.credentials import credential_run
            credentials = credential_run(result_record, studio.store)
    except ValidationError as e:
        from agent.core.errors import one_line
        result_record = failed_record(job, run_id, brief, one_line(e, "brief"))
    except AtelierError as e:
        result_record = failed_record(job, run_id, brief, str(e),
                                      OutOfSpace.reason if isinstance(e, OutOfSpace) else "error")
    except Exception as e:  # a bug must not take the batch down; the line says what happened
        result_record = failed_record(job, run_id, brief, f"internal error {type(e).__name__}: {e}")
    line = {"id": brief_id, **result_record.summary(), "brief_sha": brief_digest(brief.text),
            **({"credentials": credentials} if credentials else {})}
    return {**line, "note": note} if note else line


def owned_run_id(brief_id: str, owner: str) -> str:
    """The run folder of a server caller's brief: the brief id and a digest of the caller (a caller's
    name may hold characters a folder name cannot)."""
    return f"{brief_id}@{hashlib.sha256(owner.encode()).hexdigest()[:12]}"


def _wait_while_driven(store, run_id: str, seconds: float = HELD_WAIT) -> None:
    """A worker thought lost may still be driving the run (its node cut off, not dead): wait for it
    to let go, then carry on from what it saved, so no step is made twice."""
    deadline = time.monotonic() + seconds
    while store.is_running(run_id):
        if time.monotonic() > deadline:
            raise InputError(f"run {run_id} is still driven by another worker after {seconds:g} s; "
                             f"run the same command again once it has stopped")
        time.sleep(0.25)


def _run_id_for(store, brief_id: str, text: str) -> tuple[str, str]:
    """(the run for this brief, a note when it is not the folder named after the brief). A brief
    whose text changed since its run (or whose run.json is damaged) gets a new run beside the old
    one, named after its text, so the old run is never deleted or overwritten."""
    if not (store.run_dir(brief_id) / "run.json").is_file():
        return brief_id, ""
    try:
        old = store.load(brief_id).brief.text
    except Exception:
        old = None
    if old == text:
        return brief_id, ""
    run_id = f"{brief_id}-{brief_digest(text)}"
    why = "its brief changed since" if old is not None else "the run.json of"
    return run_id, f"{why} run {brief_id}; that run is kept and run {run_id} is used"


def _existing(studio, run_id: str, brief: Brief) -> RunRecord | None:
    """The brief's earlier run, if it can be continued: same brief text; else None (start afresh)."""
    path = studio.store.run_dir(run_id) / "run.json"
    if not path.is_file():
        return None
    try:
        record = studio.store.load(run_id)
    except Exception:
        return None
    return record if record.brief.text == brief.text else None


def failed_record(job: BriefJob, run_id: str, brief: Brief, error: str, reason: str = "error") -> RunRecord:
    """A failed run's record, saved where the brief's run would be (unless the disk is full: then
    there is nothing to save it in, and the brief runs again next time)."""
    options = RunOptions.model_construct(llm=job.llm, image_model=job.image_model, video_model=job.video_model,
                                         critic=job.critic, mode=job.mode)  # as the job had them, even if bad
    record = RunRecord(run_id=run_id, brief=brief, options=options, status="failed", stop_reason=reason,
                       error=error)
    if reason == OutOfSpace.reason:
        return record
    try:
        from agent.core.records import RunStore
        RunStore(job.runs).save(record, owner="batch")
    except Exception:
        pass
    return record
