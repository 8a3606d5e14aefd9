from __future__ import annotations

import difflib

from agent.run.tooling import Reply


def refine_prompt(ctx, prompt: str, negative_prompt: str = "", rationale: str = "") -> Reply:
    """Propose the generation prompt for this brief (composition, lighting, style, in words the
    image model understands). The user's rewrite policy decides: the proposal is used as is,
    edited by the user, or refused in favour of the brief verbatim. Use the returned prompt.

    Args:
        prompt: the proposed generation prompt
        negative_prompt: what the image must not show, if the model takes a negative prompt
        rationale: one line on what the rewrite changes and why
    """
    brief = ctx.record.brief
    if brief.rewrite == "off":
        final, how, kept = brief.text, "rewriting is off: the brief is used verbatim", False
    elif brief.rewrite == "review" and ctx.review is not None:
        reviewed = ctx.review(brief.text, prompt)
        final, how = (brief.text, "the user refused the rewrite") if reviewed is None else \
            (reviewed, "accepted by the user" if reviewed == prompt else "edited by the user")
        kept = reviewed is not None
    else:
        final, how, kept = prompt, "used as proposed", True
    ctx.record.refined_prompt = final
    if how == "edited by the user":
        respec(ctx, final)
    # the proposed negative prompt goes with the proposal: the image tools use it when given none
    negative_prompt = negative_prompt if kept else ""
    ctx.record.refined_negative_prompt = negative_prompt or None
    changes = _changes(brief.text, final)
    ctx.emit("prompt_refined", final, brief=brief.text, proposed=prompt, prompt=final,
             negative_prompt=negative_prompt, how=how, changes=changes, rationale=rationale)
    ctx.save()
    return Reply(text=f"Prompt to use ({how}): {final}",
                 data={"prompt": final, "negative_prompt": negative_prompt, "how": how})


def respec(ctx, prompt: str) -> None:
    """The user's own prompt is what they asked for: the checklist (and so the layout and the
    critic) follows it, not the brief it replaced, whenever it names checkable objects."""
    from agent.core import registry
    from agent.core.spec_parser import derive_spec, parse_spec

    llm = ctx.record.llm
    spec = parse_spec(prompt) if not registry.structured_output(llm) \
        else derive_spec(prompt, registry.resolve("llm", llm))
    if spec is not None and spec.include and spec != ctx.record.spec:
        ctx.record.spec = spec
        ctx.emit("message", "the checklist now follows your prompt: "
                 + ", ".join(o.describe() for o in spec.include), spec=spec.to_geneval())


def _changes(before: str, after: str) -> str:
    """Words added and removed, so the user sees at a glance what the rewrite did."""
    a, b = before.split(), after.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b).get_opcodes():
        if op in ("delete", "replace"):
            out.append("-" + " ".join(a[i1:i2]))
        if op in ("insert", "replace"):
            out.append("+" + " ".join(b[j1:j2]))
    return " ".join(out)
