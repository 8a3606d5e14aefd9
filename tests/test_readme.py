"""The README's examples work as pasted: its Python snippet runs, its brief file validates."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from agent.core import registry
from tests import fakes

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def block(lang: str, after: str) -> str:
    """The first ```lang block after the heading `after`."""
    return re.search(rf"```{lang}\n(.*?)```", README[README.index(after):], re.S).group(1)


def run_snippet(tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)  # the snippet's runs go to ./runs
    scope: dict = {}
    exec(compile(block("python", "## Four ways in"), "README.md", "exec"), scope)
    return scope


def test_the_python_snippet_runs_as_pasted(tmp_path, monkeypatch, capsys):
    from agent.critics import CRITICS
    monkeypatch.setitem(CRITICS, "detector", "tests.fakes:SeedCritic")  # fast stand-ins for the shipped models
    monkeypatch.setattr(fakes, "APPROVE_SEEDS", {8})
    with registry.override("image", "local", "tests.fakes:FlatBackend"):
        scope = run_snippet(tmp_path, monkeypatch)
    result = scope["result"]
    assert result.approved and result.best.seed == 8 and Path(result.best.artifact.path).is_file()
    printed = capsys.readouterr().out
    assert "attempt_made" in printed and "verdict" in printed  # the streamed events
    assert (tmp_path / "runs" / result.run_id / "run.json").is_file()


@pytest.mark.slow
def test_the_python_snippet_runs_on_the_shipped_models(tmp_path, monkeypatch):
    assert run_snippet(tmp_path, monkeypatch)["result"].attempts


def test_the_brief_file_example_is_valid(tmp_path):
    from agent.surfaces.batch import load_briefs
    (tmp_path / "refs").mkdir()
    for name in ("a.png", "mask.png"):
        Image.new("RGB", (64, 64), "white").save(tmp_path / "refs" / name)
    path = tmp_path / "briefs.yaml"
    path.write_text(block("yaml", "## Briefs in batch"))
    [entry] = load_briefs(path)
    assert entry.id == "circles" and entry.seed == 7 and entry.to_brief().budget.max_iterations == 3
    assert set(yaml.safe_load(path.read_text())[0]) <= set(type(entry).model_fields) | {"candidates"}
    assert os.path.samefile(entry.reference_images[0], tmp_path / "refs" / "a.png")
