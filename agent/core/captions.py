"""A SceneSpec in words, the way GenEval phrases its prompts ("a photo of two red circles"): the
caption grammar that a model with a limited vocabulary (ModelInfo.vocabulary) was trained on."""
from __future__ import annotations

from agent.core.types import ObjectSpec, SceneSpec, number_word, plural


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun(kind: str, color: str | None = None, count: int = 1, size: str | None = None) -> str:
    """An object without its number: "red circle", or "red circles" when there are several ("small
    red circle" with its size). The one way the project puts an object into words (specs, layout
    boxes, detections, critic questions)."""
    return " ".join(x for x in (size, color, kind if count == 1 else plural(kind)) if x)


def describe(obj: ObjectSpec, size: str | None = None, *, one_word: str = "a") -> str:
    """An object with its number: "a red circle" ("one red circle" with one_word="one"), "two big
    blue squares" (`size`: the size word to say, else the object's own size)."""
    size = size or obj.size
    if obj.count == 1:
        first = (size or obj.color or obj.cls)
        number = article(first) if one_word == "a" else "one"
    else:
        number = number_word(obj.count)
    return " ".join(x for x in (number, size, noun(obj.cls, obj.color, obj.count)) if x)


def canonical_prompt(spec: SceneSpec, background: str | None = None) -> str:
    """The phrasing the embedded model follows best (GenEval's): 'a photo of two red circles',
    'a photo of a blue star below a green square', 'a photo of a purple ring and a yellow triangle'."""
    inc = spec.include
    rel = next(((i, o.position) for i, o in enumerate(inc) if o.position), None)
    if rel is not None and len(inc) == 2:
        i, (r, j) = rel
        body = f"{describe(inc[i])} {r} {describe(inc[j])}"
    else:
        body = " and ".join(describe(o) for o in inc) or "a shape"
    text = f"a photo of {body}"
    background = background or spec.background
    if background:
        text += f" on {article(background)} {background} background"
    return text


MOTION_PHRASES = {"right": "moving to the right", "left": "moving to the left", "up": "moving up",
                  "down": "moving down", "still": "staying still"}
SPEED_WORDS = {"slow": "slowly", "fast": "quickly"}


def _ways(obj: ObjectSpec) -> tuple[str, ...]:
    """The directions an object is to move in: its written motion, else the way its start and end
    places go (a diagonal is two: "from the bottom left corner to the top right corner" is up and
    right), or one way for a speed with no direction; () for an object that stays still."""
    from agent.core.places import implied_ways
    if obj.motion:
        return () if obj.motion == "still" else (obj.motion,)
    if not (obj.start or obj.end):
        return ("right",) if obj.speed else ()  # "moving quickly": any way at that speed, never "staying still"
    # places that decide no direction ("moving to the centre"): one that can get there from an edge
    return implied_ways(obj.start, obj.end) or ("right",)


def motion_phrase(obj: ObjectSpec) -> str:
    """'a red circle moving to the right', 'a blue star moving up quickly', 'a green ring staying still',
    'a red circle moving up and to the right' (from the bottom left corner to the top right one)."""
    ways = _ways(obj)
    if not ways:
        return f"{describe(obj)} {MOTION_PHRASES['still']}"
    text = f"{describe(obj)} moving " + " and ".join(MOTION_PHRASES[w].removeprefix("moving ") for w in ways)
    return f"{text} {SPEED_WORDS[obj.speed]}" if obj.speed else text


def motion_prompt(spec: SceneSpec, background: str | None = None) -> str:
    """The phrasing the embedded video model follows best: 'a red circle moving to the right while a
    yellow star stays still' (moving objects first, joined by 'and'; still ones after 'while'). An
    object with places but no written direction moves the way its places go."""
    moving = [o for o in spec.include if _ways(o)]
    still = [o for o in spec.include if not _ways(o)]
    body = " and ".join(motion_phrase(o) for o in moving) if moving else \
        " and ".join(describe(o) for o in still) + " staying still"
    if moving and still:
        body += " while " + " and ".join(f"{describe(o)} stays still" for o in still)
    background = background or spec.background
    return f"{body} on {article(background)} {background} background" if background else body
