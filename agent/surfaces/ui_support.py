"""What the chat UI (`app.py`) needs besides Gradio itself: settings → a Studio, a pump that runs a
blocking Studio call in a thread and hands its events to a Gradio generator, a gate that lets the
user review a rewritten prompt asynchronously, a per-session registry of runs in flight (so Stop
and the review buttons reach the right run), ownership checks, and the text of every chat message.

Nothing here decides anything about a run: the director, the critic and the records do that. This
module imports no Gradio, so it is tested on its own.
"""
from __future__ import annotations

import queue
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from agent.core.errors import AtelierError, StopRun
from agent.core.types import Attempt, Event, RunRecord, Verdict

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


def refined_msg(prompt: str, how: str, changes: str, rationale: str = "", proposed: str = "") -> dict[str, Any]:
    text = f"📝 **Prompt** — {how}\n\n> {prompt}"
    if changes:
        text += f"\n\n**Changed from your brief:** {changes_markdown(changes)}"
    else:
        text += "\n\n_Same as your brief._"
    if proposed and proposed != prompt:
        text += f"\n\n_The director had proposed:_ {proposed}"
    if rationale:
        text += f"\n\n_Why:_ {rationale}"
    return msg(text, key="prompt")


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
    head = {"approved": "🏁 **Approved.**", "budget_spent": "🏁 **Budget spent** — the best attempt is kept.",
            "stopped": "⏹ **Stopped** by you.", "ended": "🏁 **The director ended the run.**",
            "failed": "⚠️ **The run failed.**", "running": "⏸ **Interrupted** — this run did not finish."}.get(
        status, f"🏁 **{status}**")
    lines = [head]
    if s.get("error"):
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
    if s.get("stop_reason") and status not in ("stopped",):
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
                                  d.get("rationale", ""), d.get("proposed", "")))
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
                               _changes(record.brief.text, record.refined_prompt)))
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
            items.append((str(a.artifact.path), f"{mark}{best} #{a.index} seed {a.seed}{score} · {r.run_id[-6:]}"))
            refs.append((r.run_id, a.index))
    return items, refs


TABLE_HEADERS = ["run", "#", "seed", "action", "approved", "scores", "issues"]


def verdict_rows(records: list[RunRecord]) -> list[list[Any]]:
    rows = []
    for r in records:
        for a in r.attempts:
            v = a.verdict
            rows.append([r.run_id[-6:], a.index, a.seed, a.action + (" ★" if r.best_index == a.index else ""),
                         "yes" if v and v.approved else "no",
                         ", ".join(f"{k} {x:.2f}" for k, x in (v.scores if v else {}).items()),
                         "; ".join(v.issues) if v else ""])
    return rows


HISTORY_HEADERS = ["run", "when", "brief", "status", "attempts", "approved", "image model"]


def history_rows(rows: list[dict]) -> list[list[Any]]:
    return [[r["run_id"], (r.get("created") or "")[:16].replace("T", " "), (r.get("brief") or "")[:80],
             r.get("status"), r.get("attempts"), "yes" if r.get("approved") else "no", r.get("image_model")]
            for r in rows]


def history_choices(rows: list[dict]) -> list[tuple[str, str]]:
    return [(f"{r['run_id']} · {(r.get('brief') or '')[:50]} · {r.get('status')}", r["run_id"]) for r in rows]
