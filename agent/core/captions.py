"""A SceneSpec in words, the way GenEval phrases its prompts ("a photo of two red circles"): the
caption grammar that a model with a limited vocabulary (ModelInfo.vocabulary) was trained on."""
from __future__ import annotations

from agent.core.types import ObjectSpec, SceneSpec, number_word, plural


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def describe(obj: ObjectSpec, size: str | None = None, *, one_word: str = "a") -> str:
    words = []
    if obj.count == 1:
        first = (size or obj.color or obj.cls)
        words.append(article(first) if one_word == "a" else "one")
    else:
        words.append(number_word(obj.count))
    if size:
        words.append(size)
    if obj.color:
        words.append(obj.color)
    words.append(obj.cls if obj.count == 1 else plural(obj.cls))
    return " ".join(words)


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
    if background:
        text += f" on {article(background)} {background} background"
    return text
