"""Briefs in batch: `atelier brief FILE`. A YAML or JSONL file of briefs, validated as a whole before
anything runs, run with bounded concurrency (threads here, or Ray tasks on a cluster), resumable
after a kill at any moment, and summed up in `summary.jsonl` and a `report.html` contact sheet.

Layout of the output folder OUT:
    OUT/runs/<brief id>/      each brief's run (run.json, every attempt), a deterministic name
    OUT/runs/index.sqlite     the run index (history)
    OUT/summary.jsonl         one line per finished brief: RunRecord.summary() plus "id"
    OUT/report.html           the contact sheet

Resume rule: a brief is finished when its line is in summary.jsonl. Lines are appended whole
(one write, flushed and fsynced); a torn last line left by a kill is cut off on the next start.
An unfinished brief whose run folder holds a run.json is resumed (or, if that run had already
ended before the kill, its line is written without running anything); a folder without run.json
holds nothing recorded and is started afresh."""
from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

import yaml
from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator)

from agent.core import limits
from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import AtelierError, InputError, OutOfSpace, out_of_space
from agent.core.types import MAX_BRIEF_CHARS, Brief, Budget, RunRecord, SceneSpec, existing_files

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
TERMINAL = ("approved", "budget_spent", "ended", "failed", "unverified")  # "stopped" and "running" get resumed
SUMMARY, REPORT, RUNS = "summary.jsonl", "report.html", "runs"


# ---- the file -----------------------------------------------------------------------------------
class BriefEntry(BaseModel):
    """One entry of a brief file. Unknown fields are errors, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern=ID_PATTERN, description="unique in the file; names the run folder")
    brief: str = Field(description="what to make")
    spec: SceneSpec | None = Field(None, description="what the image must contain, GenEval format")
    reference_images: list[Path] = Field(default_factory=list)
    mask: Path | None = None
    negative_prompt: str = ""
    style: str = ""
    llm: str | None = None
    image_model: str | None = None
    video_model: str | None = Field(None, description="a clip run's video back end (the brief asks for motion)")
    critic: str | None = None
    mode: Literal["agent", "loop"] | None = None
    budget: Budget | None = None
    max_iterations: int | None = Field(None, ge=1, le=100, description="shorthand for budget.max_iterations")
    seed: int | None = Field(None, ge=0, lt=2**32)
    variants: int = Field(1, ge=1, le=16, validation_alias=AliasChoices("variants", "candidates"),
                          description="images per generation step")
    rewrite: Literal["auto", "off"] = "auto"

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value):
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value  # YAML `id: 7`

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower().startswith("index.sqlite"):
            raise ValueError(f"{value!r} is reserved: it clashes with the run index's files (index.sqlite*)")
        return value

    @field_validator("reference_images", "mask", mode="before")
    @classmethod
    def _relative_to_file(cls, value, info: ValidationInfo):
        """Paths in the file are relative to the file's folder, and must stay inside it (links
        followed) or inside a folder the operator allowed (`atelier brief --files DIR`): a brief file
        may come from anyone, and must not make Atelier read the operator's other files."""
        context = info.context or {}
        base = context.get("base")
        if base is None or value is None:
            return value
        roots = [base, *context.get("files", ())]
        if isinstance(value, list):
            return [_inside(v, base, roots) if isinstance(v, str) else v for v in value]
        return _inside(value, base, roots) if isinstance(value, str) else value

    @field_validator("reference_images", "mask")
    @classmethod
    def _exists(cls, value):
        return existing_files(limits.items("reference_images", value) if isinstance(value, list) else value)

    @field_validator("brief")
    @classmethod
    def _text(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the brief is empty: say what to make")
        if len(text.strip()) > MAX_BRIEF_CHARS:
            raise ValueError(f"the brief is {len(text.strip())} characters long; the limit is {MAX_BRIEF_CHARS}")
        return text.strip()

    def to_brief(self) -> Brief:
        budget = (self.budget or Budget()).model_copy()
        if self.max_iterations is not None:
            budget.max_iterations = self.max_iterations
        return Brief(text=self.brief, spec=self.spec, reference_images=self.reference_images, mask=self.mask,
                     negative_prompt=self.negative_prompt, style=self.style, budget=budget, seed=self.seed,
                     candidates=self.variants, rewrite=self.rewrite)


def _inside(name: str, base: Path, roots: list[Path]) -> Path:
    from agent.core.trust import contained
    path = Path(base) / Path(name).expanduser()  # an absolute path stays absolute, then must be inside
    try:
        return contained(path, roots, what="reference image")
    except InputError:
        if not path.exists():
            raise ValueError(f"reference image not found: {name}") from None
        raise ValueError(f"{name} is outside the brief file's folder; only files in that folder (or in a "
                         f"folder allowed with --files DIR) can be read") from None


class BriefFileError(InputError):
    """Every problem of a brief file, one per line."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        head = f"{path}: {len(problems)} problem{'s' * (len(problems) != 1)}"
        super().__init__(head + "".join(f"\n  {p}" for p in problems))


def read_entries(path: Path) -> list[Any]:
    """The raw entries of a YAML or JSONL file (a list; YAML may also be `{briefs: [...]}`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"brief file not found: {path}")
    try:
        limits.file_size("the file", path.stat().st_size)
    except ValueError as e:
        raise BriefFileError(path, [str(e)]) from None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BriefFileError(path, ["not a text file: a brief file is YAML or JSONL"]) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise BriefFileError(path, ["the file is empty: give a list of briefs, each with an id and a brief"])
    if path.suffix.lower() in (".jsonl", ".ndjson") or (path.suffix.lower() not in (".yaml", ".yml")
                                                         and lines[0][1].lstrip().startswith("{")):
        entries, problems = [], []
        for n, line in lines:
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as e:
                problems.append(f"line {n}: not JSON ({e.msg} at column {e.colno}); "
                                f"a JSONL file has one JSON object per line")
        if problems:
            raise BriefFileError(path, problems)
        return entries
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BriefFileError(path, [f"neither YAML nor JSONL: {problem}{at}"]) from None
    if isinstance(data, dict) and set(data) == {"briefs"}:
        data = data["briefs"]
    if not isinstance(data, list):
        kind = type(data).__name__.replace("str", "a line of text").replace("dict", "a mapping")
        raise BriefFileError(path, [f"expected a list of briefs (YAML list or JSONL lines), got {kind}"])
    return data


def load_briefs(path: Path | str, defaults: dict[str, str] | None = None,
                files: Iterable[Path | str] = ()) -> list[BriefEntry]:
    """Read and validate a whole brief file; raise BriefFileError listing every problem with its
    entry and field (`entry 3 (id 'x'), field 'spec.include.0.count': ...`). Its reference images
    and masks must lie in its folder or in one of `files` (the operator's --files folders)."""
    path = Path(path).expanduser().resolve()
    raw = read_entries(path)
    if len(raw) > limits.BRIEF_FILE_ENTRIES:
        raise BriefFileError(path, [f"the file holds {len(raw):,} briefs; the limit is {limits.BRIEF_FILE_ENTRIES:,}"])
    context = {"base": path.parent, "files": [Path(f).expanduser().resolve() for f in files]}
    entries, problems, seen = [], [], {}
    for n, item in enumerate(raw, 1):
        ident = item.get("id") if isinstance(item, dict) else None
        where = f"entry {n}" + (f" (id {str(ident)!r})" if isinstance(ident, (str, int)) and ident is not True and ident is not False else "")
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping with 'id' and 'brief', got {type(item).__name__}")
            continue
        try:
            entry = BriefEntry.model_validate(item, context=context)
        except ValidationError as e:
            problems.extend(_field_problems(where, e))
            continue
        try:
            entry.to_brief()
        except ValidationError as e:
            problems.extend(_field_problems(where, e, rename={"text": "brief", "candidates": "variants"}))
            continue
        if entry.id in seen:
            problems.append(f"{where}, field 'id': duplicate of entry {seen[entry.id]}")
            continue
        seen[entry.id] = n
        problems.extend(f"{where}, field '{field}': {msg}" for field, msg in _backend_problems(entry, defaults or {}))
        entries.append(entry)
    if problems:
        raise BriefFileError(path, problems)
    if not entries:
        raise BriefFileError(path, ["the file holds no briefs"])
    return entries


def _field_problems(where: str, error: ValidationError, rename: dict[str, str] | None = None) -> list[str]:
    out = []
    for err in error.errors():
        loc = [str(x) for x in err["loc"]]
        if loc and rename and loc[0] in rename:
            loc[0] = rename[loc[0]]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field" + (" (fields: " + ", ".join(sorted(_FIELDS)) + ")" if len(loc) == 1 else "")
        elif err["type"] == "string_pattern_mismatch" and loc == ["id"]:
            msg = "must be letters, digits, '.', '_' or '-' (it names a folder), at most 128 characters"
        out.append(f"{where}, field '{'.'.join(loc)}': {msg}" if loc else f"{where}: {msg}")
    return out


_FIELDS = {name for name in BriefEntry.model_fields}


def _backend_problems(entry: BriefEntry, defaults: dict[str, str]) -> Iterable[tuple[str, str]]:
    """Unknown back ends, found without importing or loading any of them."""
    from agent.core import registry
    from agent.core.errors import ConfigError
    from agent.core.trust import TrustPolicy, check_untrusted_spec
    policy = TrustPolicy.from_env(defaults.values())  # a brief file may come from anyone; the CLI is the operator
    for field, kind in (("llm", "llm"), ("image_model", "image"), ("critic", "critic"), ("video_model", "video")):
        spec = getattr(entry, field) or defaults.get(field)
        if not spec:
            continue
        try:
            check_untrusted_spec(kind, getattr(entry, field), policy)
        except ConfigError as e:
            yield field, str(e)
            continue
        prefix, name = registry.split(spec)
        if prefix not in registry.known(kind):
            yield field, f"unknown {kind} back end {spec!r}; known prefixes: {', '.join(registry.known(kind))}"
        elif kind == "image" and prefix == "local" and registry._REGISTRY["image"]["local"].startswith("local_models."):
            from local_models.catalog import IMAGE_MODELS
            if name not in IMAGE_MODELS:
                yield field, f"unknown local image model {name!r}; known: {', '.join(sorted(IMAGE_MODELS))}"
        elif kind == "critic" and prefix == "critic":
            from agent.critics import CRITICS
            for part in spec.split("+"):
                base = part.strip().removeprefix("critic:").partition("@")[0]
                if base not in CRITICS:
                    yield field, f"unknown critic {base!r}; known: {', '.join(sorted(CRITICS))}"


# ---- summary.jsonl --------------------------------------------------------------------------------
class SummaryLog:
    """`summary.jsonl`: appended one whole line at a time; a torn last line (a kill mid-write) is cut
    off when the log is opened, so it is neither taken for a finished brief nor glued to the next."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.lines: dict[str, dict] = {}
        if not path.exists():
            return
        data = path.read_bytes()
        keep = data[: data.rfind(b"\n") + 1]
        if keep != data:
            with open(path, "r+b") as f:
                f.truncate(len(keep))
                f.flush()
                os.fsync(f.fileno())
        for raw in keep.splitlines():
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(line, dict) and isinstance(line.get("id"), str):
                self.lines[line["id"]] = line

    def append(self, line: dict) -> None:
        data = (json.dumps(line) + "\n").encode()
        with self.lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    if os.write(fd, data) != len(data):  # the disk filled up mid-line: a torn line, cut next time
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                raise out_of_space(e, self.path.parent) or e
            self.lines[line["id"]] = line

    def drop(self, ids: set[str]) -> None:
        """Forget lines (to run those briefs again), rewriting the file atomically."""
        from agent.core.artifacts import atomic_write_bytes
        with self.lock:
            self.lines = {k: v for k, v in self.lines.items() if k not in ids}
            atomic_write_bytes(self.path, "".join(json.dumps(v) + "\n" for v in self.lines.values()).encode())


# ---- one brief --------------------------------------------------------------------------------------
def make_job(entry: BriefEntry, out: Path, defaults: dict[str, str], max_seconds: float | None,
             max_cost: float | None, retry: bool = False) -> dict:
    """Everything a worker needs to run one brief, as plain data (it may travel to a Ray worker)."""
    brief = entry.to_brief()
    budget = brief.budget
    if max_seconds is not None:  # an in-flight brief ends when the batch's time does
        budget.max_seconds = max(1.0, min(budget.max_seconds or max_seconds, max_seconds))
    if max_cost is not None:
        budget.max_cost_usd = max(0.0, min(budget.max_cost_usd if budget.max_cost_usd is not None else max_cost,
                                           max_cost))
    return {"id": entry.id, "out": str(out), "brief": brief.model_dump(mode="json"),
            "llm": entry.llm or defaults.get("llm", DEFAULT_LLM),
            "image_model": entry.image_model or defaults.get("image_model", DEFAULT_IMAGE_MODEL),
            "video_model": entry.video_model or defaults.get("video_model"),
            "critic": entry.critic or defaults.get("critic", DEFAULT_CRITIC),
            "mode": entry.mode or defaults.get("mode", "agent"), "retry": retry}


def run_job(job: dict, on_event: Callable | None = None,
            on_start: Callable[[Any, str], None] | None = None) -> dict:
    """Run (or resume, or just record) one brief; return its summary line. Never raises: a brief
    that cannot run becomes a failed line naming the error."""
    from agent.surfaces.api import Studio

    brief_id = run_id = job["id"]
    runs = Path(job["out"]) / RUNS
    brief = Brief.model_construct(**job["brief"])
    note = ""
    try:
        brief = Brief.model_validate(job["brief"])  # e.g. a reference image deleted since the file was read
        studio = Studio(llm=job["llm"], image_model=job["image_model"], critic=job["critic"],
                        video_model=job.get("video_model"), mode=job["mode"], runs_dir=runs, on_event=on_event)
        run_id, note = _run_id_for(studio.store, brief_id, brief.text)
        folder = studio.store.run_dir(run_id)
        record = _existing(studio, run_id, brief)
        if record is not None and record.status == "failed" and job.get("retry") and not record.attempts:
            shutil.rmtree(folder)
            record = None
        if record is not None and record.status in TERMINAL and not (job.get("retry") and record.status == "failed"):
            result_record = record  # it ended before the kill; only its line was missing
        elif record is not None:
            if on_start:
                on_start(studio, run_id)
            result_record = studio.resume(run_id).record
        else:
            if folder.exists():
                shutil.rmtree(folder)  # nothing in it was recorded
            if on_start:
                on_start(studio, run_id)
            result_record = studio.run(brief, run_id=run_id, owner="batch").record
    except ValidationError as e:
        from agent.core.errors import one_line
        result_record = _failed(runs, run_id, brief, job, one_line(e, "brief"))
    except AtelierError as e:
        result_record = _failed(runs, run_id, brief, job, str(e),
                                OutOfSpace.reason if isinstance(e, OutOfSpace) else "error")
    except Exception as e:  # a bug must not take the batch down; the line says what happened
        result_record = _failed(runs, run_id, brief, job, f"internal error {type(e).__name__}: {e}")
    line = {"id": brief_id, **result_record.summary(), "brief_sha": brief_digest(brief.text)}
    return {**line, "note": note} if note else line


def brief_digest(text: str) -> str:
    import hashlib
    return hashlib.sha256(text.strip().encode()).hexdigest()[:10]


def _run_id_for(store, brief_id: str, text: str) -> tuple[str, str]:
    """(the run for this brief, a note when it is not the folder named after the brief). A brief
    whose text changed since its run (or whose run.json is damaged) gets a new run beside the old
    one, named after its text, so the old run is never deleted or overwritten."""
    if not (store.run_dir(brief_id) / "run.json").is_file():
        return brief_id, ""
    try:
        old = store.load(brief_id).brief.text
    except Exception:
        old = None
    if old == text:
        return brief_id, ""
    run_id = f"{brief_id}-{brief_digest(text)}"
    why = "its brief changed since" if old is not None else "the run.json of"
    return run_id, f"{why} run {brief_id}; that run is kept and run {run_id} is used"


def _finished(entry: "BriefEntry", line: dict | None, runs: Path) -> bool:
    """Whether the summary line is this entry's finished brief (not one of an earlier text)."""
    if line is None:
        return False
    if line.get("brief_sha"):
        return line["brief_sha"] == brief_digest(entry.brief)
    try:  # a line written before lines carried brief_sha
        data = json.loads((runs / str(line.get("run_id") or entry.id) / "run.json").read_bytes())
        return data["brief"]["text"] == entry.brief
    except Exception:
        return True


def _existing(studio, run_id: str, brief: Brief) -> RunRecord | None:
    """The brief's earlier run, if it can be continued: same brief text; else None (start afresh)."""
    path = studio.store.run_dir(run_id) / "run.json"
    if not path.is_file():
        return None
    try:
        record = studio.store.load(run_id)
    except Exception:
        return None
    return record if record.brief.text == brief.text else None


def _failed(runs: Path, run_id: str, brief: Brief, job: dict, error: str, reason: str = "error") -> RunRecord:
    record = RunRecord(run_id=run_id, brief=brief, llm=job["llm"], image_model=job["image_model"],
                       video_model=job.get("video_model"), critic=job["critic"], mode=job["mode"], status="failed",
                       stop_reason=reason, error=error)
    if reason == OutOfSpace.reason:
        return record  # nothing to record it in; the brief runs again next time
    try:
        from agent.core.records import RunStore
        RunStore(runs).save(record, owner="batch")
    except Exception:
        pass
    return record


# ---- executors ----------------------------------------------------------------------------------
class LocalExecutor:
    """Briefs on a thread pool in this process; back ends (and their pipelines) are shared."""

    def __init__(self, concurrency: int, on_event: Callable | None = None):
        self.slots = concurrency
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="brief")
        self.on_event = on_event
        self.running: dict[str, Any] = {}

    def submit(self, job: dict) -> Future:
        def work():
            try:
                return run_job(job, self.on_event, lambda studio, run_id: self.running.__setitem__(run_id, studio))
            finally:
                self.running.pop(job["id"], None)
        return self.pool.submit(work)

    def stop_all(self) -> None:
        for run_id, studio in list(self.running.items()):
            studio.stop(run_id)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Briefs as Ray tasks on long-lived actors, one per concurrency slot, so each worker (a GPU
    worker on a cluster) loads its pipelines once and keeps them for every brief it runs. The
    output folder must be on storage the workers share. Connects to the cluster named by `address`
    (or RAY_ADDRESS), or uses the Ray instance this process already started."""

    def __init__(self, concurrency: int, address: str | None = None, gpus_per_brief: float = 0.0):
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray needs Ray: pip install 'atelier[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            env = {k: os.environ[k] for k in ("ATELIER_PLUGINS", "PYTHONPATH") if k in os.environ}
            address = address or os.environ.get("RAY_ADDRESS") or "auto"
            try:
                ray.init(address=address, runtime_env={"env_vars": env} if env else None, log_to_driver=False)
            except (ConnectionError, RuntimeError) as e:
                raise InputError(f"no Ray cluster at {address!r} ({str(e).splitlines()[0]}); start one with "
                                 f"`ray start --head` or set RAY_ADDRESS") from None
        # no more actors than the cluster can place at once, or the extra ones would wait forever
        resources = ray.cluster_resources()
        fits = resources.get("GPU", 0) / gpus_per_brief if gpus_per_brief else resources.get("CPU", 1)
        self.slots = max(1, min(concurrency, int(fits)))
        self.worker = ray.remote(num_cpus=1, num_gpus=gpus_per_brief, max_restarts=0)(_RayBriefWorker)
        self.free = deque(self.worker.remote() for _ in range(self.slots))

    def submit(self, job: dict) -> Future:
        actor = self.free.popleft()
        future = actor.run.remote(job).future()

        def done(f: Future) -> None:
            if f.exception() is None:
                self.free.append(actor)
            else:  # the worker died (out of memory, lost node): a fresh one takes its slot
                try:
                    self.ray.kill(actor)
                except Exception:
                    pass
                self.free.append(self.worker.remote())
        future.add_done_callback(done)
        return future

    def stop_all(self) -> None:
        pass  # a killed or interrupted brief resumes from its run.json on the next start

    def shutdown(self) -> None:
        for actor in self.free:
            self.ray.kill(actor)


class _RayBriefWorker:
    def run(self, job: dict) -> dict:
        return run_job(job)


# ---- the batch --------------------------------------------------------------------------------------
class BatchResult(BaseModel):
    lines: list[dict] = Field(description="summary lines of the file's finished briefs, in file order")
    failed: list[str] = Field(default_factory=list, description="ids of briefs that failed with an error")
    pending: list[str] = Field(default_factory=list, description="ids not run (batch budget spent or interrupted)")
    stop_reason: str = ""
    report: Path | None = None
    error: str | None = Field(None, description="why the batch could not go on (the disk is full): one line")


def run_batch(file: Path | str, out: Path | str = "batch", *, concurrency: int = 2,
              executor: Literal["local", "ray"] = "local", max_seconds: float | None = None,
              max_cost: float | None = None, defaults: dict[str, str] | None = None,
              retry_failed: bool = False, ray_address: str | None = None, gpus_per_brief: float = 0.0,
              progress: bool | None = None, console=None, files: Iterable[Path | str] = ()) -> BatchResult:
    """Run every brief of FILE not yet finished in OUT; see the module's docstring. `files`: folders
    besides the brief file's own that its reference images may come from."""
    if concurrency < 1 or concurrency > 256:
        raise InputError(f"--concurrency must be between 1 and 256, not {concurrency}")
    if max_seconds is not None and max_seconds <= 0 or max_cost is not None and max_cost < 0:
        raise InputError("the batch budget (--max-seconds, --max-cost) must be positive")
    defaults = {k: v for k, v in (defaults or {}).items() if v}
    entries = load_briefs(file, defaults, files)
    out = Path(out).expanduser().resolve()
    try:
        (out / RUNS).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out must be a folder Atelier can write: {out} ({e.strerror})") from None
    lock = _lock(out)
    try:
        return _run(entries, out, concurrency, executor, max_seconds, max_cost, defaults, retry_failed,
                    ray_address, gpus_per_brief, progress, console)
    finally:
        lock.close()


def _lock(out: Path):
    """One batch per output folder at a time (the OS drops the lock if the process is killed)."""
    import fcntl
    f = open(out / ".batch.lock", "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise InputError(f"another `atelier brief` is already running on {out}") from None
    return f


def _run(entries, out, concurrency, executor_name, max_seconds, max_cost, defaults, retry_failed,
         ray_address, gpus_per_brief, show_progress, console) -> BatchResult:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or Console(stderr=True)
    log = SummaryLog(out / SUMMARY)
    ids = {e.id for e in entries}
    if retry_failed:
        log.drop({i for i, line in log.lines.items() if i in ids and line.get("status") == "failed"})
    todo = deque(e for e in entries if not _finished(e, log.lines.get(e.id), out / RUNS))
    started, spent_before = time.monotonic(), sum(float(l.get("cost_usd") or 0) for l in log.lines.values())
    spent_now, stop_reason = 0.0, ""

    def left() -> tuple[float | None, float | None]:
        secs = None if max_seconds is None else max_seconds - (time.monotonic() - started)
        money = None if max_cost is None else max_cost - spent_before - spent_now
        return secs, money

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                        disable=show_progress is False, transient=False)
    overall = progress.add_task("batch", total=len(entries), completed=len(entries) - len(todo),
                                status=f"{len(entries) - len(todo)} done before" if len(todo) < len(entries) else "")
    rows: dict[str, Any] = {}

    def on_event(event) -> None:
        row = rows.get(event.run_id)
        if row is None:
            return
        status = {"attempt_made": lambda: event.message, "verdict": lambda: event.message[:70],
                  "prompt_refined": lambda: "prompt refined", "tool_error": lambda: "tool error: " + event.message[:60],
                  "run_started": lambda: "started"}.get(event.type)
        if status:
            progress.update(row, status=status())
        if event.type == "verdict" and event.attempt is not None:
            progress.update(row, completed=event.attempt.iteration)

    executor = None
    inflight: dict[Future, str] = {}
    interrupted, error = False, None
    with progress:
        try:
            if todo:
                _warm(entries, todo, defaults, executor_name)
                executor = (LocalExecutor(concurrency, on_event) if executor_name == "local"
                            else RayExecutor(concurrency, ray_address, gpus_per_brief))
            while todo or inflight:
                while todo and len(inflight) < executor.slots and not stop_reason:
                    secs, money = left()
                    if secs is not None and secs <= 0:
                        stop_reason = f"batch time budget spent ({max_seconds:g} s)"
                    elif money is not None and money <= 0:
                        stop_reason = f"batch money budget spent (${max_cost:.2f})"
                    else:
                        entry = todo.popleft()
                        rows[entry.id] = progress.add_task(f"  {entry.id}", status="starting",
                                                           total=entry.to_brief().budget.max_iterations)
                        inflight[executor.submit(make_job(entry, out, defaults, secs, money, retry_failed))] = entry.id
                if not inflight:
                    break
                done, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    brief_id = inflight.pop(future)
                    try:
                        line = future.result()
                    except Exception as e:  # only a lost worker gets here: run_job itself never raises
                        entry = next(e_ for e_ in entries if e_.id == brief_id)
                        line = {"id": brief_id, **RunRecord(
                            run_id=brief_id, brief=entry.to_brief(), status="failed", stop_reason="error",
                            error=f"worker lost: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                        ).summary()}
                    if line.get("stop_reason") == OutOfSpace.reason:  # not finished: it runs again next time
                        stop_reason = error = line.get("error") or OutOfSpace(out / RUNS).args[0]
                    else:
                        try:
                            log.append(line)
                        except OutOfSpace as e:
                            stop_reason = error = str(e)
                    spent_now += float(line.get("cost_usd") or 0)
                    progress.remove_task(rows.pop(brief_id))
                    progress.advance(overall)
                    progress.update(overall, status=f"last: {brief_id}")
                    progress.console.print(_describe(line), highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            interrupted = True
            stop_reason = "interrupted; run the same command again to finish"
            if executor:
                executor.stop_all()
                for future in list(inflight):  # stopped runs keep no line: they resume next time
                    try:
                        future.result(timeout=60)
                    except Exception:
                        pass
        finally:
            if executor:
                executor.shutdown()
    order = {e.id: n for n, e in enumerate(entries)}
    lines = sorted((l for i, l in log.lines.items() if i in order), key=lambda l: order[l["id"]])
    from agent.surfaces.report import write_report
    try:
        report = write_report(out, entries, log.lines)
    except OutOfSpace as e:  # the old report (if any) is kept
        report, error = None, error or str(e)
    pending = [e.id for e in entries if not _finished(e, log.lines.get(e.id), out / RUNS)]
    if interrupted:
        raise KeyboardInterrupt
    return BatchResult(lines=lines, failed=[l["id"] for l in lines if l.get("status") == "failed"],
                       pending=pending, stop_reason=stop_reason, report=report, error=error)


def _warm(entries, todo, defaults, executor_name) -> None:
    """Resolve each back end once before the threads start, so pipelines load once (not once per
    thread) and a missing package shows up before any brief runs."""
    if executor_name != "local":
        return
    from agent.core import registry
    specs = set()
    for e in todo:
        specs |= {("llm", e.llm or defaults.get("llm", DEFAULT_LLM)),
                  ("image", e.image_model or defaults.get("image_model", DEFAULT_IMAGE_MODEL)),
                  ("critic", e.critic or defaults.get("critic", DEFAULT_CRITIC))}
        if video := e.video_model or defaults.get("video_model"):
            specs.add(("video", video))
    for kind, spec in sorted(specs):
        try:
            registry.resolve(kind, spec)
        except Exception:
            pass  # the briefs that need it fail with this error on their own lines


def _describe(line: dict) -> str:
    run = f" (run {line['run_id']})" if line.get("run_id") and line["run_id"] != line["id"] else ""
    note = f" [yellow]note:[/] {line['note']}" if line.get("note") else ""
    if line.get("status") == "failed":
        return f"[red]✗ {line['id']}[/]{run} failed: {line.get('error')}{note}"
    state = "[green]✓ approved[/]" if line.get("approved") else f"[yellow]○ {line.get('status')}[/]"
    return (f"{state} {line['id']}{run}: {len(line.get('attempts') or [])} attempt(s), "
            f"{line.get('seconds', 0):.1f} s, ${line.get('cost_usd') or 0:.2f}{note}")
