"""The command-line contract (DESIGN.md): --json's last stdout line, exit codes, one-line errors."""
import json
import os

import pytest
from typer.testing import CliRunner

from agent.core import registry
from agent.surfaces.cli import app
from tests import fakes

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={8})


def atelier(*args):
    return runner.invoke(app, list(args))


FAKE = ["--image-model", "test:flat", "--critic", "critic:seed"]


def test_run_json_contract(tmp_path):
    r = atelier("run", "a lake at dawn", *FAKE, "--seed", "7", "--max-iterations", "3", "--out", str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["approved"] is True and out["iterations"] == 2
    assert out["best"]["seed"] == 8 and os.path.isabs(out["best"]["path"]) and os.path.isfile(out["best"]["path"])
    assert out["best"]["verdict"]["approved"] is True
    assert [a["seed"] for a in out["attempts"]] == [7, 8]
    assert {"path", "prompt", "seed", "approved"} <= set(out["attempts"][0])


def test_unapproved_run_still_exits_zero(tmp_path):
    r = atelier("run", "a lake", *FAKE, "--seed", "1", "--max-iterations", "2", "--out", str(tmp_path), "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout.strip().splitlines()[-1])["approved"] is False


def test_resume_of_a_finished_and_of_a_missing_run(tmp_path):
    r = atelier("run", "a lake", *FAKE, "--seed", "8", "--out", str(tmp_path), "--json")
    run_id = json.loads(r.stdout.strip().splitlines()[-1])["run_id"]
    again = atelier("run", "--resume", run_id, *FAKE, "--out", str(tmp_path), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout.strip().splitlines()[-1])["run_id"] == run_id
    missing = atelier("run", "--resume", "nope", "--out", str(tmp_path))
    assert missing.exit_code != 0 and "no run 'nope'" in missing.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "   "], "empty"),
    (["run", "x" * 100_000], "limit is 4000"),
    (["run", "a lake", "--llm", "bogus:model"], "unknown llm back end 'bogus:model'"),
    (["run", "a lake", "--max-iterations", "-3"], "max_iterations"),
    (["run", "a lake", "--max-iterations", "100000"], "max_iterations"),
    (["run", "a lake", "--max-seconds", "-1"], "max_seconds"),
    (["run", "a lake", "--mode", "chaos"], "mode: Input should be 'agent' or 'loop'"),
    (["run", "a lake", "--llm", "anthropic:claude-sonnet-4-6"], "ANTHROPIC_API_KEY"),
    (["run", "a lake", "--llm", "openai:gpt-4o"], "OPENAI_API_KEY"),
])
def test_bad_input_exits_nonzero_with_one_line(tmp_path, args, message):
    r = atelier(*args, *FAKE, "--out", str(tmp_path))
    assert r.exit_code != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not any(p.is_dir() for p in tmp_path.iterdir())  # no run folder was made


def test_size_off_the_menu_is_reported_not_crashed(tmp_path):
    # an LLM-chosen size off the menu is a tool error the director sees; the run fails only after
    # it keeps happening, with the back end's message
    from agent.llm.scripted import ScriptedLLM
    call = {"name": "generate_image", "arguments": {"prompt": "x", "width": 1000, "height": 1000}}
    global _SCRIPT
    _SCRIPT = ScriptedLLM([{"tool_calls": [call]}] * 3)
    with registry.override("llm", "fixedcli", "tests.test_cli:_scripted"):
        r = atelier("run", "a lake", *FAKE, "--llm", "fixedcli:x", "--out", str(tmp_path), "--json")
    assert r.exit_code == 1 and "1000x1000" in r.stderr and "menu" in r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["attempts"] == []


_SCRIPT = None


def _scripted(model):
    return _SCRIPT


def test_output_folder_not_writable(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):  # root ignores permissions: use a path under a file instead
        target = tmp_path / "file"
        target.write_text("x")
        ro = target / "runs"
    r = atelier("run", "a lake", *FAKE, "--out", str(ro))
    assert r.exit_code != 0 and "not writable" in r.stderr


def test_spec_prints_geneval_json():
    r = atelier("spec", "a photo of a dog right of a teddy bear", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"include": [{"class": "teddy bear", "count": 1},
                                                {"class": "dog", "count": 1, "position": ["right of", 0]}],
                                    "exclude": [],
                                    "checklist": ["exactly 1 teddy bear", "exactly 1 dog", "the dog right of the teddy bear",
                                                  "no patch, seam, stray mark or malformed shape"]}


def test_spec_shows_the_background_and_exact_counts():
    r = atelier("spec", "at least two red circles and a blue square on a beige background", "--json")
    data = json.loads(r.stdout)
    assert data["background"] == "beige" and data["include"][0]["at_least"] is True
    assert data["checklist"][:2] == ["at least 2 red circles", "exactly 1 blue square"]
    assert "a beige background" in data["checklist"]


def test_critique_judges_a_picture_the_user_has(tmp_path):
    from local_models.shapes import world
    from agent.core.types import SceneSpec
    scene = world.Scene("beige", [world.Obj("circle", "blue", (10, 10, 30, 30))], SceneSpec(), "")
    world.render(scene, 256).save(tmp_path / "mine.png")
    world.render(world.Scene("gray", scene.objects, SceneSpec(), ""), 256).save(tmp_path / "gray.png")
    r = atelier("critique", str(tmp_path / "mine.png"), str(tmp_path / "gray.png"),
                "--brief", "a blue circle on a beige background", "--json")
    assert r.exit_code == 0
    right, wrong = (json.loads(line) for line in r.stdout.strip().splitlines())
    assert right["approved"] and all(q["status"] == "passed" for q in right["requirements"])
    assert not wrong["approved"]
    (bg,) = [q for q in wrong["requirements"] if q["kind"] == "background"]
    assert bg["status"] == "failed" and "gray" in bg["evidence"]
    r = atelier("critique", str(tmp_path / "nope.png"), "--brief", "a circle")
    assert r.exit_code == 2 and "image not found" in r.stderr
