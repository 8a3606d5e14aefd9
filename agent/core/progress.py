"""Live denoising progress: a back end that declares `ModelInfo.reports_steps` calls the hook the
caller set here once per denoising step, on whatever thread runs the model.

The hook travels in a context variable, not in `GenerationRequest`: a request is stored with every
artifact it makes, a callable is not data. A back end reads `step_hook()` on the caller's thread when
the request arrives (a pipeline owner's worker thread has no context of its own) and carries it with
that request, so callers batched into one pipeline call each hear only their own steps."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass(frozen=True)
class StepProgress:
    """One denoising step done: `step` of `total` (1-based), counted over everything the request
    runs (a layout drawn box by box counts every pass), and where the back end can give one a small
    preview of the picture so far (a PIL image at latent resolution, colours approximate)."""

    step: int
    total: int
    preview: Any = None


StepHook = Callable[[StepProgress], None]

_HOOK: ContextVar[StepHook | None] = ContextVar("atelier_step_hook", default=None)


@contextmanager
def reporting_steps(hook: StepHook | None) -> Iterator[None]:
    """Within the block, back ends that report steps call `hook` for each step of this thread's requests."""
    token = _HOOK.set(hook)
    try:
        yield
    finally:
        _HOOK.reset(token)


def step_hook() -> StepHook | None:
    """The hook the current caller set (None: nobody is listening, report nothing)."""
    return _HOOK.get()


def offset(hook: StepHook | None, done: int, total: int) -> StepHook | None:
    """`hook` for one pass of several: its steps counted after the `done` steps of earlier passes,
    out of `total` for all of them."""
    if hook is None:
        return None
    return lambda p: hook(StepProgress(done + p.step, total, p.preview))


PREVIEW_SIDE = 64  # a preview's longest side in an event: a few hundred bytes a step


def preview_url(image) -> str | None:
    """A step's preview as a `data:image/png;base64,...` URL (shrunk to PREVIEW_SIDE), for events that
    travel as JSON; None without one."""
    if image is None:
        return None
    import base64
    import io

    if max(image.size) > PREVIEW_SIDE:
        image = image.copy()
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
