"""`atelier bench` on a few prompts with a fast ground-truth back end: the shapes world rendered
exactly, with deliberate mistakes on some seeds (so strategies differ), region edits that really
repaint the masked box, and an exact critic that reads what was drawn from the PNG's metadata."""
from __future__ import annotations

import json
import random

import pytest
from PIL import Image
from typer.testing import CliRunner

from agent.core import registry
from agent.surfaces import bench
from agent.core.artifacts import read_metadata, save_image
from agent.critics import CRITICS
from agent.core.protocols import ModelInfo
from agent.core.spec_parser import parse_spec
from agent.core.types import Finding, GenerationRequest, Verdict
from local_models.shapes import world
from tests.fakes import FlatBackend


# ---- a ground-truth "model": seed % 4 picks its mistake ----------------------------------------
def _missing(rng, objs, spec):
    return objs[:-1]


def _extra(rng, objs, spec):
    box = world._place(rng, 14, [o[2] for o in objs])
    return objs + [[objs[0][0], objs[0][1], list(box)]] if box and objs else objs


def _recolor(rng, objs, spec):
    if not objs:
        return objs
    kind, color, box = objs[0]
    return [[kind, next(c for c in world.COLORS if c != color), box]] + objs[1:]


MISTAKES = [lambda rng, objs, spec: objs, _missing, _extra, _recolor]
EDIT_FAILS_ON = set()  # seeds whose edits "do not take" (the source comes back unchanged)


class WorldBackend:
    adds_by_inpainting = True  # this world's inpainting can add an object

    def __init__(self, model: str = ""):
        self.info = ModelInfo(name="test:world", sizes=[(64, 64)], default_steps=1, default_guidance=5.0,
                              edits=["inpaint"], adds_by_inpainting=self.adds_by_inpainting,
                              vocabulary=world.vocabulary_text())  # so the planner uses the caption grammar
        self.requests: list[GenerationRequest] = []

    def generate(self, request: GenerationRequest, out_dir):
        self.requests.append(request)
        spec = parse_spec(request.prompt)
        made = []
        for i in range(request.n):
            seed = request.seed + i
            rng = random.Random(seed)
            scene = world.scene_for_spec(rng, spec)
            objs = [[o.kind, o.color, list(o.box)] for o in scene.objects]
            objs = MISTAKES[seed % 4](rng, objs, spec)
            made.append(_save(scene.background, objs, out_dir, request.model_copy(update={"seed": seed, "n": 1}), i))
        return made

    def edit(self, request: GenerationRequest, out_dir):
        self.requests.append(request)
        source = read_metadata(request.source_image)["meta"]
        x0, y0, x1, y1 = Image.open(request.mask).getbbox()
        objs = source["objects"]
        if request.seed not in EDIT_FAILS_ON:
            objs = [o for o in objs if not (x0 <= (o[2][0] + o[2][2]) / 2 < x1 and y0 <= (o[2][1] + o[2][3]) / 2 < y1)]
            spec = parse_spec(request.prompt)
            rng = random.Random(request.seed)
            for o in spec.include:  # paint into the (now empty) box what the prompt asks for
                side = world.SIZES[o.size][0] if o.size else 12  # at the size it names
                for _ in range(o.count):
                    for _ in range(200):
                        bx, by = rng.randint(x0, max(x0, x1 - side)), rng.randint(y0, max(y0, y1 - side))
                        box = [bx, by, bx + side, by + side]
                        if box[2] <= x1 and box[3] <= y1 and world._boxes_clear(box, [b for _, _, b in objs], 1):
                            objs = objs + [[o.cls, o.color or "red", box]]
                            break
        return [_save(source["background"], objs, out_dir, request, 0)]


def _save(background, objs, out_dir, request, index):
    scene = world.Scene(background, [world.Obj(k, c, tuple(b)) for k, c, b in objs], None, "")
    return save_image(world.render(scene), out_dir, request, index=index,
                      meta={"objects": objs, "background": background})


class OracleCritic:
    """Exact checks of a spec against what the test back end drew, with findings like the detector's."""

    name = "critic:oracle"
    kinds = ("image",)

    def critique(self, artifact, brief_text, spec) -> Verdict:
        objs = read_metadata(artifact.path)["meta"]["objects"]
        findings, first = [], {}
        for i, o in enumerate(spec.include):
            same = [k for k, (kind, color, _) in enumerate(objs) if kind == o.cls and o.color in (None, color)]
            other = [k for k, (kind, color, _) in enumerate(objs) if kind == o.cls and k not in same]
            if same:
                first[i] = objs[same[0]][2]
            if len(same) < o.count:
                findings.append(Finding(kind="color", object=i, box=tuple(objs[other[0]][2]), message=f"{o.cls} has the wrong color")
                                if other else Finding(kind="missing", object=i, message=f"missing {o.describe()}"))
            elif len(same) > o.count:
                findings.append(Finding(kind="extra", object=i, box=tuple(objs[same[-1]][2]), message=f"extra {o.cls}"))
        asked = {o.cls for o in spec.include}
        findings += [Finding(kind="extra", box=tuple(b), message=f"unasked {k}") for k, _, b in objs if k not in asked]
        for i, o in enumerate(spec.include):
            if o.position and i in first and o.position[1] in first and \
                    not world.relation_holds(o.position[0], first[i], first[o.position[1]]):
                findings.append(Finding(kind="position", object=i, message=f"{o.cls} not {o.position[0]}"))
        return Verdict(critic=self.name, approved=not findings,
                       scores={"spec": 1 - len(findings) / (len(spec.include) + len(findings))},
                       issues=[f.message for f in findings], findings=findings,
                       detections=[Finding(kind="seen", message=f"{c} {k}", shape=k, color=c, box=tuple(b)) for k, c, b in objs])


class YesCritic:
    """Approves everything: what the judge finds wrong, the critic let through."""

    name = "critic:yes"
    kinds = ("image",)
    approve = True

    def critique(self, artifact, brief_text, spec) -> Verdict:
        return Verdict(critic=self.name, approved=self.approve)


class NoCritic(YesCritic):
    name = "critic:no"
    approve = False


@pytest.fixture(autouse=True)
def world_backends(monkeypatch):
    # "local:shapes" resolves to the ground-truth world, whose vocabulary is the shapes world's
    monkeypatch.setitem(CRITICS, "oracle", "tests.test_bench:OracleCritic")
    monkeypatch.setitem(CRITICS, "yes", "tests.test_bench:YesCritic")
    monkeypatch.setitem(CRITICS, "no", "tests.test_bench:NoCritic")
    monkeypatch.setattr("tests.test_bench.EDIT_FAILS_ON", set())
    with registry.override("image", "local", "tests.test_bench:WorldBackend"):
        yield


def three_prompts():
    items = bench.suite(per_category=1)
    return [it for it in items if it.category in ("single_object", "counting", "position")]


def test_suite_is_stratified_and_held_out():
    full = bench.suite()
    assert len(full) == len({it.index for it in full}) >= 300
    assert set(it.category for it in full) == set(bench.CATEGORIES)
    quick = bench.suite(quick=True)
    assert all(sum(it.category == c for it in quick) == bench.QUICK_PER_CATEGORY for c in bench.CATEGORIES)
    assert [it.category for it in bench.suite(limit=len(bench.CATEGORIES))] == bench.CATEGORIES  # any prefix is stratified
    assert bench.suite(limit=3, offset=3) == full[3:6]


def test_strategies_accounting_and_table(tmp_path):
    items = three_prompts()
    seen = []
    rows = bench.run_bench(items, budget=4, critic="critic:oracle", out=tmp_path, seed=1, on_row=seen.append)
    assert len(rows) == len(seen) == 3 * 4
    by = {(r.strategy, r.category): r for r in rows}
    for r in rows:
        assert r.status != "failed", r.error
        assert 1 <= r.images <= r.budget == 4 and r.calls <= r.images
        assert r.wall >= r.model > 0 and len(r.trace) == r.images
        assert r.seed == 1 + 100 * r.index  # seed % 4 == 1: every first image misses an object
    for cat in ("single_object", "counting", "position"):
        single, best, loop, edits = (by[(k, cat)] for k in bench.BASE_STRATEGIES)
        assert (single.images, single.calls, single.correct, single.approved) == (1, 1, False, False)
        assert (best.images, best.calls, best.correct) == (4, 1, True)  # seed + 3 is drawn right
        assert loop.correct and loop.edits == 0 and loop.images >= 3  # seeds +1 (extra) +2 (recolor)
        assert edits.correct and edits.edits == 1 and edits.images == 2  # inpaints the missing object
        assert edits.trace[1]["action"] == "edit" and edits.trace[1]["source"] == 0
        assert edits.trace[0]["kinds"] == ["missing"] and edits.trace[1]["ok"]
    # the loop's later rounds raise the guidance
    pos = by[("loop", "position")]
    assert [a["guidance"] for a in pos.trace] == [None, 6.25, 7.5, 8.75][: pos.images]

    summaries = {s.strategy: s for s in bench.summarise(rows)}
    assert summaries["single"].accuracy == 0 and summaries["best_of_n"].accuracy == 1
    assert summaries["loop_edits"].per_category == {"single_object": (1, 1), "counting": (1, 1), "position": (1, 1)}
    assert summaries["loop_edits"].images == 2 and summaries["best_of_n"].calls == 1
    assert 0 <= summaries["loop"].outside <= 1
    head, body = bench.table_rows(list(summaries.values()))
    assert head[:2] == ["strategy", "overall"] and head[2:5] == ["single_object", "counting", "position"]
    assert [b[0] for b in body] == [bench.label(k) for k in bench.BASE_STRATEGIES]
    assert body[0][1] == "0.0% (3)" and body[1][2] == "100% (1/1)"
    md = bench.markdown_table(list(summaries.values())).splitlines()
    assert len(md) == 2 + 4 and md[0].count("|") == len(head) + 1

    d = bench.diagnose(rows, "loop_edits")
    assert d["edits"] == {"missing": {"tried": 3, "fewer_problems": 3, "approved": 3}}
    assert d["first_image_ok"] == 0 and d["approved"] == d["correct"] == 3


def test_edits_that_do_not_take_and_a_resumed_run(tmp_path, monkeypatch):
    items = three_prompts()[:1]
    seed = bench.seed_for(items[0], 1)
    monkeypatch.setattr("tests.test_bench.EDIT_FAILS_ON", {seed + 1, seed + 2})
    rows = bench.run_bench(items, strategies=["loop_edits"], budget=3, critic="critic:oracle", out=tmp_path, seed=1)
    (r,) = rows
    assert r.edits == 2 and r.images == 3 and not r.correct and not r.approved and r.status == "budget_spent"
    d = bench.diagnose(rows, "loop_edits")
    assert d["edits"]["missing"] == {"tried": 2, "fewer_problems": 0, "approved": 0}
    assert d["unsolved_by_final_finding"] == {"count": 1}  # the judge: one object short
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    again = bench.run_bench(items, strategies=["loop_edits"], budget=3, critic="critic:oracle", out=tmp_path, seed=1)
    assert (tmp_path / "results.jsonl").read_text().splitlines() == lines  # nothing redone
    assert again[0].trace == r.trace
    other = bench.run_bench(items, strategies=["loop_edits"], budget=2, critic="critic:oracle", out=tmp_path, seed=1)
    assert other[0].budget == 2 and other[0].images <= 2  # another budget is another experiment


def test_cli_prints_the_table_and_writes_benchmarks_md(tmp_path):
    from agent.surfaces.cli import app
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nhand-written findings stay\n")
    args = ["bench", "--limit", "2", "--budget", "2", "--critic", "critic:oracle", "--out", str(tmp_path / "b"),
            "--write", "--bench-file", str(md), "--json", "--per-prompt"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert [s["strategy"] for s in summary["strategies"]] == bench.BASE_STRATEGIES + bench.LAYOUT_STRATEGIES
    assert all(s["n"] == 2 and s["images"] <= 2 for s in summary["strategies"])
    text = md.read_text()
    assert "hand-written findings stay" in text and "<!-- bench:limit-2 -->" in text
    assert "atelier bench --limit 2" in text and "| strategy | overall |" in text and "commit" in text
    assert "judged by `judge:shapes`" in text and "critic ✓ judge ✗" in text
    assert "| # | category | prompt | strategy |" in result.output  # --per-prompt
    assert CliRunner().invoke(app, args).exit_code == 0  # again: the section is replaced, not added
    assert md.read_text().count("<!-- bench:limit-2 -->") == 1


def test_cli_rejects_bad_options(tmp_path):
    from agent.surfaces.cli import app
    r = CliRunner().invoke(app, ["bench", "--strategies", "nope", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "unknown strategy" in r.output
    r = CliRunner().invoke(app, ["bench", "--llm", "not-a-spec", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "openai-compatible" in r.output


def test_an_llm_director_runs_in_the_same_table(tmp_path, backends):
    # the offline planner speaks the LLM protocol, so it can stand in for a server here
    backends("llm", "stand-in", "agent.llm.offline:OfflinePlanner")
    items = three_prompts()[:2]
    rows = bench.run_bench(items, strategies=["best_of_n", "agent[stand-in:x]"], budget=3, critic="critic:oracle",
                           out=tmp_path, seed=1)
    agent_rows = [r for r in rows if r.strategy == "agent[stand-in:x]"]
    assert len(agent_rows) == 2 and all(r.correct and r.images <= 3 and r.status == "approved" for r in agent_rows)
    head, body = bench.table_rows(bench.summarise(rows))
    assert body[1][0] == "agent[stand-in:x]" and body[1][1] == "100.0% (2)"
    rates = bench.attempt_rates(rows, "best_of_n")  # seeds +0 (missing) and +1 (extra) are never right
    assert len(rates) == 3 and rates[:2] == [(0, 2), (0, 2)]


def test_planner_reseeds_instead_of_adding_by_inpainting_where_that_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(WorldBackend, "adds_by_inpainting", False)
    rows = bench.run_bench(three_prompts()[:1], strategies=["loop_edits"], budget=4, critic="critic:oracle",
                           out=tmp_path, seed=1)
    assert rows[0].edits == 0 and rows[0].trace[0]["kinds"] == ["missing"] and rows[0].trace[1]["action"] == "generate"


# ---- the judge apart from the critic ---------------------------------------------------------------
def test_the_judge_decides_and_disagreements_with_the_critic_are_counted(tmp_path):
    items = three_prompts()[:2]
    # seed % 4 == 1: every first image misses an object; a critic that approves everything stops there
    rows = bench.run_bench(items, strategies=["single", "loop"], budget=2, critic="critic:yes",
                           out=tmp_path / "yes", seed=1)
    assert all(r.critic_ok and r.approved == (r.strategy == "loop") for r in rows)
    assert not any(r.correct for r in rows) and all("count" in r.final for r in rows)
    summary = {s.strategy: s for s in bench.summarise(rows)}
    assert summary["loop"].critic_yes_judge_no == summary["single"].critic_yes_judge_no == 2
    assert summary["loop"].critic_no_judge_yes == 0 and summary["loop"].accuracy == 0
    head, body = bench.table_rows(list(summary.values()))
    assert body[0][head.index("critic ✓ judge ✗")] == "100.0% (2)"
    # seed % 4 == 0: drawn right; a critic that rejects everything disagrees the other way
    rows = bench.run_bench(items, strategies=["single"], budget=1, critic="critic:no", out=tmp_path / "no", seed=0)
    assert all(r.correct and r.critic_ok is False for r in rows)
    (s,) = bench.summarise(rows)
    assert (s.critic_no_judge_yes, s.critic_yes_judge_no, s.accuracy) == (2, 0, 1.0)


def test_the_background_category_and_the_ground_truth_specs():
    from local_models.shapes.world import BACKGROUNDS, heldout_prompts, is_heldout
    full = bench.suite()
    assert [(it.category, it.prompt) for it in sorted(full, key=lambda it: it.index)][:300] == \
        [(c, p) for c, p, _ in heldout_prompts()]  # results are keyed by index: the 300 stay as they were
    bg = [it for it in full if it.category == "background"]
    assert len(bg) == 40 and sorted(it.index for it in bg) == list(range(300, 340))
    assert {it.spec.background for it in bg} == set(BACKGROUNDS)
    for it in bg:
        assert it.prompt.endswith(f" on {'an' if it.spec.background[0] in 'aeiou' else 'a'} "
                                  f"{it.spec.background} background")
        assert is_heldout(it.spec.model_copy(update={"background": None}), it.spec.background, None)
    for it in full:  # counts exact; a background exactly when the prompt names one
        assert all(o.at_least is False for o in it.spec.include)
        assert (it.spec.background is not None) == (" background" in it.prompt)
    assert "background" in [it.category for it in bench.suite(limit=7)]


def test_a_rows_compute_columns(tmp_path):
    items = three_prompts()[:1]
    rows = bench.run_bench(items, strategies=["best_of_n", "loop"], budget=3, critic="critic:oracle",
                           out=tmp_path, seed=1)
    best, loop = rows
    assert (best.images, best.steps, best.critic_calls, best.calls) == (3, 3, 3, 1)  # one batched call
    assert loop.critic_calls == loop.images == len(loop.trace) and loop.steps == loop.images
    assert best.best_path and loop.best_path.endswith(".png")
    head, body = bench.table_rows(bench.summarise(rows))
    for col, value in (("images/prompt", "3.00"), ("denoising steps/prompt", "3.0"), ("critic calls/prompt", "3.00")):
        assert body[0][head.index(col)] == value
    lines = bench.per_prompt_lines(rows)
    assert lines[0].startswith("| # | category | prompt |") and len(lines) == 2 + 2
    assert f"| {best.index} | {best.category} | {best.prompt} | best-of-N (critic picks) | right | approved | 3 | 3 | 3 |" \
        in lines


class _EditsByItself(FlatBackend):  # FlatBackend.edit calls generate: each would be timed twice
    def edit(self, request, out_dir):
        return FlatBackend.generate(self, request, out_dir)


def test_the_model_clock_times_generate_and_edit_and_takes_its_wrappers_off_after(tmp_path):
    with registry.override("image", "timed", "tests.test_bench:_EditsByItself"):
        backend = registry.resolve("image", "timed:x")
        request = GenerationRequest(prompt="a red circle", model="timed:x", seed=1, n=2)
        with bench.timed_backend("timed:x") as clock:
            backend.generate(request, tmp_path)
            backend.edit(request, tmp_path)
        assert (clock.calls, clock.images) == (2, 4) and clock.seconds > 0
        assert "generate" not in vars(backend) and "edit" not in vars(backend)  # the class's own again
