"""Prompts are data: `prompts/NAME.md`, with `{var}` placeholders filled by str.format_map."""
from __future__ import annotations

import functools
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


@functools.cache
def _read(name: str) -> str:
    return (PROMPTS_DIR / f"{name}.md").read_text()


def load_prompt(name: str, **variables) -> str:
    return _read(name).format_map(variables).strip()
