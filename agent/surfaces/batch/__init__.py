"""Briefs in batch: `atelier brief FILE`. A YAML or JSONL file of briefs, validated as a whole before
anything runs, run with bounded concurrency (threads here, on a warm `atelier serve`, or workers on a Ray cluster), resumable
after a kill at any moment, and summed up in `summary.jsonl` and a `report.html` contact sheet.

Layout of the output folder OUT:
    OUT/runs/<brief id>/      each brief's run (run.json, every attempt), a deterministic name
    OUT/runs/index.sqlite     the run index (`atelier history --out OUT` reads it)
    OUT/summary.jsonl         one line per finished brief: RunRecord.summary() plus "id"
    OUT/report.html           the contact sheet

Resume rule: a brief is finished when its line is in summary.jsonl (`ledger`). Lines are appended
whole (one write, flushed and fsynced); a torn last line left by a kill is cut off on the next start.
An unfinished brief whose run folder holds a run.json is resumed (or, if that run had already ended
before the kill, its line is written without running anything); a folder without run.json holds
nothing recorded and is started afresh (`jobs`).

The modules, one job each: `briefs` (the file's schema and validation), `ledger` (summary.jsonl),
`jobs` (one brief as a typed `BriefJob`, and the resume rules), `executors` (threads, a warm server or Ray, behind
the `Executor` Protocol), `scheduler` (the batch: budget, progress, report)."""
from agent.surfaces.batch.briefs import BriefEntry, BriefFileError, load_briefs, read_entries
from agent.surfaces.batch.executors import Executor, LocalExecutor, RayExecutor, ServerExecutor, WorkerLost
from agent.surfaces.batch.jobs import TERMINAL, BriefJob, make_job, run_job
from agent.surfaces.batch.ledger import SummaryLog, brief_digest
from agent.surfaces.batch.scheduler import REPORT, RUNS, SUMMARY, BatchResult, run_batch

__all__ = ["BatchResult", "BriefEntry", "BriefFileError", "BriefJob", "Executor", "LocalExecutor", "RayExecutor",
           "REPORT", "RUNS", "SUMMARY", "ServerExecutor", "SummaryLog", "TERMINAL", "WorkerLost", "brief_digest", "load_briefs",
           "make_job", "read_entries", "run_batch", "run_job"]
