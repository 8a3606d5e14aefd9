"""Size words ("a small red circle", "two big squares"): the one table of what they mean.

The shapes world (local_models/shapes/world.py) draws and captions its scenes from these, the
offline parser reads them, the layout sizes boxes by them and the checkers measure against them.
A size is one of SIZE_WORDS' keys; an object with none may be any size ("medium" is the world's own
word for the sides in between, not one a brief uses).
"""
from __future__ import annotations

from typing import Literal

Size = Literal["small", "large"]

# the world's bounding-box side for each size, in pixels of its 64 px canvas (both ends included)
SIZES: dict[str, tuple[int, int]] = {"small": (12, 14), "medium": (15, 19), "large": (20, 23)}
SIZE_WORDS: dict[str, list[str]] = {"small": ["small", "little", "tiny"], "large": ["large", "big"]}
SIZE_OF_WORD: dict[str, str] = {w: size for size, words in SIZE_WORDS.items() for w in words}
CANVAS_SIDE = 64  # the canvas SIZES are measured on


def side_range(size: str, canvas: int = CANVAS_SIDE) -> tuple[float, float]:
    """The sides a `size` object has on a `canvas`-pixel-wide picture: SIZES scaled from 64 px."""
    lo, hi = SIZES[size]
    scale = canvas / CANVAS_SIDE
    return lo * scale, hi * scale


def size_words_text() -> str:
    """"small (little, tiny), large (big)": the size words, for a model's vocabulary line."""
    return ", ".join(f"{words[0]} ({', '.join(words[1:])})" if words[1:] else words[0] for words in SIZE_WORDS.values())
