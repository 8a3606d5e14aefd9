from __future__ import annotations

from agent.run.tooling import Reply
from agent.core.types import GenerationRequest
from tools import attempts_reply


def generate_video(ctx, prompt: str, attempt: int | None = None, num_frames: int | None = None,
                   fps: int | None = None, seed: int | None = None, model: str | None = None) -> Reply:
    """Make a short clip from a prompt, or animate an earlier image attempt (image to video).

    Args:
        prompt: what happens in the clip
        attempt: number of an image attempt to start from; omit for text to video
        num_frames: frame count; omit for the model's default
        fps: frames per second; omit for the model's default
        seed: seed; omit for the run's next seed
        model: video back end such as local:svd or runway:gen4_turbo; omit for the run's video model
    """
    ctx.check_budget(about_to_generate=1)
    source = ctx.attempt(attempt).artifact.path if attempt is not None else None
    request = GenerationRequest(prompt=prompt, model=model or ctx.video_model or "",
                                seed=ctx.next_seed() if seed is None else seed, source_image=source,
                                num_frames=num_frames, fps=fps)
    artifacts = ctx.video_backend(model).generate(request, ctx.out_dir)
    return attempts_reply(ctx.add_attempts(artifacts, "video"), ctx)
