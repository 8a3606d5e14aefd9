"""`local:shapes-animate` (a layer animator of the shapes world: each object of a first frame cut out and
moved its own way) and the loop that composes that first frame, has it approved as a still, and animates it."""
from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from agent.core.errors import InputError
from agent.core.layout import Layout
from agent.core.plans import FIRST_FRAME_ISSUE, AttemptView, BudgetLeft, PlanState
from agent.core.requirements import Requirement
from agent.core.spec_parser import parse_spec
from agent.core.tracks import TRAVEL, Track, first_frame_layout, plan_travels, ways
from agent.core.types import GenerationRequest, SceneSpec, Verdict
from agent.llm.offline import OfflinePlanner
from local_models.shapes import world
from local_models.shapes.animate_backend import ShapesAnimateBackend, animate
from local_models.shapes.detector import detect

TWO = "a red circle moving to the right and a blue square moving up"


def first_frame(tmp_path, background="beige"):
    """A drawn two-object first frame: the circle at the top left, the square at the bottom right."""
    scene = world.Scene(background, [world.Obj("circle", "red", (6, 8, 21, 23)),
                                     world.Obj("square", "blue", (38, 40, 53, 55))], parse_spec(TWO), "")
    path = tmp_path / "first.png"
    world.render(scene, 64).save(path)
    return path


def centre(d):
    return (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2


def test_each_object_moves_its_own_way_by_a_travel_in_the_worlds_band_and_leaves_the_canvas_behind(tmp_path):
    source = Image.open(first_frame(tmp_path)).convert("RGB")
    frames, tracks = animate(source, parse_spec(TWO), detect(source), 12, random.Random(3))
    assert len(frames) == 12
    seen = [{(d.kind, d.color): centre(d) for d in detect(f)} for f in frames]
    assert all(set(s) == {("circle", "red"), ("square", "blue")} for s in seen)  # kinds and colours in every frame
    lo, hi = TRAVEL[None]
    (cx0, cy0), (cx1, cy1) = seen[0][("circle", "red")], seen[-1][("circle", "red")]
    assert lo - 1 <= cx1 - cx0 <= hi + 1 and abs(cy1 - cy0) <= 0.5  # right, level
    (sx0, sy0), (sx1, sy1) = seen[0][("square", "blue")], seen[-1][("square", "blue")]
    assert lo - 1 <= sy0 - sy1 <= hi + 1 and abs(sx1 - sx0) <= 0.5  # up, straight
    xs = [s[("circle", "red")][0] for s in seen]
    assert all(b >= a for a, b in zip(xs, xs[1:]))  # steadily, never back
    # where the circle started is the canvas again once it has gone on
    canvas = np.asarray(world.BACKGROUNDS["beige"], float)
    left_behind = np.asarray(frames[-1], float)[8:23, 6:21]
    assert np.abs(left_behind - canvas).max() <= 4


def test_a_still_object_stays_as_drawn(tmp_path):
    source = Image.open(first_frame(tmp_path)).convert("RGB")
    spec = parse_spec("a red circle moving to the right while a blue square stays still")
    frames, _ = animate(source, spec, detect(source), 8, random.Random(0))
    first, last = np.asarray(frames[0], float), np.asarray(frames[-1], float)
    assert np.array_equal(first[38:56, 36:56], last[38:56, 36:56])


def test_the_backend_writes_a_clip_of_the_frames_asked_and_says_what_each_object_did(tmp_path):
    backend = ShapesAnimateBackend()
    assert backend.info.clip_from == "image"
    request = GenerationRequest(prompt=TWO, model="local:shapes-animate", source_image=first_frame(tmp_path),
                                num_frames=10, seed=4, extra={"format": "gif"})
    artifact, = backend.generate(request, tmp_path)
    assert artifact.kind == "video" and artifact.parent and artifact.meta["frames"] == 10
    assert [t["way"] for t in artifact.meta["tracks"]] == [[1, 0], [0, -1]]
    from agent.core.clips import read_frames
    frames, _ = read_frames(artifact.path)
    assert len(frames) == 10 and frames[0].size == (128, 128)


@pytest.mark.parametrize("change, message", [
    ({"source_image": None}, "animates a source image"), ({"num_frames": 4}, "8 to 16 frames"),
    ({"num_frames": 40}, "8 to 16 frames"), ({"width": 100, "height": 100}, "cannot make 100x100"),
    ({"prompt": "a lovely afternoon"}, "cannot tell from the prompt")])
def test_bad_requests_get_one_line_naming_the_problem(tmp_path, change, message):
    request = GenerationRequest(prompt=TWO, source_image=first_frame(tmp_path)).model_copy(update=change)
    with pytest.raises(InputError, match=message) as e:
        ShapesAnimateBackend().generate(request, tmp_path)
    assert "\n" not in str(e.value)


def test_a_source_with_no_shapes_is_refused(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), world.BACKGROUNDS["beige"]).save(blank)
    with pytest.raises(InputError, match="found no shapes .* nothing to animate"):
        ShapesAnimateBackend().generate(GenerationRequest(prompt=TWO, source_image=blank), tmp_path)


# ---- the first frame's layout and the tracks -----------------------------------------------------
def test_a_first_frame_leaves_room_for_every_track_and_starts_at_the_start_place():
    from agent.core.places import place_holds
    from local_models.shapes.place_briefs import heldout_place_prompts
    for brief, spec in [*heldout_place_prompts(20), (TWO, parse_spec(TWO))]:
        layout = first_frame_layout(spec, seed=1)
        assert layout is not None, brief
        tracks = [Track(b.object, b.box, ways(spec.include[b.object])) for b in layout.boxes]
        assert plan_travels(spec, tracks, random.Random(0)), brief
        for t in tracks:
            o = spec.include[t.object]
            b0, b1 = t.box_at(0), t.box_at(1)
            assert TRAVEL[o.speed][0] <= t.travel <= TRAVEL[o.speed][1]
            assert all(1 <= v <= 63 for v in (*b0, *b1)), brief
            if o.start:
                assert place_holds(o.start, ((b0[0] + b0[2]) / 2, (b0[1] + b0[3]) / 2)), brief
            if o.end:
                assert place_holds(o.end, ((b1[0] + b1[2]) / 2, (b1[1] + b1[3]) / 2)), brief


# ---- the planner chooses by capability ----------------------------------------------------------
def state(clip_from: str, video_model: str, **kw) -> PlanState:
    return PlanState(brief=TWO, spec=parse_spec(TWO), image_model="local:shapes", vocabulary="shapes", clip=True,
                     video_model=video_model, frames=(8, 16), default_frames=8, layouts="regions", seed=7,
                     refined_prompt=TWO, clip_from=clip_from, sizes=[(64, 64)], **kw)


def still(index: int, ok: bool) -> AttemptView:
    reqs = [Requirement(id="object:0", kind="object", text="a red circle", status="passed"),
            Requirement(id="object:1", kind="object", text="a blue square", status="passed" if ok else "failed")]
    issues = [FIRST_FRAME_ISSUE] + ([] if ok else ["no blue square"])
    return AttemptView(index=index, action="generate", prompt="a photo of a red circle and a blue square", seed=7,
                       size=(64, 64), verdict=Verdict(critic="critic:detector", approved=False, issues=issues,
                                                      requirements=reqs))


def test_the_planner_composes_a_first_frame_for_a_model_that_animates_images_whatever_its_name():
    planner = OfflinePlanner()
    step = planner.first_step(state("image", "local:some-animator"))
    assert step.action == "generate" and isinstance(step.layout, Layout)
    assert "moving" not in step.prompt and step.call().name == "generate_image"
    # a text-to-video model, even one named like the animator, gets a clip from the text
    assert planner.first_step(state("text", "local:shapes-animate")).action == "video"


def test_an_approved_first_frame_is_animated_and_a_rejected_one_redrawn():
    planner = OfflinePlanner()
    step = planner.next_step(state("image", "local:x", attempts=[still(0, True)]))
    assert (step.action, step.attempt) == ("video", 0)
    assert step.call().arguments["attempt"] == 0
    assert planner.next_step(state("image", "local:x", attempts=[still(0, False)])).action == "generate"
    # no room for a redraw and a clip: the best first frame there is is animated
    last = state("image", "local:x", attempts=[still(0, False)], budget_left=BudgetLeft(iterations=1))
    assert (planner.next_step(last).action, planner.next_step(last).attempt) == ("video", 0)


@pytest.mark.slow
def test_a_clip_run_composes_judges_and_animates_its_first_frame(tmp_path):
    from agent.surfaces.api import Studio
    studio = Studio(critic="critic:detector", mode="loop", video_model="local:shapes-animate", runs_dir=tmp_path)
    record = studio.run(TWO, seed=5, budget={"max_iterations": 8, "max_generations": 8}).record
    assert record.attempts[0].artifact.kind == "image" and record.attempts[0].verdict.issues[0] == FIRST_FRAME_ISSUE
    assert record.best.artifact.kind == "video" and record.best.source is not None
    assert record.attempts[record.best.source].artifact.kind == "image"
    assert isinstance(record.spec, SceneSpec)


@pytest.mark.slow
def test_the_clip_judge_approves_world_drawn_first_frames_of_the_held_out_briefs_animated(tmp_path):
    """The animator alone (the first frames drawn by the world, not the image model): measured 60/60 on
    the 60 held-out motion briefs with whole-pixel moves, 58/60 with bilinear sub-pixel shifts."""
    from local_models.shapes import motion
    from local_models.shapes.video_judge import VideoJudge
    judge, backend, wrong = VideoJudge(), ShapesAnimateBackend(), []
    for i, (prompt, spec) in enumerate(motion.heldout_motion_prompts(60)[:20]):
        rng = random.Random(i)
        movers = motion.place(rng, [(o.cls, o.color, o.motion, o.speed) for o in spec.include])
        src = tmp_path / f"{i}.png"
        world.render(motion.Clip(rng.choice(list(world.BACKGROUNDS)), movers, spec, "").scene_at(0), 64).save(src)
        clip, = backend.generate(GenerationRequest(prompt=prompt, source_image=src, seed=i), tmp_path)
        if not (v := judge.critique(clip, prompt, spec)).approved:
            wrong.append((prompt, v.issues[:1]))
    assert not wrong


def test_a_clip_approved_at_the_first_try_is_not_said_to_follow_findings(tmp_path):
    """A first frame approved as a still and its first clip approved: nothing was changed, and the closing
    summary says so (it used to say "each change followed the critic's findings")."""
    from agent.surfaces.api import Studio
    studio = Studio(critic="critic:detector", video_model="local:shapes-animate", runs_dir=tmp_path)
    result = studio.run("a red circle moving to the right", seed=1744265296, budget={"max_iterations": 4})
    record = result.record
    assert result.approved and [a.artifact.kind for a in record.attempts] == ["image", "video"]
    assert "the first try: a first frame the critic approved as a still, then animated" in record.presentation
    assert "each change followed" not in record.presentation
