"""The text the chat UI shows: every chat message (a plain dict, turned into Gradio's format by
`agent/surfaces/ui.py`), a run's messages updated event by event, the gallery, verdict and history
tables, the status line and a run's progress in words. Pure functions of records and events: no
threads, no Gradio.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.core.types import Attempt, Event, RunRecord, Verdict


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
        return f"⚠️ {v.state}"
    head = f"{'✅' if v.approved else '❌'} **{v.state}** by `{v.critic}`"
    scores = v.scores_text()
    lines = [head + (f" · scores: {scores}" if scores else "")]
    if v.requirements:  # the brief's checklist, item by item: what was seen, and what could not be checked
        marks = {"passed": "✓", "failed": "✗", "unchecked": "? could not check:"}
        lines += [f"- {marks[r.status]} {r.text}" + (f" — {short(r.evidence, 200)}" if r.evidence and r.status != "passed" else "")
                  for r in v.requirements]
        listed = {r.evidence for r in v.requirements}
        lines += [f"- {issue}" for issue in v.issues if issue not in listed and not issue.startswith("could not check")]
    else:
        lines += [f"- {issue}" for issue in v.issues]
    checks = frame_checks(v)
    if not checks and (looked := v.frames):
        # a critic that judges the clip as a whole (critic:vlm) says which frames it saw, not per frame
        lines.append(f"- judged on {frame_span([c.index for c in looked])} as a whole")
    if checks:
        flagged = sum(bool(c.issues) for c in checks)
        lines.append(f"- frames: {len(checks) - flagged} of {len(checks)} without an issue")
        groups = frame_groups(checks)
        lines += [f"  - {frame_span(frames)}: {issue}" for issue, frames in groups[:6]]
        if len(groups) > 6:
            lines.append(f"  - … and {len(groups) - 6} more issue(s) in some frames")
    return "\n".join(lines)


def frame_checks(v: Verdict | None) -> list:
    """A clip's per-frame checks (empty for an image, or from a critic that judges the clip as a
    whole and gives no detections or issues per frame)."""
    checks = v.frames if v is not None else []
    return checks if any(c.detections or c.issues for c in checks) else []


def frame_groups(checks: list) -> list[tuple[str, list[int]]]:
    """Each issue found in the frames, with the frames it was found in, in order of first sight."""
    groups: dict[str, list[int]] = {}
    for c in checks:
        for issue in c.issues:
            groups.setdefault(issue, []).append(c.index)
    return list(groups.items())


def frame_span(frames: list[int]) -> str:
    """[0, 1, 3, 5, 6] → "frames 0-1, 3, 5-6"; [4] → "frame 4"."""
    runs: list[list[int]] = []
    for i in sorted(set(frames)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
    return f"frame{'s' if len(set(frames)) > 1 else ''} {text}"


def frame_line(check) -> str:
    """"frame 3 (0.38 s) ✗ 2 issues · saw red circle; blue square": one frame of the clip in the viewer."""
    when = f" ({check.time:.2f} s)" if check.time is not None else ""
    n = len(check.issues)
    parts = [f"✗ {n} issue{'s' if n != 1 else ''}" if n else "✓"]
    if check.detections:
        parts.append("saw " + "; ".join(d.message for d in check.detections))
    else:
        parts.append("saw nothing")
    return f"frame {check.index}{when} " + " · ".join(parts)


def attempt_title(a: Attempt) -> str:
    what = {"generate": "generated", "edit": "edited", "video": "🎞 clip"}.get(a.action, a.action)
    if a.artifact.kind == "video" and a.artifact.meta.get("frames"):
        what += f" ({a.artifact.meta['frames']} frames)"
    note = f" ({a.note})" if a.note else ""
    return f"**Attempt {a.index}** · round {a.iteration} · {what}{note} · seed {a.seed}"


def attempt_msg(a: Attempt, run_id: str, noted: set[str] | None = None) -> dict[str, Any]:
    """An attempt with its verdict. A back end's note (e.g. what local:shapes cannot draw) is shown
    the first time only: `noted` holds the notes this run's messages have shown already."""
    text = f"{attempt_title(a)}\n\n> {a.prompt}\n\n{verdict_text(a.verdict)}"
    warning = a.artifact.meta.get("warning") if a.artifact.meta else None
    if warning and (noted is None or warning not in noted):
        text += f"\n\n_note: {warning}_"
        if noted is not None:
            noted.add(warning)
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


def edit_words(summary: dict) -> tuple[str, str]:
    """(a sentence, a style) for an edit that just ended: about the edit's own attempt (the last one),
    not the run, whose approval may come from an earlier attempt."""
    attempts = summary.get("attempts") or []
    if not attempts:
        return status_words(summary)
    last, index = attempts[-1], len(attempts) - 1
    if last.get("approved"):
        return f"Edit approved — attempt {index} (seed {last.get('seed')}).", "ok"
    kept = (summary.get("best") or {}).get("index")
    still = f"; the run's best is still attempt {kept}" if kept is not None and kept != index else ""
    return f"Edit not approved — attempt {index} (seed {last.get('seed')}) was rejected by the critic{still}.", "warn"


def final_msg(record_or_summary: RunRecord | dict, edit: bool = False) -> dict[str, Any]:
    s = record_or_summary.summary() if isinstance(record_or_summary, RunRecord) else record_or_summary
    best, n = s.get("best"), len(s.get("attempts", []))
    status = s.get("status", "")
    if edit:
        head = edit_words(s)[0]
    else:
        head = "🏁 " + status_words(s)[0] if status in ("approved", "ended") else status_words(s)[0]
    head = f"**{head}**"
    lines = [head]
    if s.get("error") and status != "failed":
        lines.append(f"⚠️ **Error:** {s['error']}")
    if best:
        why = "the critic approved it" if best.get("approved") else "it scored best of all attempts"
        lines.append(f"Final choice: **attempt {best.get('index')}** (seed {best['seed']}) — {why}.")
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


def queued_msg(job, waiting: int) -> dict[str, Any]:
    """The line a brief sent while a run is in flight gets (updated when it starts or is cancelled)."""
    return msg(f"🕒 **Queued** — this brief starts when the current run ends ({waiting} waiting).",
               key=f"queued:{job.id}")


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
        self.noted: set[str] = set()  # back-end notes shown already (each once per run)

    def _notes_for(self, attempt: Attempt) -> set[str]:
        """The notes shown so far, less the one this attempt's own message already shows (a
        verdict re-renders the same message)."""
        key = f"attempt:{self.run_id}:{attempt.index}"
        i = self._find(key)
        warning = (attempt.artifact.meta or {}).get("warning")
        if i is not None and warning and f"_note: {warning}_" in self.chat[i]["text"]:
            return self.noted - {warning}
        return self.noted

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
            self._put(attempt_msg(event.attempt, event.run_id, self._notes_for(event.attempt)))
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
            line = step_line(event.data["tool"], event.data.get("arguments") or {}) if event.data.get("tool") \
                else event.message[:300]
            self._log(("· " if t == "step_started" else "💬 ") + line)
            if t == "step_started":
                self.status = line[:120]
        elif t == "run_finished":
            i = self._find(f"log:{event.run_id}")
            if i is not None:
                self.chat[i]["status"] = "done"
            summary = event.data.get("summary") or {}
            if summary:
                self._put(final_msg(summary))
            self.status = summary.get("status", "finished")


STEP_VERBS = {"refine_prompt": "✍ rewrite the prompt", "generate_image": "🎨 generate", "edit_image": "🖌 edit",
              "typeset_text": "🔤 typeset", "generate_video": "🎞 make a clip", "critique": "🔍 critique"}


def step_line(tool: str, arguments: dict) -> str:
    """A director's tool call in words: '🎨 generate “two red circles…” · seed 8 · 2 images'."""
    parts = [STEP_VERBS.get(tool, tool.replace("_", " "))]
    if "attempt" in arguments:
        parts[0] += f" attempt {arguments['attempt']}"
    text = arguments.get("prompt") or arguments.get("text") or arguments.get("instruction")
    if text:
        parts.append(f"“{short(str(text), 120)}”")
    for key, word in (("seed", "seed"), ("box", "box"), ("num_frames", "frames")):
        if arguments.get(key) is not None:
            parts.append(f"{word} {arguments[key]}")
    if (arguments.get("n") or 1) > 1:
        parts.append(f"{arguments['n']} images")
    return " · ".join(parts)


def spec_line(spec: dict) -> str:
    """The checklist the run will be judged on, in one line."""
    from agent.core.requirements import checklist
    from agent.core.types import SceneSpec
    try:
        return "; ".join(r.text for r in checklist(SceneSpec.model_validate(spec)) if r.kind != "whole") or "(none)"
    except ValueError:
        pass
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
    clips = record.video_model
    out = [msg(f"📂 Reopened run `{record.run_id}` ({record.created:%Y-%m-%d %H:%M}) · {record.llm} → "
               f"{record.image_model}{f' (clips: {clips})' if clips else ''} · {record.critic}",
               key=f"open:{record.run_id}"),
           msg(record.brief.text, role="user", media=[(p, "image") for p in record.brief.reference_images])]
    if record.refined_prompt:
        out.append(refined_msg(record.refined_prompt, "the prompt this run used",
                               _changes(record.brief.text, record.refined_prompt), run_id=record.run_id))
    noted: set[str] = set()
    out += [attempt_msg(a, record.run_id, noted) for a in record.attempts]
    out.append(final_msg(record))
    return out


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
        return f"Stopped by you after {attempts}.", "stopped"
    if status == "ended":
        how = "approved" if summary.get("approved") else "not approved"
        return f"The director ended the run after {attempts} ({how}).", "ok" if summary.get("approved") else "warn"
    if status == "failed":
        return f"Failed — {summary.get('error') or summary.get('stop_reason') or 'the run did not work'}", "error"
    if status == "unverified":
        return (f"Not checked — {summary.get('error') or 'the critic could not check what the brief asks'}. "
                f"Judge the picture yourself, or choose a critic that can see it.", "error")
    if status == "running":
        return "Interrupted — this run did not finish.", "warn"
    return f"Finished with an unknown status ({status or 'none'}).", "warn"


STATUS_ICONS = {"ok": "✅", "warn": "🟠", "error": "⚠️", "info": "ℹ️", "stopped": "⏹", "busy": "⏳", "queued": "🕒",
                "idle": ""}


def status_html(text: str, kind: str = "idle", progress: float | None = None, preview: str | None = None) -> str:
    """The status line (and, while a run is in flight, its progress bar and the picture being denoised,
    `preview` a PNG data URL) as HTML."""
    import html
    icon = STATUS_ICONS.get(kind, "")
    if preview and preview.startswith("data:image/png;base64,"):  # only our own small PNGs, never a URL
        text_html = f'<img class="step-preview" alt="the picture so far" src="{html.escape(preview)}">'
    else:
        text_html = ""
    bar = ""
    if progress is not None:
        pct = max(0.0, min(1.0, progress)) * 100
        bar = (f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
               f'aria-valuenow="{pct:.0f}"><div style="width:{pct:.0f}%"></div></div>')
    return f'<div class="st st-{kind}">{text_html}{(icon + " ") if icon else ""}{html.escape(text)}</div>{bar}'


def scrub(text: str, *folders: Path | str) -> str:
    """A message with the server's own folders replaced by names (no server path reaches a user)."""
    import tempfile
    for folder, name in [*((f, "runs") for f in folders), (tempfile.gettempdir(), "tmp")]:
        folder = str(folder).rstrip("/")
        if folder and folder != "/":
            text = text.replace(folder + "/", "").replace(folder, name)
    return text


def short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def viewer_text(run_id: str, attempt: Attempt) -> str:
    v = attempt.verdict
    lines = [f"### Attempt {attempt.index} · seed {attempt.seed}",
             f"run `{run_id}` · round {attempt.iteration} · {attempt.action}"
             + (f" · {attempt.note}" if attempt.note else ""),
             f"**Prompt:** {attempt.prompt}", verdict_text(v)]
    if attempt.artifact.kind == "video":
        meta = attempt.artifact.meta or {}
        lines.append(f"**Clip:** {meta.get('frames', '?')} frames at {meta.get('fps', '?')} fps · "
                     f"{Path(attempt.artifact.path).suffix.lstrip('.').upper()}")
        checks = frame_checks(v)
        if checks:
            lines.append("**Frame by frame** (what the critic saw):\n" + "\n".join(f"- {frame_line(c)}" for c in checks))
        elif v and not v.error:
            lines.append("_The critic gave no frame-by-frame findings._")
        return "\n\n".join(lines)
    if v and v.detections:
        lines.append("**What the critic saw** (cyan): " + "; ".join(d.message for d in v.detections))
    layout = attempt.artifact.request.layout if attempt.artifact.request else None
    if layout is not None and layout.boxes:
        lines.append(f"**Layout** (magenta): {len(layout.boxes)} box{'es' if len(layout.boxes) != 1 else ''} — "
                     + "; ".join(f"{b.describe()} {list(b.box)}" for b in layout.boxes))
    else:
        lines.append("_No layout: this image was not composed from boxes._")
    return "\n\n".join(lines)


# ---- a run's progress, in words ------------------------------------------------------------------
def progress_text(p: dict, now: float) -> str:
    """'attempt 2 of 4 · step 12/20 · 6 s · about 3 s left': attempts, the denoising step of the picture
    being made where its back end reports steps (`progress` events), and time."""
    planned, done = p["planned"], p["done"]
    spent = now - p["started"]
    current = min(done + 1, planned)
    what = "editing" if p.get("kind") == "edit" else f"attempt {current} of {planned}"
    if p.get("step"):
        what += " · step {}/{}".format(*p["step"])
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
