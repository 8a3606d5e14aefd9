"""Data integrity (issue 14): no run is lost or overwritten without a word, reserved names cannot
break the index, a copied run writes where it was read, and damaged records give one line."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from agent.core.errors import InputError
from agent.core.records import RunStore
from tests import fakes

FAKES = {"image_model": "test:flat", "critic": "critic:seed"}


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch)


def write(path, entries):
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path


def test_an_id_that_clashes_with_the_index_is_refused(tmp_path):
    from agent.surfaces.batch import BriefFileError, load_briefs
    f = write(tmp_path / "b.yaml", [{"id": "index.sqlite-journal", "brief": "a red circle"},
                                    {"id": "Index.sqlite", "brief": "a red circle"}])
    with pytest.raises(BriefFileError) as e:
        load_briefs(f)
    assert "entry 1 (id 'index.sqlite-journal'), field 'id'" in str(e.value) and "reserved" in str(e.value)
    assert "entry 2" in str(e.value)
    with pytest.raises(InputError, match="reserved"):
        RunStore(tmp_path / "runs").run_dir("index.sqlite-wal")


def test_an_edited_brief_gets_a_new_run_beside_the_old_one(tmp_path):
    from agent.surfaces.batch import run_batch
    out = tmp_path / "out"
    f = write(tmp_path / "b.yaml", [{"id": "a", "brief": "a red circle", "max_iterations": 2, "seed": 1}])
    first = run_batch(f, out, concurrency=1, defaults=FAKES, progress=False)
    old = first.lines[0]
    assert old["run_id"] == "a" and len(old["attempts"]) == 2
    old_json = (out / "runs" / "a" / "run.json").read_bytes()

    write(f, [{"id": "a", "brief": "a blue square", "max_iterations": 1, "seed": 1}])
    second = run_batch(f, out, concurrency=1, defaults=FAKES, progress=False)
    line = second.lines[0]
    assert line["id"] == "a" and line["run_id"] != "a" and line["run_id"].startswith("a-")
    assert "changed" in line["note"] and line["run_id"] in line["note"]
    assert (out / "runs" / "a" / "run.json").read_bytes() == old_json  # the old run is untouched
    new = json.loads((out / "runs" / line["run_id"] / "run.json").read_text())
    assert new["brief"]["text"] == "a blue square"

    # the same command again: finished, nothing runs, the same run is reported
    third = run_batch(f, out, concurrency=1, defaults=FAKES, progress=False)
    assert third.lines[0]["run_id"] == line["run_id"] and not third.pending


def test_an_unfinished_run_of_an_edited_brief_is_not_deleted(tmp_path):
    from agent.core.types import Brief, RunRecord
    from agent.surfaces.batch import run_batch
    out = tmp_path / "out"
    store = RunStore(out / "runs")
    store.save(RunRecord(run_id="a", brief=Brief(text="a red circle"), status="running"))
    (out / "runs" / "a" / "attempt.png").write_bytes(b"kept")
    f = write(tmp_path / "b.yaml", [{"id": "a", "brief": "a blue square", "max_iterations": 1}])
    line = run_batch(f, out, concurrency=1, defaults=FAKES, progress=False).lines[0]
    assert line["run_id"] != "a" and (out / "runs" / "a" / "attempt.png").read_bytes() == b"kept"
    assert store.load("a").brief.text == "a red circle"


def test_resume_of_a_copied_run_writes_where_it_read(tmp_path):
    from agent.surfaces.api import Studio
    runs = tmp_path / "runs"
    studio = Studio(**FAKES, llm="offline", runs_dir=runs)
    result = studio.run("a red circle", seed=1, budget={"max_iterations": 1})
    original = runs / result.run_id
    before = (original / "run.json").read_bytes()
    pngs = {p.name: p.read_bytes() for p in original.glob("*.png")}
    shutil.copytree(original, runs / "copy")
    record = json.loads((runs / "copy" / "run.json").read_text())
    record["status"], record["brief"]["budget"]["max_iterations"] = "stopped", 2
    (runs / "copy" / "run.json").write_text(json.dumps(record))

    resumed = studio.resume("copy")
    assert resumed.run_id == "copy" and len(resumed.attempts) == 2
    assert (original / "run.json").read_bytes() == before
    assert {p.name: p.read_bytes() for p in original.glob("*.png")} == pngs
    assert all(a.artifact.path.parent == runs / "copy" for a in resumed.attempts)


def test_a_run_whose_reference_was_deleted_still_loads(tmp_path, caplog):
    from PIL import Image

    from agent.core.types import Brief, RunRecord
    ref = tmp_path / "ref.png"
    Image.new("RGB", (8, 8)).save(ref)
    store = RunStore(tmp_path / "runs")
    store.save(RunRecord(run_id="r", brief=Brief(text="a red circle", reference_images=[ref])))
    ref.unlink()
    with caplog.at_level("WARNING"):
        assert store.load("r").brief.reference_images == [ref]
    assert "ref.png" in caplog.text


def test_a_truncated_run_json_is_one_line(tmp_path):
    from agent.core.types import Brief, RunRecord
    store = RunStore(tmp_path / "runs")
    store.save(RunRecord(run_id="r", brief=Brief(text="a red circle")))
    path = tmp_path / "runs" / "r" / "run.json"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError) as e:
        store.load("r")
    assert "damaged" in str(e.value) and "\n" not in str(e.value)


def test_a_seed_near_the_top_does_not_fail_the_second_attempt(tmp_path):
    from agent.surfaces.api import Studio
    result = Studio(**FAKES, llm="offline", runs_dir=tmp_path / "runs").run(
        "a red circle", seed=2**32 - 1, budget={"max_iterations": 2})
    assert result.status != "failed", result.error
    assert [a.seed for a in result.attempts][:2] == [2**32 - 1, 0]


# ---- one line, not a traceback; with --json the last stdout line is one JSON object -------------------
@pytest.mark.parametrize("args", [
    ["history", "--out", "{file}", "--json"],
    ["brief", "{briefs}", "--out", "{file}", "--json"],
    ["run", "a red \udcff circle", "--out", "{runs}", "--json", "--image-model", "test:flat",
     "--critic", "critic:seed"],
])
def test_cli_errors_are_one_line(tmp_path, args):
    from typer.testing import CliRunner

    from agent.surfaces.cli import app
    (tmp_path / "file").write_text("not a folder")
    write(tmp_path / "b.yaml", [{"id": "a", "brief": "a red circle"}])
    args = [a.format(file=tmp_path / "file", briefs=tmp_path / "b.yaml", runs=tmp_path / "runs") for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and result.exception is None or isinstance(result.exception, SystemExit)
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["status"] == "failed" and "\n" not in last["error"]
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
