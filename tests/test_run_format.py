"""Run records carry a format and the run index has named migrations; a damaged index is rebuilt
from the run.json files, a damaged run.json is named, not a traceback (issue 13, item 9)."""
import json
import logging
import sqlite3

import pytest

from agent.core.errors import InputError
from agent.core.records import MIGRATIONS, RunStore
from agent.core.types import RECORD_FORMAT, Brief, RunRecord

OLD_SCHEMA = """CREATE TABLE runs (run_id TEXT PRIMARY KEY, created TEXT, brief TEXT, status TEXT,
  approved INTEGER, attempts INTEGER, best_path TEXT, llm TEXT, image_model TEXT, critic TEXT,
  cost_usd REAL, seconds REAL, owner TEXT)"""


def _store_with_runs(root, n=6):
    store = RunStore(root)
    for i in range(n):
        store.save(RunRecord(run_id=f"r{i}", brief=Brief(text=f"a red circle {i}")), owner="user:a" if i % 2 else "")
    return store


def test_a_record_written_before_formats_loads_migrated_and_a_newer_one_is_refused(tmp_path):
    store = _store_with_runs(tmp_path, 1)
    path = tmp_path / "r0" / "run.json"
    data = json.loads(path.read_text())
    assert data["format"] == RECORD_FORMAT
    del data["format"]  # as every run.json before formats
    path.write_text(json.dumps(data))
    assert store.load("r0").format == RECORD_FORMAT
    path.write_text(json.dumps({**data, "format": RECORD_FORMAT + 1}))
    with pytest.raises(InputError, match=r"run.json .*newer than this Atelier reads"):
        store.load("r0")


def test_an_index_from_before_migrations_is_migrated_once_and_keeps_its_rows(tmp_path):
    with sqlite3.connect(tmp_path / "index.sqlite") as db:
        db.execute(OLD_SCHEMA)
        db.execute("INSERT INTO runs VALUES ('old', '2024-01-01T00:00:00', 'a lake', 'approved', 1, 2, "
                   "NULL, 'offline', 'local:shapes', 'critic:detector', 0, 1.5, 'user:a')")
    store = RunStore(tmp_path)
    RunStore(tmp_path)  # a second open applies nothing again
    with sqlite3.connect(tmp_path / "index.sqlite") as db:
        names = [r[0] for r in db.execute("SELECT name FROM migrations")]
    assert names == [m.__name__ for m in MIGRATIONS]
    assert [r["run_id"] for r in store.history(owner="user:a")] == ["old"]
    store.save(RunRecord(run_id="new", brief=Brief(text="a blue square")))
    assert {r["run_id"]: r["format"] for r in store.history()} == {"old": None, "new": RECORD_FORMAT}


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_index_is_rebuilt_from_the_run_files_with_a_warning(tmp_path, caplog, damage):
    _store_with_runs(tmp_path).close()  # the index in its one file (its WAL checkpointed), then damaged
    index = tmp_path / "index.sqlite"
    data = index.read_bytes()
    index.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a database" * 300)
    (tmp_path / "r3" / "run.json").write_text("{\"run_id\": \"r3\", \"bri")  # a run.json cut short
    with caplog.at_level(logging.WARNING, logger="atelier"):
        store = RunStore(tmp_path)
        rows = store.history()
    assert sorted(r["run_id"] for r in rows) == ["r0", "r1", "r2", "r4", "r5"]  # r3 left out, not a crash
    assert sorted(r["run_id"] for r in store.history(owner="user:a")) == ["r1", "r5"]  # owners kept
    messages = [r.getMessage() for r in caplog.records]
    assert any("run index" in m and "rebuilding" in m for m in messages)
    assert any(str(tmp_path / "r3" / "run.json") in m for m in messages)
    assert all("\n" not in m for m in messages)
    assert (tmp_path / "index.sqlite.damaged").is_file()
    with pytest.raises(InputError, match="r3.*run.json is damaged"):
        store.load("r3")


def test_a_format_1_record_tells_its_typeset_attempts_by_the_field(tmp_path):
    """Format 1 marked a typeset attempt only in its note; loaded, the words it set are `Attempt.typeset`."""
    from agent.core.types import Artifact, Attempt, GenerationRequest

    def attempt(i, note="", meta=None):
        art = Artifact(path=tmp_path / f"{i}.png", sha256=f"{i:064x}", request=GenerationRequest(prompt="p"),
                       meta=meta or {})
        return Attempt(index=i, iteration=i + 1, action="edit" if i else "generate", prompt="p", seed=0,
                       artifact=art, note=note, source=0 if i else None)

    layer = {"text": "SALE", "font": "DejaVu Sans", "weight": "bold", "size": 20, "box": [0, 0, 60, 20]}
    record = RunRecord(run_id="old", brief=Brief(text="a red circle with the word SALE"), attempts=[
        attempt(0), attempt(1, "repaint the circle"), attempt(2, "typeset 'SALE' onto attempt 0 at [0, 0, 60, 20]",
                                                              {"typeset": [layer], "denoiser_steps": 0})])
    store = RunStore(tmp_path)
    store.save(record)
    path = tmp_path / "old" / "run.json"
    data = json.loads(path.read_text())
    assert [a["typeset"] for a in data["attempts"]] == [None, None, None]  # as built: nothing set the field
    for a in data["attempts"]:
        del a["typeset"]
    path.write_text(json.dumps({**data, "format": 1}))
    loaded = store.load("old")
    assert loaded.format == RECORD_FORMAT and [a.typeset for a in loaded.attempts] == [None, None, "SALE"]


def test_run_json_holds_each_option_once_and_an_older_file_with_them_twice_loads(tmp_path):
    from agent.core.options import RunOptions
    record = RunRecord(run_id="r", brief=Brief(text="a red circle", seed=7),
                       options=RunOptions(image_model="test:flat", seed=7, max_iterations=3))
    store = RunStore(tmp_path)
    store.save(record)
    path = tmp_path / "r" / "run.json"
    data = json.loads(path.read_text())
    # the back ends only in the options, the seed only in the brief
    assert set(data["options"]) == {"llm", "image_model", "critic", "video_model", "video_format", "mode",
                                    "edits", "max_iterations", "max_seconds", "max_cost_usd",
                                    "steps", "guidance", "size", "sampler"}
    assert not {"llm", "image_model", "critic", "mode"} & set(data) and data["brief"]["seed"] == 7
    assert store.load("r").options == record.options and store.load("r").image_model == "test:flat"
    backends = {k: data["options"].pop(k) for k in ("llm", "image_model", "critic", "video_model",
                                                    "video_format", "mode")}
    path.write_text(json.dumps({**data, **backends, "format": 2}))  # format 2: the back ends beside options
    assert store.load("r").options == record.options
    whole = {**data, **backends, "options": record.options.model_dump(mode="json"), "format": 2}
    path.write_text(json.dumps(whole))  # as written before that: every option twice
    assert store.load("r").options == record.options
    del whole["options"]  # from before options: the back ends and the brief's budget become them
    path.write_text(json.dumps({**whole, "format": 0}))
    old = store.load("r")
    assert (old.image_model, old.options.max_iterations, old.options.seed) == ("test:flat", 4, 7)


def test_a_record_is_given_its_back_ends_as_options_never_beside_them():
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="image_model: a run's back ends are its options'"):
        RunRecord(run_id="r", brief=Brief(text="a red circle"), image_model="test:flat")


def test_eight_threads_saving_at_once_lose_no_row_and_the_index_is_in_wal_mode(tmp_path):
    """As eight briefs of a batch save their steps at once: every row there, none refused as locked."""
    from concurrent.futures import ThreadPoolExecutor

    def runs(worker: int) -> None:
        store = RunStore(tmp_path)  # a Studio per brief, each with its store
        for i in range(12):
            record = RunRecord(run_id=f"w{worker}-{i}", brief=Brief(text="a red circle"))
            store.save(record, owner="batch")
            record.status = "approved"
            store.save(record, owner="batch")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(runs, range(8)))
    rows = RunStore(tmp_path).history(limit=200)
    assert len(rows) == 96 and {r["status"] for r in rows} == {"approved"}
    with sqlite3.connect(tmp_path / "index.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rows_lost_from_the_index_come_back_from_run_json_in_the_next_process(tmp_path):
    """synchronous=NORMAL may lose the index's last commits in a power loss, never a run: the next
    process to open the index puts back a run it lacks, and a row left `running` by a run that ended."""
    import subprocess
    import sys
    store = _store_with_runs(tmp_path, 3)
    done = RunRecord(run_id="r1", brief=Brief(text="a red circle 1"), status="approved")
    store.save(done, owner="user:a")
    with sqlite3.connect(tmp_path / "index.sqlite") as db:  # as if these commits never reached the disk
        db.execute("DELETE FROM runs WHERE run_id = 'r2'")
        db.execute("UPDATE runs SET status = 'running' WHERE run_id = 'r1'")
    script = ("import json, sys; from agent.core.records import RunStore; "
              "print(json.dumps({r['run_id']: [r['status'], r['owner']] for r in RunStore(sys.argv[1]).history()}))")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {"r0": ["running", ""], "r1": ["approved", "user:a"],
                                                       "r2": ["running", ""]}
