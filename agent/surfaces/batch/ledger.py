"""`summary.jsonl`, the batch's ledger: one line per finished brief (RunRecord.summary() plus "id" and
"brief_sha"). A brief is finished when its line is here, so the ledger alone decides what a re-run
skips, and a brief is counted once however many workers reported it."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
from pathlib import Path

from agent.core.errors import out_of_space


def brief_digest(text: str) -> str:
    """Ties a line to the brief text it answered: an edited brief is not finished by an old line."""
    return hashlib.sha256(text.strip().encode()).hexdigest()[:10]


class SummaryLog:
    """Appended one whole line at a time (one write); a torn last line (a kill mid-write) is cut off
    when the log is opened, so it is neither taken for a finished brief nor glued to the next. A line
    is not fsynced on its own, only the whole log when the batch ends (`sync`): a killed process loses
    no line either way, and a line a power loss takes is written again on the next start, without
    running anything, from its run's run.json (fsynced when the run ended, `RunStore.save`). At
    --concurrency 8 the scheduler's thread paid each line's fsync before starting the next brief."""

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

    def append(self, line: dict) -> bool:
        """Write the brief's line; False (nothing written) when the ledger already holds a line for
        the same brief text: a brief reported twice (a worker thought lost that finished after all)
        is counted once."""
        data = (json.dumps(line) + "\n").encode()
        with self.lock:
            held = self.lines.get(line["id"])
            if held is not None and line.get("brief_sha") and held.get("brief_sha") == line["brief_sha"]:
                return False
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    if os.write(fd, data) != len(data):  # the disk filled up mid-line: a torn line, cut next time
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                finally:
                    os.close(fd)
            except OSError as e:
                raise out_of_space(e, self.path.parent) or e
            self.lines[line["id"]] = line
            return True

    def sync(self) -> None:
        """fsync the log (the batch's end): what it holds survives a power loss from now on."""
        with self.lock:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return
            try:
                os.fsync(fd)
            except OSError as e:
                raise out_of_space(e, self.path.parent) or e
            finally:
                os.close(fd)

    def drop(self, ids: set[str]) -> None:
        """Forget lines (to run those briefs again), rewriting the file atomically."""
        from agent.core.artifacts import atomic_write_bytes
        with self.lock:
            self.lines = {k: v for k, v in self.lines.items() if k not in ids}
            atomic_write_bytes(self.path, "".join(json.dumps(v) + "\n" for v in self.lines.values()).encode())

    def finished(self, brief_id: str, text: str, runs: Path) -> bool:
        """Whether the ledger's line for `brief_id` answers this brief text (not an earlier one)."""
        line = self.lines.get(brief_id)
        if line is None:
            return False
        if line.get("brief_sha"):
            return line["brief_sha"] == brief_digest(text)
        try:  # a line written before lines carried brief_sha
            data = json.loads((runs / str(line.get("run_id") or brief_id) / "run.json").read_bytes())
            return data["brief"]["text"] == text
        except Exception:
            return True
