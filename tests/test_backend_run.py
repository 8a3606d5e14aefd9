"""A local back end's library failure inside a run (defect 3 of issue 24): the exception diffusers raises
is a tool error the director sees, and the run goes on when the director tries again; before, it ended the
run as an internal error. A tiny SD 1.5 pipeline whose VAE fails once, through `atelier run`, with a
scripted director (the offline planner ends a run whose first picture could not be made, by design)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("diffusers")
from typer.testing import CliRunner  # noqa: E402

from agent.surfaces.cli import app  # noqa: E402
from tests import fakes  # noqa: E402

FAILED = []


def failing_once(model: str = ""):
    """tiny-sd whose VAE decode raises what PIL raises of a bad array, on its first call only."""
    from local_models import tiny_pipelines as tiny

    backend = tiny.backend("sd")
    vae = backend.load().pipe.vae
    real = vae.decode

    def decode(*args, **kwargs):
        if not FAILED:
            FAILED.append(True)
            raise ValueError("Cannot handle this data type: (1, 1, 3), <f4")
        return real(*args, **kwargs)

    vae.decode = decode
    return backend


@pytest.fixture(autouse=True)
def backends(monkeypatch):
    FAILED.clear()
    yield from fakes.installed(monkeypatch, approve={2}, tinyfail="tests.test_backend_run:failing_once")


def test_a_library_exception_is_a_tool_error_and_the_run_goes_on(tmp_path):
    import yaml

    draw = {"name": "generate_image", "arguments": {"prompt": "a photo of a red circle", "seed": 2, "n": 1}}
    script = tmp_path / "director.yaml"
    script.write_text(yaml.safe_dump({"turns": [{"text": "draw", "tool_calls": [draw]},
                                                {"text": "again", "tool_calls": [draw]}, "done"]}))
    result = CliRunner().invoke(app, ["run", "a red circle", "--llm", f"scripted:{script}", "--image-model",
                                      "tinyfail:sd", "--critic", "critic:seed", "--max-iterations", "3",
                                      "--out", str(tmp_path / "runs"), "--json"])
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert FAILED and out["status"] == "approved" and len(out["attempts"]) == 1, out
    assert "tool error generate_image failed: local:tiny-sd failed while decoding (text2img, 32×32, n=1): " \
           "ValueError: Cannot handle this data type" in result.stdout + result.stderr
