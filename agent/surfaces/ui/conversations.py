"""Conversations kept across restarts: each tab's desk (its chat, its runs, the settings it had) is
written to the runs folder when it changes hands (a brief taken, a run over, a chat cleared or a run
reopened), and a page that comes back after the server restarted with its tab key gets it again:
`KeptDesks` is `ui_desks.Desks` with that memory.

A file is named by a hash of the tab's key (the key itself never sits on disk), holds a hash of its
owner (a browser's owner is its token: never on disk either), and is given back only to that owner,
as the live desk is. The runs themselves are in their
records; a run in flight when the server stopped reads as interrupted and can be reopened from
History (the restored chat says so).

They are pruned (`prune`, when the UI starts and every PRUNE_EVERY saves): a conversation untouched for
`keep_days` (default 30) goes, and past the newest `keep_count` (default 200) the oldest go."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

from agent.core.artifacts import atomic_write_bytes
from agent.surfaces import ui_support as ui

FOLDER = ".ui-conversations"
KEPT = ("chat", "runs", "current", "last", "form", "compare")  # what a desk needs to show itself again
INTERRUPTED = ("⚠️ The server restarted while a run of this chat was in flight: it stopped there. "
               "Its attempts so far are kept; reopen it from History to see them.")
KEEP_DAYS, KEEP_COUNT = 30.0, 200  # a tab's chat outlives a restart, not forever: its runs stay in History
PRUNE_EVERY = 25  # saves between prunes (each lists the folder)


class KeptDesks(ui.Desks):
    def __init__(self, runs_dir: Path, *, keep_days: float = KEEP_DAYS, keep_count: int = KEEP_COUNT, **kw):
        if not keep_days > 0:
            raise ValueError(f"keep_days must be more than 0, not {keep_days!r}")
        if not (isinstance(keep_count, int) and keep_count >= 1):
            raise ValueError(f"keep_count must be a whole number of at least 1, not {keep_count!r}")
        super().__init__(runs_dir, **kw)
        self.folder = Path(runs_dir) / FOLDER
        self.keep_days, self.keep_count, self._saves = keep_days, keep_count, 0
        self.prune()

    def prune(self) -> list[Path]:
        """Remove the kept conversations untouched for `keep_days`, then the oldest past the newest
        `keep_count`; the files removed. A live desk is kept in memory and written again when it changes."""
        try:
            files = sorted(((f.stat().st_mtime, f) for f in self.folder.glob("*.json")), reverse=True)
        except OSError:
            return []
        oldest = time.time() - self.keep_days * 86400
        gone = [f for i, (mtime, f) in enumerate(files) if mtime < oldest or i >= self.keep_count]
        for f in gone:
            f.unlink(missing_ok=True)
        return gone

    def path_of(self, key: str) -> Path:
        return self.folder / (_digest(key)[:32] + ".json")

    def save(self, desk: ui.Desk) -> None:
        """Write the desk as it is now (a failure to write never stops the UI: the live desk goes on)."""
        with desk.cond:
            data = {"owner_sha256": _digest(desk.owner), "busy": desk.busy, **{k: getattr(desk, k) for k in KEPT}}
            text = json.dumps(data, default=str)
        try:
            atomic_write_bytes(self.path_of(desk.key), text.encode())
        except OSError:
            pass
        self._saves += 1
        if self._saves % PRUNE_EVERY == 0:
            self.prune()

    def attach(self, key: str | None, owner: str) -> ui.Desk:
        """The live desk; else the kept one of this key and owner, made live again; else a new one."""
        if key and self.get(key, owner) is None and (kept := self._kept(key, owner)) is not None:
            with self._lock:
                desk = self._desks.get(key)
                if desk is None:
                    desk = self._desks[key] = ui.Desk(key, owner)
                    for name in KEPT:
                        setattr(desk, name, kept.get(name, getattr(desk, name)))
                    if kept.get("busy"):
                        desk.chat.append(ui.msg(INTERRUPTED, key="restarted"))
                    desk.tell("Ready · this chat was kept over a restart of the server", "idle")
        return super().attach(key, owner)

    def _kept(self, key: str, owner: str) -> dict | None:
        try:
            kept = json.loads(self.path_of(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(kept, dict) or not isinstance(kept.get("owner_sha256"), str):
            return None
        return kept if hmac.compare_digest(kept["owner_sha256"], _digest(owner)) else None

    def submit(self, desk: ui.Desk, job: ui.Job) -> bool:
        started = super().submit(desk, job)
        self.save(desk)
        return started

    def _work(self, desk: ui.Desk) -> None:
        try:
            super()._work(desk)
        finally:
            self.save(desk)  # the run (and every brief queued behind it) is over: its chat is complete


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
