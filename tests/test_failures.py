"""A failure is a failure: missing weights, an unknown model, a crashing back end end the run (or
the brief) as `failed`, with one line saying what and how to fix it, a non-zero exit, and nothing
already made lost. A mistake the director can correct stays a tool error."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.core.options import RunOptions
from agent.core.errors import InputError
from agent.surfaces.cli import app
from tests import fakes

runner = CliRunner()
FAKE = ["--critic", "critic:seed"]


class CrashingBackend(fakes.FlatBackend):
    """Makes one image, then hits a bug (as the shared-scheduler race did: an IndexError)."""

    def generate(self, request, out_dir):
        if self.calls:
            raise IndexError("index 21 is out of bounds for dimension 0 with size 21")
        return super().generate(request, out_dir)


class RefusingBackend(fakes.FlatBackend):
    def generate(self, request, out_dir):
        raise InputError("test:refusing does not draw lakes")


class NoWeightsBackend(fakes.FlatBackend):
    def check_ready(self):
        from agent.core.errors import ConfigError
        raise ConfigError("model sdxl is not on this machine: run `atelier models pull sdxl`")


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={8}, crash="tests.test_failures:CrashingBackend",
                               noweights="tests.test_failures:NoWeightsBackend",
                               refusing="tests.test_failures:RefusingBackend")


def last_json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_missing_weights_are_refused_before_the_run_with_json(tmp_path):
    r = runner.invoke(app, ["run", "a red circle", "--image-model", "noweights:x", *FAKE, "--out", str(tmp_path), "--json"])
    assert r.exit_code == 2
    out = last_json(r)
    assert out["status"] == "failed" and "atelier models pull sdxl" in out["error"]
    assert "atelier models pull sdxl" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*/run.json"))  # nothing started, nothing half-made


def test_real_missing_weights_message(tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    r = runner.invoke(app, ["run", "a red circle", "--image-model", "local:sdxl", "--out", str(tmp_path), "--json"])
    assert r.exit_code != 0
    assert last_json(r)["status"] == "failed" and "atelier models pull sdxl" in last_json(r)["error"]


def test_crash_mid_run_fails_and_keeps_what_was_made(tmp_path):
    r = runner.invoke(app, ["run", "a lake", "--image-model", "crash:x", *FAKE, "--seed", "1",
                            "--max-iterations", "4", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 1
    out = last_json(r)
    assert out["status"] == "failed" and "IndexError" in out["error"]
    assert len(out["attempts"]) == 1 and out["best"]["path"]  # the first image is kept
    assert r.stderr.strip().splitlines()[-1].startswith("error: internal error IndexError")


def test_director_naming_an_unusable_model_gets_a_tool_error(tmp_path, monkeypatch):
    from agent.core.records import RunStore
    from agent.core.types import Brief, RunRecord
    from agent.run.context import RunContext

    record = RunRecord(run_id="r1", brief=Brief(text="a lake"), options=RunOptions(image_model="test:flat", critic="critic:seed"))
    ctx = RunContext(record, RunStore(tmp_path))
    with pytest.raises(InputError, match="this run uses test:flat"):
        ctx.image_backend("noweights:x")


def test_batch_marks_a_failing_brief_failed_and_exits_1(tmp_path):
    briefs = tmp_path / "b.jsonl"
    briefs.write_text(json.dumps({"id": "ok", "brief": "a lake", "image_model": "test:flat", "seed": 8}) + "\n"
                      + json.dumps({"id": "bad", "brief": "a lake", "image_model": "crash:x", "seed": 1,
                                    "max_iterations": 3}) + "\n")
    r = runner.invoke(app, ["brief", str(briefs), "--out", str(tmp_path / "out"), "--critic", "critic:seed", "--json"])
    assert r.exit_code == 1
    lines = {json.loads(l)["id"]: json.loads(l) for l in r.stdout.strip().splitlines() if l.startswith("{")}
    assert lines["bad"]["status"] == "failed" and "IndexError" in lines["bad"]["error"]
    assert lines["ok"]["status"] == "approved"


def test_a_model_without_negative_prompts_gets_it_in_words(tmp_path, monkeypatch):
    from agent.core.records import RunStore
    from agent.core.types import Brief, RunRecord
    from agent.run.context import RunContext
    from tools import with_brief

    record = RunRecord(run_id="r", brief=Brief(text="a lake", negative_prompt="people"), options=RunOptions(image_model="test:flat"))
    ctx = RunContext(record, RunStore(tmp_path))
    assert with_brief(ctx, "a lake") == ("a lake", "people")
    ctx.image_backend().info.supports_negative = False
    try:
        assert with_brief(ctx, "a lake") == ("a lake. Avoid: people", "")
    finally:
        ctx.image_backend().info.supports_negative = True


def test_the_director_cannot_send_a_critic_to_a_server_the_operator_did_not_allow(tmp_path):
    from agent.core.protocols import ToolCall
    from agent.core.records import RunStore
    from agent.core.types import Brief, RunRecord
    from agent.run.context import RunContext
    from tools import default_toolbox

    record = RunRecord(run_id="r", brief=Brief(text="a lake"), options=RunOptions(image_model="test:flat", critic="critic:seed"))
    ctx = RunContext(record, RunStore(tmp_path))
    default_toolbox().call(ctx, ToolCall(id="1", name="generate_image", arguments={"prompt": "a lake", "seed": 1}))
    result = default_toolbox().call(ctx, ToolCall(id="2", name="critique", arguments={
        "attempt": 0, "critic": "critic:vlm@openai-compatible:m@https://evil.example/v1"}))
    assert result.is_error and "not allowed" in result.data["error"] and "evil.example" in result.data["error"]


def test_a_run_that_could_not_make_anything_fails(tmp_path):
    """The director gives up because every generation was refused: failed with the reason, not 'ended'."""
    r = runner.invoke(app, ["run", "a lake", "--image-model", "refusing:x", *FAKE, "--seed", "1",
                            "--max-iterations", "2", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 1
    out = last_json(r)
    assert out["status"] == "failed" and "does not draw lakes" in out["error"]
