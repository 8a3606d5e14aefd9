"""Start and end places of a clip's objects (issue 26, item 2): parsed from the brief, on its
checklist (with a note where the brief contradicts itself), and checked by the clip critic on the
first and last frames of crafted clips (drawn with the shapes world's renderer)."""
from __future__ import annotations

import json

import pytest

from agent.core.places import contradiction, place_holds
from agent.core.requirements import checklist
from agent.core.spec_parser import parse_spec
from agent.core.types import ObjectSpec, SceneSpec
from local_models.shapes import world
from local_models.shapes.video_critic import check_frames
from local_models.shapes.video_places import TOLERANCE_PX


# ---- parsing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ("a red circle moving from the left edge to the centre", [("circle", "red", "right", "left", "center")]),
    ("a blue square moving right, ending in the top right corner", [("square", "blue", "right", None, "top right")]),
    ("a green triangle starts at the bottom and ends at the top", [("triangle", "green", "up", "bottom", "top")]),
    ("a yellow star moving down quickly from the top to the centre of the frame, and a blue square stays still",
     [("star", "yellow", "down", "top", "center"), ("square", "blue", "still", None, None)]),
    ("a red circle moving from the top left corner to the bottom right corner",
     [("circle", "red", None, "top left", "bottom right")]),  # a diagonal: no one direction
    ("a purple ring moving to the middle", [("ring", "purple", None, None, "center")]),
    # a written direction is kept even where the places contradict it (the checklist says so)
    ("a red circle moving left from the left edge to the centre", [("circle", "red", "left", "left", "center")]),
])
def test_parse_spec_reads_start_and_end_places(text, want):
    spec = parse_spec(text)
    assert [(o.cls, o.color, o.motion, o.start, o.end) for o in spec.include] == want


@pytest.mark.parametrize("text, motion", [
    ("a red circle moving from left to right", "right"),   # a direction, not two places
    ("a red circle moving to the right", "right"),
    ("a blue square moving towards the top", "up"),
])
def test_bare_directions_stay_directions(text, motion):
    (obj,) = parse_spec(text).include
    assert (obj.motion, obj.start, obj.end) == (motion, None, None)


def test_places_are_not_relations_or_objects():
    spec = parse_spec("a red circle on the left side of a blue square")
    assert [(o.cls, o.position, o.start, o.end) for o in spec.include] == [
        ("square", None, None, None), ("circle", ("left of", 0), None, None)]
    spec = parse_spec("a green triangle starts at the bottom and ends at the top")
    assert [o.cls for o in spec.include] == ["triangle"]  # "the top" is a place, not an object


# ---- the checklist ----------------------------------------------------------------------------------
def test_checklist_has_a_start_and_an_end_item_per_object_that_has_them():
    spec = parse_spec("a red circle moving from the left edge to the centre and a blue square moving up, "
                      "ending in the top right corner")
    items = [(r.id, r.kind, r.text) for r in checklist(spec) if r.kind in ("place", "note")]
    assert items == [("start:0", "place", "the red circle starts at the left edge"),
                     ("end:0", "place", "the red circle ends in the centre"),
                     ("end:1", "place", "the blue square ends in the top right corner")]
    assert all(r.kind not in ("place", "note") for r in checklist(parse_spec("a red circle moving right")))


def test_a_contradiction_is_a_note_on_the_checklist():
    spec = parse_spec("a red circle moving left from the left edge to the centre")
    (note,) = [r for r in checklist(spec) if r.kind == "note"]
    assert note.text == ("the brief contradicts itself for the red circle: it moves left, yet from the left edge "
                         "to the centre is right")
    assert contradiction("right", "top left", "bottom right") == (
        "it moves right, yet from the top left corner to the bottom right corner is right and down")
    assert contradiction("still", "left", "right").startswith("it stays still, yet it starts at the left edge")
    assert contradiction("still", "left", "top left") is None and contradiction("up", "bottom", "top") is None


def test_atelier_spec_shows_places_and_the_note():
    from typer.testing import CliRunner

    from agent.surfaces.cli import app
    out = CliRunner().invoke(app, ["spec", "--json", "a red circle moving left from the left edge to the centre"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output.strip().splitlines()[-1])
    assert (data["include"][0]["start"], data["include"][0]["end"]) == ("left", "center")
    assert "the red circle starts at the left edge" in data["checklist"]
    assert any(t.startswith("the brief contradicts itself") for t in data["checklist"])


# ---- the clip critic --------------------------------------------------------------------------------
SIDE = 12


def frames_between(start: tuple[float, float], end: tuple[float, float], n: int = 8, kind="circle", color="red",
                   drop_last: bool = False, background: str = "gray"):
    """n frames of one shape whose centre goes in a straight line from `start` to `end`."""
    out = []
    for i in range(n):
        t = i / (n - 1)
        cx, cy = start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t
        box = (round(cx - SIDE / 2), round(cy - SIDE / 2), round(cx - SIDE / 2) + SIDE, round(cy - SIDE / 2) + SIDE)
        objects = [] if drop_last and i == n - 1 else [world.Obj(kind, color, box)]
        out.append(world.render(world.Scene(background, objects, SceneSpec(), "")))
    return out


LEFT_TO_CENTRE = SceneSpec(include=[ObjectSpec(cls="circle", color="red", motion="right", start="left", end="center")])


def places(verdict):
    return {r.id: r for r in verdict.requirements if r.kind == "place"}


def test_right_places_pass_with_evidence():
    verdict = check_frames(LEFT_TO_CENTRE, frames_between((8, 32), (32, 32)))
    assert verdict.approved, verdict.issues
    got = places(verdict)
    assert got["start:0"].status == got["end:0"].status == "passed"
    assert got["start:0"].evidence == "in frame 0 (the first) the red circle is at the left edge (its centre at 8, 32 of 64)"
    assert got["end:0"].evidence.startswith("in frame 7 (the last) the red circle is in the centre")


def test_swapped_places_fail_in_the_frame_they_are_wrong():
    spec = SceneSpec(include=[ObjectSpec(cls="circle", color="red", start="left", end="center")])
    verdict = check_frames(spec, frames_between((32, 32), (8, 32)))  # from the centre to the left edge
    assert not verdict.approved
    got = places(verdict)
    assert got["start:0"].status == got["end:0"].status == "failed"
    assert got["start:0"].evidence == ("the red circle should start at the left edge: in frame 0 (the first) "
                                       "the red circle is in the centre (its centre at 32, 32 of 64)")
    assert got["start:0"].evidence in verdict.issues and got["end:0"].box is not None
    assert any(f.kind == "position" for f in verdict.findings)


def test_a_corner_is_checked_on_both_axes():
    spec = SceneSpec(include=[ObjectSpec(cls="square", color="blue", motion="right", end="top right")])
    right = check_frames(spec, frames_between((30, 8), (56, 8), kind="square", color="blue"))
    assert right.approved, right.issues
    low = check_frames(spec, frames_between((30, 56), (56, 56), kind="square", color="blue"))
    assert places(low)["end:0"].status == "failed" and "in the bottom right corner" in places(low)["end:0"].evidence


def test_an_object_missing_in_the_last_frame_is_never_a_pass():
    verdict = check_frames(LEFT_TO_CENTRE, frames_between((8, 32), (32, 32), drop_last=True))
    assert not verdict.approved
    end = places(verdict)["end:0"]
    assert end.status == "failed" and end.evidence == ("cannot tell where the red circle ends: not seen as asked "
                                                       "in frame 7 (the last)")
    assert places(verdict)["start:0"].status == "passed"


def test_a_centre_just_past_its_third_passes_and_says_so():
    spec = SceneSpec(include=[ObjectSpec(cls="square", color="yellow", motion="up", start="center", end="top")])
    just = check_frames(spec, frames_between((32, 43), (32, 12), kind="square", color="yellow"))  # 0.3 px past
    assert places(just)["start:0"].status == "passed", just.issues
    assert places(just)["start:0"].evidence.startswith("in frame 0 (the first) the yellow square is in the centre, "
                                                       "within 1 px of its third")
    low = check_frames(spec, frames_between((32, 45), (32, 12), kind="square", color="yellow"))
    assert places(low)["start:0"].status == "failed" and not low.approved


def test_the_tolerance_is_a_pixel_past_the_third():
    assert place_holds("left", (21.3 + TOLERANCE_PX - 0.1, 32), 64, TOLERANCE_PX)
    assert not place_holds("left", (21.3 + TOLERANCE_PX + 0.5, 32), 64, TOLERANCE_PX)
    assert place_holds("center", (32, 32), 64) and not place_holds("top right", (32, 8), 64, TOLERANCE_PX)


def test_a_contradicting_brief_is_never_approved_and_says_why():
    spec = parse_spec("a red circle moving left from the left edge to the centre")
    verdict = check_frames(spec, frames_between((8, 32), (32, 32)))
    assert not verdict.approved
    (note,) = [r for r in verdict.requirements if r.kind == "note"]
    assert note.status == "unchecked" and note.text in verdict.issues


def test_a_still_image_of_a_place_brief_is_not_approved(tmp_path):
    from agent.core.types import Artifact, GenerationRequest
    from local_models.shapes.detector import DetectorCritic
    png = tmp_path / "still.png"
    frames_between((8, 32), (32, 32))[0].save(png)
    brief = "a red circle moving from the left edge to the centre"
    art = Artifact(path=png, sha256=Artifact.digest(png), kind="image",
                   request=GenerationRequest(prompt=brief, model="local:shapes"))
    verdict = DetectorCritic().critique(art, brief, parse_spec(brief))
    assert not verdict.approved and verdict.error is None
    assert verdict.issues[-1].startswith("a still image cannot show motion")
    assert not any(i.startswith("could not check the red circle starts") for i in verdict.issues)
    assert {r.status for r in verdict.requirements if r.kind == "place"} == {"unchecked"}


def test_critic_vlm_asks_where_a_clip_object_starts_and_ends():
    from agent.critics.vlm import questions_for
    spec = parse_spec("a red circle moving from the left edge to the centre")
    asked = [(q.text, q.kind) for q in questions_for(spec, clip=True) if q.kind == "position"]
    assert asked == [("In the first frame, is the red circle at the left edge of the frame?", "position"),
                     ("In the last frame, is the red circle in the centre of the frame?", "position")]
    assert not [q for q in questions_for(spec) if q.kind == "position"]  # a still image is asked no such thing


# ---- the video bench's start/end place briefs ---------------------------------------------------------
def route_of(obj: ObjectSpec) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where a right clip of `obj` has its centre in the first and the last frame (places.target, the
    free axis in the middle, 20 px of travel where only one end is named)."""
    from agent.core.places import target
    from local_models.shapes.motion import DIRECTIONS
    ux, uy = DIRECTIONS[obj.motion]
    fill = lambda p: tuple(32.0 if v is None else v for v in p)  # noqa: E731
    if obj.start:
        a = fill(target(obj.start, SIDE))
        b = fill(target(obj.end, SIDE)) if obj.end else (a[0] + 20 * ux, a[1] + 20 * uy)
        return a, (b[0] if ux else a[0], b[1] if uy else a[1])
    b = fill(target(obj.end, SIDE))
    return (b[0] - 20 * ux, b[1] - 20 * uy), b


def test_place_briefs_parse_back_and_a_right_clip_of_each_is_approved():
    from local_models.shapes.place_briefs import heldout_place_prompts
    briefs = heldout_place_prompts(20)
    assert len({p for p, _ in briefs}) == 20
    for prompt, spec in briefs:
        parsed = parse_spec(prompt)
        assert [o.model_dump() for o in parsed.include] == [o.model_dump() for o in spec.include], prompt
        (obj,) = spec.include
        start, end = route_of(obj)
        verdict = check_frames(spec, frames_between(start, end, kind=obj.cls, color=obj.color,
                                                    background="beige" if obj.color in ("gray", "white") else "gray"))
        assert verdict.approved, (prompt, verdict.issues)
        reversed_clip = check_frames(spec, frames_between(end, start, kind=obj.cls, color=obj.color,
                                                          background="beige" if obj.color == "white" else "gray"))
        assert not reversed_clip.approved, prompt


def test_the_video_bench_has_a_start_end_place_category():
    from agent.surfaces.bench_video import VideoRow, markdown, summary, video_suite
    items = video_suite()
    assert [sum(i.category == c for i in items) for c in ("one object", "two objects", "start/end places")] == [30, 30, 20]
    assert [i.category for i in video_suite(limit=3)] == ["one object", "two objects", "start/end places"]
    assert len({i.index for i in items}) == 80
    rows = [VideoRow("loop", i.index, i.category, i.prompt, 0, 4, correct=k % 2 == 0) for k, i in enumerate(items[:6])]
    table = markdown(summary(rows))
    assert "| start/end places |" in table.splitlines()[0] and "50% (1/2)" in table
