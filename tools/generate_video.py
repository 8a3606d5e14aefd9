from __future__ import annotations

from typing import Literal

from agent.core.errors import InputError
from agent.run.tooling import Reply
from agent.core.types import GenerationRequest
from tools import attempts_reply, with_brief


def generate_video(ctx, prompt: str, attempt: int | None = None, num_frames: int | None = None,
                   fps: int | None = None, seed: int | None = None, guidance: float | None = None,
                   negative_prompt: str = "", n: int = 1, format: Literal["mp4", "gif"] | None = None,
                   model: str | None = None) -> Reply:
    """Make a short clip from a prompt, or animate an earlier image attempt (image to video); the
    critic judges the clip's frames and its motion.

    Args:
        prompt: what happens in the clip, motion included ("a red circle moving to the right")
        attempt: number of an image attempt to start from; omit for text to video
        num_frames: frame count (a shorter clip is easier to keep coherent); omit for the model's default
        fps: frames per second; omit for the model's default
        seed: seed of the first clip; omit for the run's next seed
        guidance: classifier-free guidance (higher follows the prompt's motion words more closely); omit for the model's default
        negative_prompt: what to keep out of the clip
        n: clips to make from seeds seed, seed+1, ...
        format: mp4 or gif; omit for the run's format (else the model's default)
        model: video back end such as local:shapes-video, local:svd or runway:gen4_turbo; omit for the run's video model
    """
    backend = ctx.video_backend(model)
    info = backend.info  # a clip costs its steps once per frame: priced before anything runs
    frames = num_frames or info.default_frames or 1
    ctx.check_budget(about_to_generate=n, about_to_denoise=n * frames * (info.default_steps or 1))
    source = None
    if attempt is not None:
        start = ctx.attempt(attempt).artifact
        if start.kind != "image":
            raise InputError(f"attempt {attempt} is a {start.kind}, not an image to animate")
        source = start.path
    prompt, negative = with_brief(ctx, prompt, negative_prompt, info=backend.info)
    request = GenerationRequest(prompt=prompt, negative_prompt=negative, model=model or ctx.video_model or "",
                                seed=ctx.next_seed() if seed is None else seed, source_image=source,
                                num_frames=num_frames, fps=fps, guidance=guidance, n=n,
                                extra={"format": fmt} if (fmt := format or ctx.record.video_format) else {})
    artifacts = backend.generate(request, ctx.out_dir)
    return attempts_reply(ctx.add_attempts(artifacts, "video", source=attempt), ctx)
