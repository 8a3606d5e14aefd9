"""Motion briefs said in many ways give one requirement (issue 26): movement verbs, "to the X edge",
"towards the X", "from X to Y" and speed words, each read into the object's motion, speed, start and
end, so that the checklist, the video model's prompt and the clip critic see the same thing however
the user put it."""
from __future__ import annotations

import random

import pytest

from agent.core.captions import motion_prompt
from agent.core.places import WORDS
from agent.core.plans import wants_clip
from agent.core.requirements import checklist
from agent.core.spec_parser import parse_spec
from agent.core.types import SceneSpec
from local_models.shapes import motion as shapes_motion
from local_models.shapes.video_critic import check_clip, in_clip
from local_models.shapes.detector import detect

VERBS = ["moving", "moves", "sliding", "slides", "rolling", "rolls", "drifting", "drifts", "gliding", "glides",
         "travelling", "travels", "going", "goes", "heading", "heads", "floating", "racing", "is moving", "is sliding"]


def understood(brief: str) -> tuple:
    """What a user would check: the object, where it goes, the checklist and the model's prompt."""
    spec = parse_spec(brief)
    assert spec is not None and len(spec.include) == 1, brief
    o = spec.include[0]
    return ((o.cls, o.color, o.motion, o.speed, o.start, o.end), [r.text for r in checklist(spec, brief)],
            motion_prompt(spec))


# ---- paraphrases: 30 ways to say each motion, one requirement --------------------------------------
TO_THE_RIGHT_EDGE = [f"a red circle {verb} to the right edge" for verb in VERBS[:12]] + [
    "a red circle moving towards the right edge", "a red circle sliding toward the right edge",
    "a red circle moving to the right side", "a red circle moving to the right side of the frame",
    "a red circle rolling to the right of the frame", "a red circle moving right, ending at the right edge",
    "a red circle moving rightwards, ending at the right edge", "a red circle moves right and ends at the right edge",
    "a red circle slides right until it reaches the right edge", "a red circle moving all the way to the right edge",
    "a red circle heading over to the right edge", "a red circle gliding across to the right edge",
    "a red circle is moving to the right edge", "a red circle moving right, ending up at the right edge",
    "a red circle travelling towards the right, finishing at the right edge",
    "a red circle moving to the right, stopping at the right side", "a red circle that moves to the right edge",
    "a video of a red circle moving to the right edge",
]
DOWN_QUICKLY = [
    "a blue square moving down quickly", "a blue square quickly moving down", "a blue square moves quickly down",
    "a blue square sliding down fast", "a blue square slides rapidly downwards", "a blue square drifting swiftly downward",
    "a blue square rolling down at speed", "a blue square moving down at high speed", "a blue square moving to the bottom quickly",
    "a blue square racing towards the bottom quickly", "a blue square gliding quickly toward the bottom",
    "a blue square goes down very quickly", "a blue square heading downwards fast", "a blue square travelling down rapidly",
    "a blue square moving from top to bottom quickly", "a blue square moving quickly from the top to the bottom",
    "a blue square is moving down quickly", "a blue square floating down quickly", "a blue square drops? no",
    "a blue square sliding downwards at a fast pace", "a blue square zooming down quickly", "a blue square zooms downward quickly",
    "a blue square darting down quickly", "a blue square moving downward speedily", "a blue square travels down fast",
    "a blue square heads down quickly", "a blue square glides down swiftly", "a blue square moving down very fast",
    "a blue square rolls quickly down", "a clip of a blue square moving down quickly",
]
DOWN_QUICKLY = [b for b in DOWN_QUICKLY if "?" not in b] + ["a blue square going downwards quickly"]
LEFT_TO_CENTRE = [
    "a green star moving from the left edge to the centre", "a green star sliding from the left edge to the center",
    "a green star rolling from the left side to the middle", "a green star drifting from the left edge into the centre",
    "a green star gliding from the left of the frame to the centre", "a green star travelling from the left edge to the middle of the frame",
    "a green star going from the left edge to the centre", "a green star heading from the left side to the center",
    "a green star starts at the left edge and ends in the centre", "a green star begins at the left edge and finishes in the centre",
    "a green star starting at the left edge, ending in the middle", "a green star moves from the left edge to the centre",
    "a green star slides from the left to the centre", "a green star moving right from the left edge to the centre",
    "a green star moving to the right from the left edge to the centre", "a green star moving rightwards, starting at the left edge and ending in the centre",
    "a green star starts from the left side and stops in the centre", "a green star starting at the left edge, arriving in the centre",
    "a green star moving from the left edge, ending up in the centre", "a green star is moving from the left edge to the centre",
    "a green star floats from the left edge to the centre", "a green star racing from the left edge to the centre",
    "a green star moving from the left edge all the way to the centre", "a green star travels from the left side to the middle",
    "a green star goes from the left edge to the center", "a green star heads from the left edge into the middle",
    "a green star moving right, starting at the left edge, ending in the centre",
    "a green star glides from the left edge over to the centre", "a green star drifts from the left of the frame to the middle",
    "an animation of a green star moving from the left edge to the centre",
]


@pytest.mark.parametrize("phrasings, expected", [
    (TO_THE_RIGHT_EDGE, ("circle", "red", "right", None, None, "right")),
    (DOWN_QUICKLY, ("square", "blue", "down", "fast", None, None)),
    (LEFT_TO_CENTRE, ("star", "green", "right", None, "left", "center")),
], ids=["to the right edge", "down quickly", "left edge to centre"])
def test_thirty_phrasings_give_one_requirement(phrasings, expected):
    assert len(phrasings) >= 30
    first = understood(phrasings[0])
    assert first[0] == expected
    for brief in phrasings[1:]:
        assert understood(brief) == first, brief


# ---- each piece of the grammar ---------------------------------------------------------------------
@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("edge, way", [("left", "left"), ("right", "right"), ("top", "up"), ("bottom", "down")])
def test_every_movement_verb_to_an_edge_keeps_the_end_place(verb, edge, way):
    o = parse_spec(f"a red circle {verb} to the {edge} edge").include[0]
    assert (o.motion, o.end, o.start) == (way, edge, None)


@pytest.mark.parametrize("edge, way", [("left", "left"), ("right", "right"), ("top", "up"), ("bottom", "down")])
@pytest.mark.parametrize("form", ["to the {e} edge", "to the {e} side", "towards the {e} edge", "toward the {e} side",
                                  "to the {e} of the frame", "to the {e} side of the screen"])
def test_to_the_edge_or_side_is_a_direction_and_an_end(form, edge, way):
    o = parse_spec(f"a blue square sliding {form.format(e=edge)}").include[0]
    assert (o.motion, o.end) == (way, edge)


@pytest.mark.parametrize("edge, way", [("left", "left"), ("right", "right"), ("top", "up"), ("bottom", "down")])
@pytest.mark.parametrize("link", ["to the", "towards the", "toward the"])
def test_a_bare_edge_word_is_a_direction_only(link, edge, way):
    o = parse_spec(f"a blue square sliding {link} {edge}").include[0]
    assert (o.motion, o.start, o.end) == (way, None, None)


@pytest.mark.parametrize("corner", ["top left", "top right", "bottom left", "bottom right"])
@pytest.mark.parametrize("link", ["to the", "towards the", "into the"])
def test_a_corner_goes_two_ways_and_keeps_its_speed(link, corner):
    spec = parse_spec(f"a yellow ring drifting quickly {link} {corner} corner")
    o = spec.include[0]
    assert (o.motion, o.speed, o.end) == (None, "fast", corner)
    v, h = corner.split()
    assert motion_prompt(spec) == f"a yellow ring moving {'up' if v == 'top' else 'down'} and to the {h} quickly"


@pytest.mark.parametrize("start, end", [("left", "right"), ("top", "bottom"), ("bottom left", "top right"),
                                        ("center", "left"), ("right", "center"), ("top right", "bottom left")])
def test_from_a_place_to_another(start, end):
    o = parse_spec(f"a red circle gliding from {WORDS[start]} to {WORDS[end]} slowly").include[0]
    assert (o.start, o.end, o.speed) == (start, end, "slow")


@pytest.mark.parametrize("words, speed", [("quickly", "fast"), ("fast", "fast"), ("rapidly", "fast"),
                                          ("swiftly", "fast"), ("at high speed", "fast"), ("very quickly", "fast"),
                                          ("slowly", "slow"), ("gently", "slow"), ("very slowly", "slow"),
                                          ("at a slow pace", "slow")])
def test_a_speed_with_no_direction_is_kept_and_makes_a_moving_clip(words, speed):
    brief = f"a yellow star moving {words}"
    spec = parse_spec(brief)
    o = spec.include[0]
    assert (o.motion, o.speed) == (None, speed)
    assert in_clip(o) and wants_clip(brief, spec, "local:shapes-video")
    assert "still" not in motion_prompt(spec) and motion_prompt(spec).endswith("slowly" if speed == "slow" else "quickly")


def test_relations_and_scenes_are_not_read_as_motion():
    spec = parse_spec("a red circle moving to the left of a blue square")
    assert [o.position for o in spec.include] == [None, ("left of", 0)]
    assert not any(o.motion or o.end for o in spec.include)
    assert parse_spec("a red circle going down the road").include[0].motion is None


# ---- the clip critic checks a speed asked with no direction ---------------------------------------
def _clip(spec: SceneSpec, seed: int = 0):
    frames = shapes_motion.render_spec(random.Random(seed), spec)
    assert frames is not None
    return [detect(f) for f in frames]


@pytest.mark.parametrize("way", ["left", "right", "up", "down"])
def test_moving_quickly_passes_a_fast_clip_in_any_direction_and_fails_a_slow_one(way):
    asked = parse_spec("a yellow star moving quickly")
    fast = SceneSpec.model_validate({"include": [{"class": "star", "color": "yellow", "motion": way, "speed": "fast"}]})
    slow = SceneSpec.model_validate({"include": [{"class": "star", "color": "yellow", "motion": way, "speed": "slow"}]})
    assert check_clip(asked, _clip(fast)).approved
    verdict = check_clip(asked, _clip(slow))
    assert not verdict.approved and any("too little for 'quickly'" in i for i in verdict.issues)


@pytest.mark.parametrize("brief, expected", [
    ("a dog running to the left", ("dog", "left", None, None)),
    ("a car driving towards the right edge quickly", ("car", "right", "fast", "right")),
    ("a boat sailing from the left edge to the centre", ("boat", "right", None, "center")),
    ("a person walking to the right side slowly", ("person", "right", "slow", "right")),
])
def test_everyday_movement_verbs(brief, expected):
    o = parse_spec(brief).include[0]
    assert (o.cls, o.motion, o.speed, o.end) == expected


def test_a_verb_with_an_object_after_it_is_no_motion():
    spec = parse_spec("a person riding a bike")
    assert [(o.cls, o.motion) for o in spec.include] == [("person", None), ("bicycle", None)]
