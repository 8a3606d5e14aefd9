"""The batch's parts on their own: the ledger counts a brief once, a job is typed plain data, the
registry's overrides come and go, and both executors meet the Executor Protocol."""
from __future__ import annotations

import pickle

import pytest

from agent.core import registry
from agent.core.errors import ConfigError
from agent.surfaces.batch import BriefEntry, BriefJob, LocalExecutor, RayExecutor, SummaryLog, brief_digest, make_job


def test_the_ledger_counts_a_brief_once(tmp_path):
    log = SummaryLog(tmp_path / "summary.jsonl")
    line = {"id": "a", "status": "approved", "brief_sha": brief_digest("a lake")}
    assert log.append(line) is True
    assert log.append({**line, "status": "budget_spent"}) is False  # a lost worker's brief reported again
    assert (tmp_path / "summary.jsonl").read_text().count('"id": "a"') == 1
    assert log.append({**line, "brief_sha": brief_digest("a sea")}) is True  # the brief's text changed: a new line
    assert SummaryLog(tmp_path / "summary.jsonl").finished("a", "a sea", tmp_path / "runs")
    assert not SummaryLog(tmp_path / "summary.jsonl").finished("a", "a lake", tmp_path / "runs")


def test_a_job_is_typed_and_travels(tmp_path):
    entry = BriefEntry(id="x", brief="a lake", max_iterations=3, seed=5)
    job = make_job(entry, tmp_path, {"image_model": "test:flat"}, max_seconds=30, max_cost=None)
    assert isinstance(job, BriefJob) and job.image_model == "test:flat" and job.runs == tmp_path / "runs"
    assert job.brief.budget.max_iterations == 3 and job.brief.budget.max_seconds == 30 and job.brief.seed == 5
    assert pickle.loads(pickle.dumps(job)) == job  # what a Ray worker receives
    with pytest.raises(Exception):
        job.retry = True  # frozen: a job is what was asked, not a scratch pad


def test_registry_override_comes_and_goes():
    assert "zz" not in registry.known("image")
    before = registry.target("image", "local")
    with registry.override("image", "zz", "tests.fakes:FlatBackend", local="tests.fakes:FlatBackend"):
        assert registry.resolve("image", "zz:x").info.name == "test:flat"
        assert registry.target("image", "local") == "tests.fakes:FlatBackend"
    assert "zz" not in registry.known("image") and registry.target("image", "local") == before
    with pytest.raises(ConfigError, match="unknown image back end prefix 'zz'"):
        registry.target("image", "zz")


def test_executors_meet_the_protocol():
    for executor in (LocalExecutor, RayExecutor):
        assert all(callable(getattr(executor, name)) for name in ("submit", "stop_all", "shutdown"))
    local = LocalExecutor(3)
    assert local.slots == 3
    local.shutdown()
