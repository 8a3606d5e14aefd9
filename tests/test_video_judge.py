"""`judge:shapes-video` (local_models/shapes/video_judge.py), the bench's clip judge written apart from
the loop's clip critic: right clips drawn by the world pass, and a clip that moves the wrong way, too
little, too far for its speed, not at all, or ends at the wrong place is wrong, with the reason."""
from __future__ import annotations

import random

import pytest

from agent.core.spec_parser import parse_spec
from agent.core.types import SceneSpec
from local_models.shapes import motion
from local_models.shapes.video_judge import judge_frames


def _spec(**obj) -> SceneSpec:
    return SceneSpec.model_validate({"include": [{"class": "circle", "color": "red", **obj}]})


def _frames(spec: SceneSpec, seed: int = 3):
    frames = motion.render_spec(random.Random(seed), spec)
    assert frames is not None
    return frames


def test_world_drawn_clips_of_held_out_briefs_are_right():
    briefs = motion.heldout_motion_prompts(60)[::6]
    right = [judge_frames(_frames(spec, i), spec)[0] for i, (_, spec) in enumerate(briefs)]
    assert sum(right) >= 9, right  # the still judge misses a square's fractional edge now and then


@pytest.mark.parametrize("way, other", [("right", "left"), ("up", "down"), ("left", "up"), ("down", "right")])
def test_the_wrong_way_is_wrong(way, other):
    right, reasons = judge_frames(_frames(_spec(motion=other)), _spec(motion=way))
    assert not right and any(f"px {way}, outside" in r for r in reasons), reasons


def test_a_clip_that_does_not_move_is_wrong_for_a_motion_and_right_for_still():
    frames = _frames(_spec(motion="still"))
    assert judge_frames(frames, _spec(motion="still"))[0]
    right, reasons = judge_frames(frames, _spec(motion="right"))
    assert not right and "moves 0 px right" in reasons[0]


def test_speed_bands():
    fast, slow = _frames(_spec(motion="right", speed="fast")), _frames(_spec(motion="right", speed="slow"))
    assert judge_frames(fast, _spec(motion="right", speed="fast"))[0]
    assert judge_frames(slow, _spec(motion="right", speed="slow"))[0]
    assert not judge_frames(fast, _spec(motion="right", speed="slow"))[0]
    assert not judge_frames(slow, _spec(motion="right", speed="fast"))[0]
    # "moving quickly": a speed with no direction, any way
    asked = parse_spec("a red circle moving quickly")
    assert judge_frames(_frames(_spec(motion="up", speed="fast")), asked)[0]
    assert not judge_frames(slow, asked)[0]


def test_start_and_end_places():
    frames = _frames(_spec(motion="right", speed="fast"))
    assert judge_frames(frames, _spec(motion="right", speed="fast", end="right"))[0]
    right, reasons = judge_frames(frames, _spec(motion="right", speed="fast", end="left"))
    assert not right and "not at the left edge" in reasons[-1]


def test_a_wrong_frame_or_too_few_frames_is_wrong():
    frames = _frames(_spec(motion="right"))
    assert not judge_frames(frames[:1], _spec(motion="right"))[0]
    blank = frames[0].copy()
    blank.paste(blank.getpixel((0, 0)), (0, 0, *blank.size))
    right, reasons = judge_frames(frames[:4] + [blank] + frames[5:], _spec(motion="right"))
    assert not right and reasons[0].startswith("frame 4:")


def test_a_jump_is_wrong():
    frames = _frames(_spec(motion="right"))
    jumped = frames[:3] + frames[3:4] * 3 + frames[6:]  # stands for three frames, then leaps
    right, reasons = judge_frames(jumped, _spec(motion="right"))
    assert not right and any("jumps" in r for r in reasons), reasons


@pytest.mark.slow  # the embedded video model makes a clip: about a minute of CPU
def test_the_bench_judges_with_it_and_the_loop_keeps_its_critic(tmp_path):
    from agent.surfaces import bench_video as bv
    from local_models.shapes.video_judge import NAME, rejudge
    item = bv.video_suite(limit=1)[0]
    rows = bv.run_video_bench([item], strategies=("loop",), budget=1, judge=NAME, out=tmp_path)
    run = next(tmp_path.glob("runs/loop/*/run.json"))
    attempts = __import__("json").loads(run.read_text())["attempts"]
    assert attempts[0]["verdict"]["critic"] == "critic:detector"  # the loop's critic, not the judge
    again = rejudge(tmp_path)[0]
    assert rows[0].correct == again["judge_right"] and rows[0].final == again["judge_reasons"][:3]
