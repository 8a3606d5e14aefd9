"""The chat UI's tables, in words: the attempts gallery's captions, the verdicts table and the
History table (a run another tab is driving reads as running, not interrupted). Pure functions of
records; no Gradio."""
from __future__ import annotations

from typing import Any

from agent.core.types import RunRecord
from agent.surfaces.ui_text import frame_checks, frame_span


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
            clip = a.artifact.kind == "video"
            checks = frame_checks(v)
            flagged = sum(bool(c.issues) for c in checks)
            frames = (f" · ✗ {flagged}/{len(checks)} frames" if flagged else f" · ✓ {len(checks)} frames") \
                if checks else ""
            items.append((str(a.artifact.path),
                          f"{'🎞 ' if clip else ''}{mark}{best} #{a.index} seed {a.seed}{score}{frames}"))
            refs.append((r.run_id, a.index))
    return items, refs


TABLE_HEADERS = ["#", "seed", "verdict", "scores", "issues", "run"]


def verdict_rows(records: list[RunRecord]) -> list[list[Any]]:
    rows = []
    for r in records:
        for a in r.attempts:
            v = a.verdict
            verdict = "⏳" if v is None else ("✅ yes" if v.approved else "❌ no") + (" ★" if r.best_index == a.index else "")
            flagged = [c.index for c in frame_checks(v) if c.issues]
            issues = ("; ".join(v.issues) if v else "") + (
                f"{'; ' if v and v.issues else ''}✗ in {frame_span(flagged)}" if flagged else "")
            rows.append([f"🎞 {a.index}" if a.artifact.kind == "video" else a.index, a.seed, verdict,
                         v.scores_text() if v else "", issues, r.run_id[-6:]])
    return rows


HISTORY_HEADERS = ["brief", "status", "approved", "attempts", "when", "image model", "run"]
STATUS_SHORT = {"approved": "approved", "budget_spent": "budget spent", "stopped": "stopped", "ended": "ended",
                "failed": "failed", "running": "interrupted", "unverified": "not checked"}


def history_status(row: dict, live: set[str] = frozenset()) -> str:
    """A run's status in History: "running" while some tab drives it, "interrupted" when nothing does."""
    if row.get("status") == "running" and row.get("run_id") in live:
        return "running"
    return STATUS_SHORT.get(row.get("status"), row.get("status"))


def history_rows(rows: list[dict], live: set[str] = frozenset()) -> list[list[Any]]:
    return [[(r.get("brief") or "")[:80], history_status(r, live),
             "yes" if r.get("approved") else "no", r.get("attempts"),
             (r.get("created") or "")[:16].replace("T", " "), r.get("image_model"), r["run_id"]]
            for r in rows]


def history_choices(rows: list[dict], live: set[str] = frozenset()) -> list[tuple[str, str]]:
    return [(f"{r['run_id']} · {(r.get('brief') or '')[:50]} · {history_status(r, live)}",
             r["run_id"]) for r in rows]
