"""A brief sent to a warm server belongs to its caller (issue 28's /api/briefs, the trust rules): two
callers sending the same brief id get two runs, each saved as theirs; one never resumes, reads or
deletes the other's."""
from __future__ import annotations

import pytest

from agent.core.records import RunStore
from agent.surfaces.batch.jobs import owned_run_id


def test_each_caller_has_its_own_run_folder_for_a_brief_id(tmp_path):
    names = ["mcp:cli", "alice", "bob", "a/b", ".hidden"]
    ids = {owned_run_id("b0", n) for n in names}
    assert len(ids) == len(names) and all(i.startswith("b0@") for i in ids)
    store = RunStore(tmp_path / "runs")
    assert all(store.run_dir(i).parent == store.root for i in ids)  # a valid run id whatever the caller's name


@pytest.mark.slow  # two runs of the real embedded model: about 10 s
def test_a_second_caller_with_the_same_brief_id_never_touches_the_first_callers_run(tmp_path):
    pytest.importorskip("diffusers")
    from agent.core.types import Brief
    from agent.surfaces.batch import BriefJob, run_job

    def job(retry=False):
        return BriefJob(id="b0", out=tmp_path, brief=Brief(text="a red circle", seed=3, budget={"max_iterations": 1}),
                        llm="offline", image_model="local:shapes", critic="critic:detector", credentials=False,
                        retry=retry)

    alice = run_job(job(), owner="alice")
    first = (tmp_path / "runs" / owned_run_id("b0", "alice") / "run.json").read_bytes()
    bob = run_job(job(retry=True), owner="bob")
    assert alice["run_id"] != bob["run_id"] and alice["id"] == bob["id"] == "b0"
    assert (tmp_path / "runs" / owned_run_id("b0", "alice") / "run.json").read_bytes() == first
    store = RunStore(tmp_path / "runs")
    assert [r["run_id"] for r in store.history(owner="alice")] == [alice["run_id"]]
    assert [r["run_id"] for r in store.history(owner="bob")] == [bob["run_id"]]
    assert not bob["best"]["path"].startswith(str(tmp_path / "runs" / owned_run_id("b0", "alice")))
