"""A run killed at any save and resumed repeats no round (issue 28's race: a Ray node killed after
run.json held an attempt but before the conversation saying so was saved came back with its first
round twice, seeds [160, 160]). The kill is simulated without Ray: run.json is left exactly as the
save before the kill wrote it, and nothing after it is written, as a process that dies there; the
run is then resumed as `atelier run --resume` and a batch's resume do (`Studio.resume`)."""
from __future__ import annotations

import pytest

from agent import Studio
from agent.core.plans import AttemptView
from agent.core.protocols import Message, TextPart, ToolCall, ToolResult
from agent.core.records import RunStore
from agent.llm.scripted import ScriptedLLM
from tests import fakes

ROUNDS = 4


class Killed(BaseException):
    """The process died: nothing catches it, and the dead process writes nothing more."""


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch, backends):
    backends("llm", "fixed", f"{__name__}:_conversation_llm")
    yield from fakes.installed(monkeypatch)  # no seed approved: each run spends its rounds


def two_calls_a_turn(system, messages, tools):
    """An LLM that knows only the conversation (as a real one does): refine, then each turn two
    rounds, seeds following the attempts the conversation shows."""
    shown = {a["index"] for m in messages for p in m.parts if isinstance(p, ToolResult)
             for a in p.data.get("attempts", [])}
    if not any(isinstance(p, ToolResult) and p.name == "refine_prompt" for m in messages for p in m.parts):
        return {"tool_calls": [{"name": "refine_prompt", "arguments": {"prompt": "a lake, mist"}}]}
    return {"text": "two more", "tool_calls": [{"name": "generate_image", "arguments": {"prompt": "a lake, mist",
                                                                                       "seed": 50 + len(shown) + k}}
                                               for k in range(2)]}


def _conversation_llm(model):
    return ScriptedLLM(two_calls_a_turn)


def studio(tmp_path, llm: str, mode: str) -> Studio:
    return Studio(llm=llm, image_model="test:flat", critic="critic:seed", mode=mode, runs_dir=tmp_path / "runs")


def run_killed_at(tmp_path, monkeypatch, llm: str, mode: str, kill_at: int | None):
    """The run's rounds, with the process killed right after its `kill_at`-th save (None: never) and
    the run resumed; also how many saves the run made before it ended (uninterrupted)."""
    real_save = RunStore.save
    save = _killing_after(real_save, kill_at)
    monkeypatch.setattr(RunStore, "save", save)
    s = studio(tmp_path, llm, mode)
    record = s.prepare("a lake", seed=50, budget={"max_iterations": ROUNDS})
    try:
        s.run_prepared(record)
    except Killed:
        monkeypatch.setattr(RunStore, "save", real_save)
        resumed = studio(tmp_path, llm, mode).resume(record.run_id).record
    else:
        resumed = RunStore(tmp_path / "runs").load(record.run_id)
    monkeypatch.setattr(RunStore, "save", real_save)
    return resumed, save.saves[0]


@pytest.mark.parametrize("llm, mode", [("offline", "agent"), ("offline", "loop"), ("fixed:x", "agent")])
def test_a_run_killed_after_any_save_resumes_without_repeating_a_round(tmp_path, monkeypatch, llm, mode):
    whole, saves = run_killed_at(tmp_path / "whole", monkeypatch, llm, mode, None)
    rounds = [(a.prompt, a.seed) for a in whole.attempts]
    assert len(rounds) == ROUNDS and whole.status == "budget_spent"
    for kill_at in range(1, saves):
        resumed, _ = run_killed_at(tmp_path / f"kill{kill_at}", monkeypatch, llm, mode, kill_at)
        made = [(a.prompt, a.seed) for a in resumed.attempts]
        assert len(set(made)) == len(made), f"killed after save {kill_at}: a round repeated: {made}"
        assert made == rounds and resumed.iterations == ROUNDS, f"killed after save {kill_at}: {made}"
        assert resumed.status == "budget_spent", (kill_at, resumed.status, resumed.error)
        answered_once(resumed)


def answered_once(record) -> None:
    """Each tool call of the saved conversation has one result, in the message after it, and each
    attempt is told in exactly one result (none left out, none told twice)."""
    messages = [Message.model_validate(m) for m in record.messages]
    told = []
    for message, after in zip(messages, messages[1:] + [None]):
        calls = [p.id for p in message.parts if isinstance(p, ToolCall)]
        results = [p for p in (after.parts if after else []) if isinstance(p, ToolResult)]
        if calls:
            assert [r.call_id for r in results] == calls
        if message.role == "tool":
            told += [AttemptView.model_validate(a).index for p in message.parts if isinstance(p, ToolResult)
                     for a in p.data.get("attempts", [])]
    if record.mode == "agent":
        assert sorted(told) == list(range(len(record.attempts))), told


def test_a_call_with_no_trace_in_the_record_is_asked_again(tmp_path, monkeypatch):
    """Killed while the reply's first call ran, before it saved anything: the saved conversation ends
    in that reply, unanswered, and the record holds nothing of it. The reply is asked again, not
    answered from the record; the rounds come out as in a run never killed."""
    s = studio(tmp_path, "fixed:x", "agent")
    record = s.prepare("a lake", seed=50, budget={"max_iterations": ROUNDS})
    real_save = RunStore.save
    monkeypatch.setattr(RunStore, "save", _killing_after(real_save, 2))  # killed once refine's turn is saved
    with pytest.raises(Killed):
        s.run_prepared(record)
    monkeypatch.setattr(RunStore, "save", real_save)
    record = s.store.load(record.run_id)
    assert [m["role"] for m in record.messages] == ["user", "assistant", "tool"] and not record.attempts
    record.messages.append(Message(role="assistant", parts=[TextPart(text="two more"), ToolCall(
        id="lost", name="generate_image", arguments={"prompt": "a lake, mist", "seed": 50})]).model_dump(mode="json"))
    s.store.save(record)
    resumed = s.resume(record.run_id).record
    assert [(a.prompt, a.seed) for a in resumed.attempts] == [("a lake, mist", 50 + k) for k in range(ROUNDS)]
    assert "lost" not in {p.id for m in resumed.messages for p in Message.model_validate(m).parts
                          if isinstance(p, ToolCall)}
    answered_once(resumed)


def _killing_after(real_save, kill_at: int):
    """RunStore.save that dies right after its `kill_at`-th save, and then writes nothing."""
    saves, dead = [0], [False]

    def save(store, record, owner=""):
        if dead[0]:
            return
        real_save(store, record, owner)
        saves[0] += 1
        if saves[0] == kill_at:
            dead[0] = True
            raise Killed

    save.saves = saves
    return save


def test_a_critique_is_answered_from_the_record_only_when_its_verdict_changed(tmp_path):
    """critique makes no attempt: its trace is the attempt's verdict in the record differing from the one
    the conversation last told (a critique that judged alike would change nothing if run again)."""
    from agent.run.context import RunContext
    from tools.resumed import saved_reply

    s = studio(tmp_path, "fixed:x", "agent")
    record = s.run("a lake", seed=50, budget={"max_iterations": 2}).record
    conversation = [Message.model_validate(m) for m in record.messages]
    ctx, call = RunContext(record, s.store), ToolCall(id="c", name="critique", arguments={"attempt": 1})
    assert saved_reply(ctx, call, conversation) is None
    record.attempts[1].verdict = record.attempts[1].verdict.model_copy(update={"issues": ["judged again"]})
    reply = saved_reply(ctx, call, conversation)
    assert [a["index"] for a in reply.data["attempts"]] == [1] and "judged again" in reply.text
