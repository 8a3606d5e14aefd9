"""Every size limit on what a caller sends, in one place: the CLI, brief files, MCP tools, the UI and
the HTTP API all validate through the core types (agent.core.types), whose validators read these.

A value over its limit is refused before anything runs, with one line naming the field and the limit
("negative_prompt: 5,000 characters, over the limit of 2,000"; the field's name is the caller's:
the validation error's location). Records already on disk are not
re-checked when loaded (a limit lowered later never makes an old run unreadable)."""
from __future__ import annotations

from typing import Any, Sized

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

# characters of text
CHARS = {
    "brief": 4000,            # Brief.text, a brief file's `brief`, an MCP prompt
    "prompt": 4000,           # the prompt of a generation / edit call (the director's refinement too)
    "negative_prompt": 2000,
    "style": 1000,
    "instruction": 2000,      # an edit's instruction
    "typeset": 200,           # the words set on a picture (a sign, a headline, not a page)
    "scheduler": 64,
    "model": 500,             # a back-end spec string
}
# items in a list
ITEMS = {
    "reference_images": 8,
}
BRIEF_FILE_BYTES = 5_000_000  # a brief file (YAML or JSONL) read at most
BRIEF_FILE_ENTRIES = 10_000   # briefs in one file

# legacy name: the brief's own limit
MAX_BRIEF_CHARS = CHARS["brief"]


def text(field: str, value: str | None) -> str | None:
    """`value`, or ValueError with the limit (CHARS[field]); pydantic's error names the field."""
    limit = CHARS[field]
    if value is not None and len(value) > limit:
        raise ValueError(f"{len(value):,} characters, over the limit of {limit:,}")
    return value


def items(field: str, value: Sized | None) -> Sized | None:
    """`value`, or ValueError with how many items `field` may hold (ITEMS[field])."""
    limit = ITEMS[field]
    if value is not None and len(value) > limit:
        raise ValueError(f"{len(value)} items, over the limit of {limit}")
    return value


def file_size(what: str, size: int, limit: int | None = None) -> None:
    """ValueError when a file of `size` bytes is over `limit` (BRIEF_FILE_BYTES by default)."""
    limit = BRIEF_FILE_BYTES if limit is None else limit
    if size > limit:
        raise ValueError(f"{what} is {size:,} bytes; the limit is {limit:,}")


def bounds(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The numeric bounds (ge, gt, le, lt) of `model`'s field `name`, as Field() keywords."""
    out: dict[str, Any] = {}
    for constraint in model.model_fields[name].metadata:
        for key in ("ge", "gt", "le", "lt"):
            if getattr(constraint, key, None) is not None:
                out[key] = getattr(constraint, key)
    return out


def field_of(model: type[BaseModel], name: str, **overrides) -> FieldInfo:
    """`model`'s field `name` (default, description, bounds) for another model or a function's parameter,
    so a limit is defined once: `Annotated[int | None, field_of(GenerationRequest, "steps", default=None)]`.
    `default=...` leaves the default out (a parameter's default is written after it)."""
    info = model.model_fields[name]
    kwargs = {"default": info.default, "description": info.description, **bounds(model, name), **overrides}
    if kwargs["default"] in (..., PydanticUndefined):
        kwargs.pop("default")
    return Field(**kwargs)
