"""MCP `run_brief` takes the image settings (steps, guidance, size, sampler) as `atelier run` does:
through the SDK's own client session over stdio, the tool's schema lists them with their limits and
words, a run with steps=5 records 5 in run.json's options, and a value the image model does not take
is the CLI's one-line refusal, with no run made."""
from __future__ import annotations

import json

import anyio
import pytest

pytest.importorskip("mcp", reason="the mcp SDK is not installed (pip install 'atelier[mcp]')")

from agent.core import registry  # noqa: E402
from agent.core.protocols import ModelInfo  # noqa: E402
from tests import fakes  # noqa: E402
from tests.test_mcp import child_env, record_of, stdio_session  # noqa: E402

SAMPLERS = ["euler", "euler a"]


class SteppedFlat(fakes.FlatBackend):
    """test:flat that takes steps 1..50, guidance 0..20 and two samplers (a diffusers model's shape)."""

    def __init__(self, model: str = ""):
        super().__init__(model)
        self.info = ModelInfo(name="stepped:flat", sizes=[(32, 32), (48, 32)], default_steps=20, default_guidance=5.0,
                              steps_range=(1, 50), guidance_range=(0.0, 20.0), schedulers=SAMPLERS,
                              default_scheduler="euler", edits=["img2img", "inpaint"])


def register() -> None:
    """ATELIER_PLUGINS entry for the child server: image `stepped:flat`."""
    registry.register("image", "stepped", "tests.test_mcp_settings:SteppedFlat")


def env() -> dict[str, str]:
    base = child_env()
    return {**base, "ATELIER_PLUGINS": base["ATELIER_PLUGINS"] + ",tests.test_mcp_settings:register"}


def bounds(prop: dict) -> tuple:
    """An optional argument's JSON schema type and limits (its anyOf's non-null branch)."""
    (given,) = [b for b in prop["anyOf"] if b["type"] != "null"]
    return (given["type"], given.get("minimum"), given.get("maximum"))[:3 if "minimum" in given else 1]


def test_run_brief_takes_the_image_settings_as_the_cli_does(tmp_path):
    runs = tmp_path / "runs"

    async def main():
        async with stdio_session(runs, env()) as s:
            tool = next(t for t in (await s.list_tools()).tools if t.name == "run_brief")
            props = tool.input_schema["properties"]
            assert bounds(props["steps"]) == ("integer", 1, 500)
            assert "denoising steps" in props["steps"]["description"]
            assert bounds(props["guidance"]) == ("number", 0, 50)
            assert bounds(props["size"])[0] == bounds(props["sampler"])[0] == "string"
            assert "guidance (CFG) scale" in props["guidance"]["description"]
            assert "WIDTHxHEIGHT" in props["size"]["description"]
            assert "sampler (scheduler) name" in props["sampler"]["description"]
            assert not {"steps", "guidance", "size", "sampler"} & set(tool.input_schema.get("required", []))

            r = await s.call_tool("run_brief", {"brief": "a red circle", "seed": 7, "max_iterations": 1,
                                                "image_model": "stepped:flat", "critic": "critic:seed",
                                                "steps": 5, "guidance": 4.5, "size": "48 x 32", "sampler": "euler a"})
            assert not r.is_error, r.content[0].text
            run_id = record_of(r)["run_id"]
            record = json.loads((runs / run_id / "run.json").read_text())
            assert {k: record["options"][k] for k in ("steps", "guidance", "size", "sampler")} == \
                {"steps": 5, "guidance": 4.5, "size": "48x32", "sampler": "euler a"}
            request = record["attempts"][0]["artifact"]["request"]
            assert (request["steps"], request["guidance"], request["width"], request["height"], request["scheduler"]) \
                == (5, 4.5, 48, 32, "euler a")
            # none set: the model's defaults are what the record holds
            r = await s.call_tool("run_brief", {"brief": "a red circle", "seed": 7, "max_iterations": 1,
                                                "image_model": "stepped:flat", "critic": "critic:seed"})
            record = json.loads((runs / record_of(r)["run_id"] / "run.json").read_text())
            assert {k: record["options"][k] for k in ("steps", "guidance", "size", "sampler")} == \
                {"steps": 20, "guidance": 5.0, "size": "32x32", "sampler": "euler"}

            made = {p.name for p in runs.iterdir()}
            # each refused in the CLI's line (tests/test_image_settings.py), before any run is made
            for args, line in (
                    ({"image_model": "stepped:flat", "steps": 60}, "bad run options: steps: stepped:flat takes 1..50, not 60"),
                    ({"image_model": "stepped:flat", "sampler": "heun"},
                     "bad run options: sampler: stepped:flat takes euler, euler a, not 'heun'"),
                    ({"image_model": "stepped:flat", "size": "64x64"},
                     "bad run options: size: stepped:flat makes 32x32, 48x32, not 64x64"),
                    ({"image_model": "stepped:flat", "size": "big"},
                     "bad run options: size: 'big' is not WIDTHxHEIGHT, e.g. 512x512"),
                    ({"image_model": "test:flat", "steps": 5},
                     "bad run options: steps: test:flat chooses its own denoising steps (it takes no steps setting)")):
                r = await s.call_tool("run_brief", {"brief": "a red circle", "critic": "critic:seed", **args})
                assert r.is_error, args
                # the SDK's own prefix, then the CLI's line, and nothing more
                assert r.content[0].text == f"Error executing tool run_brief: {line}", (args, r.content[0].text)
            assert {p.name for p in runs.iterdir()} == made  # no run folder for any of them
            r = await s.call_tool("run_brief", {"brief": "a red circle", "steps": 0})  # the schema's own limit
            assert r.is_error and "steps" in r.content[0].text and "greater than or equal to 1" in r.content[0].text

    anyio.run(main)


def test_the_cli_says_the_same_line(tmp_path, monkeypatch):
    """The line the MCP client gets is `atelier run`'s own (its stderr after 'error: ')."""
    from typer.testing import CliRunner

    from agent.surfaces.cli import app
    with registry.override("image", "stepped", "tests.test_mcp_settings:SteppedFlat"):
        result = CliRunner().invoke(app, ["run", "a red circle", "--image-model", "stepped:flat", "--steps", "60",
                                          "--local", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == "error: bad run options: steps: stepped:flat takes 1..50, not 60"
    assert not list(tmp_path.glob("runs/*/run.json"))  # no run was recorded
