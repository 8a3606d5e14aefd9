"""`atelier show RUN_ID [--out DIR] [--json]`: one run's brief, checklist, attempts with their
verdicts, and files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from agent.core.errors import AtelierError
from agent.surfaces.cli_common import fail

MARKS = {"passed": "✓", "failed": "✗", "unchecked": "?"}


def run_view(run_id: str, out: Path | None) -> dict[str, Any]:
    """The run as one JSON-ready object: what `show --json` prints."""
    from agent.core.records import read_record
    from agent.core.requirements import checklist
    from agent.surfaces.run_folders import find_run

    folder = find_run(run_id, out) / run_id
    record = read_record(folder / "run.json", run_id)
    judged = record.best or next((a for a in reversed(record.attempts) if a.verdict), None)
    items = judged.verdict.requirements if judged and judged.verdict and judged.verdict.requirements else \
        checklist(record.spec, record.brief.text)
    return {
        "run_id": record.run_id, "folder": str(folder.resolve()), "brief": record.brief.text,
        "status": record.status, "approved": record.approved, "stop_reason": record.stop_reason,
        "error": record.error, "iterations": record.iterations, "best_index": record.best_index,
        "llm": record.llm, "image_model": record.image_model, "video_model": record.video_model,
        "critic": record.critic, "cost_usd": record.cost_usd, "seconds": round(record.seconds, 3),
        "checklist_of": None if judged is None else judged.index,
        "checklist": [r.model_dump(mode="json", include={"id", "kind", "text", "status", "evidence", "checker"})
                      for r in items],
        "attempts": [{
            "index": a.index, "iteration": a.iteration, "action": a.action, "prompt": a.prompt, "seed": a.seed,
            "source": a.source, "path": str(a.artifact.path.resolve()), "note": a.note,
            "verdict": None if a.verdict is None else a.verdict.model_dump(
                mode="json", include={"critic", "approved", "scores", "issues", "error", "requirements"}),
        } for a in record.attempts],
        "files": sorted(str(p.resolve()) for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
    }


def show(run_id: str = typer.Argument(..., help="the run's id (atelier history lists them)"),
         out: Optional[Path] = typer.Option(None, "--out", help="the runs folder, or a batch folder (atelier "
                                            "brief --out); default: ./runs, ./batch/runs and the batch folders here"),
         as_json: bool = typer.Option(False, "--json", help="print the run as one JSON object")):
    """One run: its checklist item by item, every attempt with its verdict, and its files."""
    try:
        view = run_view(run_id, out)
    except AtelierError as e:
        if as_json:
            print(json.dumps({"run_id": run_id, "status": "failed", "error": str(e)}))
        fail(str(e))
    if as_json:
        print(json.dumps(view))
        return
    console = Console()
    state = "[green]approved[/]" if view["approved"] else f"[yellow]{view['status']}[/]"
    console.print(f"run {view['run_id']}: {state} after {view['iterations']} round(s), {len(view['attempts'])} "
                  f"attempt(s) — {view['stop_reason'] or view['error'] or ''}\nbrief: {view['brief']}\n"
                  f"back ends: {view['llm']}, {view['image_model']}, {view['critic']}", highlight=False)
    where = f" (attempt {view['checklist_of']})" if view["checklist_of"] is not None else " (not judged yet)"
    console.print(f"checklist{where}:", highlight=False)
    for r in view["checklist"]:
        console.print(f"  {MARKS[r['status']]} {r['text']}" + (f" — {r['evidence']}" if r["evidence"] else ""),
                      highlight=False)
    console.print("attempts:", highlight=False)
    for a in view["attempts"]:
        v = a["verdict"]
        verdict = "not judged" if v is None else "approved" if v["approved"] else \
            "not approved" + (f": {'; '.join(v['issues'])}" if v["issues"] else "")
        best = " [bold]★ best[/]" if a["index"] == view["best_index"] else ""
        console.print(f"  {a['index']}. {a['action']} seed {a['seed']}: {verdict}{best}\n"
                      f"     {a['path']}\n     prompt: {a['prompt']}", highlight=False)
    console.print("files:\n" + "\n".join(f"  {f}" for f in view["files"]), highlight=False)
