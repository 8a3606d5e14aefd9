from __future__ import annotations

from typing import Literal

from agent.core.artifacts import load_image, save_image
from agent.core import limits
from agent.core.errors import InputError
from agent.core.typeset import FONTS, named_box, typeset
from agent.core.types import Attempt
from agent.run.tooling import Reply
from tools import attempts_reply

Font = Literal["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono"]


def typeset_text(ctx, attempt: int, text: str, box: tuple[int, int, int, int] | None = None,
                 placement: Literal["top", "bottom", "left", "right", "center"] | None = None,
                 font: Font = "DejaVu Sans", weight: Literal["regular", "bold"] = "bold", size: int | None = None,
                 color: tuple[int, int, int] | None = None, outline: int = 0,
                 outline_color: tuple[int, int, int] | None = None, shadow: bool = False,
                 align: Literal["left", "center", "right"] = "center", plate: bool = False) -> Reply:
    """Set exact words onto an attempt's image with a real font: the surest way to get text spelled
    right (image models misspell; the shapes model cannot write at all). Only the text's box changes;
    every other pixel stays exactly as it was. The result is a new attempt, judged by the critic.

    Args:
        attempt: the number of the attempt to write on
        text: the words, exactly as they must read ("\\n" breaks a line)
        box: where, as [x0, y0, x1, y1] in the image's pixels; the text is fitted inside it
        placement: or a named place: a band at the top or bottom, the left or right half, the center
        font: the font family (shipped, openly licensed)
        weight: regular or bold
        size: font size in pixels; omit to fit the text to the box (the largest size that fits)
        color: text colour as [r, g, b]; omit for near-black on light, white on dark
        outline: outline width in pixels (0: none)
        outline_color: outline colour as [r, g, b]; omit for the opposite of the text's
        shadow: a soft drop shadow under the text
        align: left, center or right inside the box
        plate: fill the box first with the colour round its edge, covering what is there (a misspelt
            word the model wrote): then make the box cover those words
    """
    return attempts_reply(typeset_attempt(ctx, attempt, text, box=box, placement=placement, font=font,
                                          weight=weight, size=size, color=color, outline=outline,
                                          outline_color=outline_color, shadow=shadow, align=align, plate=plate), ctx)


def typeset_attempt(ctx, attempt: int, text: str, *, box=None, placement=None, font: str = "DejaVu Sans",
                    weight: str = "bold", size: int | None = None, color=None, outline: int = 0,
                    outline_color=None, shadow: bool = False, align: str = "center", plate: bool = False) -> list[Attempt]:
    ctx.check_budget(typeset=True)  # no model runs: only rounds, time, money and a stop limit it
    source = ctx.attempt(attempt)
    if source.artifact.kind != "image":
        raise InputError(f"attempt {attempt} is a {source.artifact.kind}, not an image")
    if font not in FONTS:
        raise InputError(f"unknown font {font!r}; shipped: {', '.join(FONTS)}")
    if not (text or "").strip():
        raise InputError("no words to set: give the text")
    if len(text) > limits.CHARS["typeset"]:
        raise InputError(f"the words to set are {len(text):,} characters, over the limit of {limits.CHARS['typeset']:,}")
    image = load_image(source.artifact.path).convert("RGB")
    if (box is None) == (placement is None):
        raise InputError("give either box or placement")
    try:
        where = box or named_box(placement, *image.size)
        out, layer = typeset(image, text, where, family=font, weight=weight, size=size, color=color,
                             outline=outline, outline_color=outline_color, shadow=shadow, align=align, plate=plate)
    except ValueError as e:  # a box outside the image, a size that does not fit: the director can retry
        raise InputError(str(e)) from None
    src = source.artifact
    # the request says what was done to what (steps=1, the least a request holds: meta's 0 is what it took)
    request = src.request.model_copy(update={
        "source_image": src.path, "mask": None, "strength": None, "layout": None, "n": 1, "steps": 1,
        "instruction": f"typeset {text!r} in {layer['font']} {layer['weight']} {layer['size']} px at {layer['box']}"
                       + (" on a plate (covering what was there)" if plate else "")})
    meta = {k: v for k, v in src.meta.items() if k != "warning"}
    meta.update(typeset=[*src.meta.get("typeset", []), layer], denoiser_steps=0)
    artifact = save_image(out, ctx.out_dir, request, parent=src.sha256, meta=meta)
    note = f"typeset {text!r} onto attempt {attempt} at {layer['box']}"
    return ctx.add_attempts([artifact], "edit", note, source=attempt, typeset=text)
