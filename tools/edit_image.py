from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from agent.core.artifacts import load_image
from agent.core.errors import InputError
from agent.run.tooling import Reply
from agent.core.types import Attempt, GenerationRequest
from tools import attempts_reply, with_brief


def edit_image(ctx, attempt: int, prompt: str, box: tuple[int, int, int, int] | None = None,
               instruction: str = "", strength: float = 0.75, seed: int | None = None,
               guidance: float | None = None, n: int = 1, model: str | None = None,
               steps: int | None = None) -> Reply:
    """Edit an earlier attempt instead of starting over: repaint only the region `box` (inpainting,
    e.g. to add a missing object there or remove an extra one), or, without a box, redo the whole
    image from it (image-to-image, `strength` says how far from the source it may go).

    Args:
        attempt: the number of the attempt to edit
        prompt: what the edited image (or the repainted region) should show
        box: region to repaint as [x0, y0, x1, y1] in the source image's pixels
        instruction: an edit instruction, for models that take one (e.g. "make the sky red")
        strength: 0 < strength <= 1; how much of the source may change
        seed: seed of the edit; omit for the run's next seed
        guidance: classifier-free guidance scale; omit for the model's default
        n: how many edited versions to make
        model: image back end to edit with; omit for the run's model
        steps: denoising steps; omit for the model's default (raised so strength × steps >= 1)
    """
    return attempts_reply(edit_attempt(ctx, attempt, prompt, box=box, instruction=instruction,
                                       strength=strength, seed=seed, guidance=guidance, n=n, model=model,
                                       steps=steps), ctx)


def edit_attempt(ctx, attempt: int, prompt: str, *, box=None, mask: Path | None = None,
                 instruction: str = "", strength: float = 0.75, seed: int | None = None,
                 guidance: float | None = None, n: int = 1, model: str | None = None,
                 steps: int | None = None, feather: int | None = None) -> list[Attempt]:
    """The edit itself, also used by the UI's "iterate on this" with a painted mask (`feather`: its edge
    softened by that many pixels, on a model that declares `mask_feather`; None: the model's own)."""
    ctx.check_budget(about_to_generate=n)  # stopped or spent: before any work
    source = ctx.attempt(attempt)
    if source.artifact.kind != "image":
        raise InputError(f"attempt {attempt} is a {source.artifact.kind}, not an image")
    if box:
        mask = _mask(ctx, source.artifact.path, box, attempt)
    elif mask is not None and load_image(mask).size != load_image(source.artifact.path).size:
        raise InputError(f"the mask is {load_image(mask).size} but attempt {attempt} is "
                         f"{load_image(source.artifact.path).size}; they must be the same size")
    prompt, negative_prompt = with_brief(ctx, prompt, model=model)
    request = GenerationRequest(prompt=prompt, negative_prompt=negative_prompt, model=model or ctx.record.image_model,
                                seed=ctx.next_seed() if seed is None else seed, n=n, guidance=guidance, steps=steps,
                                source_image=source.artifact.path, mask=mask, strength=strength,
                                instruction=instruction or None, extra={} if feather is None else {"mask_blur": feather})
    backend = ctx.image_backend(request.model)
    if why := feather_problem(backend.info, feather, mask is not None):  # never silently ignored
        raise InputError(why)
    # the user's settings win (refused if another model named for the edit cannot take them); it keeps its size
    request = ctx.record.brief.settings.over(request, backend.info, size=False)
    request, cut = ctx.fit_steps(backend, request, edit=True)  # what it will denoise
    with ctx.reporting_steps():  # "step 12/20" live, from back ends that report their steps
        made = backend.edit(request, ctx.out_dir)
    artifacts = [a.model_copy(update={"parent": source.artifact.sha256}) for a in made]
    note = f"edit of attempt {attempt}" + (f", region {list(box)}" if box else ", painted mask" if mask else "") \
        + (f", feather {feather} px" if feather is not None else "") + (f"; {cut}" if cut else "")
    return ctx.add_attempts(artifacts, "edit", note, source=attempt, region=tuple(box) if box else None)


MAX_FEATHER = 128  # pixels of a feather (the mask's Gaussian blur radius) at most


def feather_problem(info, feather: int | None, masked: bool) -> str | None:
    """Why an edit cannot soften its mask's edge by `feather` pixels on the model `info` describes
    (its ModelInfo declares no `mask_feather`, or nothing is masked), or None when it can."""
    if feather is None:
        return None
    if not 0 <= feather <= MAX_FEATHER:
        return f"feather: 0 to {MAX_FEATHER} pixels, not {feather}"
    if not masked:
        return "feather: paint a region first (a feather softens the painted region's edge)"
    if not info.mask_feather:
        return f"feather: {info.name} repaints a hard-edged region (it takes no feather); leave it blank"
    return None


def _mask(ctx, source_path, box, attempt: int):
    """A white-on-black mask of the box, the size of the source image."""
    width, height = load_image(source_path).size
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InputError(f"box {list(box)} is not inside the {width}×{height} image")
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle([x0, y0, x1 - 1, y1 - 1], fill=255)
    path = ctx.path_in_run(f"mask-{attempt}-{x0}-{y0}-{x1}-{y1}.png")
    mask.save(path)
    return path
