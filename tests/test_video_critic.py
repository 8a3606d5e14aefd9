"""The video critic: motion briefs parsed, ground-truth clips approved, corrupted clips rejected with
the right issue, GIF and MP4 round trips, critic:detector deciding a clip, and critic:vlm sending a
clip's frames."""
from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from agent.core.clips import read_frames, sample_frames, sample_indices
from agent.core.spec_parser import parse_spec
from agent.core.types import Artifact, Finding, FrameCheck, GenerationRequest, ObjectSpec, SceneSpec, Verdict
from local_models.shapes import motion, world
from local_models.shapes.detector import DetectorCritic
from local_models.shapes.video_critic import check_frames, check_video


def spec_of(*objects: tuple) -> SceneSpec:
    """spec_of(("circle", "red", "right"), ("star", "yellow", "still")); a 4th item is the speed."""
    return SceneSpec(include=[ObjectSpec(cls=o[0], color=o[1], motion=o[2], speed=o[3] if len(o) > 3 else None)
                              for o in objects])


def clip_for(spec: SceneSpec, seed: int = 0, background: str = "gray") -> motion.Clip:
    rng = random.Random(seed)
    movers = motion.place(rng, [(o.cls, o.color, o.motion or "still", o.speed) for o in spec.include])
    assert movers is not None
    return motion.Clip(background, movers, spec, "")


def render(clip: motion.Clip, n: int, edit=None) -> list:
    """The clip's n frames; edit(i, objects) may change frame i's objects (world.Obj)."""
    frames = []
    for i in range(n):
        scene = clip.scene_at(i / (n - 1))
        if edit:
            scene.objects = edit(i, list(scene.objects))
        frames.append(world.render(scene))
    return frames


def free_box(clip: motion.Clip, side: int = 12) -> tuple:
    """A box in a corner that no object of the clip comes near."""
    for x, y in ((2, 2), (50, 2), (2, 50), (50, 50), (26, 2), (2, 26), (50, 26), (26, 50)):
        box = (x, y, x + side, y + side)
        if all(not (box[0] - 3 < b[2] and b[0] < box[2] + 3 and box[1] - 3 < b[3] and b[1] < box[3] + 3)
               for m in clip.movers for b in (m.box_at(t / 8) for t in range(9))):
            return box
    raise AssertionError("no free corner")


def other_color(spec: SceneSpec) -> str:
    return next(c for c in ("blue", "green", "orange", "purple", "white") if all(o.color != c for o in spec.include))


# ---- parsing motion briefs ------------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ("a red circle moving to the right", [("circle", "red", "right", None)]),
    ("a blue square moving up while a yellow star stays still",
     [("square", "blue", "up", None), ("star", "yellow", "still", None)]),
    ("a red circle moving left and a green triangle moving down",
     [("circle", "red", "left", None), ("triangle", "green", "down", None)]),
    ("a red star moving right quickly", [("star", "red", "right", "fast")]),
    ("a purple ring slowly sliding upwards", [("ring", "purple", "up", "slow")]),
    ("a white square goes downwards slowly and a black star staying still",
     [("square", "white", "down", "slow"), ("star", "black", "still", None)]),
    ("a video of an orange triangle moves leftwards and a green ring still on a beige background",
     [("triangle", "orange", "left", None), ("ring", "green", "still", None)]),
    ("a clip of a yellow circle, moving rightwards", [("circle", "yellow", "right", None)]),
])
def test_parse_spec_reads_motion_briefs(text, want):
    spec = parse_spec(text)
    assert [(o.cls, o.color, o.motion, o.speed) for o in spec.include] == want
    assert spec.exclude == []


def test_parse_spec_motion_is_not_a_relation_or_a_preposition():
    left_of = parse_spec("a red circle moving to the left of a blue square")
    assert [(o.cls, o.motion, o.position) for o in left_of.include] == [
        ("square", None, None), ("circle", None, ("left of", 0))]
    road = parse_spec("a car going down the road")  # "down the road": where, not a motion
    assert [(o.cls, o.motion) for o in road.include] == [("car", None)]
    assert parse_spec("a photo of two red circles").include[0].motion is None


def test_every_training_caption_parses_to_its_spec():
    rng = random.Random(1)
    for _ in range(150):
        clip = motion.sample_clip(rng)
        assert parse_spec(clip.caption).include == clip.spec.include, clip.caption
    for text, spec in motion.heldout_motion_prompts():
        assert parse_spec(text).include == spec.include, text


# ---- the record -----------------------------------------------------------------------------------
def test_verdict_frames_are_optional_and_round_trip():
    old = Verdict.model_validate({"critic": "critic:detector", "approved": True, "scores": {"constraints": 1.0}})
    assert old.frames == []
    v = Verdict(critic="c", approved=False, findings=[Finding(kind="motion", message="m"),
                                                      Finding(kind="continuity", message="c")],
                frames=[FrameCheck(index=3, time=0.375, detections=[Finding(kind="seen", message="red circle",
                                                                            box=(1, 2, 3, 4))], issues=["x"])])
    assert Verdict.model_validate_json(v.model_dump_json()) == v


# ---- frames ---------------------------------------------------------------------------------------
def test_sample_frames_first_last_and_evenly_between():
    assert sample_indices(12) == list(range(12)) and sample_indices(16) == list(range(16))
    assert sample_indices(49, 6) == [0, 10, 19, 29, 38, 48]
    assert sample_indices(8, 6) == [0, 1, 3, 4, 6, 7]
    assert sample_frames("abcdefgh", 2) == [(0, "a"), (7, "h")]
    assert sample_indices(0) == [] and sample_indices(5, 1) == [0]


# ---- ground truth approved --------------------------------------------------------------------------
def test_ground_truth_clips_are_all_approved():
    """40 held-out motion briefs (one and two objects), 8/12/16 frames: 100% approved."""
    briefs = motion.heldout_motion_prompts()
    specs = [s for _, s in briefs[:20] + briefs[30:50]]
    asked = {(o.motion, o.speed) for s in specs for o in s.include}
    assert {m for m, _ in asked} == {"left", "right", "up", "down", "still"}
    assert {"slow", "fast"} <= {s for _, s in asked}
    rng = random.Random(7)
    refused = []
    for k, spec in enumerate(specs):
        n = (8, 12, 16)[k % 3]
        frames = motion.render_spec(rng, spec, n)
        verdict = check_frames(spec, frames)
        assert len(verdict.frames) == n and [f.index for f in verdict.frames] == list(range(n))
        if not verdict.approved:
            refused.append((motion.motion_prompt(spec), n, verdict.issues))
    assert refused == []


def test_an_approved_clip_carries_its_frames():
    spec = spec_of(("circle", "red", "right"), ("star", "yellow", "still"))
    verdict = check_frames(spec, render(clip_for(spec), 8), fps=8)
    assert verdict.approved and verdict.critic == "critic:detector" and verdict.issues == []
    assert verdict.scores == {"presence": 1.0, "continuity": 1.0, "motion": 1.0, "smoothness": 1.0}
    assert [f.time for f in verdict.frames] == [i / 8 for i in range(8)]
    assert sorted(d.message for d in verdict.frames[0].detections) == ["red circle", "yellow star"]
    assert all(d.kind == "seen" and d.box for f in verdict.frames for d in f.detections)


# ---- corruptions rejected ---------------------------------------------------------------------------
TWO = spec_of(("circle", "red", "right"), ("square", "blue", "still"))


def issues_of(frames, spec=TWO) -> list[str]:
    verdict = check_frames(spec, frames)
    assert not verdict.approved and verdict.issues
    assert [f.message for f in verdict.findings] == verdict.issues
    return verdict.issues


def test_reversed_clip_moves_the_wrong_way():
    assert issues_of(render(clip_for(TWO), 12)[::-1]) == ["the red circle moves left, not right"]


def test_frozen_clip_does_not_move():
    frames = render(clip_for(TWO), 12)
    assert issues_of([frames[0]] * 12) == ["the red circle barely moves (0 px of 64); it should move right"]


def test_an_object_painted_out_vanishes():
    frames = render(clip_for(TWO), 12, lambda i, objs: objs[1:] if 5 <= i <= 7 else objs)
    verdict = check_frames(TWO, frames)
    assert verdict.issues == ["the red circle vanishes in frames 5-7"] and not verdict.approved
    assert verdict.findings[0].kind == "continuity" and verdict.findings[0].object == 0
    assert [f.index for f in verdict.frames if f.issues] == [5, 6, 7]
    assert verdict.scores["presence"] < 1.0


def test_an_object_recoloured_mid_clip_changes_colour():
    frames = render(clip_for(TWO), 12, lambda i, objs: [objs[0], replace(objs[1], color="green")] if i >= 8 else objs)
    assert issues_of(frames) == ["the blue square turns green in frames 8-11"]


def test_skipped_frames_are_a_jump():
    frames = render(clip_for(TWO), 16)
    issues = issues_of(frames[:5] + frames[11:])
    assert len(issues) == 1 and issues[0].startswith("the red circle jumps") and "between frames 4 and 5" in issues[0]


def test_an_object_that_appears_is_reported():
    clip = clip_for(TWO)
    extra = world.Obj("triangle", "green", free_box(clip))
    frames = render(clip, 12, lambda i, objs: objs + [extra] if i >= 6 else objs)
    assert issues_of(frames) == ["a green triangle appears in frames 6-11"]
    always = render(clip, 8, lambda i, objs: objs + [extra])
    assert issues_of(always) == ["a green triangle that the brief does not ask for"]


def test_a_still_object_that_moves_and_a_perpendicular_motion():
    moving = spec_of(("circle", "red", "right"), ("square", "blue", "up"))
    issues = issues_of(render(clip_for(moving), 8), TWO)
    assert len(issues) == 1 and issues[0].startswith("the blue square moves up (") and "should stay still" in issues[0]
    down = spec_of(("circle", "red", "down"))
    assert issues_of(render(clip_for(down), 8), spec_of(("circle", "red", "right"))) == [
        "the red circle moves down, not right"]


def test_drift_and_steps_back():
    one = spec_of(("circle", "red", "right"))
    clip = clip_for(spec_of(("circle", "red", "right", "slow")), seed=3)

    def shift(dx=0.0, dy=0.0):
        return lambda o: replace(o, box=(o.box[0] + dx, o.box[1] + dy, o.box[2] + dx, o.box[3] + dy))

    drift = render(clip, 12, lambda i, objs: [shift(dy=8 * i / 11)(o) for o in objs] if clip.movers[0].box[1] < 30
                   else [shift(dy=-8 * i / 11)(o) for o in objs])
    (issue,) = issues_of(drift, one)
    assert issue.startswith("the red circle drifts") and "as it moves right" in issue
    back = render(clip, 12, lambda i, objs: [shift(dx=-6)(o) for o in objs] if i in (7, 8) else objs)
    issues = issues_of(back, one)
    assert any(i.startswith("the red circle goes back") for i in issues)


def test_speed_class_is_checked():
    slow, fast = (spec_of(("star", "yellow", "left", s)) for s in ("slow", "fast"))
    normal = spec_of(("star", "yellow", "left"))
    (issue,) = issues_of(render(clip_for(fast), 8), slow)
    assert "too far for 'slowly' (at most 16)" in issue
    (issue,) = issues_of(render(clip_for(normal, seed=2), 8), fast)
    assert "too little for 'quickly' (at least 25)" in issue
    assert check_frames(normal, render(clip_for(fast), 8)).approved  # no speed asked: any travel will do


def test_a_missing_or_miscoloured_object():
    clip = clip_for(TWO)
    (issue,) = issues_of(render(clip, 8, lambda i, objs: objs[:1]))
    assert issue == "expected a blue square, found none"
    recoloured = render(clip, 8, lambda i, objs: [replace(objs[0], color="orange"), objs[1]])
    verdict = check_frames(TWO, recoloured)
    assert not verdict.approved and verdict.issues[0] == "expected a red circle, saw an orange circle instead"
    assert verdict.findings[0].kind == "color"


CORRUPTIONS = {
    "reversed": (lambda c, s: render(c, 8)[::-1], "motion"),
    "frozen": (lambda c, s: [render(c, 8)[0]] * 8, "motion"),
    "vanish": (lambda c, s: render(c, 8, lambda i, objs: objs[1:] if i in (3, 4) else objs), "continuity"),
    "recolour": (lambda c, s: render(c, 8, lambda i, objs: [replace(objs[0], color=other_color(s))] + objs[1:]
                                     if i >= 4 else objs), "continuity"),
    "jump": (lambda c, s: (lambda f: f[:4] + f[11:])(render(c, 16)), "continuity"),
    "appear": (lambda c, s: render(c, 8, lambda i, objs: objs + [world.Obj("ring", other_color(s), free_box(c))]
                                   if i >= 4 else objs), "continuity"),
}


@pytest.mark.parametrize("k", [0, 1, 30, 31])
def test_no_corrupted_clip_is_approved(k):
    _, spec = motion.heldout_motion_prompts()[k]
    clip = clip_for(spec, seed=k)
    for name, (corrupt, kind) in CORRUPTIONS.items():
        verdict = check_frames(spec, corrupt(clip, spec))
        assert not verdict.approved, (name, motion.motion_prompt(spec))
        assert kind in {f.kind for f in verdict.findings}, (name, verdict.issues)


# ---- files ----------------------------------------------------------------------------------------
def write(frames, path: Path, fps: int = 8) -> Path:
    from local_models.video_base import encode
    path.write_bytes(encode(frames, fps, path.suffix[1:]))
    return path


@pytest.mark.parametrize("fmt", ["gif", "mp4"])
def test_gif_and_mp4_round_trip(tmp_path, fmt):
    """Clips as the video back ends write them; H.264's loss does not turn a right clip wrong."""
    pytest.importorskip("av")
    briefs = motion.heldout_motion_prompts()
    rng = random.Random(11)
    for k, (_, spec) in enumerate(briefs[2:4] + briefs[32:34]):
        n = (8, 12, 16)[k % 3]
        path = write(motion.render_spec(rng, spec, n), tmp_path / f"c{k}.{fmt}")
        frames, fps = read_frames(path)
        assert len(frames) == n and fps == pytest.approx(8, rel=0.05)  # a GIF keeps centiseconds
        verdict = check_video(spec, path)
        assert verdict.approved, (fmt, motion.motion_prompt(spec), verdict.issues)
    wrong = write(render(clip_for(TWO), 12)[::-1], tmp_path / f"wrong.{fmt}")
    assert check_video(TWO, wrong).issues == ["the red circle moves left, not right"]


@pytest.mark.parametrize("fmt", ["gif", "mp4"])
def test_a_long_clip_is_read_only_at_the_sampled_frames(tmp_path, fmt):
    """A 40-frame clip: the 16 sampled frames (first, last, evenly between) are the same frames a
    whole read gives, with the clip's frame count and rate."""
    pytest.importorskip("av")
    from agent.core.clips import read_sampled
    rng = random.Random(5)
    _, spec = motion.heldout_motion_prompts()[3]
    path = write(motion.render_spec(rng, spec, 40), tmp_path / f"long.{fmt}")
    picked, total, fps = read_sampled(path, 16)
    whole, _ = read_frames(path)
    assert total == 40 and fps == pytest.approx(8, rel=0.05)
    assert [i for i, _ in picked] == sample_indices(40, 16)
    assert all(f.tobytes() == whole[i].tobytes() for i, f in picked)


def test_a_frozen_gif_keeps_its_frames(tmp_path):
    """Pillow writes identical frames as one longer frame; reading it back with the clip's frame
    rate gives every frame again (and a frozen clip is still refused without it)."""
    frozen = write([render(clip_for(TWO), 8)[0]] * 8, tmp_path / "frozen.gif")
    frames, _ = read_frames(frozen, fps=8)
    assert len(frames) == 8
    assert "barely moves" in check_video(TWO, frozen, fps=8).issues[0]
    assert not check_video(TWO, frozen).approved


def test_an_unreadable_clip_is_a_failed_critique(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 64)
    verdict = check_video(TWO, bad)
    assert not verdict.approved and verdict.error.startswith("cannot read the clip bad.mp4")


# ---- critic:detector --------------------------------------------------------------------------------
def artifact(path: Path, kind: str = "video", **meta) -> Artifact:
    return Artifact(path=path, sha256=Artifact.digest(path), kind=kind, meta=meta,
                    request=GenerationRequest(prompt="p", model="local:shapes-video"))


BRIEF = "a red circle moving to the right while a blue square stays still"


def test_detector_critic_judges_clips(tmp_path):
    assert DetectorCritic.kinds == ("image", "video")
    clip = clip_for(TWO)
    gif = write(render(clip, 8), tmp_path / "ok.gif")
    verdict = DetectorCritic().critique(artifact(gif, frames=8, fps=8), BRIEF, None)  # spec parsed from the brief
    assert verdict.approved and verdict.critic == "critic:detector" and len(verdict.frames) == 8
    assert verdict.frames[-1].time == pytest.approx(7 / 8)
    # a GIF stored as an image, judged against a brief with motion, is still a clip
    assert len(DetectorCritic().critique(artifact(gif, kind="image"), BRIEF, TWO).frames) == 8
    wrong = write(render(clip, 8)[::-1], tmp_path / "wrong.gif")
    assert DetectorCritic().critique(artifact(wrong), BRIEF, TWO).issues == ["the red circle moves left, not right"]


def test_a_still_image_cannot_show_motion(tmp_path):
    png = tmp_path / "still.png"
    render(clip_for(TWO), 8)[0].save(png)
    verdict = DetectorCritic().critique(artifact(png, kind="image"), BRIEF, TWO)
    assert not verdict.approved and verdict.error is None and verdict.scores["constraints"] == 1.0
    assert verdict.issues == ["a still image cannot show motion; the brief asks for a clip: a red circle moving "
                              "to the right while a blue square stays still"]
    assert verdict.findings[-1].kind == "motion"
    image_only = DetectorCritic().critique(artifact(png, kind="image"), "a red circle and a blue square", None)
    assert image_only.approved and image_only.frames == []


# ---- critic:vlm -------------------------------------------------------------------------------------
def test_vlm_sends_a_clips_frames_and_asks_about_time(tmp_path):
    from agent.critics.vlm import CritiqueReply, VLMCritic, questions_for
    from agent.llm.scripted import ScriptedLLM

    questions = questions_for(TWO, clip=True)
    assert [(q.kind, q.expected) for q in questions] == [
        ("missing", "yes"), ("motion", "yes"), ("missing", "yes"), ("motion", "yes"),
        ("continuity", "no"), ("continuity", "yes")]
    assert questions[1].text == "Does the red circle move to the right from the first frame to the last?"
    assert questions[3].text == "Does the blue square stay in the same place in every frame?"
    sent: list[list[Path]] = []

    def answer(motion_ok: str):
        def reply(system, prompt, schema, images):
            assert all(Path(p).is_file() for p in images)  # written before the call, read during it
            sent.append(list(images))
            answers = ["yes", motion_ok, "yes", "yes", "no", "yes"]
            return schema.model_validate({
                "scores": {"prompt_adherence": 9, "quality": 8, "composition": 8}, "issues": [],
                "answers": [{"id": i + 1, "answer": a, "observed": "it goes left"} for i, a in enumerate(answers)]})
        return reply

    mp4 = write(render(clip_for(TWO), 16), tmp_path / "clip.mp4") if _has_av() else \
        write(render(clip_for(TWO), 16), tmp_path / "clip.gif")
    llm = ScriptedLLM([], structured=answer("yes"))
    verdict = VLMCritic(llm=llm).critique(artifact(mp4, fps=8), BRIEF, TWO)
    assert verdict.approved and verdict.error is None and VLMCritic.kinds == ("image", "video")
    assert [f.index for f in verdict.frames] == [0, 3, 6, 9, 12, 15]
    (call,) = llm.calls
    assert call.schema_name == CritiqueReply.__name__ and len(call.images) == 6
    assert [Path(p).name for p in call.images] == [f"frame-{i:04d}.png" for i in (0, 3, 6, 9, 12, 15)]
    assert "6 frames of a 16-frame clip, in order: frame 0 (0.00 s)" in call.prompt
    assert "2. Does the red circle move to the right from the first frame to the last?" in call.prompt
    assert BRIEF in call.prompt
    assert not any(Path(p).exists() for p in sent[0])  # the frames' folder is removed afterwards

    wrong = VLMCritic(llm=ScriptedLLM([], structured=answer("no"))).critique(artifact(mp4, fps=8), BRIEF, TWO)
    assert not wrong.approved
    assert [(f.kind, f.object, f.message) for f in wrong.findings] == [
        ("motion", 0, "the red circle should be moving to the right (saw: it goes left)")]


def _has_av() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


# ---- what training and the back end make of a motion ----------------------------------------------
def test_a_training_pair_is_one_clip_played_both_ways():
    """train_video pairs a clip with itself played backwards: the same frames in reverse order, a
    caption that parses to the opposite motions, and never a held-out combination."""
    rng = random.Random(3)
    made = 0
    for _ in range(40):
        clip = motion.sample_clip(rng)
        back = motion.reversed_clip(rng, clip)
        if back is None:
            continue
        made += 1
        fwd, bwd = clip.frames(8), back.frames(8)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(fwd, bwd[::-1]))
        assert [o.motion for o in parse_spec(back.caption).include] == \
            [motion.OPPOSITE[o.motion] for o in parse_spec(clip.caption).include]
        assert not motion.is_heldout(back.spec)
        assert check_frames(back.spec, bwd).approved
    assert made >= 25


def test_the_starting_noise_drifts_the_way_the_prompt_asks():
    """local:shapes-video's starting noise: the common part of every frame is the first frame's moved
    along the first moving object's way (latent pixels: 64 px frames are 16 latent pixels)."""
    import torch
    from local_models.shapes.video_backend import mixed_noise, prompt_path

    assert prompt_path("a red circle", 8, 4) is None
    assert prompt_path("a blue square staying still", 8, 4) is None
    right = prompt_path("a red circle moving to the right while a blue square stays still", 8, 4)
    up_fast = prompt_path("a yellow star moving up quickly", 8, 4)
    assert right[0] == (0, 0) and right[-1] == (0, 5) and all(dy == 0 for dy, _ in right)
    assert up_fast[-1] == (-8, 0) and [dx for _, dx in up_fast] == [0] * 8
    noise = mixed_noise((1, 4, 8, 16, 16), 1.0, torch.Generator().manual_seed(0), [right])
    for f, shift in enumerate(right):
        assert torch.equal(noise[0, :, f], torch.roll(noise[0, :, 0], shifts=shift, dims=(-2, -1)))
    mixed = mixed_noise((1, 4, 8, 16, 16), 0.5, torch.Generator().manual_seed(0), [right])
    assert 0.9 < mixed.std().item() < 1.1
