"""`atelier brief FILE`: whole-file validation, bounded concurrency, resume after SIGKILL, summary.jsonl
and report.html, exit codes, and the Ray executor on a small local Ray instance."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.core import registry
from agent.surfaces.batch import BriefFileError, SummaryLog, load_briefs, run_batch
from agent.critics import CRITICS
from tests import fakes


def register_fakes() -> None:
    """ATELIER_PLUGINS=tests.test_batch:register_fakes registers the fast fakes in a child process:
    image `test:flat` (and `slow:flat`, ATELIER_TEST_DELAY seconds per image), critic `critic:seed`
    approving the seeds in ATELIER_TEST_APPROVE, and `broken:x`, which fails when it is built."""
    registry.register("image", "test", "tests.fakes:FlatBackend")
    registry.register("image", "slow", "tests.test_batch:SlowFlat")
    registry.register("image", "broken", "tests.test_batch:no_such_factory")
    CRITICS["seed"] = "tests.fakes:SeedCritic"
    fakes.APPROVE_SEEDS.update(int(s) for s in os.environ.get("ATELIER_TEST_APPROVE", "").split(",") if s)


class SlowFlat(fakes.FlatBackend):
    def generate(self, request, out_dir):
        time.sleep(float(os.environ.get("ATELIER_TEST_DELAY", "0.5")))
        return super().generate(request, out_dir)


# ---- shared --------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
FAKES = {"image_model": "test:flat", "critic": "critic:seed"}
SHAPES_WEIGHTS = ROOT / "local_models" / "shapes" / "weights" / "model_index.json"


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, slow="tests.test_batch:SlowFlat", broken="tests.test_batch:no_such_factory")


def write(path: Path, entries, fmt: str = "yaml") -> Path:
    if fmt == "yaml":
        path.write_text(yaml.safe_dump(entries, sort_keys=False))
    else:
        path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


def child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env.update(PYTHONPATH=str(ROOT), ATELIER_PLUGINS="tests.test_batch:register_fakes", HF_HUB_OFFLINE="1",
               PYTHONUNBUFFERED="1", **extra)
    return env


def lines_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]


# ---- bad input: every problem, with its entry and field ----------------------------------------------
@pytest.mark.parametrize("content, name, expected", [
    ("\x00\x01binary\xff", "briefs.yaml", "not a text file"),
    ("id: a\n  brief: [unclosed\n", "briefs.txt", "neither YAML nor JSONL"),
    ("just a sentence, not a list of briefs\n", "briefs.txt", "expected a list of briefs"),
    ('{"id": "a", "brief": "x"}\n{"id": "b", "brief": \n', "briefs.jsonl", "line 2: not JSON"),
    ("- {id: a, brief: x}\n- {id: a, brief: y}\n", "b.yaml", "entry 2 (id 'a'), field 'id': duplicate of entry 1"),
    ("- {id: a, brief: x, colour: red}\n", "b.yaml", "entry 1 (id 'a'), field 'colour': unknown field"),
    ("- {id: a, brief: x, reference_images: [missing.png]}\n", "b.yaml",
     "entry 1 (id 'a'), field 'reference_images': reference image not found"),
    ("- id: c\n  brief: three circles\n  spec: {include: [{class: circle, count: 3}], exclude: [{class: circle, count: 2}]}\n",
     "b.yaml", "entry 1 (id 'c'), field 'spec': spec contradicts itself"),
    ("- {id: a, brief: x, spec: {include: [{class: circle, count: 0}]}}\n", "b.yaml",
     "entry 1 (id 'a'), field 'spec.include.0.count'"),
    ("- {id: 'a/b', brief: x}\n", "b.yaml", "field 'id': must be letters"),
    ("- {id: a, brief: '   '}\n", "b.yaml", "entry 1 (id 'a'), field 'brief': the brief is empty"),
    ("- {id: a, brief: x, image_model: 'nope:x'}\n", "b.yaml", "field 'image_model': unknown image back end 'nope:x'"),
    ("- {id: a, brief: x, max_iterations: many}\n", "b.yaml", "field 'max_iterations'"),
    ("- {brief: x}\n", "b.yaml", "entry 1, field 'id': Field required"),
    ("", "b.yaml", "the file is empty"),
])
def test_bad_brief_files_name_the_entry_and_field(tmp_path, content, name, expected):
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1") if "\x00" in content else content.encode())
    with pytest.raises(BriefFileError) as e:
        load_briefs(path, FAKES)
    assert expected in str(e.value)


def test_every_problem_is_reported_at_once_and_nothing_runs(tmp_path):
    path = write(tmp_path / "b.yaml", [
        {"id": "ok", "brief": "a lake"},
        {"id": "ok", "brief": "a sea"},
        {"id": "x", "brief": "y", "sizee": 3},
        {"id": "z", "brief": "w", "reference_images": ["nope.png"], "seed": -1},
    ])
    result = CliRunner().invoke(__import__("agent.surfaces.cli", fromlist=["app"]).app,
                                ["brief", str(path), "--out", str(tmp_path / "out"), "--image-model", "test:flat",
                                 "--critic", "critic:seed"])
    assert result.exit_code == 2
    for needle in ("4 problems", "entry 2 (id 'ok'), field 'id': duplicate of entry 1",
                   "entry 3 (id 'x'), field 'sizee': unknown field", "entry 4 (id 'z'), field 'seed'",
                   "entry 4 (id 'z'), field 'reference_images'"):
        assert needle in result.output
    assert not (tmp_path / "out" / "summary.jsonl").exists()


def test_reference_images_are_relative_to_the_file(tmp_path):
    from PIL import Image
    (tmp_path / "refs").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "refs" / "r.png")
    [entry] = load_briefs(write(tmp_path / "b.jsonl", [{"id": "a", "brief": "x", "reference_images": ["refs/r.png"],
                                                         "variants": 2, "max_iterations": 3}], "jsonl"), FAKES)
    brief = entry.to_brief()
    assert brief.reference_images == [tmp_path / "refs" / "r.png"] and brief.candidates == 2
    assert brief.budget.max_iterations == 3


# ---- running, resuming, output -----------------------------------------------------------------------
def test_batch_runs_writes_summary_and_report_and_a_rerun_redoes_nothing(tmp_path):
    fakes.APPROVE_SEEDS.update({4})
    path = write(tmp_path / "briefs.yaml", [
        {"id": "lake", "brief": "a calm lake at dawn", "seed": 3},
        {"id": "sea", "brief": "a stormy sea", "seed": 20, "max_iterations": 2, "variants": 2},
        {"id": "circles", "brief": "two red circles", "seed": 30,
         "spec": {"include": [{"class": "circle", "count": 2, "color": "red"}]}, "max_iterations": 1},
    ])
    out = tmp_path / "out"
    result = run_batch(path, out, concurrency=2, defaults=FAKES, progress=False)
    assert [line["id"] for line in result.lines] == ["lake", "sea", "circles"] and not result.failed
    by_id = {line["id"]: line for line in lines_of(out)}
    assert by_id["lake"]["approved"] and by_id["lake"]["best"]["seed"] == 4
    assert by_id["sea"]["status"] == "budget_spent" and len(by_id["sea"]["attempts"]) == 4
    assert set(by_id["lake"]) >= {"id", "run_id", "approved", "iterations", "best", "attempts"}
    for line in by_id.values():  # one deterministic folder per brief id, every attempt's file in it
        assert line["run_id"] == line["id"]
        assert all(Path(a["path"]).is_file() and Path(a["path"]).parent == out / "runs" / line["id"]
                   for a in line["attempts"])
    report = (out / "report.html").read_text()
    assert report.count('<section class="brief') == 3
    assert 'src="runs/lake/' in report and "/tmp" not in report.split("<body>")[1].split("<small>")[0]
    assert "two red circles" in report and "seed 4 is not liked" not in report  # approved attempt has no issue
    before = (out / "summary.jsonl").read_bytes()
    files = sorted(p.name for p in (out / "runs").rglob("*.png"))
    again = run_batch(path, out, concurrency=2, defaults=FAKES, progress=False)
    assert (out / "summary.jsonl").read_bytes() == before  # nothing redone, nothing appended
    assert sorted(p.name for p in (out / "runs").rglob("*.png")) == files
    assert again.lines == result.lines


def test_torn_last_line_is_cut_and_an_ended_run_is_only_recorded(tmp_path):
    path = write(tmp_path / "b.yaml", [{"id": "a", "brief": "a lake", "seed": 1, "max_iterations": 1},
                                       {"id": "b", "brief": "a sea", "seed": 5, "max_iterations": 1}])
    out = tmp_path / "out"
    run_batch(path, out, concurrency=1, defaults=FAKES, progress=False)
    whole = (out / "summary.jsonl").read_bytes()
    first, second = whole.splitlines(keepends=True)
    (out / "summary.jsonl").write_bytes(first + second[:40])  # killed mid-append: "b" ran but its line is torn
    log = SummaryLog(out / "summary.jsonl")
    assert list(log.lines) == ["a"] and (out / "summary.jsonl").read_bytes() == first
    pngs = sorted((out / "runs" / "b").glob("*.png"))
    run_batch(path, out, concurrency=1, defaults=FAKES, progress=False)
    assert (out / "summary.jsonl").read_bytes() == whole  # b's line written again, b not run again
    assert sorted((out / "runs" / "b").glob("*.png")) == pngs


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fsynced file by /proc/self/fd")
def test_what_a_power_loss_could_take_is_fsynced_and_a_runs_steps_are_not(tmp_path, monkeypatch):
    """A finished batch survives a power loss (each run's last run.json, every picture, the ledger),
    while a run's intermediate run.json saves skip the fsync (a killed process loses nothing anyway)."""
    synced: list[tuple[str, bytes]] = []
    real = os.fsync

    def fsync(fd):
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), os.pread(fd, 1 << 20, 0)))
        real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    path = write(tmp_path / "b.yaml", [{"id": "a", "brief": "a lake", "seed": 1, "max_iterations": 3},
                                       {"id": "b", "brief": "a sea", "seed": 5, "max_iterations": 2}])
    out = tmp_path / "out"
    run_batch(path, out, concurrency=2, defaults=FAKES, progress=False, credentials=False)
    for run in ("a", "b"):
        folder = out / "runs" / run
        saves = [data for name, data in synced if Path(name).parent == folder and ".run.json." in name]
        assert saves == [(folder / "run.json").read_bytes()]  # the last save only
        pngs = sorted(folder.glob("*.png"))
        assert len(pngs) == json.loads(saves[0])["iterations"]
        assert all(any(Path(n).name.startswith(f".{p.name}.") and d == p.read_bytes() for n, d in synced) for p in pngs)
    ledger = [data for name, data in synced if name == str(out / "summary.jsonl")]
    assert ledger == [(out / "summary.jsonl").read_bytes()]  # once, whole, at the batch's end


def test_an_interrupted_run_is_resumed_not_restarted(tmp_path):
    from agent.core.records import RunStore
    path = write(tmp_path / "b.yaml", [{"id": "a", "brief": "a lake", "seed": 10, "max_iterations": 4}])
    out = tmp_path / "out"
    run_batch(path, out, defaults=FAKES, progress=False)
    store = RunStore(out / "runs")
    record = store.load("a")
    record.attempts, record.iterations, record.best_index, record.status = record.attempts[:2], 2, 0, "running"
    store.save(record)  # as if killed after two rounds
    (out / "summary.jsonl").unlink()
    fakes.APPROVE_SEEDS.add(12)
    [line] = run_batch(path, out, defaults=FAKES, progress=False).lines
    assert [a["seed"] for a in line["attempts"]] == [10, 11, 12] and line["approved"]


def test_batch_time_budget_stops_starting_briefs_and_the_rest_run_later(tmp_path, monkeypatch):
    monkeypatch.setenv("ATELIER_TEST_DELAY", "0.4")
    path = write(tmp_path / "b.yaml", [{"id": f"b{i}", "brief": "a lake", "seed": i, "max_iterations": 1,
                                        "image_model": "slow:flat"} for i in range(3)])
    out = tmp_path / "out"
    result = run_batch(path, out, concurrency=1, max_seconds=0.2, defaults=FAKES, progress=False)
    assert [line["id"] for line in result.lines] == ["b0"] and result.pending == ["b1", "b2"]
    assert "time budget" in result.stop_reason
    assert "not finished" in (out / "report.html").read_text()
    result = run_batch(path, out, concurrency=2, defaults=FAKES, progress=False)
    assert [line["id"] for line in result.lines] == ["b0", "b1", "b2"] and not result.pending


def test_cli_exit_code_and_json_lines_name_the_failed_brief(tmp_path):
    from agent.surfaces.cli import app
    path = write(tmp_path / "b.jsonl", [{"id": "good", "brief": "a lake", "seed": 1, "max_iterations": 1},
                                        {"id": "bad", "brief": "a sea", "image_model": "local:nonexistent-model"}],
                 "jsonl")
    # an unknown local model is caught by validation; a back end that breaks at run time is not
    with pytest.raises(BriefFileError, match="entry 2 \\(id 'bad'\\), field 'image_model'"):
        load_briefs(path, FAKES)
    write(path, [{"id": "good", "brief": "a lake", "seed": 1, "max_iterations": 1},
                 {"id": "bad", "brief": "a sea", "image_model": "broken:x"},
                 {"id": "meh", "brief": "a hill", "seed": 2, "max_iterations": 1}], "jsonl")
    args = ["brief", str(path), "--out", str(tmp_path / "out"), "--json", "--image-model", "test:flat",
            "--critic", "critic:seed", "--concurrency", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, (result.output, result.exception)
    json_lines = [json.loads(l) for l in result.stdout.splitlines() if l.startswith("{")]
    assert [l["id"] for l in json_lines] == ["good", "bad", "meh"]
    assert json_lines[1]["status"] == "failed" and "no_such_factory" in json_lines[1]["error"]
    assert not json_lines[2]["approved"] and json_lines[2]["status"] == "budget_spent"  # unapproved is not an error
    assert "1 brief(s) failed: bad:" in result.output


def no_such_factory(model):
    raise AttributeError("no_such_factory: this back end is broken on purpose")


# ---- SIGKILL mid-batch, then the same command again ----------------------------------------------------
def test_sigkill_mid_batch_then_rerun_finishes_without_redoing_or_losing(tmp_path):
    entries = [{"id": f"brief-{i}", "brief": f"a lake number {i}", "seed": 100 * i, "max_iterations": 3}
               for i in range(6)]
    path = write(tmp_path / "briefs.yaml", entries)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "agent.surfaces.cli", "brief", str(path), "--out", str(out), "--concurrency", "2",
           "--image-model", "slow:flat", "--critic", "critic:seed", "--json"]
    env = child_env(ATELIER_TEST_DELAY="0.25")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    summary = out / "summary.jsonl"
    def caught_mid_run() -> bool:
        done = {json.loads(l)["id"] for l in summary.read_text().splitlines(keepends=True) if l.endswith("\n")}
        started = {d.name for d in (out / "runs").iterdir() if (d / "run.json").is_file()}
        return len(done) >= 2 and bool(started - done)

    while time.monotonic() < deadline:  # kill once some briefs are done and another is half way
        if summary.exists() and (out / "runs").is_dir() and caught_mid_run():
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    done_before = {json.loads(l)["id"]: l for l in summary.read_text().splitlines(keepends=True)
                   if l.endswith("\n")}
    assert 2 <= len(done_before) < len(entries), "the kill should land mid-batch"
    attempts_before = {d.name: json.loads((d / "run.json").read_text())["attempts"]
                       for d in (out / "runs").iterdir() if (d / "run.json").is_file()}
    assert any(bid not in done_before for bid in attempts_before), "a brief should be caught mid-run"
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert rerun.returncode == 0, rerun.stderr
    printed = [json.loads(l) for l in rerun.stdout.splitlines() if l.startswith("{")]
    assert [p["id"] for p in printed] == [e["id"] for e in entries]  # none lost, in file order
    lines = summary.read_text().splitlines(keepends=True)
    assert len(lines) == len(entries) and len({json.loads(l)["id"] for l in lines}) == len(entries)  # none twice
    for brief_id, line in done_before.items():  # finished before the kill: untouched
        assert line in lines
    for p in printed:
        assert len(p["attempts"]) == 3 and all(Path(a["path"]).is_file() for a in p["attempts"])
        earlier = attempts_before.get(p["id"], [])
        # a brief caught mid-run kept what it had made (resumed, not restarted)
        assert [a["artifact"]["path"] for a in earlier] == [a["path"] for a in p["attempts"][:len(earlier)]]
    assert (out / "report.html").read_text().count('<section class="brief') == len(entries)


# ---- the offline default, once its weights exist -------------------------------------------------------
@pytest.mark.skipif(not SHAPES_WEIGHTS.exists(), reason="the local:shapes weights are not in "
                    "local_models/shapes/weights/ yet (the offline default is being trained)")
def test_cli_batch_on_the_offline_default(tmp_path):
    path = write(tmp_path / "briefs.jsonl", [
        {"id": "circles", "brief": "two red circles left of a blue square", "seed": 1, "max_iterations": 2}], "jsonl")
    env = child_env()
    env.pop("ATELIER_PLUGINS")
    run = subprocess.run([sys.executable, "-m", "agent.surfaces.cli", "brief", str(path), "--out", str(tmp_path / "out"),
                          "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    line = json.loads(run.stdout.strip().splitlines()[-1])
    assert line["id"] == "circles" and set(line) >= {"run_id", "approved", "iterations", "best", "attempts"}
    assert Path(line["best"]["path"]).is_file()


# ---- Ray -----------------------------------------------------------------------------------------------
@pytest.mark.ray
def test_ray_executor_same_output_and_resume(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'atelier[ray]')")
    monkeypatch.setenv("ATELIER_PLUGINS", "tests.test_batch:register_fakes")
    monkeypatch.setenv("ATELIER_TEST_APPROVE", "2")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    path = write(tmp_path / "b.yaml", [{"id": "r1", "brief": "a lake", "seed": 1, "max_iterations": 2},
                                       {"id": "r2", "brief": "a sea", "seed": 7, "max_iterations": 1},
                                       {"id": "r3", "brief": "a hill", "seed": 9, "max_iterations": 1}])
    out = tmp_path / "out"
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {k: os.environ[k] for k in ("ATELIER_PLUGINS", "ATELIER_TEST_APPROVE", "PYTHONPATH")}})
    try:
        first = run_batch(path, out, concurrency=2, executor="ray", defaults=FAKES, progress=False)
        assert [l["id"] for l in first.lines] == ["r1", "r2", "r3"] and not first.failed
        assert first.lines[0]["approved"] and first.lines[0]["best"]["seed"] == 2  # the worker ran the fakes
        (out / "summary.jsonl").write_text((out / "summary.jsonl").read_text().splitlines(keepends=True)[0])
        pngs = sorted(p.name for p in (out / "runs").rglob("*.png"))
        again = run_batch(path, out, concurrency=2, executor="ray", defaults=FAKES, progress=False)
        assert again.lines == first.lines  # r2, r3 ended before: recorded again, not rerun
        assert sorted(p.name for p in (out / "runs").rglob("*.png")) == pngs
        assert (out / "report.html").read_text().count('<section class="brief') == 3
    finally:
        ray.shutdown()
