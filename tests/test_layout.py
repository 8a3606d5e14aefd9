"""Layouts: the rule solver satisfies counts and relations by GenEval's rule with no overlaps on
many specs; a layout that breaks its spec is refused with the reason; the planner places a
missing object where the relation wants it, clear of what the critic saw."""
from __future__ import annotations

import itertools

import pytest

from agent.core.options import RunOptions
from agent.core.geometry import relation_holds
from agent.core.layout import Layout, LayoutBox, plan_layout
from agent.core.plans import AttemptView, PlanState
from agent.core.types import Finding, SceneSpec, Verdict
from agent.llm.offline import OfflinePlanner

SHAPES, COLORS = ["circle", "square", "triangle", "star", "ring"], ["red", "blue", "green", "yellow", None]
RELATIONS = ["left of", "right of", "above", "below"]


def specs():
    """Single objects, counts 1-4, pairs, and every relation with counts up to 2 on each side."""
    out = [SceneSpec.model_validate({"include": [{"class": s, "count": n, "color": c}]})
           for s, n, c in itertools.product(SHAPES, [1, 2, 3, 4], COLORS[:2])]
    for (a, b), rel, (na, nb) in itertools.product([("circle", "square"), ("star", "ring")], RELATIONS,
                                                   [(1, 1), (2, 1), (1, 2), (2, 2)]):
        out.append(SceneSpec.model_validate({"include": [{"class": b, "count": nb, "color": "blue"},
                                                         {"class": a, "count": na, "color": "red",
                                                          "position": [rel, 0]}]}))
    out.append(SceneSpec.model_validate({"include": [{"class": "star"}, {"class": "ring", "color": "white"}]}))
    return out


@pytest.mark.parametrize("size", [(64, 64), (512, 512), (1024, 768)])
def test_solver_satisfies_every_spec(size):
    for k, spec in enumerate(specs()):
        for seed in range(5):
            layout = plan_layout(spec, seed=seed + 10 * k, width=size[0], height=size[1])
            assert layout is not None, spec
            assert layout.problems(spec) == [], (spec, layout)
            assert (layout.width, layout.height) == size
            # the relation holds for every pair of instances, by GenEval's rule
            for i, obj in enumerate(spec.include):
                if obj.position:
                    for a in (b for b in layout.boxes if b.object == i):
                        for o in (b for b in layout.boxes if b.object == obj.position[1]):
                            assert relation_holds(obj.position[0], a.box, o.box)


def test_solver_is_seeded_and_varies():
    spec = specs()[-2]
    assert plan_layout(spec, seed=3) == plan_layout(spec, seed=3)
    assert len({tuple(b.box for b in plan_layout(spec, seed=s).boxes) for s in range(6)}) > 3


def test_a_layout_that_breaks_its_spec_is_refused_with_the_reason():
    spec = SceneSpec.model_validate({"include": [{"class": "square", "color": "blue"},
                                                 {"class": "circle", "count": 2, "color": "red", "position": ["left of", 0]}]})
    bad = Layout(boxes=[LayoutBox(object=0, kind="square", color="blue", box=(2, 20, 20, 38)),
                        LayoutBox(object=1, kind="circle", color="red", box=(40, 20, 58, 38)),
                        LayoutBox(object=1, kind="circle", color="red", box=(50, 30, 70, 48))])
    problems = bad.problems(spec)
    assert any("not left of" in p for p in problems)
    assert any("overlaps" in p for p in problems)
    assert any("not inside" in p for p in problems)
    assert Layout(boxes=bad.boxes[:2]).problems(spec)[0].startswith("two red circles: the layout has 1 boxes")
    words = plan_layout(spec, seed=1).words()
    assert words.startswith("a blue square at the") and "right" in words.split(",")[0]
    assert words.count("a red circle") == 2


def test_planner_adds_a_missing_object_on_the_side_its_relation_wants():
    """The critic saw the blue square on the left and one red circle; the second red circle must go
    left of... no: the spec says circles left of the square, so the box must be left of the square
    and clear of the circle already drawn."""
    spec = SceneSpec.model_validate({"include": [{"class": "square", "color": "blue"},
                                                 {"class": "circle", "count": 2, "color": "red", "position": ["left of", 0]}]})
    seen = [Finding(kind="seen", message="blue square", shape="square", color="blue", box=(40, 24, 58, 42)),
            Finding(kind="seen", message="red circle", shape="circle", color="red", box=(6, 6, 22, 22))]
    verdict = Verdict(critic="critic:detector", approved=False, issues=["expected two red circles, found 1"],
                      findings=[Finding(kind="missing", message="expected two red circles, found 1", object=1)],
                      detections=seen)
    attempt = AttemptView(index=0, action="generate", prompt="p", seed=1, size=(64, 64), verdict=verdict)
    state = PlanState(brief="two red circles left of a blue square", spec=spec, image_model="local:shapes",
                      refined_prompt="a photo of two red circles left of a blue square", attempts=[attempt],
                      vocabulary="shapes", layouts="regions")
    step = OfflinePlanner().next_step(state)
    assert step.action == "edit" and step.attempt == 0 and step.prompt == "a photo of a red circle"
    assert relation_holds("left of", step.box, (40, 24, 58, 42))
    x0, y0, x1, y1 = step.box
    assert x1 <= 6 or x0 >= 22 or y1 <= 6 or y0 >= 22  # clear of the circle already there


def test_planner_removes_an_extra_and_moves_a_misplaced_object():
    spec = SceneSpec.model_validate({"include": [{"class": "ring", "color": "purple"},
                                                 {"class": "star", "color": "yellow", "position": ["above", 0]}]})
    misplaced = Verdict(critic="c", approved=False, issues=["the yellow star is not above the purple ring"],
                        findings=[Finding(kind="position", message="not above", object=1, box=(22, 48, 36, 62))],
                        detections=[Finding(kind="seen", message="yellow star", shape="star", color="yellow", box=(22, 48, 36, 62)),
                                    Finding(kind="seen", message="purple ring", shape="ring", color="purple", box=(20, 28, 38, 46))])
    first = AttemptView(index=0, action="generate", prompt="p", seed=1, size=(64, 64), verdict=misplaced)
    state = PlanState(brief="b", spec=spec, image_model="m", attempts=[first], layouts="regions", vocabulary="v")
    step = OfflinePlanner().next_step(state)
    assert step.action == "edit" and step.prompt == "empty background"  # take it out first
    # the removal left the star missing: the planner carries on from that edit and adds it above the ring
    removed = Verdict(critic="c", approved=False, issues=["expected a yellow star, found 0"],
                      findings=[Finding(kind="missing", message="missing star", object=1)],
                      detections=[Finding(kind="seen", message="purple ring", shape="ring", color="purple", box=(20, 28, 38, 46))])
    second = AttemptView(index=1, action="edit", prompt="empty background", seed=2, size=(64, 64),
                         source=0, verdict=removed)
    step = OfflinePlanner().next_step(state.model_copy(update={"attempts": [first, second]}))
    assert step.action == "edit" and step.attempt == 1 and "yellow star" in step.prompt
    assert relation_holds("above", step.box, (20, 28, 38, 46))


def test_planner_redraws_an_object_drawn_at_the_wrong_size():
    """A large ring drawn medium is redrawn in a large box round it; a small star drawn large is taken
    out first (an inpainting pass draws what its box says, so it cannot shrink in place)."""
    for size, kind, drawn, want in (("large", "ring", (20, 20, 36, 36), "redraw"), ("small", "star", (10, 10, 30, 30), "remove")):
        spec = SceneSpec.model_validate({"include": [{"class": kind, "color": "orange", "size": size}]})
        seen = [Finding(kind="seen", message=f"orange {kind}", shape=kind, color="orange", box=drawn)]
        wrong = Finding(kind="other", message=f"the orange {kind} is medium, not {size}", object=0, box=drawn,
                        requirement="size:0")
        verdict = Verdict(critic="critic:detector", approved=False, issues=[wrong.message], findings=[wrong],
                          detections=seen)
        attempt = AttemptView(index=0, action="generate", prompt="p", seed=1, size=(64, 64), verdict=verdict)
        state = PlanState(brief=f"a {size} orange {kind}", spec=spec, image_model="local:shapes",
                          refined_prompt=f"a photo of a {size} orange {kind}", attempts=[attempt],
                          vocabulary="shapes", layouts="regions")
        step = OfflinePlanner().next_step(state)
        assert step.action == "edit" and step.attempt == 0, step
        x0, y0, x1, y1 = step.box
        assert x0 <= drawn[0] and y0 <= drawn[1] and x1 >= drawn[2] and y1 >= drawn[3]  # the old one is covered
        if want == "redraw":
            assert x1 - x0 == y1 - y0 == 23 and size in step.prompt and kind in step.prompt
        else:
            assert step.prompt == "empty background"


def test_a_shape_at_the_canvas_edge_is_taken_out_and_added_back_clear_of_it():
    """A shape at the edge is redrawn in place once; still there, the planner removes it, then adds it in
    a free box the layout keeps clear of every edge; a malformed shape away from the edges is redrawn in
    place."""
    spec = SceneSpec.model_validate({"include": [{"class": "triangle", "color": "red", "count": 2}]})
    seen = [Finding(kind="seen", message="red triangle", shape="triangle", color="red", box=(4, 48, 18, 63)),
            Finding(kind="seen", message="red triangle", shape="triangle", color="red", box=(30, 10, 46, 26))]

    def state_with(finding):
        verdict = Verdict(critic="critic:detector", approved=False, issues=[finding.message], findings=[finding],
                          detections=seen)
        first = AttemptView(index=0, action="generate", prompt="p", seed=1, size=(64, 64), verdict=verdict)
        return PlanState(brief="two red triangles", spec=spec, image_model="local:shapes", attempts=[first],
                         refined_prompt="a photo of two red triangles", vocabulary="shapes", layouts="regions")

    at_edge = Finding(kind="artifact", message="the red triangle is touching the bottom edge", object=0,
                      box=(4, 48, 18, 63), edge="bottom")
    state = state_with(at_edge)
    step = OfflinePlanner().next_step(state)
    assert step.action == "edit" and "red triangle" in step.prompt  # first redrawn in its place: one attempt
    redrawn = state.attempts[0].model_copy(update={"index": 1, "action": "edit", "source": 0, "region": step.box})
    state = state.model_copy(update={"attempts": [*state.attempts, redrawn]})
    step = OfflinePlanner().next_step(state)
    assert step.action == "edit" and step.prompt == "empty background" and "bottom edge" in step.reason
    removed = Verdict(critic="critic:detector", approved=False, issues=["expected 2 red triangles, found 1"],
                      findings=[Finding(kind="missing", message="expected 2 red triangles, found 1", object=0)],
                      detections=seen[1:])
    second = AttemptView(index=2, action="edit", prompt="empty background", seed=2, size=(64, 64), source=1,
                         verdict=removed)
    step = OfflinePlanner().next_step(state.model_copy(update={"attempts": [*state.attempts, second]}))
    assert step.action == "edit" and step.attempt == 2 and "red triangle" in step.prompt
    x0, y0, x1, y1 = step.box
    assert min(x0, y0, 64 - x1, 64 - y1) >= 1  # its free box (2 px in), grown into a mask, stays clear of every edge
    lumpy = at_edge.model_copy(update={"edge": None, "box": (30, 10, 46, 26), "message": "not a well-formed triangle"})
    step = OfflinePlanner().next_step(state_with(lumpy))
    assert step.action == "edit" and "red triangle" in step.prompt  # redrawn where it is


def test_the_critic_says_which_edge_a_shape_runs_into(tmp_path):
    from agent.core.registry import resolve
    from agent.core.types import Artifact, GenerationRequest
    from local_models.shapes import world
    image = world.render(world.Scene("gray", [world.Obj("triangle", "red", (20, 44, 40, 64))], None, ""))
    path = tmp_path / "edge.png"
    image.save(path)
    art = Artifact(path=path, sha256=Artifact.digest(path), request=GenerationRequest(prompt="a red triangle"))
    verdict = resolve("critic", "critic:detector").critique(art, "a red triangle", None)
    assert not verdict.approved and [f.edge for f in verdict.findings if f.kind == "artifact"] == ["bottom"]


def test_a_director_written_layout_is_checked_and_used(tmp_path, monkeypatch):
    """What an LLM director sends as generate_image's layout: refused with the reason when it
    breaks the spec, drawn (here: put into the prompt, the fake model takes words) when it holds."""
    from agent.core.protocols import ToolCall
    from agent.core.records import RunStore
    from agent.core.types import Brief, RunRecord
    from agent.run.context import RunContext
    from tests import fakes
    from tools import default_toolbox

    gen = fakes.installed(monkeypatch, approve=set())
    next(gen)
    spec = SceneSpec.model_validate({"include": [{"class": "square", "color": "blue"},
                                                 {"class": "circle", "color": "red", "position": ["left of", 0]}]})
    record = RunRecord(run_id="r", brief=Brief(text="a red circle left of a blue square"), spec=spec,
                       options=RunOptions(image_model="test:flat", critic="critic:seed"))
    ctx = RunContext(record, RunStore(tmp_path))
    boxes = [{"object": 0, "kind": "square", "color": "blue", "box": [4, 4, 14, 14]},
             {"object": 1, "kind": "circle", "color": "red", "box": [18, 4, 28, 14]}]
    bad = default_toolbox().call(ctx, ToolCall(id="1", name="generate_image", arguments={
        "prompt": "a red circle left of a blue square", "layout": {"width": 32, "height": 32, "boxes": boxes}}))
    assert bad.is_error and "layout refused" in bad.data["error"] and "not left of" in bad.data["error"]
    boxes[0]["box"], boxes[1]["box"] = [18, 4, 28, 14], [4, 4, 14, 14]
    good = default_toolbox().call(ctx, ToolCall(id="2", name="generate_image", arguments={
        "prompt": "a red circle left of a blue square", "layout": {"width": 32, "height": 32, "boxes": boxes}}))
    assert not good.is_error
    assert "a red circle at the" in record.attempts[0].prompt
    assert "layout" in default_toolbox().specs()[1].parameters["properties"]


def test_the_offline_director_speaks_the_embedded_models_grammar(tmp_path):
    """Agent mode reads the plan state off the conversation: the model's vocabulary must travel with
    it, or the prompts fill with words the model does not know (and edits lose their object)."""
    pytest.importorskip("diffusers")
    from agent.surfaces.api import Studio

    result = Studio(runs_dir=tmp_path).run("two red circles left of a blue square", seed=0,
                                           budget={"max_iterations": 1})
    first = result.attempts[0]
    assert first.prompt.startswith("a photo of two red circles left of a blue square")
    assert "warning" not in first.artifact.meta


def test_a_layout_where_it_is_the_better_bet():
    from agent.core.plans import wants_layout
    rel = SceneSpec.model_validate({"include": [{"class": "ring"}, {"class": "star", "position": ["above", 0]}]})
    count = SceneSpec.model_validate({"include": [{"class": "star", "count": 3}]})
    miss = AttemptView(index=0, action="generate", prompt="p", seed=1)
    base = PlanState(brief="b", image_model="m", layouts="regions")
    assert wants_layout(base.model_copy(update={"spec": rel}))  # relations: at once
    assert wants_layout(base.model_copy(update={"spec": count}))  # exact counts too: plain text-to-image misses them
    assert wants_layout(base.model_copy(update={"spec": count, "attempts": [miss, miss]}))
    assert wants_layout(base.model_copy(update={"spec": count, "layout_policy": "always"}))
    assert not wants_layout(base.model_copy(update={"spec": rel, "layout_policy": "never"}))
    assert not wants_layout(base.model_copy(update={"spec": rel, "layouts": "words"}))  # cannot compose
