"""Runs on disk: `runs/<run_id>/run.json` (rewritten atomically after every step), the attempts'
files beside it, and `runs/index.sqlite`, one row per run, for history and the UI's browser.

run.json is the truth; the index is a cache of it. Its schema changes by named migrations, each
applied once, in order, and listed in its `migrations` table (as simonw/llm does). An index that is
damaged, unreadable, empty or missing (deleted while a server runs, too) is set aside and rebuilt
from the run.json files, with a one-line warning; a folder in its place is moved aside.

The index is in WAL mode with synchronous=NORMAL, written through one connection per process and
index file, one writer at a time: a save commits without an fsync and never sleeps in SQLite's busy
handler behind another thread's (at 8 runs at once those sleeps made a save 0.14 s). A power loss
may lose the last commits, never a finished run: a finished run's run.json is written with an
fsync first, and each process's first open of an index puts back any run.json it lacks, or holds
as still running.

A run in flight holds `runs/<run_id>/.lock` (an OS lock, dropped if the process dies), so the same run
is never driven by two processes at once."""
from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from pydantic import ValidationError

from agent.core.artifacts import atomic_write_bytes
from agent.core.errors import InputError, OutOfSpace, one_line, out_of_space
from agent.core.types import RunRecord

log = logging.getLogger("atelier")

_SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, created TEXT, brief TEXT, status TEXT, approved INTEGER,
  attempts INTEGER, best_path TEXT, llm TEXT, image_model TEXT, critic TEXT, cost_usd REAL,
  seconds REAL, owner TEXT)"""
_COLUMNS = ("run_id", "created", "brief", "status", "approved", "attempts", "best_path", "llm",
            "image_model", "critic", "cost_usd", "seconds", "owner", "format")
_UPDATED = ("status", "approved", "attempts", "best_path", "cost_usd", "seconds", "format")
_OWNER_FILE = ".owner"  # beside run.json: who the run belongs to, so a rebuilt index keeps it
_LOCK_FILE = ".lock"  # beside run.json: held while the run is driven

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []
_HELD = "running"  # a row that says this may be stale after a power loss (see _reconcile)


class _Shared:
    """This process's one connection to an index file, used by one thread at a time; `identity` is
    the file it opened (`RunStore._identity`), so an index replaced or deleted since is opened afresh."""

    def __init__(self):
        self.lock = threading.Lock()
        self.db: sqlite3.Connection | None = None
        self.identity: tuple[int, ...] | None = None


_SHARED: dict[Path, _Shared] = {}
_SHARED_LOCK = threading.Lock()


def _shared(index: Path) -> _Shared:
    with _SHARED_LOCK:
        return _SHARED.setdefault(index, _Shared())


def migration(step: Callable[[sqlite3.Connection], None]):
    """Register an index migration; it runs once, after those above it, named by its function."""
    MIGRATIONS.append(step)
    return step


@migration
def m001_runs(db: sqlite3.Connection) -> None:
    db.execute(_SCHEMA)  # IF NOT EXISTS: an index from before migrations keeps its rows


@migration
def m002_runs_format(db: sqlite3.Connection) -> None:
    if "format" not in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:
        db.execute("ALTER TABLE runs ADD COLUMN format INTEGER")


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations `db` has not had yet, each in its own transaction; their names."""
    applied, level = [], db.isolation_level
    db.isolation_level = None  # explicit transactions: BEGIN IMMEDIATE so two processes don't race
    try:
        db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT)")
        for step in MIGRATIONS:
            db.execute("BEGIN IMMEDIATE")
            try:
                if not db.execute("SELECT 1 FROM migrations WHERE name = ?", (step.__name__,)).fetchone():
                    step(db)
                    db.execute("INSERT INTO migrations VALUES (?, ?)",
                               (step.__name__, time.strftime("%Y-%m-%dT%H:%M:%S")))
                    applied.append(step.__name__)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
    finally:
        db.isolation_level = level
    return applied


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether `error` says the file is not a (sound) database, not merely busy or locked."""
    if "no such table" in str(error):  # its tables were dropped: as good as empty
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    return any(s in str(error) for s in ("malformed", "not a database"))


def _full(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return (code & 0xFF == sqlite3.SQLITE_FULL) if code is not None else "disk is full" in str(error)


def said_elsewhere(record: RunRecord) -> dict[str, object]:
    """The run options its brief holds itself (seed, candidates, rewrite): run.json writes each fact
    once, so its `options` leave these out and get them back when read."""
    return {"seed": record.brief.seed, "candidates": record.brief.candidates, "rewrite": record.brief.rewrite}


def record_json(record: RunRecord) -> bytes:
    """run.json's bytes: the record, its options less what its brief says (`said_elsewhere`)."""
    return record.model_dump_json(indent=1, exclude={"options": set(said_elsewhere(record))}).encode()


def read_record(path: Path, run_id: str | None = None) -> RunRecord:
    """A run.json, migrated to the current format; InputError naming the file when it is damaged."""
    try:
        # "stored": migrated from its format; a reference image deleted since does not make it unreadable
        record = RunRecord.model_validate_json(path.read_bytes(), context={"stored": True})
    except ValueError as e:  # pydantic's ValidationError (a truncated or edited file) is a ValueError
        detail = one_line(e, "run.json") if isinstance(e, ValidationError) else str(e)
        raise InputError(f"run {run_id or path.parent.name!r}: {path} is damaged and cannot be loaded "
                         f"({detail})") from None
    # whole again (a file written before kept them twice: the same values)
    record.options = record.options.model_copy(update=said_elsewhere(record))
    return record


class RunStore:
    def __init__(self, root: Path | str = "runs"):
        self.root = Path(root).expanduser().resolve()
        try:
            str(self.root).encode("utf-8")  # every record names its files: they must be text
        except UnicodeEncodeError:
            raise InputError(f"the runs folder's name is not UTF-8 text: {ascii(str(self.root))}; "
                             f"choose a folder whose name is") from None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{secrets.token_hex(4)}"
            probe.touch()
            probe.unlink()
        except OSError as e:
            raise out_of_space(e, self.root) or InputError(
                f"output folder is not writable: {self.root} ({e.strerror})") from None
        self.index = self.root / "index.sqlite"
        self._shared = _shared(self.index)
        if self._shared.db is not None and self._shared.identity == self._identity():
            return  # this process opened and checked this index already; a fault later is met by _with_index
        with self._index_lock():
            with self._shared.lock:  # the file changed behind it: let go first, so its WAL is its own again
                self._close_shared()
            missing = not self._usable()
            try:
                with closing(self._db()) as db:
                    db.execute("PRAGMA journal_mode=WAL")  # kept in the file: every connection after uses it
                    migrate(db)
                    check = db.execute("PRAGMA quick_check").fetchone()
                    if not check or check[0] != "ok":
                        raise sqlite3.DatabaseError(f"database disk image is malformed: {check and check[0]}")
            except sqlite3.DatabaseError as e:
                if not _damaged(e):
                    raise
                self._rebuild(str(e))
                return
            if missing and any(self.root.glob("*/run.json")):
                self._rebuild("it is missing or empty")
                return
            with self._connection() as db, db:
                self._reconcile(db)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.index, timeout=30, check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")  # in WAL: no fsync per commit (run.json is the truth)
        return db

    def _identity(self) -> tuple[int, ...] | None:
        """The index file as a connection opened on it knew it. In WAL mode the file itself changes
        only at a checkpoint, so a change here is that (reopening is cheap) or the file replaced,
        deleted or overwritten behind SQLite's back, which a connection kept open would not see."""
        try:
            info = os.stat(self.index)
        except OSError:
            return None
        return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The process's connection to the index (opened afresh when the file was replaced), held
        by this thread alone until the block ends."""
        shared = self._shared
        with shared.lock:
            identity = self._identity()
            if shared.db is None or shared.identity != identity:
                self._close_shared()
                shared.db, shared.identity = self._db(), identity
            yield shared.db

    def _close_shared(self) -> None:
        """Close this process's connection (caller holds its lock): before the index's files are set
        aside, so closing it later never checkpoints into, or deletes, the new index's WAL."""
        shared = self._shared
        if shared.db is not None:
            try:
                shared.db.close()
            except sqlite3.Error:
                pass
        shared.db = shared.identity = None

    def close(self) -> None:
        """Let go of this process's connection to the index: its WAL is checkpointed into
        index.sqlite and removed (when no other process has the index open), so the file alone is
        the whole index, as a copy or a backup would take it. The next use opens it again."""
        with self._shared.lock:
            self._close_shared()

    def _reconcile(self, db: sqlite3.Connection) -> int:
        """Put back what a power loss may have taken from the index (its last commits): runs whose
        run.json it lacks, and rows still `running` whose run no one drives. Returns the rows put."""
        status = dict(db.execute("SELECT run_id, status FROM runs"))
        put = 0
        for path in self.root.glob("*/run.json"):
            run_id = path.parent.name
            if run_id in status and (status[run_id] != _HELD or self.is_running(run_id)):
                continue
            try:
                record = read_record(path)
            except InputError:
                continue  # a rebuild leaves it out too, with its warning
            if run_id in status and record.status == status[run_id]:
                continue
            _rehome(record, run_id, path.parent)
            owner_file = path.parent / _OWNER_FILE
            self._put(db, record, owner_file.read_text().strip() if owner_file.is_file() else "")
            put += 1
        return put

    @contextmanager
    def _index_lock(self) -> Iterator[None]:
        """Held (across threads and processes) while the index is created, checked or rebuilt, so
        no one takes an index being made for an empty one, nor rebuilds it twice."""
        import fcntl
        try:
            f = open(self.root / "index.sqlite.lock", "a")
        except OSError as e:
            raise out_of_space(e, self.root) or InputError(
                f"output folder is not writable: {self.root} ({e.strerror})") from None
        with f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _usable(self) -> bool:
        """Whether the index file is there with something in it; a folder in its place is moved aside
        (as index.sqlite.folder-XXXX, nothing in it deleted) with a one-line warning."""
        try:
            info = os.stat(self.index)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(info.st_mode):
            aside = self.index.with_name(f"index.sqlite.folder-{secrets.token_hex(3)}")
            log.warning("run index %s is a folder, not a file; moved it to %s and rebuilding the index",
                        self.index, aside.name)
            os.replace(self.index, aside)
            return False
        return info.st_size > 0

    def _sound(self) -> bool:
        """Whether the index answers (re-checked under the lock: another may have rebuilt it)."""
        if not self._usable():
            return False
        try:
            with closing(self._db()) as db:
                db.execute("SELECT count(*) FROM runs").fetchone()
            return True
        except sqlite3.DatabaseError:
            return False

    def rebuild_index(self, reason: str = "") -> int:
        """Set the index aside (as index.sqlite.damaged) and make it again from every run.json; a
        damaged run.json is left out with a one-line warning naming it. Returns the runs indexed."""
        with self._index_lock():
            return self._rebuild(reason)

    def _rebuild(self, reason: str = "") -> int:
        if reason:
            log.warning("run index %s is unusable (%s); rebuilding it from the run.json files", self.index, reason)
        with self._shared.lock:
            self._close_shared()
        if self.index.is_file() and self.index.stat().st_size:
            os.replace(self.index, self.index.with_name("index.sqlite.damaged"))
        self.index.unlink(missing_ok=True)
        for suffix in ("-journal", "-wal", "-shm"):
            self.index.with_name(self.index.name + suffix).unlink(missing_ok=True)
        count = 0
        with closing(self._db()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            migrate(db)
            with db:
                for path in sorted(self.root.glob("*/run.json")):
                    try:
                        record = read_record(path)
                    except InputError as e:
                        log.warning("%s; left out of the run index", e)
                        continue
                    _rehome(record, path.parent.name, path.parent)
                    owner_file = path.parent / _OWNER_FILE
                    owner = owner_file.read_text().strip() if owner_file.is_file() else ""
                    self._put(db, record, owner)
                    count += 1
        return count

    @staticmethod
    def _put(db: sqlite3.Connection, record: RunRecord, owner: str) -> None:
        best = record.best
        row = (record.run_id, record.created.isoformat(), record.brief.text[:500], record.status,
               int(record.approved), len(record.attempts), str(best.artifact.path) if best else None,
               record.llm, record.image_model, record.critic, record.cost_usd, record.seconds, owner,
               record.format)
        db.execute(f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
                   "ON CONFLICT(run_id) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in _UPDATED), row)

    def _with_index(self, work):
        """`work(db)` in a transaction; an index found missing, emptied or damaged meanwhile is
        rebuilt, then it is retried. A full disk is OutOfSpace."""
        for attempt in (0, 1):
            try:
                if not self._usable():
                    with self._index_lock():
                        if not self._usable():
                            self._rebuild("it is missing or empty")
                with self._connection() as db, db:  # one transaction
                    return work(db)
            except sqlite3.DatabaseError as e:
                if isinstance(e, sqlite3.OperationalError) and _full(e):
                    raise OutOfSpace(self.root, str(e)) from None
                if attempt or not _damaged(e):
                    raise
                with self._index_lock():
                    if not self._sound():
                        self._rebuild(str(e))

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
        # Every save is atomic (a reader or a resume never sees half a file), but only a run's last
        # one is fsynced: a killed process loses nothing either way (the page cache is the kernel's),
        # and after a power loss a run resumes from an older step at worst. The fsyncs were 18% of the
        # batch threads' time at --concurrency 8 (about 5 saves a run, 6 ms each here; issue 28).
        atomic_write_bytes(folder / "run.json", record_json(record), durable=record.status != "running")
        if owner and not (folder / _OWNER_FILE).is_file():
            atomic_write_bytes(folder / _OWNER_FILE, owner.encode())
        self._with_index(lambda db: self._put(db, record, owner))

    @contextmanager
    def lock(self, run_id: str, new: bool = True) -> Iterator[None]:
        """Hold run `run_id` for as long as it is driven; InputError "run X is already running" when
        another process (or another call here) holds it. The OS drops the lock if the holder dies.
        `new`: the run may be new (its folder is made); else it must exist."""
        import fcntl
        folder = self.run_dir(run_id)
        if not new and not (folder / "run.json").is_file():
            raise InputError(f"no run {run_id!r} in {self.root}")
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / _LOCK_FILE, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise InputError(f"run {run_id} is already running") from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def is_running(self, run_id: str) -> bool:
        """Whether some process (or a call here) holds run `run_id`'s lock now, i.e. drives it."""
        import fcntl
        path = self.run_dir(run_id) / _LOCK_FILE
        if not path.is_file():
            return False
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def load(self, run_id: str) -> RunRecord:
        path = self.run_dir(run_id) / "run.json"
        if not path.is_file():
            raise InputError(f"no run {run_id!r} in {self.root}")
        record = read_record(path, run_id)
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

        def rows(db):
            cursor = db.cursor()  # the row factory on this cursor only: the connection is shared
            cursor.row_factory = sqlite3.Row
            return [dict(r) for r in cursor.execute(query, args)]
        return self._with_index(rows)


def _rehome(record: RunRecord, run_id: str, folder: Path) -> None:
    """A run folder copied or moved (under another name or root) is that run from now on: saving
    writes where it was read, never into the folder it was copied from, and its attempts are the
    copies beside it (a rescored verdict is stamped into them, not into the originals)."""
    record.run_id = run_id
    for attempt in record.attempts:
        here = folder / attempt.artifact.path.name
        if attempt.artifact.path.parent != folder and here.is_file():
            attempt.artifact.path = here
