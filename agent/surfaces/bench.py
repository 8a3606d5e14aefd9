"""`atelier bench`: does an agent that critiques and revises get what was asked for more often than
generating once, and more cheaply than brute force? Measured on the held-out shapes-world suite
(`world.heldout_prompts()`: 300 prompts over GenEval's six categories, never seen in training, and
`background_prompts()`: 40 held-out contents on a named background; `bench_text.text_prompts()`: 24
briefs with words to write, "a yellow star above the word JAZZ"), at an equal budget of denoising
steps per prompt (N images' worth: every pass counts, so a layout composed in three passes costs
three images), with the same seeds for every strategy:

- single:     one image, no critic (the refined prompt, the prompt's seed);
- best_of_n:  N images in one batched call, the critic picks the best (the classic rerank);
- loop:       the fixed loop with the offline planner: re-seed, stronger guidance, revised prompt;
- loop_edits: the same loop with targeted region edits (inpaint what is missing, remove what is extra);
- layout:     layout first: boxes planned by rules, the image composed box by box (inpainting);
              a miss gets a new layout and seed;
- layout_edits: layout first, then region edits from the critic's findings (add, remove, move, recolour);
- agent[SPEC]: an LLM director (agent mode, edits allowed) for each `--llm SPEC`.

Every strategy is a small function over the public `Studio` API, its loop critiqued by `--critic`
(`critic:detector`). The benchmark judges each run's delivered image afterwards with a judge built
apart from that critic (`judge:shapes`, `local_models/shapes/judge.py`, against the suite's
ground-truth spec: exact counts, the named background, nothing else drawn; for a brief with words,
`bench_text.judge_words`: the words read by the judge's own OCR, exact, in place, and nothing else
written, the shapes judged with the words painted out), and counts where the two disagree; that judging is not part of a strategy's time. Model time is measured by wrapping
the image back end's `generate`/`edit`, so "outside model" = (wall - model) / wall is the share of
a prompt's time spent in the planner, the critic, run records and files. Results go to
`<out>/results.jsonl` (one line per strategy and prompt, with its images, denoising steps and
critic calls); running the same command again skips what is done, so a long suite can be run in parts.
"""
from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from agent.core import registry
from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL
from agent.core.types import Artifact, SceneSpec, Verdict
from agent.surfaces.bench_report import (  # noqa: F401 (re-exported: the CLI and bench_video use them)
    CATEGORIES, HEADER, LABELS, ROOT, Summary, attempt_rates, commit, diagnose, label, machine,
    markdown_table, per_prompt_lines, print_table, report_section, summarise, table_rows, write_report)

from agent.surfaces.bench_keys import BASE_STRATEGIES, LAYOUT_STRATEGIES  # noqa: E402 (the CLI's help lists them)
QUICK_PER_CATEGORY = 4
NULL_CRITIC = "critic:bench-none"
DEFAULT_JUDGE = "judge:shapes"
HELDOUT_SIZE = 300  # world.heldout_prompts(): the background briefs are numbered after them
BACKGROUND_FROM = {"counting": 14, "color_attr": 13, "position": 13}  # held-out contents, on a background


# ---- the suite ---------------------------------------------------------------------------------
@dataclass
class Item:
    index: int  # position in heldout_prompts(): stable across runs, so results can be resumed
    category: str
    prompt: str
    spec: SceneSpec


def truth_spec(spec: SceneSpec) -> SceneSpec:
    """The ground truth a held-out prompt states: its counts exact ("a", "two": exactly); its
    background and size word are in its spec as the world wrote it (none named: any)."""
    truth = spec.model_copy(deep=True)
    for o in truth.include:
        o.at_least = False
    return truth


def background_prompts() -> list[tuple[str, str, SceneSpec]]:
    """40 briefs on a named background ("a photo of two red circles on a beige background"): contents
    held out whole (counting, colour attribution, position; so still never seen in training) from the
    end of each category's list, the backgrounds in turn."""
    from agent.core.captions import canonical_prompt
    from local_models.shapes.world import BACKGROUNDS, heldout_prompts, is_heldout
    out = []
    for cat, n in BACKGROUND_FROM.items():
        for spec in [spec for c, _, spec in heldout_prompts() if c == cat][-n:]:
            bg = list(BACKGROUNDS)[len(out) % len(BACKGROUNDS)]
            assert is_heldout(spec, bg, None), spec  # held out whole, on any background
            out.append(("background", canonical_prompt(spec, bg), spec.model_copy(update={"background": bg})))
    return out


def suite(*, quick: bool = False, per_category: int | None = None, limit: int | None = None,
          offset: int = 0, categories: Iterable[str] | None = None) -> list[Item]:
    """The held-out prompts, interleaved category by category so that any prefix is stratified:
    `--quick` and `--per-category K` take the first K of each category, `--limit` the first L. Each
    item's spec is its ground truth (`truth_spec`): what the loop is asked and the judge checks.
    `categories`: only these (e.g. ["text"])."""
    from agent.surfaces.bench_text import text_prompts
    from local_models.shapes.world import heldout_prompts
    by_cat: dict[str, list[Item]] = defaultdict(list)
    held = heldout_prompts()
    assert len(held) == HELDOUT_SIZE  # results are keyed by index: the background, then the text briefs come after
    for i, (cat, prompt, spec) in enumerate([*held, *background_prompts(), *text_prompts()]):
        by_cat[cat].append(Item(i, cat, prompt, truth_spec(spec)))
    if categories is not None:
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown category {sorted(unknown)[0]!r}; known: {', '.join(CATEGORIES)}")
        by_cat = {c: items for c, items in by_cat.items() if c in set(categories)}
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
    for name in ("generate", "edit"):  # an ImageBackend declares both
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
    critic: str  # the loop's critic (the judge is apart from it)
    runs_dir: Path
    _studios: dict = field(default_factory=dict)

    def studio(self, key: str, **kw):
        from agent.surfaces.api import Studio
        if key not in self._studios:
            kw = {"image_model": self.image_model, "critic": self.critic, "mode": "loop", **kw}
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
layout = planner_loop(False, "always", "layout first: boxes by rules, drawn box by box; a miss gets a new layout")
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
    critic_calls: int = 0  # critiques the strategy asked its critic for
    wall: float = 0.0  # seconds for the whole run (planner, model, critic, records)
    model: float = 0.0  # seconds inside the image back end
    judge_seconds: float = 0.0  # the benchmark's own judging, not part of the strategy
    status: str = ""
    error: str | None = None
    critic_ok: bool | None = None  # the loop's critic approves the delivered image (None: no image)
    best_path: str | None = None  # the delivered image, so it can be looked at or judged again
    final: list[str] = field(default_factory=list)  # what the judge found wrong with the best image
    trace: list[dict] = field(default_factory=list)  # each attempt: action, finding kinds, approved


def _trace(record) -> list[dict]:
    out = []
    for a in record.attempts:
        v = a.verdict
        out.append({"action": a.action, "ok": bool(v and v.approved),
                    "kinds": [f.kind for f in v.findings] if v else [],
                    "error": (v.error or "")[:160] or None if v else None,
                    "guidance": a.artifact.request.guidance, "source": a.source,
                    "note": a.note or None})
    return out


# ---- the judge ------------------------------------------------------------------------------------
@dataclass
class Judged:
    right: bool
    kinds: list[str]  # what is wrong, in a word each
    error: str | None = None


class Judge:
    """The benchmark's judge: `judge:shapes` (the independent checker, `local_models/shapes/judge.py`),
    or any critic spec (e.g. `critic:detector`, to see what the loop's critic alone would claim)."""

    def __init__(self, spec: str):
        self.spec = spec
        self._critic = None if spec == DEFAULT_JUDGE else registry.resolve("critic", spec)

    def __call__(self, artifact: Artifact, prompt: str, spec: SceneSpec, verdict: Verdict | None = None) -> Judged:
        if self._critic is None and spec.text:
            from agent.surfaces.bench_text import judge_words
            right, kinds, _ = judge_words(artifact.path, spec)
            return Judged(right, kinds)
        if self._critic is None:
            from local_models.shapes.judge import judge
            j = judge(artifact.path, spec)
            return Judged(j.right, sorted(set(j.kinds)))
        if not (verdict and verdict.critic == self._critic.name):  # the critic's own verdict serves as is
            verdict = self._critic.critique(artifact, prompt, spec)
        if verdict.error:
            return Judged(False, ["critic error: " + verdict.error[:100]], verdict.error)
        return Judged(bool(verdict.approved), [f.kind for f in verdict.findings])


def run_one(s: Setup, key: str, item: Item, seed: int, clock: ModelClock, judge: Judge, critic) -> Row:
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
    row.critic_calls = sum(a.verdict is not None and a.verdict.critic != NULL_CRITIC for a in record.attempts)
    row.approved, row.status, row.error = record.approved, record.status, record.error
    row.trace = _trace(record)
    best = record.best
    if best is not None:
        t1 = time.perf_counter()
        v = best.verdict
        if not (v and v.critic == critic.name):  # single shot has no critic: ask it, for the disagreement count
            v = critic.critique(best.artifact, item.prompt, item.spec)
        row.critic_ok = bool(v.approved)
        judged = judge(best.artifact, item.prompt, item.spec, v)
        row.correct, row.final, row.best_path = judged.right, judged.kinds, str(best.artifact.path)
        row.judge_seconds = time.perf_counter() - t1
    return row


# ---- the whole run ----------------------------------------------------------------------------
def run_bench(items: list[Item], *, strategies: Iterable[str] = BASE_STRATEGIES, budget: int = 4,
              image_model: str = DEFAULT_IMAGE_MODEL, critic: str = DEFAULT_CRITIC, judge: str = DEFAULT_JUDGE,
              out: Path, seed: int = 0, on_row: Callable[[Row], None] | None = None) -> list[Row]:
    """Run every strategy on every item (skipping what `out/results.jsonl` already holds for the same
    budget, model, critic, judge and seed) and return all rows for these items and strategies."""
    _register_null_critic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    config = {"budget": budget, "image_model": image_model, "critic": critic, "judge": judge, "seed": seed}
    done = {(r.strategy, r.index): r for r in load_rows(results, config)}
    setup = Setup(budget, image_model, critic, out / "runs")
    strategies = list(strategies)
    for key in strategies:
        strategy_fn(key)  # fail on a bad name before any work
    the_critic, the_judge = registry.resolve("critic", critic), Judge(judge)
    todo = [(k, it) for it in items for k in strategies if (k, it.index) not in done]
    if todo:
        warm_up(image_model, the_critic, the_judge, items[0], out)
    with timed_backend(image_model) as clock, results.open("a") as f:
        for item in items:  # prompt by prompt, all strategies: a partial run stays comparable
            for key in strategies:
                if (key, item.index) in done:
                    continue
                row = run_one(setup, key, item, seed_for(item, seed), clock, the_judge, the_critic)
                f.write(json.dumps({"config": config, **asdict(row)}) + "\n")
                f.flush()
                done[(key, item.index)] = row
                if on_row:
                    on_row(row)
    wanted = {it.index for it in items}
    return [done[(k, i)] for i in sorted(wanted) for k in strategies if (k, i) in done]


def warm_up(image_model: str, critic, judge: Judge, item: Item, out: Path) -> None:
    """Load the weights, the critic and the judge once, outside any measured run."""
    from agent.core.types import GenerationRequest
    backend = registry.resolve("image", image_model)
    warm = out / "warmup"
    warm.mkdir(exist_ok=True)
    made = backend.generate(GenerationRequest(prompt=item.prompt, model=image_model, seed=0, n=1), warm)
    judge(made[0], item.prompt, item.spec, critic.critique(made[0], item.prompt, item.spec))


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


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
