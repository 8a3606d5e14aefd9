from __future__ import annotations

from agent.tooling import Reply
from agent.types import GenerationRequest
from tools import attempts_reply


def generate_image(ctx, prompt: str, negative_prompt: str = "", seed: int | None = None, n: int = 1,
                   guidance: float | None = None, steps: int | None = None, width: int | None = None,
                   height: int | None = None, model: str | None = None) -> Reply:
    """Generate n images from a text prompt. Every image is critiqued at once; the reply gives each
    attempt's number, seed and verdict, and shows the images.

    Args:
        prompt: the generation prompt
        negative_prompt: what to avoid
        seed: the first seed (the i-th image gets seed + i); omit for the run's next seed
        n: how many images to make in one batch
        guidance: classifier-free guidance scale; omit for the model's default
        steps: denoising steps; omit for the model's default
        width: image width in pixels, from the model's size menu; omit for the default
        height: image height in pixels, from the model's size menu; omit for the default
        model: image back end such as local:shapes or openai:gpt-image-1; omit for the run's model
    """
    ctx.check_budget(about_to_generate=n)
    request = GenerationRequest(prompt=prompt, negative_prompt=negative_prompt,
                                model=model or ctx.record.image_model,
                                seed=ctx.next_seed() if seed is None else seed, n=n, guidance=guidance,
                                steps=steps, width=width, height=height)
    artifacts = ctx.image_backend(request.model).generate(request, ctx.out_dir)
    return attempts_reply(ctx.add_attempts(artifacts, "generate"), ctx)
