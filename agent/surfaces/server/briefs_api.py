"""A batch's briefs on a warm server (`atelier brief` when `atelier serve` runs): each brief is the
`BriefJob` a Ray worker gets, run here by `run_job` with the batch's rules (its run named after the
brief, resumed, only recorded, retried), so its runs share this process's warm pipelines and their
owners batch them with every other surface's. The answer is the brief's summary line.

A batch's runs must be this server's runs folder (`atelier serve --out OUT/runs`): the server writes
nowhere else. Briefs with reference images or a mask are refused (their files are the caller's, not
ones this server may read); the CLI runs such a batch in its own process."""
from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Body, Depends
from pydantic import ValidationError

from agent.core.options import MAX_SECONDS
from agent.core.trust import check_untrusted_spec
from agent.surfaces.batch.jobs import BriefJob, run_job
from agent.surfaces.server.errors import APIError, from_validation
from agent.surfaces.server.hub import RunHub


MAX_BRIEFS = 64  # briefs run at once (asyncio's own pool has cores + 4 threads: 6 here, fewer than --concurrency 8)
MAX_BRIEFS_PER_CALLER = 16  # one caller's briefs running or waiting: the rest get a 429, not a queue without end


def router(hub: RunHub, identify) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["Atelier runs"])
    threads = ThreadPoolExecutor(MAX_BRIEFS, thread_name_prefix="serve-brief")  # kept: the owner knows its callers
    running: dict[tuple[str, str], tuple] = {}  # (caller, brief id) -> (studio, run id) while it runs
    held: Counter[str] = Counter()  # briefs running or waiting, by caller (changed on the event loop only)

    @api.post("/briefs", summary="Run one brief of a batch (the CLI's `atelier brief`); answers its summary line")
    async def brief(body: dict[str, Any] = Body(...), who: str = Depends(identify)) -> dict[str, Any]:
        if hub.closing:
            raise APIError(503, "the server is shutting down: no new runs", code="shutting_down")
        job = _job(body)
        if held[who] >= MAX_BRIEFS_PER_CALLER or sum(held.values()) >= MAX_BRIEFS:
            raise APIError(429, f"too many briefs at once ({MAX_BRIEFS_PER_CALLER} a caller, {MAX_BRIEFS} in all): "
                                f"send the next when one has answered", code="too_many_briefs")
        if job.runs.expanduser().resolve() != hub.store.root:
            raise APIError(400, f"this server keeps its runs in {hub.store.root}, not {job.runs}: a batch on it "
                                f"needs --out {hub.store.root.parent} (the folder that holds runs/)", param="out", code="wrong_runs_folder")
        for kind, spec in (("llm", job.llm), ("image", job.image_model), ("critic", job.critic),
                           ("video", job.video_model)):
            check_untrusted_spec(kind, spec, hub.policy)  # ConfigError: a 400 naming the spec
        key = (who, job.id)

        def work() -> dict[str, Any]:
            try:
                # the caller's own run (its folder named for them, saved as theirs): never another's of the same id
                return run_job(job, on_start=lambda studio, run_id: running.__setitem__(key, (studio, run_id)),
                               owner=who)
            finally:
                running.pop(key, None)
        held[who] += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(threads, work)
        finally:
            held[who] -= 1

    @api.post("/briefs/{brief_id}/stop", summary="Stop a brief of your batch after its current step (saved)")
    async def stop(brief_id: str, who: str = Depends(identify)) -> dict[str, Any]:
        held = running.get((who, brief_id))
        if held is None or not held[0].stop(held[1]):
            raise APIError(409, f"brief {brief_id} is not running on this server", code="run_not_running")
        return {"id": brief_id, "stopping": True}

    return api


def _job(body: dict[str, Any]) -> BriefJob:
    """The caller's job, its files refused BEFORE the brief is validated (validating a brief opens and
    decodes the files it names: a caller could probe which paths exist on the server), its time capped
    as a batch caps it (`make_job`)."""
    brief = body.get("brief")
    if isinstance(brief, dict) and (brief.get("reference_images") or brief.get("mask") is not None):
        raise APIError(400, f"brief {body.get('id')!r} names files (reference images, a mask): the server does not "
                            f"read a caller's files; run the batch with --local", param="brief")
    try:
        job = BriefJob.model_validate(body)
    except ValidationError as e:
        raise from_validation(e.errors()) from None
    budget = job.brief.budget
    capped = budget.model_copy(update={"max_seconds": min(budget.max_seconds or MAX_SECONDS, MAX_SECONDS)})
    return job.model_copy(update={"brief": job.brief.model_copy(update={"budget": capped})})
