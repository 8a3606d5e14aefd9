from __future__ import annotations

from typing import Literal

from agent.core.errors import InputError
from agent.core.layout import Layout, plan_layout
from agent.core.types import GenerationRequest, SceneSpec
from agent.run.tooling import Reply
from tools import attempts_reply, with_brief


def generate_image(ctx, prompt: str, negative_prompt: str = "", seed: int | None = None, n: int = 1,
                   guidance: float | None = None, steps: int | None = None, width: int | None = None,
                   height: int | None = None, model: str | None = None, use_reference: bool = True,
                   reference_strength: float = 0.65, layout: Layout | Literal["auto"] | None = None) -> Reply:
    """Generate n images from a text prompt. Every image is critiqued at once; the reply gives each
    attempt's number, seed and verdict, and shows the images.

    Args:
        prompt: the generation prompt
        negative_prompt: what to avoid
        seed: the first seed (the i-th image gets seed + i); omit for the run's next seed
        n: how many images to make in one batch
        guidance: classifier-free guidance scale; omit for the model's default (the user's setting wins)
        steps: denoising steps; omit for the model's default (the user's setting wins)
        width: image width in pixels, from the model's size menu; omit for the default (the user's wins)
        height: image height in pixels, from the model's size menu; omit for the default (the user's wins)
        model: image back end such as local:shapes or openai:gpt-image-2; omit for the run's model
        use_reference: start from the brief's reference image (image-to-image, or inpainting inside
            the brief's mask) when the brief has one
        reference_strength: 0 < strength <= 1; how far the result may move from the reference
        layout: where each object goes, planned before drawing: {"width", "height", "boxes": [{"object":
            index in the spec's include list, "kind", "color", "box": [x0, y0, x1, y1]}]}, one box per
            object instance, counts and relations as the spec says, no overlaps; or "auto" to plan one by
            rules. Models that can inpaint draw it box by box; others get it in words. A layout that
            breaks the brief's spec is refused with the reason.
    """
    ctx.check_budget(about_to_generate=n)  # stopped or spent: before any work
    prompt, negative_prompt = with_brief(ctx, prompt, negative_prompt, model)
    request = GenerationRequest(prompt=prompt, negative_prompt=negative_prompt,
                                model=model or ctx.record.image_model,
                                seed=ctx.next_seed() if seed is None else seed, n=n, guidance=guidance,
                                steps=steps, width=width, height=height)
    backend, brief = ctx.image_backend(request.model), ctx.record.brief
    request = brief.settings.over(request, backend.info)  # what the user set wins over the director's choice
    if layout is not None:
        request = with_layout(request, layout, ctx.record.spec, backend.info)
    edit = bool(use_reference and brief.reference_images)
    if edit:
        request = request.model_copy(update={"source_image": brief.reference_images[0], "mask": brief.mask,
                                             "strength": reference_strength})
    request, note = ctx.fit_steps(backend, request, edit)  # what it will denoise, every pass counted
    with ctx.reporting_steps():  # "step 12/20" live, from back ends that report their steps
        artifacts = backend.edit(request, ctx.out_dir) if edit else backend.generate(request, ctx.out_dir)
    return attempts_reply(ctx.add_attempts(artifacts, "generate", note), ctx)


def with_layout(request: GenerationRequest, layout: Layout | str, spec: SceneSpec | None, info) -> GenerationRequest:
    """The request with its layout checked against the spec: as boxes for a model that composes
    regions, as words in the prompt for any other."""
    width, height = request.width or info.sizes[0][0], request.height or info.sizes[0][1]
    if layout == "auto":
        if spec is None or not spec.include:
            raise InputError("layout 'auto' needs a brief whose objects are known (a scene spec)")
        layout = plan_layout(spec, seed=request.seed, width=width, height=height)
        if layout is None:
            raise InputError(f"no layout fits {len(spec.include)} kinds of object in {width}x{height}; "
                             "ask for fewer objects")
    elif problems := layout.problems(spec):
        raise InputError("layout refused: " + "; ".join(problems[:4]))
    if spec is not None and spec.background and layout.background is None:
        layout = layout.model_copy(update={"background": spec.background})  # the canvas the brief asks for
    if info.layouts == "regions":
        return request.model_copy(update={"layout": layout.scaled(width, height)})
    return request.model_copy(update={"prompt": f"{request.prompt}; {layout.words()}"})
