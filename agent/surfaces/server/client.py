"""The CLI's side of a warm server: find one (ATELIER_SERVER=URL, else one on the default local port),
run a brief on it, show its events as they come and hand back the same summary an in-process run
gives. Imports neither torch nor FastAPI: only httpx and the core's types.

`ATELIER_SERVER=off` (or `--local`) never uses a server. A server found on the default port is used
only when it keeps its runs in the folder the command names (`--out`), so the paths printed are
the ones an in-process run would print; one named by ATELIER_SERVER is used whatever its folder."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

from agent.core.errors import InputError
from agent.surfaces.server import DEFAULT_PORT, SERVER_VAR, TOKEN_VAR

PROBE_TIMEOUT_S = 0.5  # a server on this machine answers in milliseconds; nothing there refuses at once
NAMED_TIMEOUT_S = 5.0
CALL_TIMEOUT_S = 30.0
BUSY_WAITS_S = (0.5, 1, 2, 4, 8, 15, 30, None)  # backoff while a server answers 429 (its brief limit), then give up
OFF = ("", "0", "off", "no", "false", "local")


class ServerGone(Exception):
    """The server stopped answering before the run finished."""


class WarmServer:
    def __init__(self, url: str, info: dict[str, Any], token: str | None):
        self.url, self.info = url.rstrip("/"), info
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._briefs: httpx.Client | None = None  # one for all of a batch's briefs (see _brief_client)
        self._lock = threading.Lock()

    def _brief_client(self) -> httpx.Client:
        """One client shared by the batch's threads: making one took 170 ms under load (its TLS
        context, the CA bundle), once per brief before; its pool keeps a connection per thread."""
        with self._lock:
            if self._briefs is None:
                self._briefs = httpx.Client(base_url=self.url, headers=self.headers,
                                            timeout=httpx.Timeout(CALL_TIMEOUT_S, read=None),
                                            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
            return self._briefs

    def run(self, body: dict[str, Any], on_event: Callable, interrupts=None) -> dict[str, Any]:
        """Start the run, follow its events to the end, return its summary (the --json object). A
        refusal (the server's 400 / 401 / 503) is InputError with the server's one line."""
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=CALL_TIMEOUT_S) as http:
            answer = http.post("/api/runs", json={k: v for k, v in body.items() if v is not None})
            if answer.status_code != 201:
                raise InputError(f"the server at {self.url} refused the run: {_message(answer)}")
            run_id = answer.json()["run_id"]
            if interrupts is not None:
                interrupts.watch(_Stopper(http, run_id))
            finished = False
            try:
                # read to the stream's end, not just to run_finished: the server closes it once the run's
                # thread has marked it done, so the record fetched next is no longer live (breaking at the
                # event raced that mark and called a finished run lost, under load)
                for kind, data in _events(http, f"/api/runs/{run_id}/events"):
                    from agent.core.types import Event
                    on_event(Event.model_validate_json(data))
                    finished = finished or kind == "run_finished"
            except (httpx.TransportError, httpx.HTTPStatusError) as e:
                raise ServerGone(f"lost the server at {self.url} during run {run_id} ({type(e).__name__})") from None
            try:
                record = http.get(f"/api/runs/{run_id}")
                record.raise_for_status()
            except httpx.HTTPError as e:
                raise ServerGone(f"lost the server at {self.url} during run {run_id} ({type(e).__name__})") from None
            summary = record.json()
            if not finished or summary.get("live"):
                raise ServerGone(f"the server at {self.url} stopped before run {run_id} finished; its record "
                                 f"is saved there ({summary.get('status')}): atelier run --resume {run_id}")
            return {k: v for k, v in summary.items() if k not in ("live", "record")}


    def brief(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one brief of a batch there (POST /api/briefs: a `BriefJob` as JSON); its summary line.
        ServerGone when the server stops answering or is shutting down; InputError for its refusal."""
        for wait in BUSY_WAITS_S:  # a server holding this caller's limit of briefs: back off, then try again
            try:
                answer = self._brief_client().post("/api/briefs", json=job)
            except httpx.TransportError as e:
                raise ServerGone(f"lost the server at {self.url} during brief {job.get('id')} "
                                 f"({type(e).__name__})") from None
            if answer.status_code != 429 or wait is None:
                break
            time.sleep(wait)
        if answer.status_code == 503:
            raise ServerGone(f"the server at {self.url} is shutting down")
        if answer.status_code != 200:
            raise InputError(f"the server at {self.url} refused brief {job.get('id')}: {_message(answer)}")
        return answer.json()

    def stop_brief(self, brief_id: str) -> None:
        """Ask the server to stop a brief of this caller's batch after its current step."""
        try:
            httpx.post(f"{self.url}/api/briefs/{brief_id}/stop", headers=self.headers, timeout=CALL_TIMEOUT_S)
        except httpx.HTTPError:
            pass


class _Stopper:
    """What the CLI's Ctrl-C handler stops: the run on the server, after its current step."""

    def __init__(self, http: httpx.Client, run_id: str):
        self.http, self.run_id = http, run_id

    def stop_all(self) -> None:
        try:
            with httpx.Client(base_url=str(self.http.base_url), headers=dict(self.http.headers),
                              timeout=CALL_TIMEOUT_S) as http:
                http.post(f"/api/runs/{self.run_id}/stop")
        except httpx.HTTPError:
            pass


def find(out: Path, note: Callable[[str], None], exact: bool = False) -> WarmServer | None:
    """The warm server to use, or None to run in-process (saying why when one was named). `exact`:
    only one that keeps its runs in `out`, even when ATELIER_SERVER names it."""
    named = os.environ.get(SERVER_VAR)
    token = os.environ.get(TOKEN_VAR) or None
    if named is not None and named.strip().lower() in OFF:
        return None
    url = named.strip() if named else f"http://127.0.0.1:{DEFAULT_PORT}"
    info = _probe(url, token, NAMED_TIMEOUT_S if named else PROBE_TIMEOUT_S)
    if isinstance(info, str):
        if named:
            note(f"{SERVER_VAR}={url} is not usable ({info}): running in-process")
        return None
    if info.get("closing"):
        note(f"the server at {url} is shutting down: running in-process")
        return None
    runs = Path(info.get("runs_dir", ""))
    if (exact or not named) and runs != out.expanduser().resolve():
        fix = f"atelier serve --out {out}" if exact else f"--out {runs}"
        note(f"a warm server at {url} keeps its runs in {runs}, not in {out}: running in-process "
             f"({fix} to use it)")
        return None
    note(f"using the warm server at {url} (runs in {runs}; --local to run in-process)")
    return WarmServer(url, info, token)


def _probe(url: str, token: str | None, timeout: float) -> dict[str, Any] | str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(url.rstrip("/") + "/api/server", headers=headers, timeout=timeout)
    except httpx.HTTPError as e:
        return f"{type(e).__name__}"
    except ValueError as e:  # not a URL
        return str(e)
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {_message(answer)}"
    try:
        info = answer.json()
    except json.JSONDecodeError:
        return "it is not an Atelier server"
    return info if isinstance(info, dict) and info.get("name") == "atelier" else "it is not an Atelier server"


def _events(http: httpx.Client, path: str) -> Iterator[tuple[str, str]]:
    """(event type, data) of a server-sent event stream; reconnects (Last-Event-ID) after a drop."""
    last, tries = None, 0
    while True:
        headers = {"Last-Event-ID": last} if last is not None else {}
        try:
            with http.stream("GET", path, headers=headers, timeout=httpx.Timeout(CALL_TIMEOUT_S, read=None)) as stream:
                stream.raise_for_status()
                kind, data, ident = "message", [], None
                for line in stream.iter_lines():
                    if not line:
                        if data:
                            last = ident if ident is not None else last
                            yield kind, "\n".join(data)
                        kind, data, ident = "message", [], None
                    elif line.startswith(":"):
                        continue
                    else:
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "event":
                            kind = value
                        elif field == "data":
                            data.append(value)
                        elif field == "id":
                            ident = value
            return  # the server closed the stream (it is shutting down): the caller checks the record
        except httpx.TransportError:
            tries += 1
            if tries > 3:
                raise
            time.sleep(0.5 * tries)


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status_code}"


def for_batch(runs: Path, note: Callable[[str], None]) -> WarmServer | None:
    """The warm server for `atelier brief`: one whose runs folder is the batch's (OUT/runs), since it
    writes the batch's runs there; None (saying why) to run the batch in this process."""
    return find(runs, note, exact=True)


def for_run(out: Path, note: Callable[[str], None], *, llm: str, video_format: str | None) -> WarmServer | None:
    """The warm server for `atelier run`, unless the run needs this machine: a scripted director
    reads a file here, and --video-format is a setting of the process that makes the clip."""
    if llm.strip().startswith("scripted:") or video_format:
        if os.environ.get(SERVER_VAR, "").strip().lower() not in OFF:
            note("this run needs this machine (a scripted director or --video-format): running in-process")
        return None
    return find(out, note)
