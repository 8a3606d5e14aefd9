"""The director loop with fast fake back ends: stop conditions, keep-best, records on disk."""
import json
import sqlite3

import pytest

from agent import Studio
from agent.core import registry
from agent.core.errors import InputError
from agent.llm.scripted import ScriptedLLM
from tests import fakes


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve=())


def studio(tmp_path, **kw):
    return Studio(**{"llm": "offline", "image_model": "test:flat", "critic": "critic:seed",
                     "runs_dir": tmp_path / "runs", **kw})


@pytest.mark.parametrize("mode", ["agent", "loop"])
def test_stops_when_approved_and_saves_everything(tmp_path, mode):
    fakes.APPROVE_SEEDS.add(12)
    result = studio(tmp_path, mode=mode).run("a calm lake at dawn", seed=10, budget={"max_iterations": 6})
    assert result.approved and result.status == "approved"
    assert [a.seed for a in result.attempts] == [10, 11, 12]  # stopped at the approved one
    assert result.best.seed == 12
    run_dir = tmp_path / "runs" / result.run_id
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["status"] == "approved" and len(saved["attempts"]) == 3
    assert all((run_dir / a.artifact.path.name).is_file() for a in result.attempts)
    rows = sqlite3.connect(tmp_path / "runs" / "index.sqlite").execute("SELECT run_id, approved FROM runs").fetchall()
    assert rows == [(result.run_id, 1)]


@pytest.mark.parametrize("mode", ["agent", "loop"])
def test_budget_spent_keeps_the_best_not_the_last(tmp_path, mode):
    result = studio(tmp_path, mode=mode).run("a calm lake", seed=5, budget={"max_iterations": 3})
    assert result.status == "budget_spent" and not result.approved
    assert [a.seed for a in result.attempts] == [5, 6, 7]
    assert result.best.seed == 6  # scores 5, 6, 0: the later, worse attempt does not replace it
    assert "iteration budget" in result.record.stop_reason


def test_summary_follows_the_cli_contract(tmp_path):
    fakes.APPROVE_SEEDS.add(3)
    s = studio(tmp_path).run("anything", seed=3).summary()
    assert set(s) >= {"run_id", "approved", "iterations", "best", "attempts"}
    assert s["best"]["path"].startswith("/") and s["best"]["seed"] == 3
    assert set(s["best"]["verdict"]) == {"approved", "scores", "issues", "requirements"}
    assert s["attempts"][0] == {"path": s["best"]["path"], "prompt": s["best"]["prompt"], "seed": 3, "approved": True}


def test_png_carries_request_and_verdict(tmp_path):
    from agent.core.artifacts import read_metadata
    r = studio(tmp_path).run("a lake", seed=1, budget={"max_iterations": 1})
    meta = read_metadata(r.best.artifact.path)
    assert meta["request"]["seed"] == 1 and meta["verdict"]["critic"] == "critic:seed"
    from PIL import Image
    assert "Seed: 1" in Image.open(r.best.artifact.path).text["parameters"]


def test_scripted_llm_drives_tools_and_a_tool_error_does_not_end_the_run(tmp_path, monkeypatch, backends):
    fakes.APPROVE_SEEDS.add(42)
    llm = ScriptedLLM([
        {"tool_calls": [{"name": "refine_prompt", "arguments": {"prompt": "a lake at dawn, mist"}}]},
        {"tool_calls": [{"name": "generate_image", "arguments": {"prompt": "a lake at dawn, mist",
                                                                 "width": 999, "height": 999}}]},
        {"tool_calls": [{"name": "generate_image", "arguments": "{not json"}]},
        {"tool_calls": [{"name": "generate_image", "arguments": {"prompt": "a lake at dawn, mist", "seed": 41, "n": 2}}]},
    ])
    backends("llm", "fixed", "tests.test_director:_fixed")
    monkeypatch.setattr("tests.test_director._LLM", llm)
    result = studio(tmp_path, llm="fixed:x").run("a lake")
    assert result.approved and result.best.seed == 42
    assert result.record.refined_prompt == "a lake at dawn, mist"
    tool_msgs = [m for m in result.record.messages if m["role"] == "tool"]
    assert tool_msgs[1]["parts"][0]["is_error"] and "999x999" in tool_msgs[1]["parts"][0]["content"][0]["text"]
    assert tool_msgs[2]["parts"][0]["is_error"]


_LLM = None


def _fixed(model):
    return _LLM


def test_rewrite_review_edit_and_refuse(tmp_path):
    s = studio(tmp_path)
    edited = s.run("a lake", seed=0, rewrite="review", budget={"max_iterations": 1},
                   review=lambda brief, proposed: "a lake, edited by me")
    assert edited.record.refined_prompt == "a lake, edited by me" and edited.best.prompt == "a lake, edited by me"
    refused = s.run("a lake", seed=0, rewrite="review", budget={"max_iterations": 1}, review=lambda b, p: None)
    assert refused.best.prompt == "a lake"
    off = s.run("a lake", seed=0, rewrite="off", budget={"max_iterations": 1})
    assert off.best.prompt == "a lake"


def test_events_stream_in_order(tmp_path):
    fakes.APPROVE_SEEDS.add(0)
    events = list(studio(tmp_path).stream("a lake", seed=0))
    types = [e.type for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.index("prompt_refined") < types.index("attempt_made") < types.index("verdict")


def test_resume_continues_within_the_budget(tmp_path):
    s = studio(tmp_path)
    first = s.run("a lake", seed=20, budget={"max_iterations": 2})
    record = first.record
    record.status, record.brief.budget.max_iterations = "running", 4  # as if killed after two rounds
    s.store.save(record)
    fakes.APPROVE_SEEDS.add(23)
    resumed = s.resume(first.run_id)
    assert [a.seed for a in resumed.attempts] == [20, 21, 22, 23] and resumed.approved


def test_a_conversation_saved_before_the_task_carried_its_state_resumes(tmp_path):
    """The offline planner reads its plan state from the task's data, never from the task's words: an
    older conversation (words only) gets the state attached when it resumes."""
    from agent.core.plans import PLAN_STATE, state_from_messages
    from agent.core.protocols import Message

    s = studio(tmp_path)
    first = s.run("a lake", seed=20, budget={"max_iterations": 2})
    record = first.record
    task = record.messages[0]["parts"][0]
    assert task["data"][PLAN_STATE]["brief"] == "a lake" and task["data"][PLAN_STATE]["seed"] == 20
    state = state_from_messages([Message.model_validate(m) for m in record.messages])
    assert [a.seed for a in state.attempts] == [20, 21] and state.budget_left.iterations == 0
    del task["data"]  # as saved before
    task["text"] = "Brief: a lake"  # and no JSON block to read back either
    record.status, record.brief.budget.max_iterations = "running", 4
    s.store.save(record)
    fakes.APPROVE_SEEDS.add(23)
    resumed = s.resume(first.run_id)
    assert [a.seed for a in resumed.attempts] == [20, 21, 22, 23] and resumed.approved
    assert resumed.record.messages[0]["parts"][0]["text"] == "Brief: a lake"  # its words kept


@pytest.mark.parametrize("brief, fields, message", [
    ("   ", {}, "empty"),
    ("x" * 100_000, {}, "limit is"),
    ("a lake", {"budget": {"max_iterations": -1}}, "max_iterations"),
    ("a lake", {"budget": {"max_iterations": 10**9}}, "max_iterations"),
    ("a lake", {"reference_images": ["/nope.png"]}, "not found"),
])
def test_bad_input_is_one_clear_line_and_creates_no_run(tmp_path, brief, fields, message):
    s = studio(tmp_path)
    with pytest.raises(InputError, match=message) as e:
        s.run(brief, **fields)
    assert "\n" not in str(e.value)
    assert s.history() == []


def test_unknown_back_end_and_missing_run(tmp_path):
    from agent.core.errors import ConfigError
    with pytest.raises(ConfigError, match="unknown image back end 'nope:x'"):
        studio(tmp_path, image_model="nope:x").run("a lake")
    with pytest.raises(InputError, match="no run 'missing'"):
        studio(tmp_path).resume("missing")


def test_user_can_stop_a_run(tmp_path):
    s = studio(tmp_path)
    seen = []

    def stop_after_first(event):
        seen.append(event)
        if event.type == "verdict":
            s.stop(event.run_id)

    s.on_event = stop_after_first
    result = s.run("a lake", seed=1, budget={"max_iterations": 5})
    assert result.status == "stopped" and len(result.attempts) == 1


def test_a_reference_image_is_the_starting_point(tmp_path):
    from PIL import Image
    ref = tmp_path / "ref.png"
    Image.new("RGB", (32, 32), "white").save(ref)
    fakes.APPROVE_SEEDS.add(4)
    s = studio(tmp_path)
    result = s.run("a lake like this", seed=4, reference_images=[ref])
    backend = registry.resolve("image", "test:flat")
    assert result.approved and backend.calls[-1].source_image == ref and backend.calls[-1].strength == 0.65


def test_tool_schemas_are_derived_from_signatures():
    from tools import default_toolbox
    specs = {s.name: s for s in default_toolbox().specs()}
    gen = specs["generate_image"].parameters
    assert gen["required"] == ["prompt"] and gen["properties"]["n"]["default"] == 1
    assert "seed" in gen["properties"]["seed"]["description"]
    assert specs["edit_image"].parameters["required"] == ["attempt", "prompt"]
