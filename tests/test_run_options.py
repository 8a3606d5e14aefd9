"""One `RunOptions` (agent.core.options) behind every surface: the Python API, `atelier run`,
`atelier brief` (a brief file's entry and its budget), the chat UI's settings and its launcher,
`atelier serve`'s defaults, the MCP `run_brief` tool, the HTTP run API and the Images API's `atelier`
extension all refuse the same bad value with the same words, and all accept the same limits."""
from __future__ import annotations

import json

import anyio
import pytest
from typer.testing import CliRunner

from agent.core.errors import AtelierError
from agent.core.options import MAX_ITERATIONS, RunOptions
from agent.surfaces.cli import app
from tests import fakes

SEED = 8  # the fake critic approves it: an accepted run ends after its first attempt
FAKE = {"image_model": "test:flat", "critic": "critic:seed"}
FAKE_FLAGS = ["--image-model", "test:flat", "--critic", "critic:seed"]


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={SEED})


def cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    return None if r.exit_code == 0 else (r.exit_code, lines)


# ---- each surface: None when it accepts `value` for max_iterations, else its error text ----------
def python_api(tmp_path, value):
    from agent import Studio
    try:
        result = Studio(**FAKE, runs_dir=tmp_path / "runs").run("a red circle", seed=SEED,
                                                                 budget={"max_iterations": value})
    except AtelierError as e:
        return str(e)
    assert result.record.options.max_iterations == value
    # run.json says each fact once: the options keep what the brief does not say (its seed, candidates)
    stored = json.loads((tmp_path / "runs" / result.run_id / "run.json").read_text())
    assert stored["options"] == {**FAKE, "llm": "offline", "video_model": None, "video_format": None, "mode": "agent",
                                 "edits": True, "max_iterations": value, "max_seconds": None, "max_cost_usd": None,
                                 # the image settings used: none set, so the fake model's declared defaults
                                 "steps": 1, "guidance": 5.0, "size": "32x32", "sampler": None}
    assert "llm" not in stored and stored["brief"]["seed"] == SEED
    loaded = Studio(**FAKE, runs_dir=tmp_path / "runs").store.load(result.run_id)
    assert loaded.options == result.record.options  # whole again when read
    return None


def cli_run(tmp_path, value):
    refused = cli("run", "a red circle", *FAKE_FLAGS, "--seed", SEED, "--max-iterations", value,
                  "--out", tmp_path / "runs", "--local", "--no-credentials", "--json")
    if refused:
        code, lines = refused
        assert code == 2 and len(lines) == 1, lines  # bad input: exit 2, one line
        return lines[0]
    return None


def brief_file(field_of):
    def surface(tmp_path, value):
        f = tmp_path / "briefs.jsonl"
        f.write_text(json.dumps({"id": "a", "brief": "a red circle", "seed": SEED, **field_of(value)}) + "\n")
        refused = cli("brief", f, "--out", tmp_path / "batch", *FAKE_FLAGS, "--no-credentials")
        if refused:
            code, lines = refused
            assert code == 2, lines
            return " ".join(lines)
        return None
    return surface


def ui_settings(tmp_path, value):
    from agent.surfaces.ui_support import Settings
    try:
        settings = Settings.from_form("offline", "test:flat", "(none)", "critic:seed", "agent", value, "", "", 1,
                                      str(SEED), False, True)
    except AtelierError as e:
        return str(e)
    assert settings.brief_fields()["budget"]["max_iterations"] == value
    return None


def ui_launcher(tmp_path, value, monkeypatch=None):
    pytest.importorskip("gradio")
    from agent.surfaces.ui import launch
    started = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(launch, "main", lambda *a, **k: started.update(k))
        try:
            launch.cli(["--max-iterations", str(value), "--image-model", "test:flat"])
        except SystemExit as e:
            return str(e)
    assert started["defaults"].max_iterations == value
    return None


def serve_defaults(tmp_path, value):
    import agent.surfaces.server.serve as serve
    started = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(serve, "serve", lambda *a, **k: started.update(k))
        r = CliRunner().invoke(app, ["serve", "--max-iterations", str(value), "--no-ui"])
    if r.exit_code != 0:
        return str(r.exception) + r.output
    assert started["max_iterations"] == value
    return None


def mcp_run_brief(tmp_path, value):
    pytest.importorskip("mcp")
    from mcp import Client

    from agent.surfaces.mcp_server import build_server
    server = build_server(tmp_path / "runs", **FAKE)

    async def main():
        async with Client(server) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            limit = tools["run_brief"].input_schema["properties"]["max_iterations"]
            assert (limit["minimum"], limit["maximum"]) == (1, MAX_ITERATIONS)  # the schema says the limits
            return await client.call_tool("run_brief", {"brief": "a red circle", "seed": SEED,
                                                        "max_iterations": value})
    r = anyio.run(main)
    return r.content[0].text if r.is_error else None


def http_api(path, body_of):
    def surface(tmp_path, value):
        pytest.importorskip("fastapi")
        pytest.importorskip("mcp")
        from starlette.testclient import TestClient

        from agent.surfaces.server.app import build
        app_ = build(tmp_path / "runs", llm="offline", ui=False, **FAKE)
        with TestClient(app_) as http:
            answer = http.post(path, json=body_of(value))
            if answer.status_code >= 400:
                assert answer.status_code == 400, answer.text
                return answer.json()["error"]["message"]
            if path == "/api/runs":  # let the run end before the server closes
                run_id = answer.json()["run_id"]
                with http.stream("GET", f"/api/runs/{run_id}/events") as events:
                    assert any("run_finished" in line for line in events.iter_lines())
            return None
    return surface


SURFACES = {
    "python api": python_api,
    "atelier run": cli_run,
    "brief file entry": brief_file(lambda v: {"max_iterations": v}),
    "brief file budget": brief_file(lambda v: {"budget": {"max_iterations": v}}),
    "ui settings": ui_settings,
    "ui launcher": ui_launcher,
    "atelier serve": serve_defaults,
    "mcp run_brief": mcp_run_brief,
    "http run api": http_api("/api/runs", lambda v: {"brief": "a red circle", "seed": SEED, "max_iterations": v}),
    "images api": http_api("/v1/images/generations", lambda v: {"prompt": "a red circle",
                                                                 "atelier": {"seed": SEED, "max_iterations": v}}),
}


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("value, words", [(MAX_ITERATIONS + 1, f"less than or equal to {MAX_ITERATIONS}"),
                                          (0, "greater than or equal to 1")])
def test_every_surface_refuses_the_same_value_with_the_same_words(tmp_path, surface, value, words):
    error = SURFACES[surface](tmp_path, value)
    assert error is not None, f"{surface} accepted max_iterations={value}"
    assert "max_iterations" in error and f"Input should be {words}" in error, (surface, error)


@pytest.mark.parametrize("surface", SURFACES)
def test_every_surface_accepts_the_same_limits(tmp_path, surface):
    for value in (1, MAX_ITERATIONS):
        (tmp_path / str(value)).mkdir()
        assert SURFACES[surface](tmp_path / str(value), value) is None, (surface, value)


def test_the_model_says_each_problem_in_one_line_naming_the_field():
    with pytest.raises(AtelierError) as e:
        RunOptions.parse(max_iterations=MAX_ITERATIONS + 1, mode="chaos", budget={"max_seconds": -1})
    assert str(e.value) == (f"bad run options: mode: Input should be 'agent' or 'loop'; max_iterations: Input should "
                            f"be less than or equal to {MAX_ITERATIONS}; max_seconds: Input should be greater than 0")
    with pytest.raises(AtelierError, match="budget.max_rounds: not a budget"):
        RunOptions.parse(budget={"max_rounds": 3})
    assert "≤ 20" in RunOptions.help("max_iterations")  # the CLI's help says the limit


def test_a_long_batch_budget_gives_each_brief_at_most_a_run_s_own_limits(tmp_path):
    from agent.core.options import MAX_COST_USD, MAX_SECONDS
    from agent.surfaces.batch import BriefEntry, make_job
    job = make_job(BriefEntry(id="x", brief="a lake"), tmp_path, {}, max_seconds=10 * MAX_SECONDS,
                   max_cost=10 * MAX_COST_USD)
    assert (job.brief.budget.max_seconds, job.brief.budget.max_cost_usd) == (MAX_SECONDS, MAX_COST_USD)
    RunOptions.parse(budget=job.brief.budget)  # what Studio checks when the brief starts


def test_the_mcp_generation_tools_take_their_limits_from_one_definition(tmp_path):
    """generate_image, edit_image and generate_video say GenerationRequest's limits, and as many images
    as a round may have (RunOptions.candidates); typeset_text the words' limit (agent.core.limits)."""
    pytest.importorskip("mcp")
    from mcp import Client

    from agent.core import limits
    from agent.core.options import MAX_CANDIDATES, SEED_LIMIT
    from agent.core.types import GenerationRequest
    from agent.surfaces.mcp_server import build_server

    async def schemas():
        async with Client(build_server(tmp_path / "runs", **FAKE)) as client:
            return {t.name: t.input_schema["properties"] for t in (await client.list_tools()).tools}
    tools = anyio.run(schemas)

    def span(prop):
        branch = next((b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"), prop)
        return branch.get("minimum", branch.get("exclusiveMinimum")), branch.get("maximum", branch.get("exclusiveMaximum"))
    for tool, names in {"generate_image": ("seed", "guidance", "steps", "width", "height"),
                        "edit_image": ("seed", "guidance", "strength"),
                        "generate_video": ("seed", "num_frames", "fps")}.items():
        for name in names:
            want = limits.bounds(GenerationRequest, name)
            assert span(tools[tool][name]) == (want.get("ge", want.get("gt")), want.get("le", want.get("lt"))), (tool, name)
        if "n" in tools[tool]:
            assert span(tools[tool]["n"]) == (1, MAX_CANDIDATES)
    assert span(tools["generate_image"]["seed"])[1] == SEED_LIMIT
    assert tools["typeset_text"]["text"]["maxLength"] == limits.CHARS["typeset"]


def test_a_budget_s_other_counts_survive_the_options():
    """One merge (RunOptions.brief_fields): the options' budget over a caller's, the counts options do
    not name (generations, denoiser steps) kept."""
    from agent.core.types import Budget
    options = RunOptions.parse(budget={"max_iterations": 3, "max_generations": 5})
    fields = options.brief_fields(Budget(max_iterations=9, max_generations=5, max_denoiser_steps=40))
    assert fields["budget"]["max_iterations"] == 3 and fields["budget"]["max_generations"] == 5
    assert fields["budget"]["max_denoiser_steps"] == 40
    assert options.brief_fields()["budget"] == {"max_iterations": 3, "max_seconds": None, "max_cost_usd": None}
