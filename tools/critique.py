from __future__ import annotations

from agent.run.tooling import Reply
from tools import attempts_reply


def critique(ctx, attempt: int, critic: str | None = None) -> Reply:
    """Judge an attempt again, e.g. with another critic (every new attempt is already judged by
    the run's critic). The verdict replaces the attempt's old one.

    Args:
        attempt: the number of the attempt to judge
        critic: critic such as critic:detector or critic:vlm; omit for the run's critic
    """
    a = ctx.attempt(attempt)
    ctx.judge(a, critic)
    ctx.save()
    return attempts_reply([a], ctx)
