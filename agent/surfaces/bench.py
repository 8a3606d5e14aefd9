"""`atelier bench`: does an agent that critiques and revises get what was asked for more often than
generating once, and more cheaply than brute force? Measured on the held-out shapes-world suite
(`world.heldout_prompts()`: 300 prompts over GenEval's six categories, never seen in training), at
an equal budget of denoising steps per prompt (N images' worth: every pass counts, so a layout
composed in three passes costs three images), with the same seeds for every strategy:

- single:     one image, no critic (the refined prompt, the prompt's seed);
- best_of_n:  N images in one batched call, the critic picks the best (the classic rerank);
- loop:       the fixed loop with the offline planner: re-seed, stronger guidance, revised prompt;
- loop_edits: the same loop with targeted region edits (inpaint what is missing, remove what is extra);
- layout:     layout first: boxes planned by rules, the image composed group by group (inpainting);
              a miss gets a new layout and seed;
- layout_edits: layout first, then region edits from the critic's findings (add, remove, move, recolour);
- agent[SPEC]: an LLM director (agent mode, edits allowed) for each `--llm SPEC`.

Every strategy is a small function over the public `Studio` API. The benchmark judges each run's
best image afterwards with the judge (`critic:detector`); that judging is not part of a strategy's
time. Model time is measured by wrapping the image back end's `generate`/`edit`, so
"outside model" = (wall - model) / wall is the share of a prompt's time spent in the planner, the
critic, run records and files. Results go to `<out>/results.jsonl` (one line per strategy and
prompt); running the same command again skips what is done, so a long suite can be run in parts.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from agent.core import registry
from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL
from agent.core.types import Artifact, SceneSpec, Verdict

CATEGORIES = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]
BASE_STRATEGIES = ["single", "best_of_n", "loop", "loop_edits"]
LAYOUT_STRATEGIES = ["layout", "layout_edits", "agent_default"]
QUICK_PER_CATEGORY = 4
LABELS = {"single": "single shot", "best_of_n": "best-of-N (critic picks)", "loop": "agent loop",
          "loop_edits": "agent loop + edits", "layout": "layout first",
          "layout_edits": "layout first + region edits",
          "agent_default": "layout where it helps + region edits (atelier run)"}
NULL_CRITIC = "critic:bench-none"
ROOT = Path(__file__).resolve().parents[2]


# ---- the suite ---------------------------------------------------------------------------------
@dataclass
class Item:
    index: int  # position in heldout_prompts(): stable across runs, so results can be resumed
    category: str
    prompt: str
    spec: SceneSpec


def suite(*, quick: bool = False, per_category: int | None = None, limit: int | None = None,
          offset: int = 0) -> list[Item]:
    """The held-out prompts, interleaved category by category so that any prefix is stratified:
    `--quick` and `--per-category K` take the first K of each category, `--limit` the first L."""
    from local_models.shapes.world import heldout_prompts
    by_cat: dict[str, list[Item]] = defaultdict(list)
    for i, (cat, prompt, spec) in enumerate(heldout_prompts()):
        by_cat[cat].append(Item(i, cat, prompt, spec))
    if quick and per_category is None:
        per_category = QUICK_PER_CATEGORY
    if per_category is not None:
        by_cat = {c: items[:per_category] for c, items in by_cat.items()}
    order: list[Item] = []
    for k in range(max(map(len, by_cat.values()), default=0)):
        order += [by_cat[c][k] for c in CATEGORIES if k < len(by_cat.get(c, []))]
    order = order[offset:]
    return order[:limit] if limit is not None else order


def seed_for(item: Item, base: int) -> int:
    """One seed per prompt, shared by every strategy (a strategy's i-th image gets seed + i)."""
    return base + 100 * item.index


# ---- timing the model ---------------------------------------------------------------------------
@dataclass
class ModelClock:
    seconds: float = 0.0
    calls: int = 0
    images: int = 0

    def reset(self) -> None:
        self.seconds, self.calls, self.images = 0.0, 0, 0


@contextmanager
def timed_backend(spec: str) -> Iterator[ModelClock]:
    """Wrap the (cached) image back end's generate/edit so every call is timed; restored after."""
    backend = registry.resolve("image", spec)
    clock, saved = ModelClock(), {}
    for name in ("generate", "edit"):
        if not hasattr(backend, name):
            continue
        saved[name] = backend.__dict__.get(name)
        fn = getattr(backend, name)

        def timed(request, out_dir, _fn=fn):
            t0 = time.perf_counter()
            try:
                made = _fn(request, out_dir)
            finally:
                clock.seconds += time.perf_counter() - t0
                clock.calls += 1
            clock.images += len(made)
            return made
        setattr(backend, name, timed)
    try:
        yield clock
    finally:
        for name, old in saved.items():
            if old is None:
                delattr(backend, name)
            else:
                setattr(backend, name, old)


class NullCritic:
    """The single-shot strategy has no critic: every attempt stays unjudged until the benchmark judges it."""

    name = NULL_CRITIC
    kinds = ("image", "video")

    def critique(self, artifact: Artifact, brief_text: str, spec) -> Verdict:
        return Verdict(critic=self.name, approved=False)


def _register_null_critic() -> None:
    from agent.critics import CRITICS
    CRITICS.setdefault(NULL_CRITIC.removeprefix("critic:"), "agent.surfaces.bench:NullCritic")


# ---- strategies: small functions over the Studio API --------------------------------------------
@dataclass
class Setup:
    budget: int
    image_model: str
    judge: str
    runs_dir: Path
    _studios: dict = field(default_factory=dict)

    def studio(self, key: str, **kw):
        from agent.surfaces.api import Studio
        if key not in self._studios:
            kw = {"image_model": self.image_model, "critic": self.judge, "mode": "loop", **kw}
            self._studios[key] = Studio(runs_dir=self.runs_dir / _slug(key), **kw)
        return self._studios[key]

    def budget_of(self, images: int, rounds: int | None = None) -> dict:
        """`images` images' worth of denoising steps (at the model's default steps), however spent."""
        steps = registry.resolve("image", self.image_model).info.default_steps or 20
        return {"max_denoiser_steps": images * steps, "max_iterations": rounds or 2 * images}


def single(s: Setup, item: Item, seed: int, key: str):
    """One image from the refined prompt; no critic (the benchmark judges it afterwards)."""
    return s.studio(key, critic=NULL_CRITIC, edits=False, layouts="never").run(
        item.prompt, spec=item.spec, seed=seed, budget=s.budget_of(1))


def best_of_n(s: Setup, item: Item, seed: int, key: str):
    """N images in one batched call (seeds seed..seed+N-1); the critic picks the best."""
    return s.studio(key, edits=False, layouts="never").run(item.prompt, spec=item.spec, seed=seed, candidates=s.budget,
                                          budget=s.budget_of(s.budget, 1))


def planner_loop(edits: bool, layouts: str, doc: str) -> Callable:
    """A strategy run by the offline planner's loop, one image (or composed layout) a round, at the
    full budget: with or without region edits, with layouts never, always or where they help."""
    def run(s: Setup, item: Item, seed: int, key: str):
        return s.studio(key, edits=edits, layouts=layouts).run(item.prompt, spec=item.spec, seed=seed,
                                                               budget=s.budget_of(s.budget))
    run.__doc__ = doc
    return run


loop = planner_loop(False, "never", "re-seed with stronger guidance until approved")
loop_edits = planner_loop(True, "never", "the same loop, with targeted region edits from the critic's findings")
layout = planner_loop(False, "always", "layout first: boxes by rules, drawn group by group; a miss gets a new layout")
layout_edits = planner_loop(True, "always", "layout first, then region edits of what the critic found wrong")
agent_default = planner_loop(True, "auto", "what `atelier run` does: a layout where it is the better bet (a "
                             "relation to hold, or plain generation missed twice), region edits")


def llm_agent(llm: str) -> Callable:
    def agent(s: Setup, item: Item, seed: int, key: str):
        """An LLM director in agent mode (it picks every tool call), edits allowed, same budget."""
        return s.studio(key, llm=llm, mode="agent", edits=True).run(
            item.prompt, spec=item.spec, seed=seed, budget=s.budget_of(s.budget))
    return agent


STRATEGY_FNS: dict[str, Callable] = {"single": single, "best_of_n": best_of_n, "loop": loop,
                                      "loop_edits": loop_edits, "layout": layout, "layout_edits": layout_edits,
                                      "agent_default": agent_default}


def strategy_fn(key: str) -> Callable:
    if key in STRATEGY_FNS:
        return STRATEGY_FNS[key]
    if key.startswith("agent[") and key.endswith("]"):
        return llm_agent(key[len("agent["):-1])
    raise ValueError(f"unknown strategy {key!r}; known: {', '.join(STRATEGY_FNS)}, agent[LLM_SPEC]")


# ---- one row per (strategy, prompt) -------------------------------------------------------------
@dataclass
class BriefRow:
    """What every benchmark row has: which strategy on which brief, and whether it got it right."""

    strategy: str
    index: int
    category: str
    prompt: str
    seed: int
    budget: int
    correct: bool = False  # the judge approves the run's best result
    approved: bool = False  # the strategy's own critic approved it (and so it stopped)


@dataclass
class Row(BriefRow):
    images: int = 0  # images generated (what the budget counts)
    calls: int = 0  # calls to the image back end (a batch of N is one call)
    edits: int = 0
    steps: int = 0  # denoising steps, every pass counted (what the budget limits)
    wall: float = 0.0  # seconds for the whole run (planner, model, critic, records)
    model: float = 0.0  # seconds inside the image back end
    judge_seconds: float = 0.0  # the benchmark's own judging, not part of the strategy
    status: str = ""
    error: str | None = None
    final: list[str] = field(default_factory=list)  # what the judge found wrong with the best image
    trace: list[dict] = field(default_factory=list)  # each attempt: action, finding kinds, approved


def _trace(record) -> list[dict]:
    out = []
    for a in record.attempts:
        v = a.verdict
        src = re.match(r"edit of attempt (\d+)", a.note or "")
        out.append({"action": a.action, "ok": bool(v and v.approved),
                    "kinds": [f.kind for f in v.findings] if v else [],
                    "error": (v.error or "")[:160] or None if v else None,
                    "guidance": a.artifact.request.guidance, "source": int(src.group(1)) if src else None,
                    "note": a.note or None})
    return out


def run_one(s: Setup, key: str, item: Item, seed: int, clock: ModelClock, judge) -> Row:
    row = Row(key, item.index, item.category, item.prompt, seed, s.budget)
    clock.reset()
    t0 = time.perf_counter()
    try:
        result = strategy_fn(key)(s, item, seed, key)
    except Exception as e:  # a strategy that cannot run counts as wrong, with the reason kept
        row.wall, row.model, row.status, row.error = time.perf_counter() - t0, clock.seconds, "failed", str(e)[:300]
        return row
    row.wall, row.model, row.calls = time.perf_counter() - t0, clock.seconds, clock.calls
    record = result.record
    row.images = len(record.attempts)
    row.edits = sum(a.action == "edit" for a in record.attempts)
    default = registry.resolve("image", s.image_model).info.default_steps or 1
    row.steps = sum(a.artifact.denoiser_steps(default) for a in record.attempts)
    row.approved, row.status, row.error = record.approved, record.status, record.error
    row.trace = _trace(record)
    best = record.best
    if best is not None:
        t1 = time.perf_counter()
        v = best.verdict
        if not (v and v.critic == judge.name and record.critic == s.judge):
            v = judge.critique(best.artifact, item.prompt, item.spec)
        row.correct = bool(v.approved)
        row.final = ["critic error: " + v.error[:100]] if v.error else [f.kind for f in v.findings]
        row.judge_seconds = time.perf_counter() - t1
    return row


# ---- the whole run ----------------------------------------------------------------------------
def run_bench(items: list[Item], *, strategies: Iterable[str] = BASE_STRATEGIES, budget: int = 4,
              image_model: str = DEFAULT_IMAGE_MODEL, judge: str = DEFAULT_CRITIC, out: Path,
              seed: int = 0, on_row: Callable[[Row], None] | None = None) -> list[Row]:
    """Run every strategy on every item (skipping what `out/results.jsonl` already holds for the same
    budget, model, judge and seed) and return all rows for these items and strategies."""
    _register_null_critic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    config = {"budget": budget, "image_model": image_model, "judge": judge, "seed": seed}
    done = {(r.strategy, r.index): r for r in load_rows(results, config)}
    setup = Setup(budget, image_model, judge, out / "runs")
    strategies = list(strategies)
    for key in strategies:
        strategy_fn(key)  # fail on a bad name before any work
    judge_critic = registry.resolve("critic", judge)
    todo = [(k, it) for it in items for k in strategies if (k, it.index) not in done]
    if todo:
        warm_up(image_model, judge_critic, items[0], out)
    with timed_backend(image_model) as clock, results.open("a") as f:
        for item in items:  # prompt by prompt, all strategies: a partial run stays comparable
            for key in strategies:
                if (key, item.index) in done:
                    continue
                row = run_one(setup, key, item, seed_for(item, seed), clock, judge_critic)
                f.write(json.dumps({"config": config, **asdict(row)}) + "\n")
                f.flush()
                done[(key, item.index)] = row
                if on_row:
                    on_row(row)
    wanted = {it.index for it in items}
    return [done[(k, i)] for i in sorted(wanted) for k in strategies if (k, i) in done]


def warm_up(image_model: str, judge, item: Item, out: Path) -> None:
    """Load the weights and the judge once, outside any measured run."""
    from agent.core.types import GenerationRequest
    backend = registry.resolve("image", image_model)
    warm = out / "warmup"
    warm.mkdir(exist_ok=True)
    made = backend.generate(GenerationRequest(prompt=item.prompt, model=image_model, seed=0, n=1), warm)
    judge.critique(made[0], item.prompt, item.spec)


def load_rows(path: Path, config: dict | None = None) -> list[Row]:
    rows = []
    if not Path(path).is_file():
        return rows
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        data = json.loads(line)
        if config is not None and data.pop("config", None) != config:
            continue
        data.pop("config", None)
        rows.append(Row(**data))
    return rows


# ---- the table ----------------------------------------------------------------------------------
@dataclass
class Summary:
    strategy: str
    n: int
    accuracy: float
    per_category: dict[str, tuple[int, int]]  # category -> (correct, prompts)
    images: float
    calls: float
    edits: float
    steps: float
    wall: float
    outside: float  # share of wall time outside the image model
    approved: float
    failed: int


def summarise(rows: list[Row]) -> list[Summary]:
    by: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by[r.strategy].append(r)
    out = []
    for key, rs in by.items():
        cats = {c: (sum(r.correct for r in rs if r.category == c), sum(r.category == c for r in rs))
                for c in CATEGORIES if any(r.category == c for r in rs)}
        wall = sum(r.wall for r in rs)
        n = len(rs)
        out.append(Summary(key, n, sum(r.correct for r in rs) / n, cats, sum(r.images for r in rs) / n,
                           sum(r.calls for r in rs) / n, sum(r.edits for r in rs) / n,
                           sum(r.steps for r in rs) / n, wall / n,
                           (wall - sum(r.model for r in rs)) / wall if wall else 0.0,
                           sum(r.approved for r in rs) / n, sum(r.status == "failed" for r in rs)))
    return out


def table_rows(summaries: list[Summary]) -> tuple[list[str], list[list[str]]]:
    cats = [c for c in CATEGORIES if any(c in s.per_category for s in summaries)]
    head = ["strategy", "overall"] + cats + ["images/prompt", "denoising steps/prompt", "calls/prompt",
                                             "edits/prompt", "s/prompt", "outside model"]
    body = []
    for s in summaries:
        cells = [label(s.strategy), f"{100 * s.accuracy:.1f}% ({s.n})"]
        for c in cats:
            ok, n = s.per_category.get(c, (0, 0))
            cells.append(f"{100 * ok / n:.0f}% ({ok}/{n})" if n else "-")
        cells += [f"{s.images:.2f}", f"{s.steps:.1f}", f"{s.calls:.2f}", f"{s.edits:.2f}", f"{s.wall:.2f}",
                  f"{100 * s.outside:.0f}%"]
        body.append(cells)
    return head, body


def label(key: str) -> str:
    return LABELS.get(key, key)


def markdown_table(summaries: list[Summary]) -> str:
    head, body = table_rows(summaries)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def print_table(summaries: list[Summary], budget: int, console=None) -> None:
    from rich.console import Console
    from rich.table import Table
    head, body = table_rows(summaries)
    t = Table(title=f"held-out shapes suite, budget {budget} images per prompt (judged by the detector)")
    for i, h in enumerate(head):
        t.add_column(h, justify="left" if i == 0 else "right")
    for cells in body:
        t.add_row(*cells)
    import sys
    (console or Console(width=None if sys.stdout.isatty() else 180)).print(t)


# ---- diagnostics: why a strategy falls short ------------------------------------------------------
def diagnose(rows: list[Row], key: str = "loop_edits") -> dict[str, Any]:
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


def attempt_rates(rows: list[Row], key: str) -> list[tuple[int, int]]:
    """(approved, made) for a strategy's i-th image over all prompts: for best-of-N these are the
    same seeds as the loop's rounds at the default guidance, so the two together show what the
    loop's rising guidance does."""
    made: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if r.strategy == key:
            for i, a in enumerate(r.trace):
                made[i][0] += a["ok"]
                made[i][1] += 1
    return [tuple(made[i]) for i in sorted(made)]


def _final_kinds(r: Row) -> list[str]:
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


def report_section(name: str, summaries: list[Summary], rows: list[Row], *, budget: int, command: str,
                   image_model: str, judge: str, seconds: float) -> str:
    m = machine()
    n = len({r.index for r in rows})
    cats = Counter(r.category for r in rows if r.strategy == rows[0].strategy) if rows else Counter()
    diag = [diagnose(rows, k) for k in ("loop", "loop_edits") if any(r.strategy == k for r in rows)]
    bon = attempt_rates(rows, "best_of_n")
    lines = [f"<!-- bench:{name} -->", f"### `{command}`", "",
             f"{n} held-out prompts ({', '.join(f'{c} {cats[c]}' for c in CATEGORIES if cats[c])}), "
             f"budget {budget} images per prompt, image model `{image_model}`, judged by `{judge}`.", "",
             markdown_table(summaries), "",
             f"- machine: {m['cpu']}; {m['software']}; load average at the end {m['load']}",
             f"- commit {m['commit']}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{seconds / 60:.1f} min for this invocation",
             "- accuracy = the judge approves the run's best image; images = images generated (what the "
             "budget counts); calls = image back-end calls (best-of-N is one batched call); "
             "outside model = (wall − time inside the image back end) / wall."]
    if bon:
        lines.append(f"- best-of-N, image i approved (approved, made): {bon} (seed + i, default guidance)")
    for d in diag:
        lines.append(f"- {label(d['strategy'])}: first image right {d['first_image_ok']}/{d['prompts']}, "
                     f"attempt i approved {d['ok_by_attempt']}, "
                     f"approved {d['approved']}, images used when approved {d['images_when_approved']}, "
                     f"edits {json.dumps(d['edits'])}, unsolved by final finding "
                     f"{json.dumps(d['unsolved_by_final_finding'])}, by category {json.dumps(d['unsolved_by_category'])}")
    lines.append(f"<!-- /bench:{name} -->")
    return "\n".join(lines)


HEADER = """# Benchmarks

`atelier bench` measures Atelier's claim: an agent that critiques and revises gets what was asked
for more often than generating once, and more cheaply than brute force. It runs the held-out
shapes-world suite (`local_models/shapes/world.py: heldout_prompts()`, 300 prompts over GenEval's
six categories whose combinations training never showed) with the offline default (`offline`
planner, `local:shapes`, `critic:detector`) and compares four strategies at the same budget of
generated images per prompt and the same seeds (see `agent/surfaces/bench.py`). Reproduce with the command
above each table; `--quick` is a stratified subset, `--llm openai-compatible:MODEL@URL` adds an
LLM director to the same table.

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


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
