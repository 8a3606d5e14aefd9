"""`atelier bench`'s tables, diagnostics and BENCHMARKS.md section, from the rows `bench.run_bench`
writes (one per strategy and prompt). Kept apart from the runner so either stays readable."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the held-out suite's categories in the table's order: GenEval's six, then the named backgrounds
CATEGORIES = ["single_object", "two_object", "counting", "colors", "position", "color_attr", "background", "text"]
LABELS = {"single": "single shot", "best_of_n": "best-of-N (critic picks)", "loop": "agent loop",
          "loop_edits": "agent loop + edits", "layout": "layout first",
          "layout_edits": "layout first + region edits",
          "agent_default": "layout where it helps + region edits (atelier run)"}
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Summary:
    strategy: str
    n: int
    accuracy: float  # the judge says right
    per_category: dict[str, tuple[int, int]]  # category -> (right, prompts)
    images: float
    calls: float
    edits: float
    steps: float
    wall: float
    outside: float  # share of wall time outside the image model
    approved: float  # the loop's critic approved the delivered image
    failed: int
    critic_calls: float = 0.0
    critic_yes_judge_no: int = 0  # the critic approved what the judge says is wrong
    critic_no_judge_yes: int = 0  # the critic rejected what the judge says is right


def summarise(rows) -> list[Summary]:
    by: dict[str, list] = defaultdict(list)
    for r in rows:
        by[r.strategy].append(r)
    out = []
    for key, rs in by.items():
        cats = {c: (sum(r.correct for r in rs if r.category == c), sum(r.category == c for r in rs))
                for c in CATEGORIES if any(r.category == c for r in rs)}
        wall = sum(r.wall for r in rs)
        n = len(rs)
        judged = [r for r in rs if r.critic_ok is not None]  # the critic saw the delivered image
        out.append(Summary(key, n, sum(r.correct for r in rs) / n, cats, sum(r.images for r in rs) / n,
                           sum(r.calls for r in rs) / n, sum(r.edits for r in rs) / n,
                           sum(r.steps for r in rs) / n, wall / n,
                           (wall - sum(r.model for r in rs)) / wall if wall else 0.0,
                           sum(r.approved for r in rs) / n, sum(r.status == "failed" for r in rs),
                           sum(r.critic_calls for r in rs) / n,
                           sum(r.critic_ok and not r.correct for r in judged),
                           sum(r.correct and not r.critic_ok for r in judged)))
    return out


def table_rows(summaries: list[Summary]) -> tuple[list[str], list[list[str]]]:
    cats = [c for c in CATEGORIES if any(c in s.per_category for s in summaries)]
    head = ["strategy", "overall"] + cats + ["critic ✓ judge ✗", "critic ✗ judge ✓", "images/prompt",
                                             "denoising steps/prompt", "critic calls/prompt", "calls/prompt",
                                             "edits/prompt", "s/prompt", "outside model"]
    body = []
    for s in summaries:
        cells = [label(s.strategy), f"{100 * s.accuracy:.1f}% ({s.n})"]
        for c in cats:
            ok, n = s.per_category.get(c, (0, 0))
            cells.append(f"{100 * ok / n:.0f}% ({ok}/{n})" if n else "-")
        cells += [_share(s.critic_yes_judge_no, s.n), _share(s.critic_no_judge_yes, s.n),
                  f"{s.images:.2f}", f"{s.steps:.1f}", f"{s.critic_calls:.2f}", f"{s.calls:.2f}",
                  f"{s.edits:.2f}", f"{s.wall:.2f}", f"{100 * s.outside:.0f}%"]
        body.append(cells)
    return head, body


def _share(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}% ({k})" if n else "-"


def label(key: str) -> str:
    return LABELS.get(key, key)


def markdown_table(summaries: list[Summary]) -> str:
    head, body = table_rows(summaries)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def print_table(summaries: list[Summary], budget: int, console=None, judge: str = "judge:shapes") -> None:
    import sys

    from rich.console import Console
    from rich.table import Table
    head, body = table_rows(summaries)
    t = Table(title=f"held-out shapes suite, budget {budget} images per prompt (judged by {judge}, "
                    f"not the loop's critic)")
    for i, h in enumerate(head):
        t.add_column(h, justify="left" if i == 0 else "right")
    for cells in body:
        t.add_row(*cells)
    (console or Console(width=None if sys.stdout.isatty() else 220)).print(t)


def per_prompt_lines(rows) -> list[str]:
    """Per prompt and strategy: right by the judge, the critic's word, images, denoising steps, critic calls."""
    lines = ["| # | category | prompt | strategy | judge | critic | images | steps | critic calls |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r.index):  # stable: the strategies stay in the order they ran
        critic = "-" if r.critic_ok is None else ("approved" if r.critic_ok else "rejected")
        lines.append(f"| {r.index} | {r.category} | {r.prompt} | {label(r.strategy)} | "
                     f"{'right' if r.correct else 'wrong'} | {critic} | {r.images} | {r.steps} | {r.critic_calls} |")
    return lines


# ---- diagnostics: why a strategy falls short ------------------------------------------------------
def diagnose(rows, key: str = "loop_edits") -> dict[str, Any]:
    """Numbers on what the planner did and what came of it, for one strategy."""
    rs = [r for r in rows if r.strategy == key]
    if not rs:
        return {}
    first_ok = sum(bool(r.trace) and r.trace[0]["ok"] for r in rs)
    edits_by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tried, took, approved
    for r in rs:
        for a in r.trace:
            if a["action"] != "edit" or a["source"] is None or a["source"] >= len(r.trace):
                continue
            src = r.trace[a["source"]]
            kind = next((k for k in src["kinds"] if k in ("missing", "extra", "color")), "other")
            stats = edits_by_kind[kind]
            stats[0] += 1
            stats[1] += len(a["kinds"]) < len(src["kinds"]) or a["ok"]  # fewer problems after the edit
            stats[2] += a["ok"]
    left = Counter(k for r in rs if not r.correct for k in (_final_kinds(r) or ["(none reported)"]))
    gens_to_win = Counter(len(r.trace) for r in rs if r.approved)
    return {"strategy": key, "prompts": len(rs), "first_image_ok": first_ok,
            "ok_by_attempt": attempt_rates(rows, key),
            "approved": sum(r.approved for r in rs), "correct": sum(r.correct for r in rs),
            "approved_not_correct": sum(r.approved and not r.correct for r in rs),
            "images_when_approved": dict(sorted(gens_to_win.items())),
            "edits": {k: {"tried": v[0], "fewer_problems": v[1], "approved": v[2]} for k, v in edits_by_kind.items()},
            "unsolved_by_final_finding": dict(left.most_common()),
            "unsolved_by_category": dict(Counter(r.category for r in rs if not r.correct).most_common())}


def attempt_rates(rows, key: str) -> list[tuple[int, int]]:
    """(approved, made) for a strategy's i-th image over all prompts, by the loop's critic: for
    best-of-N these are the same seeds as the loop's rounds at the default guidance, so the two
    together show what the loop's rising guidance does."""
    made: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if r.strategy == key:
            for i, a in enumerate(r.trace):
                made[i][0] += a["ok"]
                made[i][1] += 1
    return [tuple(made[i]) for i in sorted(made)]


def _final_kinds(r) -> list[str]:
    if not r.trace:
        return ["error: " + (r.error or r.status)]
    return sorted({k[:60] for k in r.final})


# ---- BENCHMARKS.md --------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for pkg in ("torch", "diffusers"):
        try:
            from importlib.metadata import version
            versions.append(f"{pkg} {version(pkg)}")
        except Exception:
            pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {"cpu": f"{cpu or platform.processor() or platform.machine()}, {cores} cores",
            "software": f"Python {platform.python_version()}, " + ", ".join(versions),
            "load": load, "commit": commit()}


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def report_section(name: str, summaries: list[Summary], rows, *, budget: int, command: str,
                   image_model: str, judge: str, seconds: float, critic: str = "critic:detector") -> str:
    m = machine()
    n = len({r.index for r in rows})
    cats = Counter(r.category for r in rows if r.strategy == rows[0].strategy) if rows else Counter()
    diag = [diagnose(rows, k) for k in ("loop", "loop_edits") if any(r.strategy == k for r in rows)]
    bon = attempt_rates(rows, "best_of_n")
    lines = [f"<!-- bench:{name} -->", f"### `{command}`", "",
             f"{n} held-out prompts ({', '.join(f'{c} {cats[c]}' for c in CATEGORIES if cats[c])}), "
             f"budget {budget} images per prompt, image model `{image_model}`, the loop's critic `{critic}`, "
             f"judged by `{judge}`.", "",
             markdown_table(summaries), "",
             f"- machine: {m['cpu']}; {m['software']}; load average at the end {m['load']}",
             f"- commit {m['commit']}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{seconds / 60:.1f} min for this invocation",
             "- accuracy = the judge says the run's delivered image is right (exact counts, colours, relations, "
             "the named background, nothing else drawn, no patch or stray); critic ✓ judge ✗ / critic ✗ judge ✓ = "
             "the loop's critic and the judge disagree on that image (single shot: the critic asked afterwards); "
             "images = images generated; critic calls = critiques the strategy asked for; calls = image back-end "
             "calls (best-of-N is one batched call); outside model = (wall − time inside the image back end) / wall."]
    if bon:
        lines.append(f"- best-of-N, image i approved by the critic (approved, made): {bon} (seed + i, default guidance)")
    for d in diag:
        lines.append(f"- {label(d['strategy'])}: first image approved {d['first_image_ok']}/{d['prompts']}, "
                     f"attempt i approved {d['ok_by_attempt']}, "
                     f"approved {d['approved']}, images used when approved {d['images_when_approved']}, "
                     f"edits {json.dumps(d['edits'])}, unsolved by the judge's finding "
                     f"{json.dumps(d['unsolved_by_final_finding'])}, by category {json.dumps(d['unsolved_by_category'])}")
    lines.append(f"<!-- /bench:{name} -->")
    return "\n".join(lines)


HEADER = """# Benchmarks

`atelier bench` measures Atelier's claim: an agent that critiques and revises gets what was asked
for more often than generating once, and more cheaply than brute force. It runs the held-out
shapes-world suite (`local_models/shapes/world.py: heldout_prompts()`, 300 prompts over GenEval's
six categories whose combinations training never showed, and 40 more naming a background) with the
offline default (`offline` planner, `local:shapes`, `critic:detector`) and compares the strategies at
the same budget of denoising steps per prompt and the same seeds (see `agent/surfaces/bench.py`).
Each delivered image is judged by `judge:shapes` (`local_models/shapes/judge.py`), a checker built
apart from the loop's critic. Reproduce with the command above each table; `--quick` is a
stratified subset, `--llm openai-compatible:MODEL@URL` adds an LLM director to the same table.

"""


def write_report(path: Path, name: str, section: str) -> None:
    """Replace this suite's section of BENCHMARKS.md (between its markers), or append it."""
    path = Path(path)
    text = path.read_text() if path.is_file() else HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if start in text and end in text:
        a, b = text.index(start), text.index(end) + len(end)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
