"""What the chat UI (`app.py`) needs besides Gradio itself: settings → a Studio, a pump that runs a
blocking Studio call in a thread and hands its events to a Gradio generator, a gate that lets the
user review a rewritten prompt asynchronously, a per-session registry of runs in flight (so Stop
and the review buttons reach the right run), ownership checks, and the text of every chat message.

Nothing here decides anything about a run: the director, the critic and the records do that. This
module imports no Gradio, so it is tested on its own.
"""
from __future__ import annotations

import os
import queue
import secrets
import shutil
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from agent.core.errors import AtelierError, StopRun
from agent.core.types import MAX_BRIEF_CHARS, Attempt, Event, RunRecord, Verdict

REVIEW_TIMEOUT_S = 600.0

LLM_CHOICES = ["offline", "anthropic:claude-sonnet-4-6", "openai:gpt-5.5",
               "openai-compatible:qwen2.5@http://localhost:11434/v1"]
IMAGE_CHOICES = ["local:shapes", "local:sdxl", "local:flux-schnell", "openai:gpt-image-2", "stability:sd3",
                 "replicate:black-forest-labs/flux-schnell"]
VIDEO_CHOICES = ["(none)", "local:svd", "runway:gen4_turbo", "replicate:minimax/video-01"]
CRITIC_CHOICES = ["critic:detector", "critic:vlm", "critic:detector+vlm"]


# ---- settings ---------------------------------------------------------------------------------
@dataclass
class Settings:
    """The settings panel: back ends and budget. Defaults are the offline shapes world (no keys)."""

    llm: str = "offline"
    image_model: str = "local:shapes"
    video_model: str | None = None
    critic: str = "critic:detector"
    mode: str = "agent"
    max_iterations: int = 4
    max_seconds: float | None = None
    max_cost_usd: float | None = None
    candidates: int = 1
    seed: int | None = None
    review: bool = False
    edits: bool = True

    @classmethod
    def from_form(cls, llm, image_model, video_model, critic, mode, max_iterations, max_seconds,
                  max_cost_usd, candidates, seed, review, edits) -> "Settings":
        """From the widgets' raw values: blanks and zeros mean "no limit" / "random"."""
        def spec(x, default=None):
            return default if _blank(x) or str(x).strip() == "(none)" else str(x).strip()

        seconds = parse_number(max_seconds, "the time budget", float)
        cost = parse_number(max_cost_usd, "the money budget", float)
        for value, what in ((seconds, "time budget"), (cost, "money budget")):
            if value is not None and value < 0:
                raise ValueError(f"the {what} cannot be negative ({value:g}): give a positive number, "
                                 f"or leave it blank for none")
        return cls(llm=spec(llm, "offline"), image_model=spec(image_model, "local:shapes"),
                   video_model=spec(video_model), critic=spec(critic, "critic:detector"),
                   mode=mode if mode in ("agent", "loop") else "agent",
                   max_iterations=int(max_iterations or 4),
                   max_seconds=seconds if seconds and seconds > 0 else None,
                   max_cost_usd=cost if cost and cost > 0 else None,
                   candidates=int(candidates or 1), seed=parse_number(seed, "the seed", int),
                   review=bool(review), edits=bool(edits))

    def studio(self, runs_dir: Path | str):
        from agent.surfaces.api import Studio
        return Studio(llm=self.llm, image_model=self.image_model, critic=self.critic,
                      video_model=self.video_model, mode=self.mode, runs_dir=runs_dir, edits=self.edits)

    def brief_fields(self) -> dict[str, Any]:
        return {"budget": {"max_iterations": self.max_iterations, "max_seconds": self.max_seconds,
                           "max_cost_usd": self.max_cost_usd},
                "seed": self.seed, "candidates": self.candidates,
                "rewrite": "review" if self.review else "auto"}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _blank(x) -> bool:
    return x is None or (isinstance(x, str) and not x.strip())


def parse_number(value, what: str, kind=int):
    """A number typed in a text box (blank → None), or ValueError with a line the user can act on."""
    if _blank(value):
        return None
    try:
        number = float(str(value).strip())
        if kind is int:
            if number != int(number) or number < 0:
                raise ValueError
            return int(number)
        return number
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be a {'whole number ≥ 0' if kind is int else 'number'}, "
                         f"not {str(value).strip()!r}") from None


# ---- running a blocking call as a stream of items ------------------------------------------------
class Pump:
    """Runs `work` in a thread; its events, review requests, errors and the end arrive as
    `(kind, payload)` items: ("event", Event), ("review", dict), ("error", str), ("done", None).
    A ("tick", None) item comes every `heartbeat` seconds of silence so the UI can show time passing."""

    def __init__(self, heartbeat: float = 0.5):
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.heartbeat = heartbeat
        self.thread: threading.Thread | None = None

    def put(self, kind: str, payload: Any = None) -> None:
        self.items.put((kind, payload))

    def on_event(self, event: Event) -> None:
        self.put("event", event)

    def start(self, work: Callable[[], Any], name: str = "ui-run") -> "Pump":
        def target():
            try:
                work()
            except AtelierError as e:
                self.put("error", str(e))
            except StopRun as e:  # e.g. an edit asked for after the run's time or money ran out
                self.put("error", str(e))
            except Exception as e:  # a bug: one line for the user, never a stack trace
                self.put("error", f"internal error {type(e).__name__}: {e}")
            finally:
                self.put("done")

        self.thread = threading.Thread(target=target, daemon=True, name=name)
        self.thread.start()
        return self

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        while True:
            try:
                kind, payload = self.items.get(timeout=self.heartbeat)
            except queue.Empty:
                yield "tick", None
                continue
            yield kind, payload
            if kind == "done":
                return


class ReviewGate:
    """The `review` callback of a run, answered from another request: the run's thread blocks
    here until the user accepts, edits or refuses the rewrite (or the timeout passes)."""

    def __init__(self, pump: Pump, timeout: float = REVIEW_TIMEOUT_S):
        self.pump, self.timeout = pump, timeout
        self.answers: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.pending: str | None = None
        self.timed_out = False

    def __call__(self, brief: str, proposed: str) -> str | None:
        from tools.refine_prompt import _changes
        self.pending = proposed
        self.pump.put("review", {"brief": brief, "proposed": proposed, "changes": _changes(brief, proposed)})
        try:
            kind, text = self.answers.get(timeout=self.timeout)
        except queue.Empty:
            kind, text, self.timed_out = "accept", proposed, True
        finally:
            self.pending = None
        if kind == "refuse":
            return None
        return text.strip() if text and text.strip() else proposed

    def answer(self, kind: str, text: str | None = None) -> bool:
        """kind: "accept" (text is the prompt to use, edited or not) or "refuse"."""
        if self.pending is None:
            return False
        self.answers.put((kind, text))
        return True


# ---- runs in flight, one per browser session ---------------------------------------------------
@dataclass
class Live:
    studio: Any
    gate: ReviewGate | None = None
    run_id: str | None = None
    stop_requested: bool = False
    started: float = field(default_factory=time.monotonic)


class Hub:
    """Which run each browser session has in flight. Keys are Gradio session hashes (one per page
    load), so Stop and the review buttons of one tab never touch another tab's run."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: dict[str, Live] = {}

    def begin(self, key: str, studio, gate: ReviewGate | None = None) -> Live | None:
        with self._lock:
            if key in self._live:
                return None
            live = self._live[key] = Live(studio, gate)
            return live

    def get(self, key: str) -> Live | None:
        with self._lock:
            return self._live.get(key)

    def started(self, key: str, run_id: str) -> None:
        with self._lock:
            live = self._live.get(key)
            if live:
                live.run_id = run_id
                if live.stop_requested:
                    live.studio.stop(run_id)

    def stop(self, key: str) -> str:
        with self._lock:
            live = self._live.get(key)
            if live is None:
                return "nothing is running"
            live.stop_requested = True
            if live.gate is not None and live.gate.pending is not None:
                live.gate.answer("accept", live.gate.pending)
            if live.run_id:
                live.studio.stop(live.run_id)
                return f"stopping run {live.run_id} after its current step…"
            return "stopping as soon as the run starts…"

    def answer(self, key: str, kind: str, text: str | None = None) -> bool:
        live = self.get(key)
        return bool(live and live.gate and live.gate.answer(kind, text))

    def end(self, key: str) -> None:
        with self._lock:
            self._live.pop(key, None)


# ---- ownership -------------------------------------------------------------------------------
def owner_id(username: str | None, browser_token: str | None, session_hash: str | None) -> str:
    """Who a session's runs belong to: the logged-in user when auth is on, else the browser (a
    random token kept in its local storage), else the page session."""
    if username:
        return f"user:{username}"
    if browser_token:
        return f"browser:{browser_token}"
    return f"session:{session_hash or secrets.token_hex(8)}"


def new_token() -> str:
    return secrets.token_urlsafe(16)


def visible_runs(studio, owner: str, all_runs: bool = False, limit: int = 200) -> list[dict]:
    return studio.history(limit, owner=None if all_runs else owner)


def may_open(studio, owner: str, run_id: str, all_runs: bool = False) -> bool:
    if all_runs:
        return True
    return any(r["run_id"] == run_id for r in studio.history(10_000, owner=owner))


def keep_upload(path: str | Path, runs_dir: Path | str) -> Path:
    """Copy an uploaded reference image next to the runs, so the run record never points at a
    temporary file that Gradio deletes later."""
    from agent.core.types import Artifact
    src = Path(path)
    digest = Artifact.digest(src)[:16]
    dest = Path(runs_dir).expanduser().resolve() / "uploads" / f"{digest}{src.suffix.lower() or '.png'}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copyfile(src, dest)
    return dest


def mask_from_layers(layers: list, size: tuple[int, int]):
    """A white-on-black mask (mode L, `size`) of everything painted on the editor's layers."""
    from PIL import Image, ImageChops
    mask = Image.new("L", size, 0)
    for layer in layers or []:
        if layer is None:
            continue
        if not isinstance(layer, Image.Image):
            layer = Image.open(layer)
        alpha = layer.convert("RGBA").getchannel("A")
        if alpha.size != size:
            alpha = alpha.resize(size, Image.NEAREST)
        mask = ImageChops.lighter(mask, alpha.point(lambda v: 255 if v > 16 else 0))
    return mask if mask.getbbox() else None


# ---- chat messages -----------------------------------------------------------------------------
# A message is a plain dict: {"role", "text", "media": [(path, kind)], "title", "status", "key"};
# app.py turns it into Gradio's format. Keeping them plain keeps the session state small.
def msg(text: str = "", role: str = "assistant", media=(), title: str | None = None,
        status: str | None = None, key: str | None = None) -> dict[str, Any]:
    return {"role": role, "text": text, "media": [(str(p), k) for p, k in media], "title": title,
            "status": status, "key": key}


def error_msg(text: str) -> dict[str, Any]:
    return msg(f"⚠️ **Error:** {text}", key="error")


def verdict_text(v: Verdict | None) -> str:
    if v is None:
        return "⏳ the critic is looking…"
    if v.error:
        return f"⚠️ critique failed: {v.error}"
    head = f"✅ **approved** by `{v.critic}`" if v.approved else f"❌ **not approved** by `{v.critic}`"
    scores = ", ".join(f"{k} {val:.2f}" for k, val in v.scores.items())
    lines = [head + (f" · scores: {scores}" if scores else "")]
    lines += [f"- {issue}" for issue in v.issues]
    return "\n".join(lines)


def attempt_title(a: Attempt) -> str:
    what = {"generate": "generated", "edit": "edited", "video": "video"}.get(a.action, a.action)
    note = f" ({a.note})" if a.note else ""
    return f"**Attempt {a.index}** · round {a.iteration} · {what}{note} · seed {a.seed}"


def attempt_msg(a: Attempt, run_id: str) -> dict[str, Any]:
    text = f"{attempt_title(a)}\n\n> {a.prompt}\n\n{verdict_text(a.verdict)}"
    warning = a.artifact.meta.get("warning") if a.artifact.meta else None
    if warning:
        text += f"\n\n_note: {warning}_"
    return msg(text, media=[(a.artifact.path, a.artifact.kind)], key=f"attempt:{run_id}:{a.index}")


def refined_msg(prompt: str, how: str, changes: str, rationale: str = "", proposed: str = "",
                run_id: str = "") -> dict[str, Any]:
    text = f"📝 **Prompt** — {how}\n\n> {prompt}"
    if changes:
        text += f"\n\n**Changed from your brief:** {changes_markdown(changes)}"
    else:
        text += "\n\n_Same as your brief._"
    if proposed and proposed != prompt:
        text += f"\n\n_The director had proposed:_ {proposed}"
    if rationale:
        text += f"\n\n_Why:_ {rationale}"
    return msg(text, key=f"prompt:{run_id}")


def changes_markdown(changes: str) -> str:
    """`+mist -calm` → added words in bold, removed ones struck through."""
    out, current = [], None
    for word in changes.split():
        if word[:1] in "+-" and len(word) > 1:
            current = word[0]
            word = word[1:]
        out.append((current, word))
    groups: list[tuple[str | None, list[str]]] = []
    for sign, word in out:
        if groups and groups[-1][0] == sign:
            groups[-1][1].append(word)
        else:
            groups.append((sign, [word]))
    return " ".join(f"**+{' '.join(w)}**" if s == "+" else f"~~{' '.join(w)}~~" if s == "-" else " ".join(w)
                    for s, w in groups)


def final_msg(record_or_summary: RunRecord | dict) -> dict[str, Any]:
    s = record_or_summary.summary() if isinstance(record_or_summary, RunRecord) else record_or_summary
    best, n = s.get("best"), len(s.get("attempts", []))
    status = s.get("status", "")
    head = "🏁 " + status_words(s)[0] if status in ("approved", "ended") else status_words(s)[0]
    head = f"**{head}**"
    lines = [head]
    if s.get("error") and status != "failed":
        lines.append(f"⚠️ **Error:** {s['error']}")
    if best:
        index = next((i for i, a in enumerate(s["attempts"]) if a["path"] == best["path"]), None)
        why = "the critic approved it" if best.get("approved") else "it scored best of all attempts"
        lines.append(f"Final choice: **attempt {index}** (seed {best['seed']}) — {why}.")
        v = best.get("verdict") or {}
        if v.get("scores"):
            lines.append("Scores: " + ", ".join(f"{k} {val:.2f}" for k, val in v["scores"].items()))
        if v.get("issues"):
            lines.append("Remaining issues: " + "; ".join(v["issues"]))
    if s.get("stop_reason") and status not in ("stopped", "failed") and s["stop_reason"] != "error":
        lines.append(f"_Why it ended:_ {s['stop_reason']}")
    lines.append(f"_{n} attempt(s) in {s.get('iterations', 0)} round(s), {s.get('seconds', 0):.1f} s"
                 + (f", ${s['cost_usd']:.3f}" if s.get("cost_usd") else "") + f" · run `{s['run_id']}`_")
    media = [(best["path"], "video" if str(best["path"]).endswith((".mp4", ".webm")) else "image")] if best else []
    return msg("\n\n".join(lines), media=media, key=f"final:{s['run_id']}")


def log_msg(run_id: str) -> dict[str, Any]:
    return msg("", title="Director's steps", status="pending", key=f"log:{run_id}")


class RunView:
    """The chat messages of one run, updated event by event (each attempt's message is filled in
    when its verdict lands)."""

    def __init__(self, chat: list[dict]):
        self.chat = chat
        self.run_id: str | None = None
        self.status = "starting…"
        self.attempts = 0

    def _find(self, key: str) -> int | None:
        for i in range(len(self.chat) - 1, -1, -1):
            if self.chat[i].get("key") == key:
                return i
        return None

    def _put(self, message: dict) -> None:
        i = self._find(message["key"]) if message.get("key") else None
        if i is None:
            self.chat.append(message)
        else:
            self.chat[i] = message

    def _log(self, line: str) -> None:
        if not self.run_id:
            return
        i = self._find(f"log:{self.run_id}")
        if i is None:
            self.chat.append(log_msg(self.run_id))
            i = len(self.chat) - 1
        lines = (self.chat[i]["text"].splitlines() + [line])[-40:]
        self.chat[i]["text"] = "\n".join(lines)

    def apply(self, event: Event) -> None:
        t = event.type
        if t == "run_started":
            self.run_id = event.run_id
            spec = event.data.get("spec")
            self._log(f"run {event.run_id} · {event.data.get('llm')} → {event.data.get('image_model')}"
                      f" · judged by {event.data.get('critic')}")
            if spec:
                self._log("checkable spec: " + spec_line(spec))
            self.status = "running"
        elif t == "prompt_refined":
            d = event.data
            self._put(refined_msg(d.get("prompt", event.message), d.get("how", ""), d.get("changes", ""),
                                  d.get("rationale", ""), d.get("proposed", ""), run_id=event.run_id))
        elif t in ("attempt_made", "verdict") and event.attempt is not None:
            self._put(attempt_msg(event.attempt, event.run_id))
            if t == "attempt_made":
                self.attempts += 1
                self.status = f"judging attempt {event.attempt.index}…"
            else:
                self.status = f"attempt {event.attempt.index}: {event.message}"
        elif t == "tool_error":
            self._log(f"⚠️ {event.data.get('tool', 'tool')} failed: {event.message}")
            self.chat.append(msg(f"⚠️ {event.data.get('tool', 'a tool')} failed: {event.message} "
                                 f"— the director will try something else."))
        elif t in ("step_started", "message"):
            self._log(("· " if t == "step_started" else "💬 ") + event.message[:300])
            if t == "step_started":
                self.status = event.message[:120]
        elif t == "run_finished":
            i = self._find(f"log:{event.run_id}")
            if i is not None:
                self.chat[i]["status"] = "done"
            summary = event.data.get("summary") or {}
            if summary:
                self._put(final_msg(summary))
            self.status = summary.get("status", "finished")


def spec_line(spec: dict) -> str:
    parts = []
    for obj in spec.get("include", []):
        p = f"{obj.get('count', 1)} {obj.get('color') or ''} {obj['class']}".replace("  ", " ")
        if obj.get("position"):
            p += f" ({obj['position'][0]} #{obj['position'][1]})"
        parts.append(p)
    parts += [f"no {o['class']}" for o in spec.get("exclude", [])]
    return "; ".join(parts) or "(none)"


def record_msgs(record: RunRecord) -> list[dict[str, Any]]:
    """A past run as chat messages: the brief, the prompt used, every attempt with its verdict, the end."""
    from tools.refine_prompt import _changes
    out = [msg(f"📂 Reopened run `{record.run_id}` ({record.created:%Y-%m-%d %H:%M}) · {record.llm} → "
               f"{record.image_model} · {record.critic}", key=f"open:{record.run_id}"),
           msg(record.brief.text, role="user", media=[(p, "image") for p in record.brief.reference_images])]
    if record.refined_prompt:
        out.append(refined_msg(record.refined_prompt, "the prompt this run used",
                               _changes(record.brief.text, record.refined_prompt), run_id=record.run_id))
    out += [attempt_msg(a, record.run_id) for a in record.attempts]
    out.append(final_msg(record))
    return out


# ---- gallery, verdict table, history ----------------------------------------------------------
def gallery_items(records: list[RunRecord]) -> tuple[list[tuple[str, str]], list[tuple[str, int]]]:
    """(path, caption) for each attempt of each record, and (run_id, attempt index) for each item."""
    items, refs = [], []
    for r in records:
        for a in r.attempts:
            v = a.verdict
            mark = "✅" if v and v.approved else "❌" if v else "⏳"
            best = " ★" if r.best_index == a.index else ""
            score = f" {sum(v.scores.values()) / len(v.scores):.1f}" if v and v.scores else ""
            items.append((str(a.artifact.path), f"{mark}{best} #{a.index} seed {a.seed}{score}"))
            refs.append((r.run_id, a.index))
    return items, refs


TABLE_HEADERS = ["#", "seed", "verdict", "scores", "issues", "run"]


def verdict_rows(records: list[RunRecord]) -> list[list[Any]]:
    rows = []
    for r in records:
        for a in r.attempts:
            v = a.verdict
            verdict = "⏳" if v is None else ("✅ yes" if v.approved else "❌ no") + (" ★" if r.best_index == a.index else "")
            rows.append([a.index, a.seed, verdict,
                         ", ".join(f"{k} {x:.2f}" for k, x in (v.scores if v else {}).items()),
                         "; ".join(v.issues) if v else "", r.run_id[-6:]])
    return rows


HISTORY_HEADERS = ["brief", "status", "approved", "attempts", "when", "image model", "run"]
STATUS_SHORT = {"approved": "approved", "budget_spent": "budget spent", "stopped": "stopped", "ended": "ended",
                "failed": "failed", "running": "interrupted"}


def history_rows(rows: list[dict]) -> list[list[Any]]:
    return [[(r.get("brief") or "")[:80], STATUS_SHORT.get(r.get("status"), r.get("status")),
             "yes" if r.get("approved") else "no", r.get("attempts"),
             (r.get("created") or "")[:16].replace("T", " "), r.get("image_model"), r["run_id"]]
            for r in rows]


def history_choices(rows: list[dict]) -> list[tuple[str, str]]:
    return [(f"{r['run_id']} · {(r.get('brief') or '')[:50]} · {STATUS_SHORT.get(r.get('status'), r.get('status'))}",
             r["run_id"]) for r in rows]


# ---- what a run's status means, in plain words --------------------------------------------------
def status_words(summary: dict) -> tuple[str, str]:
    """(a sentence, a style: ok / warn / error / info) for a finished run's summary. Never a raw
    status code, and a failure never reads as success."""
    status, n = summary.get("status", ""), len(summary.get("attempts", []))
    attempts = f"{n} attempt{'s' if n != 1 else ''}"
    best = summary.get("best") or {}
    if status == "approved":
        return f"Approved — seed {best.get('seed')} after {attempts}.", "ok"
    if status == "budget_spent":
        return f"Budget spent — no approval within {attempts}; the best one is kept.", "warn"
    if status == "stopped":
        return f"Stopped by you after {attempts}.", "info"
    if status == "ended":
        how = "approved" if summary.get("approved") else "not approved"
        return f"The director ended the run after {attempts} ({how}).", "ok" if summary.get("approved") else "warn"
    if status == "failed":
        return f"Failed — {summary.get('error') or summary.get('stop_reason') or 'the run did not work'}", "error"
    if status == "running":
        return "Interrupted — this run did not finish.", "warn"
    return f"Finished with an unknown status ({status or 'none'}).", "warn"


STATUS_ICONS = {"ok": "✅", "warn": "🟠", "error": "⚠️", "info": "⏹", "busy": "⏳", "queued": "🕒", "idle": ""}


def status_html(text: str, kind: str = "idle", progress: float | None = None) -> str:
    """The status line (and, while a run is in flight, its progress bar) as HTML."""
    import html
    icon = STATUS_ICONS.get(kind, "")
    bar = ""
    if progress is not None:
        pct = max(0.0, min(1.0, progress)) * 100
        bar = (f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
               f'aria-valuenow="{pct:.0f}"><div style="width:{pct:.0f}%"></div></div>')
    return f'<div class="st st-{kind}">{(icon + " ") if icon else ""}{html.escape(text)}</div>{bar}'


def scrub(text: str, *folders: Path | str) -> str:
    """A message with the server's own folders replaced by names (no server path reaches a user)."""
    import tempfile
    for folder, name in [*((f, "runs") for f in folders), (tempfile.gettempdir(), "tmp")]:
        folder = str(folder).rstrip("/")
        if folder and folder != "/":
            text = text.replace(folder + "/", "").replace(folder, name)
    return text


# ---- checks before running ---------------------------------------------------------------------
def check_brief(text: str) -> str | None:
    """Why `text` cannot be sent as a brief, or None."""
    if not text.strip():
        return "the brief is empty: describe the picture you want"
    if len(text) > MAX_BRIEF_CHARS:
        return (f"the brief is {len(text):,} characters long; the limit is {MAX_BRIEF_CHARS:,}: "
                f"shorten it (it is still in the box)")
    return None


def check_upload(path: str | Path, name: str | None = None) -> str | None:
    """Why an uploaded file cannot be a reference image (not an image, too many pixels), naming it
    by its own file name only, or None when it is fine."""
    from agent.core.artifacts import check_image_header
    name = Path(name or path).name
    try:
        check_image_header(Path(path), name=name)
    except AtelierError as e:
        return str(e)
    except OSError:
        return f"could not read the attached file {name}"
    return None


def preflight(settings: Settings) -> None:
    """What Studio.prepare checks before a run, checked before a brief leaves the box: the back
    ends are known, and the image and video models' weights or keys are here (ConfigError if not)."""
    from agent.core import registry
    from agent.core.protocols import check_ready
    registry.resolve("llm", settings.llm)
    registry.resolve("critic", settings.critic)
    check_ready(registry.resolve("image", settings.image_model))
    if settings.video_model:
        check_ready(registry.resolve("video", settings.video_model))


def short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


# ---- which back ends would run here -------------------------------------------------------------
LLM_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def availability(kind: str, spec: str, policy=None) -> str | None:
    """None when back end `spec` of `kind` would run on this machine for a UI user, else why not in
    a few words (weights absent, key unset, not allowed by the operator)."""
    if policy is not None:
        try:
            from agent.core.trust import check_untrusted_spec
            check_untrusted_spec(kind, spec, policy)
        except ImportError:
            pass
        except AtelierError:
            return "not allowed here"
    prefix = spec.partition(":")[0]
    if kind == "llm":
        if prefix in LLM_KEYS and not os.environ.get(LLM_KEYS[prefix]):
            return f"{LLM_KEYS[prefix]} is not set"
        return None
    from agent.core import registry
    from agent.core.protocols import check_ready
    try:
        backend = registry.resolve(kind, spec)
        if kind in ("image", "video"):
            check_ready(backend)
    except AtelierError as e:
        text = str(e)
        if "weights" in text or "missing" in text:
            return "weights absent"
        if "_KEY" in text or "key" in text.lower():
            return "API key not set"
        return text.split(":")[0][:60]
    except Exception as e:  # an optional dependency missing, say
        return f"cannot load ({type(e).__name__})"
    return None


def choice_labels(kind: str, specs: list[str], status: dict[str, str | None]) -> list[tuple[str, str]]:
    """Dropdown choices: ready ones first as they are, the rest marked with why they would not run."""
    ready = [(s, s) for s in specs if not status.get(s)]
    absent = [(f"{s} — ✗ {status[s]}", s) for s in specs if status.get(s)]
    return ready + absent


# ---- the viewer ---------------------------------------------------------------------------------
def viewer_image(attempt: Attempt, out_dir: Path, *, boxes: bool = True, side: int = 512) -> Path:
    """The attempt's image enlarged (nearest neighbour, so pixels stay crisp) with its layout's boxes
    (magenta, when it was composed from a layout) and what the critic saw (cyan) drawn over it."""
    from PIL import Image, ImageDraw
    with Image.open(attempt.artifact.path) as im:
        im = im.convert("RGB")
    w, h = im.size
    scale = max(1, side // max(w, h))
    big = im.resize((w * scale, h * scale), Image.NEAREST)
    if boxes:
        draw = ImageDraw.Draw(big)
        layout = attempt.artifact.request.layout if attempt.artifact.request else None
        if layout is not None and layout.boxes:
            for b in layout.scaled(w, h).boxes:
                x0, y0, x1, y1 = (v * scale for v in b.box)
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(255, 0, 255), width=max(2, scale // 4))
                draw.text((x0 + 3, y0 + 2), b.describe(), fill=(255, 0, 255))
        for d in (attempt.verdict.detections if attempt.verdict else []):
            if d.box:
                x0, y0, x1, y1 = (v * scale for v in d.box)
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(0, 200, 255), width=max(1, scale // 8))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"view-{attempt.artifact.sha256[:12] if getattr(attempt.artifact, 'sha256', None) else secrets.token_hex(6)}-{int(boxes)}.png"
    big.save(out)
    return out


def upscaled(path: Path, out_dir: Path, factor: int = 4) -> Path:
    """The image `factor` times larger (nearest neighbour), for the download button."""
    from PIL import Image
    with Image.open(path) as im:
        big = im.resize((im.width * factor, im.height * factor), Image.NEAREST)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{Path(path).stem}-x{factor}.png"
    big.save(out)
    return out


def viewer_text(run_id: str, attempt: Attempt) -> str:
    v = attempt.verdict
    lines = [f"### Attempt {attempt.index} · seed {attempt.seed}",
             f"run `{run_id}` · round {attempt.iteration} · {attempt.action}"
             + (f" · {attempt.note}" if attempt.note else ""),
             f"**Prompt:** {attempt.prompt}", verdict_text(v)]
    if v and v.detections:
        lines.append("**What the critic saw** (cyan): " + "; ".join(d.message for d in v.detections))
    layout = attempt.artifact.request.layout if attempt.artifact.request else None
    if layout is not None and layout.boxes:
        lines.append(f"**Layout** (magenta): {len(layout.boxes)} box{'es' if len(layout.boxes) != 1 else ''} — "
                     + "; ".join(f"{b.describe()} {list(b.box)}" for b in layout.boxes))
    else:
        lines.append("_No layout: this image was not composed from boxes._")
    return "\n\n".join(lines)


# ---- where the server listens ------------------------------------------------------------------
def listen_address(host: str | None, port: int | None, env=None) -> tuple[str, int]:
    """Flags win; then GRADIO_SERVER_NAME / GRADIO_SERVER_PORT; then loopback:7860."""
    env = os.environ if env is None else env
    host = host or env.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    if port is None:
        raw = env.get("GRADIO_SERVER_PORT")
        try:
            port = int(raw) if raw else 7860
        except ValueError:
            raise SystemExit(f"error: GRADIO_SERVER_PORT must be a port number, not {raw!r}") from None
    return host, int(port)


# ---- a tab's conversation, kept on the server ---------------------------------------------------
@dataclass
class Job:
    """One thing a tab asked for: a brief to run ("brief") or an attempt to edit ("edit")."""

    kind: str
    text: str
    settings: Settings
    refs: list[str] = field(default_factory=list)
    run_id: str | None = None  # edits: the run and attempt they edit, and how
    index: int = 0
    mask: str | None = None
    instruction: str = ""
    strength: float = 0.75
    seed: int | None = None

    @property
    def planned(self) -> int:
        """How many attempts the job may make at most (its budget's rounds x images per round)."""
        return 1 if self.kind == "edit" else max(1, self.settings.max_iterations * self.settings.candidates)


class Desk:
    """One browser tab's conversation, kept on the server so that it outlives the page: its chat,
    its runs, the briefs queued behind the one in flight, and that run's progress. The run is
    driven by a worker thread, not by the page, so a reload reattaches instead of stopping it."""

    def __init__(self, key: str, owner: str):
        self.key, self.owner = key, owner
        self.chat: list[dict] = []
        self.runs: list[str] = []
        self.current: str | None = None
        self.selected: list | None = None
        self.refs: list = []
        self.last: dict | None = None
        self.compare = True
        self.form: list | None = None  # the settings widgets' values, restored on reload
        self.queue: deque[Job] = deque()
        self.busy = False
        self.version = 0
        self.status: tuple[str, str] = ("Ready", "idle")
        self.progress: dict | None = None
        self.review: dict | None = None
        self.cond = threading.Condition(threading.RLock())
        self.touched = time.monotonic()

    def bump(self) -> None:
        with self.cond:
            self.version += 1
            self.touched = time.monotonic()
            self.cond.notify_all()

    def say(self, message: dict, status: tuple[str, str] | None = None) -> None:
        with self.cond:
            self.chat.append(message)
            if status:
                self.status = status
        self.bump()

    def status_line(self) -> tuple[str, str, float | None]:
        """(text, style, progress 0..1 or None) as the status line shows it now."""
        with self.cond:
            p = self.progress
            text, kind = self.status
            if not self.busy or p is None:
                return text, kind, None
            waiting = len(self.queue)
            queued = f" · {waiting} brief{'s' if waiting != 1 else ''} queued" if waiting else ""
            if p.get("phase") == "slot":
                return "waiting for a free slot (other runs are using the machine)" + queued, "queued", 0.0
            if p.get("phase") == "review":
                return "waiting for you to review the rewritten prompt" + queued, "busy", 0.0
            return progress_text(p, time.monotonic()) + queued, "busy", progress_fraction(p, time.monotonic())


def progress_text(p: dict, now: float) -> str:
    """'attempt 2 of 4 · 6 s · about 3 s left' (attempt counts and time: the back ends do not
    report their denoising steps to the run)."""
    planned, done = p["planned"], p["done"]
    spent = now - p["started"]
    current = min(done + 1, planned)
    what = "editing" if p.get("kind") == "edit" else f"attempt {current} of {planned}"
    if p.get("judging"):
        what += " · the critic is looking"
    parts = [what, f"{spent:.0f} s"]
    left = seconds_left(p, now)
    if left is not None:
        parts.append(f"about {left:.0f} s left" if left >= 1 else "almost done")
    return " · ".join(parts)


def seconds_left(p: dict, now: float) -> float | None:
    """At most: the attempts left at the pace so far, capped by the time budget; None before any
    attempt has finished (no pace to go by yet)."""
    if not p["done"] or not p.get("first_at"):
        return None
    pace = (p["last_at"] - p["started"]) / p["done"]
    left = max(0.0, pace * (p["planned"] - p["done"]) - (now - p["last_at"]))
    if p.get("max_seconds"):
        left = min(left, max(0.0, p["max_seconds"] - (now - p["started"])))
    return left


def progress_fraction(p: dict, now: float) -> float:
    planned = max(1, p["planned"])
    left = seconds_left(p, now)
    spent = now - p["started"]
    if left is not None and spent + left > 0:
        by_time = spent / (spent + left)
        return max(p["done"] / planned, min(by_time, (p["done"] + 1) / planned))
    return p["done"] / planned


class Desks:
    """Every tab's Desk, and the worker threads that run their jobs, at most `max_runs` at once
    across all tabs (the rest wait for a slot, shown as such)."""

    def __init__(self, runs_dir: Path, max_runs: int = 4, review_timeout: float = REVIEW_TIMEOUT_S,
                 keep: int = 500):
        self.runs_dir, self.review_timeout, self.keep = Path(runs_dir), review_timeout, keep
        self.hub = Hub()
        self.slots = threading.BoundedSemaphore(max(1, max_runs))
        self._lock = threading.Lock()
        self._desks: dict[str, Desk] = {}

    def attach(self, key: str | None, owner: str) -> Desk:
        """The tab's desk when `key` names one of this owner's, else a new one (with a new key: a
        key the page brings is never trusted to name someone else's desk)."""
        with self._lock:
            desk = self._desks.get(key or "")
            if desk is not None and desk.owner == owner:
                desk.touched = time.monotonic()
                return desk
            new_key = secrets.token_urlsafe(18)
            desk = self._desks[new_key] = Desk(new_key, owner)
            self._forget_old()
            return desk

    def get(self, key: str | None, owner: str) -> Desk | None:
        with self._lock:
            desk = self._desks.get(key or "")
        return desk if desk is not None and desk.owner == owner else None

    def _forget_old(self) -> None:
        if len(self._desks) <= self.keep:
            return
        idle = sorted((d.touched, k) for k, d in self._desks.items() if d is not None and not d.busy)
        for _, k in idle[:len(self._desks) - self.keep]:
            self._desks.pop(k, None)

    def submit(self, desk: Desk, job: Job) -> bool:
        """Queue `job`; True when it starts now, False when it waits behind the tab's current run."""
        with desk.cond:
            desk.queue.append(job)
            if desk.busy:
                desk.bump()
                return False
            desk.busy = True
            desk.progress = {"phase": "slot", "planned": job.planned, "done": 0, "started": time.monotonic()}
        desk.bump()
        threading.Thread(target=self._work, args=(desk,), daemon=True, name=f"ui-desk-{desk.key[:6]}").start()
        return True

    def stop(self, desk: Desk) -> str:
        return self.hub.stop(desk.key) if self.hub.get(desk.key) else "nothing is running"

    def answer(self, desk: Desk, kind: str, text: str | None = None) -> bool:
        ok = self.hub.answer(desk.key, kind, text)
        if ok:
            with desk.cond:
                desk.review = None
                if desk.progress:
                    desk.progress["phase"] = "run"
            desk.bump()
        return ok

    # -- the worker --
    def _work(self, desk: Desk) -> None:
        while True:
            with desk.cond:
                if not desk.queue:
                    desk.busy, desk.progress = False, None
                    desk.bump()
                    return
                job = desk.queue.popleft()
                desk.progress = {"phase": "slot", "planned": job.planned, "done": 0, "started": time.monotonic(),
                                 "kind": job.kind, "max_seconds": job.settings.max_seconds}
            desk.bump()
            try:
                with self.slots:
                    self._run(desk, job)
            except Exception as e:  # a bug here must not leave the tab busy forever
                desk.say(error_msg(f"internal error {type(e).__name__}: {scrub(str(e), self.runs_dir)}"),
                         (f"Failed — internal error {type(e).__name__}", "error"))

    def _run(self, desk: Desk, job: Job) -> None:
        with desk.cond:
            desk.progress.update(phase="run", started=time.monotonic())
        desk.bump()
        try:
            studio = job.settings.studio(self.runs_dir)
        except AtelierError as e:
            desk.say(error_msg(scrub(str(e), self.runs_dir)), (f"Failed — {scrub(str(e), self.runs_dir)}", "error"))
            return
        pump = Pump()
        gate = ReviewGate(pump, self.review_timeout) if job.settings.review and job.kind == "brief" else None
        live = self.hub.begin(desk.key, studio, gate)
        if live is None:  # cannot happen: one worker per desk
            desk.say(error_msg("a run is already in progress in this tab"))
            return
        view = RunView(desk.chat)
        if job.kind == "edit":
            live.run_id = view.run_id = job.run_id
        pump.start(self._work_fn(job, studio, pump, gate, desk.owner))
        finished: dict | None = None
        try:
            for kind, payload in pump:
                if kind == "tick":
                    continue
                with desk.cond:
                    if kind == "event":
                        view.apply(payload)
                        p = desk.progress
                        if payload.type == "run_started":
                            self.hub.started(desk.key, payload.run_id)
                            if payload.run_id not in desk.runs:
                                desk.runs.append(payload.run_id)
                            desk.current, desk.selected = payload.run_id, None
                        elif payload.type == "attempt_made":
                            p["judging"] = True
                        elif payload.type == "verdict":
                            now = time.monotonic()
                            p["done"] = min(p["done"] + 1, p["planned"])
                            p["first_at"] = p.get("first_at") or now
                            p["last_at"], p["judging"] = now, False
                        elif payload.type == "run_finished":
                            finished = payload.data.get("summary") or None
                    elif kind == "review":
                        desk.review = payload
                        desk.progress["phase"] = "review"
                    elif kind == "result":
                        finished = finished or payload
                        desk.chat.append(final_msg(payload) | {"key": f"final:{payload['run_id']}:{len(desk.chat)}"})
                    elif kind == "error":
                        text = scrub(payload, self.runs_dir)
                        desk.chat.append(error_msg(text))
                        desk.status = (f"Failed — {text}", "error")
                desk.bump()
        finally:
            self.hub.end(desk.key)
        with desk.cond:
            desk.review = None
            if live.gate is not None and live.gate.timed_out:
                desk.chat.append(msg(f"⏱ No answer to the review in {self.review_timeout:.0f} s: "
                                     "the proposed prompt was used."))
            if finished:
                text, kind = status_words(finished)
                desk.status = (scrub(text, self.runs_dir), kind)
                if job.kind == "brief":
                    desk.last = {"text": job.text, "refs": list(job.refs),
                                 "seed": _first_seed(self.runs_dir, finished) or job.settings.seed}
            elif desk.status[1] != "error":
                desk.status = ("Failed — the run ended without a result", "error")
        desk.bump()

    @staticmethod
    def _work_fn(job: Job, studio, pump: Pump, gate, owner: str) -> Callable[[], None]:
        if job.kind == "edit":
            def edit():
                result = studio.iterate(job.run_id, job.index, job.text, mask=job.mask,
                                        instruction=job.instruction, strength=job.strength, seed=job.seed,
                                        on_event=pump.on_event)
                pump.put("result", result.summary())
            return edit
        fields = job.settings.brief_fields()
        if job.refs:
            fields["reference_images"] = list(job.refs)

        def run():
            for event in studio.stream(job.text, review=gate, owner=owner, **fields):
                pump.on_event(event)
        return run


def _first_seed(runs_dir: Path, summary: dict) -> int | None:  # noqa: ARG001
    attempts = summary.get("attempts") or []
    return attempts[0].get("seed") if attempts else None
