"""A tool call's result rebuilt from the run record, for a run resumed after its process died while
the call ran: what the call made reached run.json (each tool saves it there) but the result telling
the conversation so did not. Running such a call again would repeat its round (issue 28: a Ray node
killed there came back with its first round twice), so the director answers it from the record."""
from __future__ import annotations

from typing import Callable

from agent.core.plans import AttemptView
from agent.core.protocols import Message, ToolCall, ToolResult
from agent.core.types import Attempt
from agent.run.tooling import Reply
from tools import attempts_reply

# what each attempt-making tool records: its attempts are the ones whose kind it makes
MAKES: dict[str, Callable[[Attempt], bool]] = {
    "generate_image": lambda a: a.action == "generate",
    "edit_image": lambda a: a.action == "edit" and a.typeset is None,
    "typeset_text": lambda a: a.typeset is not None,
    "generate_video": lambda a: a.action == "video",
}


def saved_reply(ctx, call: ToolCall, conversation: list[Message]) -> Reply | None:
    """The reply `call` gave, rebuilt from what the record holds and `conversation` (the results told
    so far) does not; None when the record holds no trace of it (it never got to save anything), so it
    may be asked again.

    - a tool that makes attempts: the attempts after the last one the conversation tells, all of the
      kind it makes (a call saves its attempts in one step, `RunContext.add_attempts`);
    - critique: its attempt's verdict in the record differs from the one the conversation last told;
    - refine_prompt: the record's refined prompt differs from the last one the conversation told."""
    told: dict[int, AttemptView] = {}
    refined = None
    for result in (p for m in conversation for p in m.parts if isinstance(p, ToolResult) and not p.is_error):
        for a in result.data.get("attempts", []):
            view = AttemptView.model_validate(a)
            told[view.index] = view
        if result.name == "refine_prompt" and "prompt" in result.data:
            refined = result.data["prompt"]
    record = ctx.record
    if call.name in MAKES:
        made = record.attempts[max(told, default=-1) + 1:]
        return attempts_reply(made, ctx) if made and all(MAKES[call.name](a) for a in made) else None
    if call.name == "critique":
        index = call.arguments.get("attempt")
        if isinstance(index, int) and index in told and 0 <= index < len(record.attempts) \
                and record.attempts[index].verdict != told[index].verdict:
            return attempts_reply([record.attempts[index]], ctx)
        return None
    if call.name == "refine_prompt" and record.refined_prompt is not None and record.refined_prompt != refined:
        how = "settled before the run was interrupted"
        return Reply(text=f"Prompt to use ({how}): {record.refined_prompt}",
                     data={"prompt": record.refined_prompt, "negative_prompt": record.refined_negative_prompt or "",
                           "how": how})
    return None
