"""The run's image settings (steps, guidance, size, sampler: agent.core.image_settings) reach the
pipeline call and the PNG info, win over the director's own choice, and a value the image model does
not declare it takes is refused before anything runs, in one line naming the setting."""
from __future__ import annotations

import functools
import json

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from agent.core.errors import InputError
from agent.core.image_settings import ImageSettings
from agent.core.options import RunOptions
from agent.core.protocols import ModelInfo
from agent.surfaces.cli import app
from tests import fakes

CALLS: list[dict] = []


def spied(model: str = "sdxl"):
    """A tiny pipeline of the family `model` whose calls are recorded (keyword arguments, scheduler)."""
    from local_models import tiny_pipelines as tiny

    backend = tiny.backend(model)
    pipe = backend.load().pipe
    real = type(pipe).__call__

    @functools.wraps(real)  # the back end passes only the parameters the call's signature names
    def call(self, *args, **kwargs):
        CALLS.append({**kwargs, "scheduler": type(self.scheduler).__name__})
        return real(self, *args, **kwargs)

    pipe.__class__ = type("Spied", (type(pipe),), {"__call__": call})
    return backend


@pytest.fixture
def backends(monkeypatch):
    CALLS.clear()
    yield from fakes.installed(monkeypatch, tinyspy="tests.test_image_settings:spied")


def test_the_settings_are_checked_against_what_the_model_declares():
    shapes = ModelInfo(name="local:shapes", sizes=[(64, 64), (128, 128)], default_steps=20, default_guidance=3.0,
                       steps_range=(1, 100), guidance_range=(0.0, 20.0), default_scheduler="dpm++")
    service = ModelInfo(name="openai:gpt-image-2", sizes=[(1024, 1024)])
    assert ImageSettings(steps=100, guidance=20, size="128 x 128").problem(shapes) is None
    assert ImageSettings(steps=101).problem(shapes) == "steps: local:shapes takes 1..100, not 101"
    assert ImageSettings(guidance=25).problem(shapes) == "guidance: local:shapes takes 0..20, not 25"
    assert ImageSettings(size="100x100").problem(shapes) == "size: local:shapes makes 64x64, 128x128, not 100x100"
    assert ImageSettings(sampler="euler").problem(shapes) == \
        "sampler: local:shapes has one sampler of its own (it takes no sampler setting)"
    assert ImageSettings(steps=30).problem(service) == \
        "steps: openai:gpt-image-2 chooses its own denoising steps (it takes no steps setting)"
    assert ImageSettings(guidance=5).problem(service) == "guidance: openai:gpt-image-2 has no guidance scale to set"
    # what a run records: the user's, else the model's declared defaults (never None where the model has one)
    assert ImageSettings(steps=7).used(shapes) == {"steps": 7, "guidance": 3.0, "size": "64x64", "sampler": "dpm++"}
    with pytest.raises(InputError, match=r"^bad run options: size: 'big' is not WIDTHxHEIGHT, e\.g\. 512x512$"):
        RunOptions.parse(size="big")
    # into a request: the user's over the director's; an edit keeps its size; a model that cannot take one refuses
    from agent.core.types import GenerationRequest
    asked = GenerationRequest(prompt="a red circle", steps=2, guidance=1.0, width=64, height=64)
    made = ImageSettings(steps=7, size="128x128").over(asked, shapes)
    assert (made.steps, made.guidance, made.width) == (7, 1.0, 128)
    assert ImageSettings(steps=7, size="99x99").over(asked, shapes, size=False).width == 64
    with pytest.raises(InputError, match=r"^bad run options: sampler: local:shapes has one sampler of its own"):
        ImageSettings(sampler="euler a").over(asked, shapes)  # e.g. an edit sent to another model than the run's


def test_every_back_end_declares_what_it_takes():
    from agent.backends.remote.openai_images import OpenAIImages
    from agent.backends.remote.replicate import ReplicateImages
    from agent.backends.remote.stability import StabilityImages
    from local_models.specs import SPECS

    sd15, turbo = SPECS["sd15"].info(), SPECS["sd-turbo"].info()
    assert (sd15.steps_range, sd15.guidance_range, sd15.default_scheduler) == ((1, 150), (0.0, 50.0), "dpm++")
    assert "euler a" in sd15.schedulers and ImageSettings(sampler="euler a", steps=30).problem(sd15) is None
    assert ImageSettings(guidance=7).problem(turbo) == "guidance: local:sd-turbo has no guidance scale to set"
    assert ImageSettings(sampler="dpm++").problem(SPECS["flux-dev"].info()) == \
        "sampler: local:flux-dev takes euler, not 'dpm++'"
    gpt = OpenAIImages("gpt-image-2", api_key="k").info
    assert (gpt.steps_range, gpt.guidance_range, gpt.schedulers) == (None, None, [])
    assert StabilityImages("sd3.5-large", api_key="k").info.guidance_range == (1.0, 10.0)
    assert StabilityImages("core", api_key="k").info.guidance_range is None
    flux = ReplicateImages("black-forest-labs/flux-dev", api_key="k").info
    assert (flux.steps_range, flux.schedulers) == ((1, 50), [])


@pytest.mark.slow
def test_the_users_settings_reach_the_pipeline_and_the_png_info_over_the_directors(backends, tmp_path):
    """A scripted director asks 2 steps at guidance 1; the user's --steps 3 --guidance 5.5 --sampler euler a
    --size 48x32 win: the SDXL pipeline is called with them, and the PNG info and run.json say so."""
    draw = {"name": "generate_image", "arguments": {"prompt": "a red circle", "seed": 2, "steps": 2, "guidance": 1.0}}
    script = tmp_path / "director.yaml"
    script.write_text(yaml.safe_dump({"turns": [{"text": "draw", "tool_calls": [draw]}, "done"]}))
    result = CliRunner().invoke(app, ["run", "a red circle", "--llm", f"scripted:{script}", "--image-model",
                                      "tinyspy:sdxl", "--critic", "critic:seed", "--max-iterations", "1",
                                      "--steps", "3", "--guidance", "5.5", "--sampler", "euler a", "--size", "48x32",
                                      "--out", str(tmp_path / "runs"), "--json", "--local", "--no-credentials"])
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(out["attempts"]) == 1, result.output
    (call,) = CALLS
    assert (call["num_inference_steps"], call["guidance_scale"], call["width"], call["height"]) == (3, 5.5, 48, 32)
    assert call["scheduler"] == "EulerAncestralDiscreteScheduler"
    png = Image.open(out["attempts"][0]["path"])
    assert "Steps: 3, Sampler: euler a, CFG scale: 5.5, Seed: 2, Size: 48x32" in png.text["parameters"]
    record = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert {k: record["options"][k] for k in ("steps", "guidance", "size", "sampler")} == \
        {"steps": 3, "guidance": 5.5, "size": "48x32", "sampler": "euler a"}
    assert record["brief"]["settings"] == {"steps": 3, "guidance": 5.5, "size": "48x32", "sampler": "euler a"}


def test_a_setting_the_model_lacks_is_refused_before_the_run_in_one_line(backends, tmp_path):
    runner = CliRunner()
    for flags, line in ((["--guidance", "4"], "guidance: local:tiny-sd has no guidance scale to set"),
                        (["--sampler", "heun"], "sampler: local:tiny-sd takes dpm++, dpm++ karras, euler, euler a, "
                                                "ddim, unipc, not 'heun'"),
                        (["--size", "64x64"], "size: local:tiny-sd makes 32x32, 48x32, not 64x64"),
                        (["--steps", "0"], "steps: Input should be greater than or equal to 1")):
        result = runner.invoke(app, ["run", "a red circle", "--image-model", "tinyspy:sd", "--local",
                                     "--out", str(tmp_path / "runs"), *flags])
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines()[-1] == f"error: bad run options: {line}"  # after any library note
    assert not CALLS and not list(tmp_path.glob("runs/*/run.json"))  # nothing ran, no run was recorded


@pytest.mark.slow
def test_the_shapes_model_takes_steps_and_guidance_and_says_its_defaults(tmp_path, monkeypatch):
    """On the embedded model: the user's steps and guidance reach its pipeline; with none set the PNG info
    and run.json hold the model's values (a layout pass's 10 steps, guidance 3), never None."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    from agent.surfaces.api import Studio

    seen = []
    for cls in (StableDiffusionPipeline, StableDiffusionInpaintPipeline):
        real = cls.__call__
        monkeypatch.setattr(cls, "__call__", lambda self, *a, _real=real, **k: seen.append(
            (k["num_inference_steps"], k["guidance_scale"])) or _real(self, *a, **k))
    studio = Studio(runs_dir=tmp_path)
    mine = studio.run("a red circle", steps=6, guidance=4.5, size="128x128", seed=3, budget={"max_iterations": 1})
    assert seen and set(seen) == {(6, 4.5)}
    png = Image.open(mine.record.attempts[0].artifact.path)
    assert "Steps: 6, Sampler: dpm++, CFG scale: 4.5, Seed: 3, Size: 128x128" in png.text["parameters"]
    seen.clear()
    default = studio.run("a red circle", seed=3, budget={"max_iterations": 1})
    assert set(seen) == {(10, 3.0)}  # the layout's pass steps, the model's guidance
    assert "Steps: 10, Sampler: dpm++, CFG scale: 3.0, Seed: 3, Size: 64x64" in \
        Image.open(default.record.attempts[0].artifact.path).text["parameters"]
    options = default.record.options
    assert (options.steps, options.guidance, options.size, options.sampler) == (20, 3.0, "64x64", "dpm++")


def test_a_brief_file_entry_and_the_http_run_api_take_the_settings(backends, tmp_path):
    """A brief file's entry sets them for its brief (size 48x32 reaches the model; steps on a model that
    chooses its own is that brief's one-line refusal), and the HTTP run API takes the same fields."""
    entries = tmp_path / "briefs.jsonl"
    entries.write_text(json.dumps({"id": "wide", "brief": "a red circle", "seed": 8, "size": "48 x 32"}) + "\n"
                       + json.dumps({"id": "steps", "brief": "a red circle", "seed": 8, "steps": 4}) + "\n")
    result = CliRunner().invoke(app, ["brief", str(entries), "--out", str(tmp_path / "batch"), "--image-model",
                                      "test:flat", "--critic", "critic:seed", "--no-credentials"])
    lines = {json.loads(x)["id"]: json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")}
    wide = json.loads(next((tmp_path / "batch").glob("**/wide/run.json")).read_text())
    assert wide["attempts"][0]["artifact"]["request"]["width"] == 48 and wide["options"]["size"] == "48x32"
    assert "steps: test:flat chooses its own denoising steps (it takes no steps setting)" in \
        json.dumps(lines.get("steps")) + result.output, result.output
    pytest.importorskip("fastapi")
    from starlette.testclient import TestClient

    from agent.surfaces.server.app import build
    with TestClient(build(tmp_path / "runs", llm="offline", ui=False, image_model="test:flat",
                          critic="critic:seed")) as http:
        answer = http.post("/api/runs", json={"brief": "a red circle", "seed": 8, "guidance": 60})
        assert answer.status_code == 400
        assert answer.json()["error"]["message"] == "Invalid value for 'guidance': Input should be less than or equal to 50"
        answer = http.post("/api/runs", json={"brief": "a red circle", "seed": 8, "sampler": "euler"})
        assert answer.status_code == 400 and answer.json()["error"]["message"] == \
            "bad run options: sampler: test:flat has one sampler of its own (it takes no sampler setting)"
