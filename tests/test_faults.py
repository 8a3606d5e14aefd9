"""Issue 27, the faults and limits, each from the surface where it happens (fake back ends: fast):
limits on every field with a one-line refusal naming the field and the limit (CLI, brief file, MCP);
brief files read no file outside their folder; the run index rebuilt whenever it is missing, empty or
unreadable; a run driven twice at once refused by its lock; a full disk ending in one line with
everything kept and the brief retried; no fragment of a key in any output."""
from __future__ import annotations

import errno
import fcntl
import json
import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from agent.surfaces.cli import app
from tests import fakes

runner = CliRunner()
FAKE = ["--image-model", "test:flat", "--critic", "critic:seed"]


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={9})


def last_json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def png(path: Path) -> Path:
    Image.new("RGB", (32, 32), (200, 10, 10)).save(path)
    return path


# ---- limits ------------------------------------------------------------------------------------
def test_a_brief_file_over_a_field_limit_is_refused_naming_field_and_limit(tmp_path):
    briefs = tmp_path / "b.jsonl"
    briefs.write_text(json.dumps({"id": "a", "brief": "a lake", "negative_prompt": "x" * 1_000_000}) + "\n"
                      + json.dumps({"id": "b", "brief": "a lake", "style": "y" * 1001}) + "\n")
    r = runner.invoke(app, ["brief", str(briefs), "--out", str(tmp_path / "out"), *FAKE])
    assert r.exit_code == 2
    assert "entry 1 (id 'a'), field 'negative_prompt': 1,000,000 characters, over the limit of 2,000" in r.stderr
    assert "entry 2 (id 'b'), field 'style': 1,001 characters, over the limit of 1,000" in r.stderr
    assert not (tmp_path / "out" / "runs").exists() or not list((tmp_path / "out" / "runs").glob("*/run.json"))


def test_a_brief_file_too_big_or_with_too_many_briefs_is_refused(tmp_path, monkeypatch):
    from agent.core import limits
    monkeypatch.setattr(limits, "BRIEF_FILE_BYTES", 100)
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"id": "a", "brief": "a lake " * 30}) + "\n")
    r = runner.invoke(app, ["brief", str(big), "--out", str(tmp_path / "out"), *FAKE])
    assert r.exit_code == 2 and f"the file is {big.stat().st_size} bytes; the limit is 100" in r.stderr
    monkeypatch.setattr(limits, "BRIEF_FILE_BYTES", 10_000)
    monkeypatch.setattr(limits, "BRIEF_FILE_ENTRIES", 2)
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps({"id": f"b{i}", "brief": "a lake"}) + "\n" for i in range(3)))
    r = runner.invoke(app, ["brief", str(many), "--out", str(tmp_path / "out"), *FAKE])
    assert r.exit_code == 2 and "the file holds 3 briefs; the limit is 2" in r.stderr


def test_a_run_prompt_over_the_limit_is_refused_by_the_director_tool_and_the_api(tmp_path):
    from agent.core.errors import InputError
    from agent.surfaces.api import Studio
    studio = Studio(image_model="test:flat", critic="critic:seed", runs_dir=tmp_path)
    with pytest.raises(InputError, match=r"^bad brief: reference_images: 9 items, over the limit of 8$"):
        studio.run("a lake", reference_images=[png(tmp_path / "r.png")] * 9)
    run = studio.run("a lake", seed=9)
    with pytest.raises(InputError, match=r"prompt: 4,001 characters, over the limit of 4,000"):
        studio.iterate(run.run_id, 0, "p" * 4001)  # the UI's edit box and its /iterate API go through here


def test_an_mcp_prompt_over_4000_characters_comes_back_with_the_reason(tmp_path):
    pytest.importorskip("mcp")
    import anyio
    from mcp import Client

    from agent.surfaces.mcp_server import build_server
    server = build_server(tmp_path / "runs", image_model="test:flat", critic="critic:seed")

    async def main():
        async with Client(server) as client:
            r = await client.call_tool("generate_image", {"prompt": "a lake " * 700})
            assert r.is_error
            text = r.content[0].text
            assert "\n" not in text and "the brief is 4899 characters long; the limit is 4000" in text, text
            r = await client.call_tool("generate_image", {"prompt": "a lake", "negative_prompt": "n" * 2001})
            assert r.is_error and "negative_prompt: 2,001 characters, over the limit of 2,000" in r.content[0].text

    anyio.run(main)


def test_a_truncated_reference_png_is_refused_before_the_run(tmp_path):
    ref = png(tmp_path / "ref.png")
    ref.write_bytes(ref.read_bytes()[:-30])
    briefs = tmp_path / "b.yaml"
    briefs.write_text("- id: a\n  brief: a lake\n  reference_images: [ref.png]\n")
    r = runner.invoke(app, ["brief", str(briefs), "--out", str(tmp_path / "out"), *FAKE])
    assert r.exit_code == 2 and "truncated or damaged" in r.stderr


# ---- brief files stay in their folder ------------------------------------------------------------
def test_brief_file_reference_images_stay_in_its_folder_or_allowed_ones(tmp_path):
    (tmp_path / "briefs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    png(tmp_path / "briefs" / "mine.png")
    outside = png(tmp_path / "elsewhere" / "secret.png")
    os.symlink(outside, tmp_path / "briefs" / "link.png")
    briefs = tmp_path / "briefs" / "b.yaml"
    briefs.write_text(f"- id: a\n  brief: a lake\n  reference_images: [{outside}]\n"
                      f"- id: b\n  brief: a lake\n  reference_images: [link.png]\n"
                      f"- id: c\n  brief: a lake\n  reference_images: [../elsewhere/secret.png]\n"
                      f"- id: d\n  brief: a lake\n  seed: 9\n  reference_images: [mine.png]\n")
    r = runner.invoke(app, ["brief", str(briefs), "--out", str(tmp_path / "out"), *FAKE])
    assert r.exit_code == 2
    for ident in "abc":
        assert f"entry {'abc'.index(ident) + 1} (id '{ident}'), field 'reference_images': " in r.stderr
    assert r.stderr.count("is outside the brief file's folder") == 3 and "id 'd'" not in r.stderr
    # the operator allows that folder: all four run, each reference resolved to its real file
    r = runner.invoke(app, ["brief", str(briefs), "--out", str(tmp_path / "out"), *FAKE, "--files",
                            str(tmp_path / "elsewhere"), "--json"])
    assert r.exit_code == 0, r.stderr
    record = json.loads((tmp_path / "out" / "runs" / "b" / "run.json").read_text())
    assert record["brief"]["reference_images"] == [str(outside)]


# ---- the index ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["deleted", "empty", "garbage", "folder", "dropped"])
def test_history_sees_every_run_whatever_happened_to_the_index(tmp_path, damage):
    import sqlite3
    for seed in (1, 2):
        r = runner.invoke(app, ["run", "a lake", *FAKE, "--seed", str(seed), "--max-iterations", "1",
                                "--out", str(tmp_path), "--json"])
        assert r.exit_code == 0, r.stderr
    index = tmp_path / "index.sqlite"
    if damage == "deleted":
        index.unlink()
    elif damage == "empty":
        index.write_bytes(b"")
    elif damage == "garbage":
        index.write_bytes(b"not a database at all" * 100)
    elif damage == "folder":
        index.unlink()
        (index / "inside").mkdir(parents=True)
    else:
        with sqlite3.connect(index) as db:
            db.execute("DROP TABLE runs")
    r = runner.invoke(app, ["history", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0 and "Traceback" not in r.stderr
    assert len(json.loads(r.stdout.strip().splitlines()[-1])) == 2
    if damage == "folder":
        assert index.is_file() and list(tmp_path.glob("index.sqlite.folder-*/inside"))  # moved aside, kept


def test_an_index_deleted_while_a_server_runs_is_rebuilt_for_ownership_and_listings(tmp_path):
    from agent.surfaces.api import Studio
    from agent.surfaces.ui_desks import may_open
    studio = Studio(image_model="test:flat", critic="critic:seed", runs_dir=tmp_path)
    run = studio.run("a lake", seed=9, owner="user:ann")
    (tmp_path / "index.sqlite").unlink()  # the UI, the MCP server: one Studio for the process's life
    assert may_open(studio, "user:ann", run.run_id) and not may_open(studio, "user:bob", run.run_id)
    (tmp_path / "index.sqlite").write_bytes(b"")
    assert [r["run_id"] for r in studio.history(owner="user:ann")] == [run.run_id]


# ---- one driver per run ----------------------------------------------------------------------------
def test_a_run_resumed_while_it_runs_is_refused_by_its_lock(tmp_path):
    r = runner.invoke(app, ["run", "a lake", *FAKE, "--seed", "1", "--max-iterations", "1", "--out", str(tmp_path),
                            "--json"])
    run_id = last_json(r)["run_id"]
    files = sorted(p.name for p in (tmp_path / run_id).iterdir())
    with open(tmp_path / run_id / ".lock", "a") as held:  # as the first `--resume` holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = runner.invoke(app, ["run", "--resume", run_id, *FAKE, "--out", str(tmp_path)])
    assert r.exit_code == 2 and r.stderr.strip() == f"error: run {run_id} is already running"
    assert sorted(p.name for p in (tmp_path / run_id).iterdir()) == files  # nothing made
    r = runner.invoke(app, ["run", "--resume", run_id, *FAKE, "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0  # released: it can be resumed again


# ---- a full disk -----------------------------------------------------------------------------------
def disk_fills_after(monkeypatch, writes: int) -> None:
    """A stand-in for a full disk: every atomic write after the first `writes` fails with ENOSPC."""
    from agent.core import artifacts
    real, count = artifacts.tempfile.mkstemp, [0]

    def mkstemp(*args, **kwargs):
        count[0] += 1
        if count[0] > writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)
    monkeypatch.setattr(artifacts.tempfile, "mkstemp", mkstemp)


def test_a_full_disk_ends_a_run_in_one_line_and_keeps_what_was_written(tmp_path, monkeypatch):
    disk_fills_after(monkeypatch, 5)  # run.json twice, the first image and its verdict, run.json: then full
    r = runner.invoke(app, ["run", "a lake", *FAKE, "--seed", "1", "--max-iterations", "4", "--out", str(tmp_path),
                            "--json"])
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    out = last_json(r)
    assert out["status"] == "failed" and out["error"].startswith(f"out of disk space in {tmp_path}")
    assert r.stderr.strip().splitlines()[-1] == f"error: {out['error']}"
    saved = json.loads((tmp_path / out["run_id"] / "run.json").read_text())
    assert saved["attempts"] and all(Path(a["artifact"]["path"]).is_file() for a in saved["attempts"])


def test_a_full_disk_in_a_batch_is_one_line_and_the_brief_runs_again_next_time(tmp_path, monkeypatch):
    briefs = tmp_path / "b.jsonl"
    briefs.write_text(json.dumps({"id": "a", "brief": "a lake", "seed": 1, "max_iterations": 3}) + "\n")
    with monkeypatch.context() as full:  # the brief's line cannot be written
        full.setattr("agent.surfaces.batch.SummaryLog.append", _full)
        r = runner.invoke(app, ["brief", str(briefs), "--out", str(tmp_path / "out"), *FAKE, "--json"])
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: out of disk space in {tmp_path / 'out'}")
    assert json.loads((tmp_path / "out" / "runs" / "a" / "run.json").read_text())["attempts"]  # kept
    r = runner.invoke(app, ["brief", str(briefs), "--out", str(tmp_path / "out"), *FAKE, "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["id"] == "a"  # run again (resumed), not a failure


def _full(self, line):
    from agent.core.errors import OutOfSpace
    raise OutOfSpace(self.path.parent, "No space left on device")


# ---- secrets and the smaller ones -----------------------------------------------------------------
def test_no_fragment_of_a_key_a_server_echoes_survives():
    from agent.backends.remote.http import redact as remote_redact
    from agent.llm import redact
    key = "sk-proj-" + "Q7f3kLm9Zx2Vb8Nw4Rt6Yp1Hs5Jd0Gc"
    echoes = [f"Incorrect API key provided: {key[:10]}{'*' * 20}{key[-4:]}.",
              f"bad key {key[:10]}...{key[-4:]}", f"token {key[-6:]} rejected", f"Bearer {key}"]
    for text in echoes:
        for scrub in (redact, remote_redact):
            clean = scrub(text, key)
            assert key[:10] not in clean and key[-4:] not in clean and key[-6:] not in clean, clean
    assert redact("a photo of two red circles", key) == "a photo of two red circles"


def test_a_non_utf8_out_is_refused_before_the_run(tmp_path):
    out = os.fsencode(str(tmp_path)) + b"/caf\xe9"
    r = runner.invoke(app, ["run", "a lake", *FAKE, "--out", os.fsdecode(out), "--json"])
    assert r.exit_code == 2 and "not UTF-8" in r.stderr and last_json(r)["status"] == "failed"
    assert not os.path.exists(out)


def test_a_server_echoing_the_key_leaves_no_fragment_in_stderr_run_json_or_png(tmp_path, monkeypatch):
    """critic:vlm on a loopback server that answers 401 with the key's ends, as OpenAI does; the
    key goes there only because the operator named that server for it."""
    from tests.llm_wire import loopback_server
    key = "sk-proj-" + "Q7f3kLm9Zx2Vb8Nw4Rt6Yp1Hs5Jd0Gc"

    def refuse(headers):  # a server that echoes the key it was sent, as OpenAI's 401 does, in part
        sent = headers.get("Authorization", "").removeprefix("Bearer ")
        return 401, {"error": {"message": f"Incorrect API key provided: {sent[:10]}{'*' * 20}{sent[-4:]}.",
                               "type": "invalid_request_error", "code": "invalid_api_key"}}

    with loopback_server(refuse) as server:
        url = server.url
        monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", key)
        monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", url)
        r = runner.invoke(app, ["run", "a lake", "--image-model", "test:flat", "--critic",
                                f"critic:vlm@openai-compatible:m@{url}", "--seed", "1", "--max-iterations", "2",
                                "--out", str(tmp_path), "--json"])
    assert r.exit_code == 1 and "API key was refused (HTTP 401)" in r.stderr  # it really ran and was refused
    written = [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".sqlite"]
    for text in [r.stderr, r.stdout, *written]:
        assert key[:10] not in text and key[-4:] not in text
