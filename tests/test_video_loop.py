"""Clips in the loop: the plan (when a run delivers a clip, what the planner revises), the embedded
video model's input checks, and whole clip runs on the real `local:shapes-video`."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from agent.core.errors import InputError
from agent.core.plans import AttemptView, PlanState, wants_clip
from agent.core.types import Finding, GenerationRequest, ObjectSpec, SceneSpec, Verdict
from agent.llm.offline import OfflinePlanner

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "local_models" / "shapes" / "weights-video"
needs_weights = pytest.mark.skipif(not (WEIGHTS / "model_index.json").is_file(), reason="no video weights")
RIGHT = SceneSpec(include=[ObjectSpec(cls="circle", color="red", motion="right")])


def frames_of(path: Path) -> list[np.ndarray]:
    from agent.core.clips import read_frames
    return [np.asarray(f.convert("RGB")) for f in read_frames(path)[0]]


# ---- the plan -----------------------------------------------------------------------------------
def test_a_run_delivers_a_clip_only_with_a_video_model_and_a_brief_about_motion():
    assert wants_clip("a red circle moving to the right", RIGHT, "local:shapes-video")
    assert wants_clip("a short video of a red circle", None, "local:shapes-video")
    assert not wants_clip("a red circle moving to the right", RIGHT, None)
    assert not wants_clip("a photo of a red circle", SceneSpec(include=[ObjectSpec(cls="circle")]), "local:svd")


def clip_state(**kw) -> PlanState:
    return PlanState(brief="a red circle moving to the right", spec=RIGHT, image_model="local:shapes",
                     vocabulary="shapes", clip=True, video_model="local:shapes-video", frames=(8, 16),
                     default_frames=8, default_guidance=4.0, seed=7, **kw)


def test_the_offline_planner_makes_clips_from_the_plain_motion_phrasing():
    planner = OfflinePlanner()
    state = clip_state()
    assert planner.propose(state).prompt == "a red circle moving to the right"
    step = planner.first_step(state.model_copy(update={"refined_prompt": "a red circle moving to the right"}))
    call = step.call()
    assert (call.name, call.arguments["prompt"], call.arguments["seed"]) == \
        ("generate_video", "a red circle moving to the right", 7)


def test_a_rejected_clip_is_redone_with_a_new_seed_stronger_guidance_and_shorter_when_it_broke_up():
    planner = OfflinePlanner()
    vanished = Verdict(critic="detector", approved=False, issues=["the red circle vanished in frames 9-12"],
                       findings=[Finding(kind="continuity", object=0, message="the red circle vanished")])
    first = AttemptView(index=0, action="video", prompt="p", seed=7, frames=12, verdict=vanished)
    step = planner.next_step(clip_state(refined_prompt="p", attempts=[first]))
    assert step.action == "video" and step.seed is None  # the run's next seed
    assert step.guidance == 5.0 and step.num_frames == 8
    wrong_way = Verdict(critic="detector", approved=False, issues=["the red circle moved left, not right"],
                        findings=[Finding(kind="motion", object=0, message="moved left")])
    second = AttemptView(index=1, action="video", prompt="p", seed=8, frames=8, verdict=wrong_way)
    step = planner.next_step(clip_state(refined_prompt="p", attempts=[first, second]))
    assert step.guidance == 6.0 and step.num_frames == 8


# ---- the model's input checks -------------------------------------------------------------------
@pytest.mark.parametrize("request_kw, message", [
    ({"num_frames": 4}, "8 to 16 frames"), ({"num_frames": 40}, "8 to 16 frames"),
    ({"width": 100, "height": 100}, "cannot make 100x100"), ({"extra": {"format": "webm"}}, "mp4, gif"),
    ({"n": 12}, "at most 8 clips")])
def test_bad_clip_requests_get_one_line_naming_the_problem(request_kw, message):
    from local_models.shapes.video_backend import ShapesVideoBackend
    with pytest.raises(InputError, match=message):
        ShapesVideoBackend().check_inputs(GenerationRequest(prompt="a red circle moving up", **request_kw))


def test_missing_video_weights_are_a_config_error_before_anything_runs(tmp_path):
    from agent.core.errors import ConfigError
    from local_models.shapes.video_backend import ShapesVideoBackend
    with pytest.raises(ConfigError, match="train_video"):
        ShapesVideoBackend(weights=tmp_path).check_ready()


# ---- the real model -----------------------------------------------------------------------------
@needs_weights
@pytest.mark.slow  # 12 s; the image model's same-pixels-under-batching tests stay in the default run
def test_clips_made_at_once_are_the_clips_made_alone(tmp_path):
    """Four callers at once share pipeline calls; each clip is the one its request makes alone."""
    from local_models.shapes.video_backend import ShapesVideoBackend
    backend = ShapesVideoBackend()
    prompts = ["a red circle moving to the right", "a blue square moving up", "a green star moving down",
               "a yellow ring moving to the left while a white square stays still"]
    reqs = [GenerationRequest(prompt=p, model="local:shapes-video", seed=10 + i, steps=4, num_frames=8,
                              extra={"format": "gif"}) for i, p in enumerate(prompts)]
    alone = [frames_of(backend.generate(r, tmp_path)[0].path) for r in reqs]
    calls = backend.owner.stats.calls
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda r: frames_of(backend.generate(r, tmp_path)[0].path), reqs))
    assert backend.owner.stats.calls - calls < 4  # at least two of them shared a call
    for a, b in zip(alone, together):
        assert len(a) == len(b) == 8
        diff = np.abs(np.stack(a).astype(int) - np.stack(b).astype(int))
        # batched float maths may differ in the last bit, which a GIF palette can round either way
        assert diff.mean() < 0.5 and (diff > 3).mean() < 0.01


@needs_weights
@pytest.mark.slow  # 12-25 s: CI's optional pass; clips made at once stay in the default run
def test_a_clip_run_records_clips_with_the_critics_verdict_on_each(tmp_path):
    from agent.surfaces.api import Studio
    studio = Studio(video_model="local:shapes-video", mode="loop", runs_dir=tmp_path)
    result = studio.run("a red circle moving to the right", seed=3, budget={"max_iterations": 2})
    record = result.record
    assert record.video_model == "local:shapes-video" and record.attempts
    for a in record.attempts:
        assert a.action == "video" and a.artifact.kind == "video" and a.artifact.path.suffix == ".mp4"
        assert len(frames_of(a.artifact.path)) >= 8
        assert a.verdict is not None and a.verdict.critic == "critic:detector" and not a.verdict.error
    assert result.status in ("approved", "budget_spent")


@needs_weights
@pytest.mark.slow  # 12-25 s: CI's optional pass; clips made at once stay in the default run
def test_the_cli_makes_a_judged_clip_offline(tmp_path):
    """The issue's command, end to end in a fresh process, at a fixed seed and the default budget: an
    approved clip of >= 8 frames, judged frame by frame. (About half of this brief's clips are right,
    so four tries approve it most of the time: 8 of 10 runs at random seeds; BENCHMARKS.md, "Clips".)"""
    out = subprocess.run([sys.executable, "-m", "agent.surfaces.cli", "run", "a red circle moving to the right",
                          "--video-model", "local:shapes-video", "--json", "--seed", "1659844205",
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["status"] == "approved", (summary["stop_reason"], out.stderr[-2000:])
    assert out.returncode == 0 and summary["best"]["verdict"]["approved"]
    best = Path(summary["best"]["path"])
    assert best.suffix == ".mp4" and len(frames_of(best)) >= 8
    assert summary["best"]["verdict"]["scores"].keys() >= {"presence", "continuity", "motion", "smoothness"}


def test_a_bad_video_format_is_one_line():
    from agent.surfaces.api import Studio
    with pytest.raises(InputError, match="video format must be mp4 or gif, not 'webm'"):
        Studio(video_model="local:shapes-video", video_format="webm")


@needs_weights
def test_a_clip_run_can_write_gifs_and_an_image_never_counts_as_its_result(tmp_path):
    from agent.surfaces.api import Studio
    from tools.generate_image import generate_image
    from agent.run.context import RunContext
    studio = Studio(video_model="local:shapes-video", video_format="gif", mode="loop", runs_dir=tmp_path)
    result = studio.run("a blue square moving up", seed=4, budget={"max_iterations": 1})
    clip = result.record.attempts[0].artifact
    assert clip.path.suffix == ".gif" and len(frames_of(clip.path)) >= 8
    record = studio.store.load(result.run_id)
    record.brief.budget.max_iterations = 3
    ctx = RunContext(record, studio.store, video_model="local:shapes-video")
    generate_image(ctx, "a photo of a blue square")
    still = record.attempts[-1]
    assert not still.verdict.approved and "delivers a clip" in still.verdict.issues[0]


@needs_weights
@pytest.mark.slow  # 12-25 s: CI's optional pass; clips made at once stay in the default run
def test_four_clip_runs_at_once_share_the_model_records_and_index(tmp_path):
    """Several callers at once on the real video model: every run finishes with its own judged clips."""
    from agent.surfaces.api import Studio
    studio = Studio(video_model="local:shapes-video", mode="loop", runs_dir=tmp_path)
    briefs = ["a red circle moving to the right", "a blue square moving up", "a green star moving down",
              "a yellow ring moving to the left"]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: studio.run(b, seed=11, budget={"max_iterations": 1}), briefs))
    assert len({r.run_id for r in results}) == 4
    for brief, r in zip(briefs, results):
        assert r.status in ("approved", "budget_spent") and r.record.brief.text == brief
        clip, = r.record.attempts
        assert clip.artifact.kind == "video" and clip.verdict.frames and not clip.verdict.error
    assert {row["run_id"] for row in studio.store.history()} >= {r.run_id for r in results}


def test_missing_video_weights_fail_the_cli_before_anything_runs(tmp_path):
    """A failure is a failure: exit 2, one line naming the problem, JSON status failed, no run folder."""
    env = {**__import__("os").environ, "ATELIER_PLUGINS": ""}
    code = ("import sys; from local_models.shapes import video_backend as v; from pathlib import Path; "
            f"v.WEIGHTS = Path({str(tmp_path / 'none')!r}); from agent.surfaces.cli import app; "
            "sys.argv = ['atelier', 'run', 'a red circle moving to the right', '--video-model', "
            f"'local:shapes-video', '--json', '--out', {str(tmp_path / 'runs')!r}]; app()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 2
    assert "video model weights are missing" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert json.loads(out.stdout.strip().splitlines()[-1])["status"] == "failed"
    assert not any((tmp_path / "runs").glob("*/run.json"))


@needs_weights
def test_a_clip_is_priced_before_it_is_made(tmp_path):
    """A clip costs steps x frames denoising steps (20 x 8 for local:shapes-video): a step that would
    go over max_denoiser_steps is refused before it runs, and the run says so."""
    from agent.surfaces.api import Studio
    studio = Studio(video_model="local:shapes-video", mode="loop", runs_dir=tmp_path)
    result = studio.run("a red circle moving to the right", seed=3, budget={"max_denoiser_steps": 100})
    assert result.status == "budget_spent" and not result.record.attempts
    assert "this step needs 160 more" in result.record.stop_reason
    result = studio.run("a red circle moving to the right", seed=3,
                        budget={"max_denoiser_steps": 250, "max_iterations": 4})
    assert [a.artifact.denoiser_steps() for a in result.record.attempts] == [160]
    assert result.status == "approved" or "160 of 250 denoising steps; this step needs 160 more" in \
        result.record.stop_reason
