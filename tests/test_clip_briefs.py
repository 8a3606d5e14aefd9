"""Clip briefs the loop must get right before any clip is made (issue 26): every direction the
parser reads reaches the video model's prompt (diagonals and places with no written direction
included, never "staying still"), a brief whose motion and places contradict each other is refused
in one line, and a still image judged against a clip brief says every "could not check" in full."""
from __future__ import annotations

import pytest

from agent.core.captions import MOTION_PHRASES, motion_prompt
from agent.core.errors import InputError
from agent.core.places import PLACES, contradiction, implied_ways
from agent.core.plans import wants_clip
from agent.core.requirements import self_contradiction
from agent.core.spec_parser import parse_spec
from agent.core.types import SceneSpec
from agent.core.vocabulary import vocabulary
from local_models.shapes import world

DIRECTION_PHRASES = sorted((" ".join(k), v) for k, v in vocabulary().directions.items())


# ---- the prompt the video model gets ----------------------------------------------------------------
@pytest.mark.parametrize("phrase, way", DIRECTION_PHRASES)
def test_every_direction_word_reaches_the_prompt(phrase, way):
    spec = parse_spec(f"a red circle moving {phrase}")
    assert spec.include[0].motion == way, phrase
    assert motion_prompt(spec) == f"a red circle {MOTION_PHRASES[way]}"


@pytest.mark.parametrize("brief, prompt", [
    ("a red circle moving to the top right", "a red circle moving up and to the right"),
    ("a red circle moving from the bottom left corner to the top right", "a red circle moving up and to the right"),
    ("a blue square starts in the top left corner and ends in the bottom right corner",
     "a blue square moving down and to the right"),
    ("a green star moving to the bottom left corner", "a green star moving down and to the left"),
    ("a yellow ring moving from the left edge to the top edge", "a yellow ring moving up and to the right"),
    ("a red circle starting at the left edge", "a red circle moving to the right"),
    ("a red circle moving from the top edge", "a red circle moving down"),
    # places that decide no direction: one that can end there from an edge, never "staying still"
    ("a purple ring moving to the middle", "a purple ring moving to the right"),
])
def test_places_without_a_written_direction_move_the_way_they_go(brief, prompt):
    spec = parse_spec(brief)
    assert spec.include[0].motion is None  # the critic checks the places, not a direction nobody asked for
    assert motion_prompt(spec) == prompt


@pytest.mark.parametrize("start", (None, *PLACES))
@pytest.mark.parametrize("end", (None, *PLACES))
def test_no_object_with_a_place_is_prompted_to_stay_still(start, end):
    if start is None and end is None:
        return
    spec = SceneSpec.model_validate({"include": [{"class": "circle", "color": "red", "start": start, "end": end}]})
    assert "still" not in motion_prompt(spec)
    ways = implied_ways(start, end)
    assert len(ways) <= 2 and len(set(ways)) == len(ways)


def test_implied_ways_go_from_start_to_end():
    assert implied_ways("bottom left", "top right") == ("up", "right")
    assert implied_ways("left", "center") == ("right",)
    assert implied_ways(None, "top") == ("up",)
    assert implied_ways("center", None) == () and implied_ways("left", "left") == ()


def test_a_still_object_beside_a_diagonal_one_stays_still():
    spec = parse_spec("a red circle moving to the top right while a blue square stays still")
    assert motion_prompt(spec) == "a red circle moving up and to the right while a blue square stays still"


@pytest.mark.parametrize("brief", ["a red circle starts in the top left corner and ends in the bottom right corner",
                                   "a green triangle starts at the bottom and ends at the top"])
def test_a_place_brief_without_clip_words_makes_a_clip(brief):
    assert wants_clip(brief, parse_spec(brief), "local:shapes-video")
    assert not wants_clip(brief, parse_spec(brief), None)


# ---- contradictions: refused before any clip is made ------------------------------------------------
@pytest.mark.parametrize("brief, why", [
    ("a red circle moving left from the left edge to the right edge",
     "it moves left, yet from the left edge to the right edge is right"),
    ("a red circle moving up, ending at the bottom edge",
     "it moves up, yet it ends at the bottom edge, the side it moves up from"),
    ("a blue square moving up and ends at the bottom", "it moves up, yet it ends at the bottom edge, the side it moves up from"),
    ("a green star moving right, starting at the right edge",
     "it moves right, yet it starts at the right edge, with no room to move right"),
    ("a red circle moving down, ending in the top left corner",
     "it moves down, yet it ends in the top left corner, the side it moves down from"),
    ("a red circle moving right from the left edge to the left edge",
     "it moves right, yet it ends at the left edge, the side it moves right from"),
])
def test_a_contradicting_place_is_named_in_one_line(brief, why):
    spec = parse_spec(brief)
    obj = spec.include[0]
    assert contradiction(obj.motion, obj.start, obj.end) == why
    line = self_contradiction(spec)
    assert line == (f"the brief contradicts itself for the {obj.color} {obj.cls}: {why}; ask for one direction, "
                    f"or places that agree with it") and "\n" not in line


@pytest.mark.parametrize("motion, start, end", [
    ("up", None, "top left"), ("up", "bottom", "top"), ("down", "center", "bottom"), ("left", None, "bottom left"),
    ("up", "center", None), ("right", "left", None), ("right", None, "right"), ("still", "left", "top left")])
def test_places_that_agree_with_the_direction_are_no_contradiction(motion, start, end):
    assert contradiction(motion, start, end) is None


def test_no_bench_place_brief_contradicts_itself():
    from local_models.shapes.place_briefs import ROUTES, heldout_place_prompts
    assert not [(w, r) for w, routes in ROUTES.items() for r in routes if contradiction(w, *r)]
    assert not [p for p, spec in heldout_place_prompts(20) if self_contradiction(spec)]


@pytest.mark.slow  # 19 s at load 6 (the studio checks the video model is ready): CI's optional pass
def test_the_studio_refuses_a_contradicting_clip_brief_before_making_anything(tmp_path):
    from agent.surfaces.api import Studio
    from local_models.shapes.video_backend import WEIGHTS
    if not (WEIGHTS / "model_index.json").is_file():
        pytest.skip("the shapes video weights are not here")
    studio = Studio(video_model="local:shapes-video", mode="loop", runs_dir=tmp_path / "runs")
    with pytest.raises(InputError, match=r"^the brief contradicts itself for the red circle: it moves up, yet it "
                                         r"ends at the bottom edge"):
        studio.prepare("a red circle moving up, ending at the bottom edge")
    assert not list(tmp_path.rglob("*.mp4")) and not list(tmp_path.rglob("run.json"))
    # without a video model it is an image brief, and an image has no start or end to contradict
    assert Studio(runs_dir=tmp_path / "runs").prepare("a red circle moving up, ending at the bottom edge").spec


# ---- a still image of a clip brief: every "could not check" says why --------------------------------
@pytest.mark.parametrize("brief", [
    "a red circle moving left from the left edge to the centre", "a red circle moving up, ending at the bottom edge",
    "a red circle moving to the top right", "a red circle moving from the left edge to the centre",
    "a red circle starts in the top left corner and ends in the bottom right corner", "a red circle moving right"])
def test_a_still_image_of_a_clip_brief_says_every_could_not_check_in_full(tmp_path, brief):
    from agent.core.types import Artifact, GenerationRequest
    from local_models.shapes.detector import DetectorCritic
    png = tmp_path / "still.png"
    world.render(world.Scene("gray", [world.Obj("circle", "red", (2, 26, 14, 38))], SceneSpec(), "")).save(png)
    art = Artifact(path=png, sha256=Artifact.digest(png), kind="image",
                   request=GenerationRequest(prompt=brief, model="local:shapes"))
    verdict = DetectorCritic().critique(art, brief, parse_spec(brief))
    assert not verdict.approved and verdict.error is None
    assert verdict.issues[-1].startswith("a still image cannot show motion; the brief asks for a clip: a red circle moving")
    for issue in verdict.issues:
        assert not issue.rstrip().endswith(":"), issue
        if issue.startswith("could not check"):
            assert issue.split(": ")[-1].strip(), issue
    assert all(r.evidence for r in verdict.requirements if r.status == "unchecked")


def test_a_vocabulary_entry_longer_than_the_parser_reads_is_refused():
    import yaml

    from agent.core.vocabulary import LONGEST, VOCABULARY, Vocabulary
    data = yaml.safe_load(VOCABULARY.read_text(encoding="utf-8"))
    data["motion_directions"]["all the way from the left to the right"] = "right"
    with pytest.raises(ValueError, match=f"'all the way from the left to the right' has over {LONGEST} words"):
        Vocabulary(data)
