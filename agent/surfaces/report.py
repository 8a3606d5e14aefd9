"""`report.html`: a contact sheet of a batch. Each brief with its best image, every attempt with its
prompt, seed and verdict, its cost and time. The page is a template (agent/surfaces/templates/report.html);
this module only gathers the data. Images are referenced relative to the report, so the folder can
be moved or served as is."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from agent.core.artifacts import atomic_write_bytes
from agent.core.records import read_record

TEMPLATES = Path(__file__).resolve().parent / "templates"


def brief_view(out: Path, entry, line: dict | None) -> dict[str, Any]:
    """What the report shows for one brief: its summary line and, if its run is on disk, every attempt."""
    record = None
    run_json = out / "runs" / entry.id / "run.json"
    if run_json.is_file():
        try:
            record = read_record(run_json)
        except Exception:
            record = None
    if line is None:
        state = "running" if record is not None else "pending"
    elif line.get("status") == "failed":
        state = "failed"
    else:
        state = "approved" if line.get("approved") else "unapproved"

    def rel(path) -> str:
        return os.path.relpath(Path(path), out)

    attempts = []
    for a in (record.attempts if record else []):
        v = a.verdict
        attempts.append({
            "index": a.index, "iteration": a.iteration, "action": a.action, "prompt": a.prompt, "seed": a.seed,
            "src": rel(a.artifact.path), "kind": a.artifact.kind,
            "video": a.artifact.kind == "video" and a.artifact.path.suffix.lower() != ".gif",
            "approved": bool(v and v.approved), "judged": v is not None,
            "scores": ", ".join(f"{k} {val:.2f}" for k, val in (v.scores.items() if v else [])),
            "issues": (v.issues if v else []) + ([f"critique failed: {v.error}"] if v and v.error else []),
            "note": a.note, "best": record.best_index == a.index, "cost": a.artifact.cost_usd,
        })
    best = next((a for a in attempts if a["best"]), None)
    return {
        "id": entry.id, "brief": entry.brief, "state": state, "line": line or {},
        "spec": record.spec.to_geneval() if record and record.spec else
        (entry.spec.to_geneval() if entry.spec else None),
        "refined": record.refined_prompt if record else None,
        "models": f"{record.image_model} · {record.critic} · {record.llm}" if record else "",
        "stop_reason": (line or {}).get("stop_reason") or (record.stop_reason if record else ""),
        "error": (line or {}).get("error"),
        "cost": float((line or {}).get("cost_usd") or (record.cost_usd if record else 0) or 0),
        "seconds": float((line or {}).get("seconds") or (record.seconds if record else 0) or 0),
        "best": best, "attempts": attempts,
    }


def render(out: Path, entries, lines: dict[str, dict]) -> str:
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
    briefs = [brief_view(out, e, lines.get(e.id)) for e in entries]
    counts = {s: sum(b["state"] == s for b in briefs) for s in ("approved", "unapproved", "failed", "running", "pending")}
    return env.get_template("report.html").render(
        briefs=briefs, counts=counts, total=len(briefs), out=html.escape(str(out)),
        cost=sum(b["cost"] for b in briefs), seconds=sum(b["seconds"] for b in briefs))


def write_report(out: Path, entries, lines: dict[str, dict]) -> Path:
    path = Path(out) / "report.html"
    atomic_write_bytes(path, render(Path(out), entries, lines).encode())
    return path
