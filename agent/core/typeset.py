"""Exact words set onto an image with a real font (the `typeset_text` tool's engine).

The fonts are the shipped DejaVu families (agent/core/data/fonts, Bitstream Vera licence). A text is
fitted to its box (the largest size at which it fits on one line, or on two when that is larger),
drawn on a copy of the box alone and pasted back, so every pixel outside the box is left exactly as
it was. `typeset` returns the new image and the layer it drew (text, font, size, box, colours), which
the tool records on the artifact and in the PNG metadata, so a designer can redo it by hand.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(__file__).with_name("data") / "fonts"
FONTS: dict[str, dict[str, str]] = {
    "DejaVu Sans": {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"},
    "DejaVu Serif": {"regular": "DejaVuSerif.ttf", "bold": "DejaVuSerif-Bold.ttf"},
    "DejaVu Sans Mono": {"regular": "DejaVuSansMono.ttf", "bold": "DejaVuSansMono-Bold.ttf"},
}
Weight = Literal["regular", "bold"]
Align = Literal["left", "center", "right"]
PLACEMENTS = ("top", "bottom", "left", "right", "center")
MIN_SIZE = 6
PAD = 0.08  # of the box's smaller side, kept free inside it (antialiasing, the outline)


def font_path(family: str = "DejaVu Sans", weight: str = "bold") -> Path:
    if family not in FONTS:
        raise ValueError(f"unknown font {family!r}; shipped: {', '.join(FONTS)}")
    if weight not in FONTS[family]:
        raise ValueError(f"weight {weight!r}: regular or bold")
    return FONT_DIR / FONTS[family][weight]


@lru_cache(maxsize=256)
def _font(family: str, weight: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(family, weight)), size)


def named_box(placement: str, width: int, height: int) -> tuple[int, int, int, int]:
    """The box a named placement gives on a width x height image: a band across the top or the
    bottom quarter, the left or right half's middle, or the middle band."""
    m = max(1, round(0.04 * min(width, height)))
    boxes = {"top": (m, m, width - m, round(0.27 * height)),
             "bottom": (m, round(0.73 * height), width - m, height - m),
             "left": (m, round(0.35 * height), width // 2 - m, round(0.65 * height)),
             "right": (width // 2 + m, round(0.35 * height), width - m, round(0.65 * height)),
             "center": (round(0.1 * width), round(0.38 * height), round(0.9 * width), round(0.62 * height))}
    if placement not in boxes:
        raise ValueError(f"placement {placement!r}: one of {', '.join(PLACEMENTS)}")
    return boxes[placement]


def _lines(text: str) -> list[list[str]]:
    """Ways to break the text: as written, and (for several words on one line) in two balanced lines."""
    if "\n" in text:
        return [text.split("\n")]
    words = text.split()
    out = [[text]]
    if len(words) > 1:
        cut = min(range(1, len(words)), key=lambda k: abs(len(" ".join(words[:k])) - len(" ".join(words[k:]))))
        out.append([" ".join(words[:cut]), " ".join(words[cut:])])
    return out


def _measure(lines: list[str], font, stroke: int, spacing: float) -> tuple[int, int]:
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    x0, y0, x1, y1 = draw.multiline_textbbox((0, 0), "\n".join(lines), font=font, stroke_width=stroke,
                                             spacing=round(spacing * font.size), align="center")
    return x1 - x0, y1 - y0


def fit(text: str, box, family: str = "DejaVu Sans", weight: str = "bold", outline: int = 0,
        max_size: int | None = None) -> tuple[int, list[str]]:
    """The largest font size (and line breaks) at which `text` fits inside `box` with its padding."""
    w, h = box[2] - box[0], box[3] - box[1]
    pad = PAD * min(w, h)
    room = (w - 2 * pad, h - 2 * pad)
    best = (0, [text])
    for lines in _lines(text):
        lo, hi = MIN_SIZE, max(MIN_SIZE, int(max_size or h))
        found = 0
        while lo <= hi:  # binary search: text size grows with the font size
            mid = (lo + hi) // 2
            stroke = outline if outline else 0
            tw, th = _measure(lines, _font(family, weight, mid), stroke, 0.15)
            if tw <= room[0] and th <= room[1]:
                found, lo = mid, mid + 1
            else:
                hi = mid - 1
        if found > best[0]:
            best = (found, lines)
    return best


def auto_color(image: Image.Image, box) -> tuple[int, int, int]:
    """Near-black on a light box, white on a dark one (by the box's median luminance)."""
    import numpy as np
    crop = np.asarray(image.convert("L").crop(box))
    return (20, 20, 20) if float(np.median(crop)) >= 110 else (250, 250, 250)


def typeset(image: Image.Image, text: str, box, *, family: str = "DejaVu Sans", weight: str = "bold",
            size: int | None = None, color: tuple[int, int, int] | None = None, outline: int = 0,
            outline_color: tuple[int, int, int] | None = None, shadow: bool = False,
            align: str = "center", plate: bool = False) -> tuple[Image.Image, dict]:
    """`image` with `text` set inside `box` (x0, y0, x1, y1); the layer's record. `size` None: fit
    to the box; a given size that does not fit is refused (the words would be cut). `plate`: fill
    the box first with the colour round its edge (the median of its border pixels), covering what
    was there (a misspelt word a model wrote) as a sign painter paints over the old lettering."""
    image = image.convert("RGB")
    W, H = image.size
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
        raise ValueError(f"box {[x0, y0, x1, y1]} is not inside the {W}x{H} image")
    if not text.strip():
        raise ValueError("no text to set")
    fitted, lines = fit(text, (x0, y0, x1, y1), family, weight, outline)
    if size is None:
        if fitted < MIN_SIZE:
            raise ValueError(f"{text!r} does not fit in the box {[x0, y0, x1, y1]} even at {MIN_SIZE} px")
        size = fitted
    elif size > max(fitted, MIN_SIZE):
        raise ValueError(f"{text!r} at {size} px does not fit in the box {[x0, y0, x1, y1]}; "
                         f"{fitted} px is the largest that does (or omit size)")
    if plate:
        import numpy as np
        px = np.asarray(image)[y0:y1, x0:x1]
        edge = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
        image = image.copy()
        image.paste(tuple(int(v) for v in np.median(edge, axis=0)), (x0, y0, x1, y1))
    color = tuple(color) if color else auto_color(image, (x0, y0, x1, y1))
    if outline and outline_color is None:
        outline_color = (250, 250, 250) if sum(color) < 384 else (20, 20, 20)
    font = _font(family, weight, size)
    crop = image.crop((x0, y0, x1, y1)).convert("RGBA")
    layer = Image.new("RGBA", crop.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    joined, spacing = "\n".join(lines), round(0.15 * size)
    bx0, by0, bx1, by1 = draw.multiline_textbbox((0, 0), joined, font=font, stroke_width=outline,
                                                 spacing=spacing, align=align)
    pad = PAD * min(crop.size)
    cw, ch = crop.size
    tx = {"left": pad, "right": cw - pad - (bx1 - bx0)}.get(align, (cw - (bx1 - bx0)) / 2) - bx0
    ty = (ch - (by1 - by0)) / 2 - by0
    if shadow:  # a soft drop shadow, down and right by a tenth of the size
        off = max(1, size // 10)
        draw.multiline_text((tx + off, ty + off), joined, font=font, fill=(0, 0, 0, 140), spacing=spacing,
                            align=align, stroke_width=outline)
    draw.multiline_text((tx, ty), joined, font=font, fill=(*color, 255), spacing=spacing, align=align,
                        stroke_width=outline, stroke_fill=(*outline_color, 255) if outline else None)
    crop.alpha_composite(layer)
    out = image.copy()
    out.paste(crop.convert("RGB"), (x0, y0))
    ink = layer.getbbox()
    record = {"text": text, "font": family, "weight": weight, "size": size, "box": [x0, y0, x1, y1],
              "ink": [x0 + ink[0], y0 + ink[1], x0 + ink[2], y0 + ink[3]] if ink else None,
              "lines": lines, "color": list(color), "outline": outline,
              "outline_color": list(outline_color) if outline else None, "shadow": shadow, "align": align,
              "plate": plate}
    return out, record


def words_set(attempts, index: int) -> set[str]:
    """The words typeset on attempt `index` and on every attempt it was made from (its `source` chain):
    what is on the picture by typesetting. `attempts` are a record's `Attempt`s or a plan's `AttemptView`s."""
    by_index, out, seen = {a.index: a for a in attempts}, set(), set()
    at = by_index.get(index)
    while at is not None and at.index not in seen:
        seen.add(at.index)
        if at.typeset is not None:
            out.add(at.typeset)
        at = by_index.get(at.source) if at.source is not None else None
    return out


def words_missing(spec, attempts, index: int) -> list[int]:
    """The indexes of the spec's texts that attempt `index` does not show (its verdict's text item failed
    or could not be checked; a critic with no text item says nothing) and that were not typeset on it or
    its sources yet: what a typeset could still add."""
    at = next((a for a in attempts if a.index == index), None)
    if spec is None or not spec.text or at is None or at.verdict is None:
        return []
    wrong = {r.id for r in at.verdict.requirements if r.kind == "text" and r.status != "passed"}
    done = words_set(attempts, index)
    return [k for k, t in enumerate(spec.text) if f"text:{k}" in wrong and t.text not in done]
