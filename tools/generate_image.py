from __future__ import annotations

from agent.run.tooling import Reply
from agent.core.types import GenerationRequest
from tools import attempts_reply


def generate_image(ctx, prompt: str, negative_prompt: str = "", seed: int | None = None, n: int = 1,
                   guidance: float | None = None, steps: int | None = None, width: int | None = None,
                   height: int | None = None, model: str | None = None, use_reference: bool = True,
                   reference_strength: float = 0.65) -> Reply:
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
        model: image back end such as local:shapes or openai:gpt-image-2; omit for the run's model
        use_reference: start from the brief's reference image (image-to-image, or inpainting inside
            the brief's mask) when the brief has one
        reference_strength: 0 < strength <= 1; how far the result may move from the reference
    """
    ctx.check_budget(about_to_generate=n)
    request = GenerationRequest(prompt=prompt, negative_prompt=negative_prompt,
                                model=model or ctx.record.image_model,
                                seed=ctx.next_seed() if seed is None else seed, n=n, guidance=guidance,
                                steps=steps, width=width, height=height)
    backend, brief = ctx.image_backend(request.model), ctx.record.brief
    if use_reference and brief.reference_images:
        request = request.model_copy(update={"source_image": brief.reference_images[0], "mask": brief.mask,
                                             "strength": reference_strength})
        artifacts = backend.edit(request, ctx.out_dir)
    else:
        artifacts = backend.generate(request, ctx.out_dir)
    return attempts_reply(ctx.add_attempts(artifacts, "generate"), ctx)
