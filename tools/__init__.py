"""The tools the director calls. Each is a typed function in its own file; its signature is its schema."""
from __future__ import annotations

import functools

from agent.run.planning import attempt_data
from agent.run.tooling import Reply, Toolbox
from agent.core.types import Attempt


def attempts_reply(attempts: list[Attempt], ctx) -> Reply:
    """Tell the director what each new attempt is and what the critic said of it."""
    lines, data = [], []
    for a in attempts:
        v = a.verdict
        state = v.state if v else "not approved"
        if v and v.approved and not v.error:
            state = state.upper()  # the director sees an approval at a glance
        issues = f" Issues: {'; '.join(v.issues)}." if v and v.issues else ""
        warning = a.artifact.meta.get("warning")
        lines.append(f"attempt {a.index} (seed {a.seed}): {state}.{issues}" + (f" Note: {warning}" if warning else ""))
        data.append(attempt_data(a))
    best = ctx.record.best
    lines.append(f"best so far: attempt {best.index}" if best else "no attempt yet")
    left = ctx.budget_left()
    return Reply(text="\n".join(lines), images=[a.artifact.path for a in attempts if a.artifact.kind == "image"],
                 data={"attempts": data, "best": best.index if best else None, "budget_left": left.model_dump()})


def with_brief(ctx, prompt: str, negative_prompt: str = "", model: str | None = None,
               info=None) -> tuple[str, str]:
    """The prompt and negative prompt a back end gets: the brief's style added to the prompt unless it
    is there already; the director's negative prompt, else the one refine_prompt settled on, with the
    brief's own negative prompt added, so what the user asked for always reaches the back end. A model
    that takes no negative prompt (ModelInfo.supports_negative; `info` for a model that is not the
    run's image model) gets it as words in the prompt."""
    brief = ctx.record.brief
    if brief.style and brief.style.lower() not in prompt.lower():
        prompt = f"{prompt}, {brief.style}" if prompt else brief.style
    negative = negative_prompt or ctx.record.refined_negative_prompt or ""
    if brief.negative_prompt and brief.negative_prompt.lower() not in negative.lower():
        negative = f"{negative}, {brief.negative_prompt}" if negative else brief.negative_prompt
    if negative and not (info or ctx.image_backend(model).info).supports_negative:
        return f"{prompt}. Avoid: {negative}", ""
    return prompt, negative


@functools.cache
def default_toolbox() -> Toolbox:
    """The director's tools (built once: tools hold no state, every call gets the run's context)."""
    from tools.critique import critique
    from tools.edit_image import edit_image
    from tools.generate_image import generate_image
    from tools.generate_video import generate_video
    from tools.refine_prompt import refine_prompt
    from tools.resumed import saved_reply
    from tools.typeset_text import typeset_text
    return Toolbox([refine_prompt, generate_image, edit_image, typeset_text, generate_video, critique], saved=saved_reply)
