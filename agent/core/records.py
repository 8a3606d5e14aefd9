"""Runs on disk: `runs/<run_id>/run.json` (rewritten atomically after every step), the attempts'
files beside it, and `runs/index.sqlite`, one row per run, for history and the UI's browser."""
from __future__ import annotations

import secrets
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from agent.core.artifacts import atomic_write_bytes
from agent.core.errors import InputError
from agent.core.types import RunRecord

_SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, created TEXT, brief TEXT, status TEXT, approved INTEGER,
  attempts INTEGER, best_path TEXT, llm TEXT, image_model TEXT, critic TEXT, cost_usd REAL,
  seconds REAL, owner TEXT)"""


class RunStore:
    def __init__(self, root: Path | str = "runs"):
        self.root = Path(root).expanduser().resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{secrets.token_hex(4)}"
            probe.touch()
            probe.unlink()
        except OSError as e:
            raise InputError(f"output folder is not writable: {self.root} ({e.strerror})") from None
        self.index = self.root / "index.sqlite"
        with closing(self._db()) as db, db:
            db.execute(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.index, timeout=30)

    def new_id(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)

    def run_dir(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise InputError(f"not a run id: {run_id!r}")
        if run_id.lower().startswith("index.sqlite"):  # a folder beside the index named like its journal breaks it
            raise InputError(f"not a run id: {run_id!r} is reserved for the run index's files")
        return self.root / run_id

    def save(self, record: RunRecord, owner: str = "") -> None:
        folder = self.run_dir(record.run_id)
        atomic_write_bytes(folder / "run.json", record.model_dump_json(indent=1).encode())
        best = record.best
        row = (record.run_id, record.created.isoformat(), record.brief.text[:500], record.status,
               int(record.approved), len(record.attempts), str(best.artifact.path) if best else None,
               record.llm, record.image_model, record.critic, record.cost_usd, record.seconds, owner)
        with closing(self._db()) as db, db:
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
                       "status=excluded.status, approved=excluded.approved, attempts=excluded.attempts, "
                       "best_path=excluded.best_path, cost_usd=excluded.cost_usd, seconds=excluded.seconds",
                       row)

    def load(self, run_id: str) -> RunRecord:
        path = self.run_dir(run_id) / "run.json"
        if not path.is_file():
            raise InputError(f"no run {run_id!r} in {self.root}")
        try:
            # "stored": a reference image deleted since does not make the record unreadable
            record = RunRecord.model_validate_json(path.read_bytes(), context={"stored": True})
        except ValueError as e:  # pydantic's ValidationError (a truncated or edited file) is a ValueError
            from agent.core.errors import one_line
            detail = one_line(e, "run.json") if hasattr(e, "errors") else str(e)
            raise InputError(f"run {run_id!r}: {path} is damaged and cannot be loaded ({detail})") from None
        _rehome(record, run_id, path.parent)
        missing = [str(p) for p in [*record.brief.reference_images, record.brief.mask] if p and not Path(p).is_file()]
        if missing:
            import logging
            logging.getLogger("atelier").warning("run %s: its reference image(s) are gone: %s",
                                                 run_id, ", ".join(missing))
        return record

    def history(self, limit: int = 50, owner: str | None = None) -> list[dict]:
        query = "SELECT * FROM runs" + (" WHERE owner = ?" if owner is not None else "") + \
                " ORDER BY created DESC LIMIT ?"
        args = ((owner,) if owner is not None else ()) + (limit,)
        with closing(self._db()) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(query, args)]


def _rehome(record: RunRecord, run_id: str, folder: Path) -> None:
    """A run folder copied or moved (under another name or root) is that run from now on: saving
    writes where it was read, never into the folder it was copied from, and its attempts are the
    copies beside it (a rescored verdict is stamped into them, not into the originals)."""
    record.run_id = run_id
    for attempt in record.attempts:
        here = folder / attempt.artifact.path.name
        if attempt.artifact.path.parent != folder and here.is_file():
            attempt.artifact.path = here
