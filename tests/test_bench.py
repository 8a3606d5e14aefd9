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
                for _ in range(o.count):
                    for _ in range(200):
                        bx, by = rng.randint(x0, max(x0, x1 - 12)), rng.randint(y0, max(y0, y1 - 12))
                        box = [bx, by, bx + 12, by + 12]
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
                       detections=[Finding(kind="seen", message=f"{c} {k}", box=tuple(b)) for k, c, b in objs])


@pytest.fixture(autouse=True)
def world_backends(monkeypatch):
    # "local:shapes" resolves to the ground-truth world, whose vocabulary is the shapes world's
    monkeypatch.setitem(registry._REGISTRY["image"], "local", "tests.test_bench:WorldBackend")
    monkeypatch.setitem(CRITICS, "oracle", "tests.test_bench:OracleCritic")
    monkeypatch.setattr("tests.test_bench.EDIT_FAILS_ON", set())
    registry.resolve.cache_clear()
    yield
    registry.resolve.cache_clear()


def three_prompts():
    items = bench.suite(per_category=1)
    return [it for it in items if it.category in ("single_object", "counting", "position")]


def test_suite_is_stratified_and_held_out():
    full = bench.suite()
    assert len(full) == len({it.index for it in full}) >= 300
    assert set(it.category for it in full) == set(bench.CATEGORIES)
    quick = bench.suite(quick=True)
    assert all(sum(it.category == c for it in quick) == bench.QUICK_PER_CATEGORY for c in bench.CATEGORIES)
    assert [it.category for it in bench.suite(limit=6)] == bench.CATEGORIES  # any prefix is stratified
    assert bench.suite(limit=3, offset=3) == full[3:6]


def test_strategies_accounting_and_table(tmp_path):
    items = three_prompts()
    seen = []
    rows = bench.run_bench(items, budget=4, judge="critic:oracle", out=tmp_path, seed=1, on_row=seen.append)
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
    rows = bench.run_bench(items, strategies=["loop_edits"], budget=3, judge="critic:oracle", out=tmp_path, seed=1)
    (r,) = rows
    assert r.edits == 2 and r.images == 3 and not r.correct and not r.approved and r.status == "budget_spent"
    d = bench.diagnose(rows, "loop_edits")
    assert d["edits"]["missing"] == {"tried": 2, "fewer_problems": 0, "approved": 0}
    assert d["unsolved_by_final_finding"] == {"missing": 1}
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    again = bench.run_bench(items, strategies=["loop_edits"], budget=3, judge="critic:oracle", out=tmp_path, seed=1)
    assert (tmp_path / "results.jsonl").read_text().splitlines() == lines  # nothing redone
    assert again[0].trace == r.trace
    other = bench.run_bench(items, strategies=["loop_edits"], budget=2, judge="critic:oracle", out=tmp_path, seed=1)
    assert other[0].budget == 2 and other[0].images <= 2  # another budget is another experiment


def test_cli_prints_the_table_and_writes_benchmarks_md(tmp_path):
    from agent.surfaces.cli import app
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nhand-written findings stay\n")
    args = ["bench", "--limit", "2", "--budget", "2", "--judge", "critic:oracle", "--out", str(tmp_path / "b"),
            "--write", "--bench-file", str(md), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert [s["strategy"] for s in summary["strategies"]] == bench.BASE_STRATEGIES + bench.LAYOUT_STRATEGIES
    assert all(s["n"] == 2 and s["images"] <= 2 for s in summary["strategies"])
    text = md.read_text()
    assert "hand-written findings stay" in text and "<!-- bench:limit-2 -->" in text
    assert "atelier bench --limit 2" in text and "| strategy | overall |" in text and "commit" in text
    assert CliRunner().invoke(app, args).exit_code == 0  # again: the section is replaced, not added
    assert md.read_text().count("<!-- bench:limit-2 -->") == 1


def test_cli_rejects_bad_options(tmp_path):
    from agent.surfaces.cli import app
    r = CliRunner().invoke(app, ["bench", "--strategies", "nope", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "unknown strategy" in r.output
    r = CliRunner().invoke(app, ["bench", "--llm", "not-a-spec", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "openai-compatible" in r.output


def test_an_llm_director_runs_in_the_same_table(tmp_path, monkeypatch):
    # the offline planner speaks the LLM protocol, so it can stand in for a server here
    monkeypatch.setitem(registry._REGISTRY["llm"], "stand-in", "agent.llm.offline:OfflinePlanner")
    items = three_prompts()[:2]
    rows = bench.run_bench(items, strategies=["best_of_n", "agent[stand-in:x]"], budget=3, judge="critic:oracle",
                           out=tmp_path, seed=1)
    agent_rows = [r for r in rows if r.strategy == "agent[stand-in:x]"]
    assert len(agent_rows) == 2 and all(r.correct and r.images <= 3 and r.status == "approved" for r in agent_rows)
    head, body = bench.table_rows(bench.summarise(rows))
    assert body[1][0] == "agent[stand-in:x]" and body[1][1] == "100.0% (2)"
    rates = bench.attempt_rates(rows, "best_of_n")  # seeds +0 (missing) and +1 (extra) are never right
    assert len(rates) == 3 and rates[:2] == [(0, 2), (0, 2)]


def test_planner_reseeds_instead_of_adding_by_inpainting_where_that_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(WorldBackend, "adds_by_inpainting", False)
    rows = bench.run_bench(three_prompts()[:1], strategies=["loop_edits"], budget=4, judge="critic:oracle",
                           out=tmp_path, seed=1)
    assert rows[0].edits == 0 and rows[0].trace[0]["kinds"] == ["missing"] and rows[0].trace[1]["action"] == "generate"
