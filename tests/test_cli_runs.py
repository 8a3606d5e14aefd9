"""One run shown (`atelier show`), runs found without the same --out, batch and runs folders told
apart, a batch re-run saying how far it got, and the help a newcomer reads."""
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.core.records import RunStore
from agent.surfaces.cli import app
from tests import fakes

FAKE = ["--image-model", "test:flat", "--critic", "critic:seed"]


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={8})


def atelier(*args):
    return CliRunner().invoke(app, list(args))


def last_json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def batch(tmp_path, n=3, **extra):
    path = tmp_path / "briefs.yaml"
    path.write_text(yaml.safe_dump([{"id": f"b{i}", "brief": f"a lake number {i}", "seed": 7 * i + 1,
                                     "max_iterations": 2, **extra} for i in range(n)]))
    return path


def test_show_lists_checklist_attempts_verdicts_and_files(tmp_path):
    r = atelier("run", "two red circles", *FAKE, "--seed", "7", "--max-iterations", "3", "--out", str(tmp_path), "--json")
    run_id = last_json(r)["run_id"]
    shown = atelier("show", run_id, "--out", str(tmp_path), "--json")
    assert shown.exit_code == 0, shown.output
    view = last_json(shown)
    assert view["approved"] and view["best_index"] == 1 and [a["seed"] for a in view["attempts"]] == [7, 8]
    assert view["attempts"][0]["verdict"]["issues"] == ["seed 7 is not liked"]
    assert view["checklist"] and all({"text", "status"} <= set(item) for item in view["checklist"])
    assert {Path(f).name for f in view["files"]} >= {"run.json", Path(view["attempts"][1]["path"]).name}
    text = atelier("show", run_id, "--out", str(tmp_path))
    assert "checklist" in text.stdout and "★ best" in text.stdout and "seed 7: not approved" in text.stdout


def test_show_of_a_missing_run_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = atelier("show", "nope")
    assert r.exit_code == 2 and "no run 'nope' in runs, batch/runs" in r.stderr and "--out" in r.stderr
    assert "not a run id" in atelier("show", "../etc").stderr


def test_resume_finds_a_batch_run_without_the_same_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert atelier("brief", str(batch(tmp_path, n=1)), "--out", "mybatch", *FAKE).exit_code == 0
    store = RunStore(tmp_path / "mybatch" / "runs")
    record = store.load("b0")
    record.attempts, record.iterations, record.best_index, record.status = record.attempts[:1], 1, 0, "running"
    store.save(record)  # as if killed after one round
    r = atelier("run", "--resume", "b0", *FAKE, "--json")  # no --out: found in ./mybatch/runs
    assert r.exit_code == 0, r.output
    assert last_json(r)["run_id"] == "b0" and len(last_json(r)["attempts"]) == 2


def test_history_takes_a_batch_folder_and_brief_refuses_a_runs_folder(tmp_path):
    assert atelier("brief", str(batch(tmp_path, n=2)), "--out", str(tmp_path / "b"), *FAKE).exit_code == 0
    r = atelier("history", "--out", str(tmp_path / "b"), "--json")
    assert r.exit_code == 0 and {row["run_id"] for row in last_json(r)} == {"b0", "b1"}
    assert "is a batch folder" in r.stderr
    atelier("run", "a lake", *FAKE, "--out", str(tmp_path / "runs"))
    refused = atelier("brief", str(batch(tmp_path)), "--out", str(tmp_path / "runs"), *FAKE)
    assert refused.exit_code == 2 and "is a runs folder" in refused.stderr
    again = atelier("brief", str(batch(tmp_path, n=2)), "--out", str(tmp_path / "b" / "runs"), *FAKE)
    assert again.exit_code == 0 and "using" in again.stderr  # a batch's runs/ means that batch


def test_a_batch_rerun_says_how_many_are_done(tmp_path):
    path = batch(tmp_path, n=4)
    out = tmp_path / "out"
    assert atelier("brief", str(path), "--out", str(out), *FAKE).exit_code == 0
    lines = (out / "summary.jsonl").read_text().splitlines(keepends=True)
    (out / "summary.jsonl").write_text("".join(lines[:3]))
    r = atelier("brief", str(path), "--out", str(out), *FAKE)
    assert r.exit_code == 0 and "3 of 4 done, resuming: 1 to go" in r.stderr
    assert "all 4 briefs done already" in atelier("brief", str(path), "--out", str(out), *FAKE).stderr


def test_a_motion_brief_without_a_video_model_suggests_one(tmp_path):
    r = atelier("run", "a red circle moving to the right", *FAKE, "--max-iterations", "1", "--out", str(tmp_path))
    assert "--video-model local:shapes-animate" in r.stderr
    assert "--video-model" not in atelier("run", "a red circle", *FAKE, "--max-iterations", "1",
                                          "--out", str(tmp_path)).stderr


def test_help_says_what_each_option_is():
    from agent.surfaces.bench_keys import STRATEGIES
    from local_models.specs import SPECS
    def words(*args) -> str:  # the help's text, whatever the terminal's width wrapped
        return " ".join(atelier(*args).stdout.replace("│", " ").split())
    run = words("run", "--help")
    for needle in ("image back end", "rounds of generate-and-critique", "wall-clock budget", "first attempt's seed"):
        assert needle in run
    assert "one JSON list" in words("history", "--help")
    pull = words("models", "pull", "--help")
    assert all(name in pull for name in SPECS)
    bench = words("bench", "--help")
    assert all(key in bench for key in STRATEGIES)


def test_progress_colours_a_verdict_by_its_approved_field_not_its_words(monkeypatch):
    from rich.console import Console

    import agent.surfaces.cli as cli
    from agent.core.types import Artifact, Attempt, Event, GenerationRequest, Verdict
    shown = Console(record=True, force_terminal=True, color_system="standard", width=200)
    monkeypatch.setattr(cli, "err", shown)
    artifact = Artifact(path="/tmp/a.png", sha256="0" * 64, request=GenerationRequest(prompt="x"))
    for approved, colour in ((True, "\x1b[32m"), (False, "\x1b[33m")):  # green, yellow
        attempt = Attempt(index=0, iteration=1, prompt="x", seed=0, artifact=artifact,
                          verdict=Verdict(critic="c", approved=approved))
        cli.progress(Event(type="verdict", run_id="r", message="every requirement checked", attempt=attempt))
        assert shown.export_text(styles=True).startswith(colour + "verdict"), approved
