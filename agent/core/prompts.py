"""Prompts are data: `prompts/NAME.md`, with `{var}` placeholders filled by str.format_map. They
are read through importlib.resources, so they load the same from a checkout and from a wheel."""
from __future__ import annotations

import functools
from importlib.resources import files


@functools.cache
def _read(name: str) -> str:
    return files("prompts").joinpath(f"{name}.md").read_text(encoding="utf-8")


def load_prompt(name: str, **variables) -> str:
    return _read(name).format_map(variables).strip()
