"""The shapes world: flat colored shapes on plain backgrounds, with captions and exact ground truth.

Everything here is pure Python + PIL + numpy (no torch), seeded and reproducible. One sample is a
`Scene` (background, objects with boxes), its caption and its `SceneSpec` in GenEval's format.

Held-out split: `heldout_prompts()` lists >= 300 prompts whose combinations the training sampler
(`sample_scene`) never produces; see `combo_key` and `is_heldout`.
"""
from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageDraw

from agent.core.captions import article as _article, canonical_prompt, describe  # noqa: F401 (re-exported)
from agent.core.geometry import relation_holds  # noqa: F401 (re-exported)
from agent.core.sizes import SIZE_OF_WORD, SIZE_WORDS, SIZES, size_words_text  # noqa: F401 (re-exported)
from agent.core.types import ObjectSpec, SceneSpec, number_word, plural  # noqa: F401 (plural re-exported)

SHAPES = ["circle", "square", "triangle", "star", "ring"]
COLORS: dict[str, tuple[int, int, int]] = {  # far apart in RGB, and far from every background
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 225, 30),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "purple": (140, 50, 190),
    "white": (250, 250, 250),
    "black": (20, 20, 20),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "gray": (128, 128, 128),
    "beige": (214, 200, 164),
    "lavender": (190, 180, 230),
}
RELATIONS = ["left of", "right of", "above", "below"]
MAX_COUNT = 4
CANVAS = 64  # the world is laid out on a 64x64 canvas; render() scales to any size

CATEGORIES = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]
NUMBER_WORDS = ["one", "two", "three", "four"]
OTHER_WORDS = ("a an the of photo image picture drawing and with on background to left right above below "
               "over under is there are some next").split()


def vocabulary_words() -> list[str]:
    """Every word the embedded model was trained on (lower case)."""
    words: set[str] = set(OTHER_WORDS) | set(NUMBER_WORDS)
    for s in SHAPES:
        words |= {s, plural(s)}
    words |= set(COLORS) | set(BACKGROUNDS)
    for ws in SIZE_WORDS.values():
        words |= set(ws)
    return sorted(words)


def vocabulary_text() -> str:
    return (f"shapes: {', '.join(SHAPES)}; colors: {', '.join(COLORS)}; counts 1-{MAX_COUNT}; "
            f"relations: {', '.join(RELATIONS)}; backgrounds: {', '.join(BACKGROUNDS)}; "
            f"sizes: {size_words_text()}")


def tokenize_words(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", text.lower())


def vocabulary_gaps(spec_or_text: SceneSpec | str) -> list[str]:
    """Words (or spec classes/colors) the embedded model does not know; empty when it can draw it."""
    known = set(vocabulary_words())
    if isinstance(spec_or_text, SceneSpec):
        gaps = []
        for obj in [*spec_or_text.include, *spec_or_text.exclude]:
            if obj.cls not in SHAPES and obj.cls not in gaps:
                gaps.append(obj.cls)
            if obj.color and obj.color not in COLORS and obj.color not in gaps:
                gaps.append(obj.color)
            # an exclude of MAX_COUNT + 1 ("four stars", so not five) asks for nothing to be drawn
            if obj in spec_or_text.include and obj.count > MAX_COUNT and str(obj.count) not in gaps:
                gaps.append(str(obj.count))
        return gaps
    seen: list[str] = []
    for w in tokenize_words(spec_or_text):
        if w not in known and w not in seen:
            seen.append(w)
    return seen


# ---- scenes -----------------------------------------------------------------------------------
@dataclass
class Obj:
    kind: str
    color: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 on the 64x64 canvas (x1, y1 exclusive)

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass
class Scene:
    background: str
    objects: list[Obj]
    spec: SceneSpec
    caption: str
    category: str = ""
    extra: dict = field(default_factory=dict)


def _boxes_clear(box, others, gap: int = 3) -> bool:
    for o in others:
        if not (box[2] + gap <= o[0] or o[2] + gap <= box[0] or box[3] + gap <= o[1] or o[3] + gap <= box[1]):
            return False
    return True


def _place(rng: random.Random, side: int, others: list, tries: int = 200, want=None):
    """A box of `side` pixels that does not touch `others`; `want(box)` adds a constraint."""
    for _ in range(tries):
        x0 = rng.randint(2, CANVAS - 2 - side)
        y0 = rng.randint(2, CANVAS - 2 - side)
        box = (x0, y0, x0 + side, y0 + side)
        if _boxes_clear(box, others) and (want is None or want(box)):
            return box
    return None


def _side(rng: random.Random, size: str | None, n_objects: int) -> int:
    if size is None:
        size = rng.choice(["small", "medium", "medium", "large"] if n_objects <= 2 else ["small", "medium"])
    lo, hi = SIZES[size]
    return rng.randint(lo, hi)


def _clear_relation(rel: str, box, jbox) -> bool:
    """`box` is `rel` of `jbox`, clearly: by GenEval's rule, mostly along one axis, and no other relation."""
    axis = 0 if rel in ("left of", "right of") else 1
    ca = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    cb = ((jbox[0] + jbox[2]) / 2, (jbox[1] + jbox[3]) / 2)
    main, cross = abs(ca[axis] - cb[axis]), abs(ca[1 - axis] - cb[1 - axis])
    return (relation_holds(rel, box, jbox) and cross <= 0.6 * main and main >= 14
            and not any(relation_holds(r, box, jbox) for r in RELATIONS if r != rel))


def layout(rng: random.Random, items: list[tuple[str, str, str | None]],
           relation=None) -> list[Obj] | None:
    """Place (kind, color, size) items; `relation` = (i, rel, j) or a list of them: item i is `rel`
    item j, clearly (j must come before i)."""
    rels = [relation] if relation and isinstance(relation[0], int) else list(relation or [])
    for _ in range(50):
        boxes: list = []
        ok = True
        for idx, (kind, color, size) in enumerate(items):
            side = _side(rng, size, len(items))
            mine = [(r, boxes[j]) for i, r, j in rels if i == idx]
            want = (lambda box, mine=mine: all(_clear_relation(r, box, jb) for r, jb in mine)) if mine else None
            box = _place(rng, side, boxes, want=want)
            if box is None:
                ok = False
                break
            boxes.append(box)
        if ok:
            return [Obj(k, c, b) for (k, c, _), b in zip(items, boxes)]
    return None


# ---- captions ---------------------------------------------------------------------------------
PREFIXES = [("a photo of ", 0.6), ("", 0.15), ("an image of ", 0.1), ("a picture of ", 0.08),
            ("a drawing of ", 0.07)]
REL_PHRASES = {"left of": ["left of", "to the left of"], "right of": ["right of", "to the right of"],
               "above": ["above", "over"], "below": ["below", "under"]}


def _pick(rng: random.Random, weighted):
    r, acc = rng.random(), 0.0
    for item, w in weighted:
        acc += w
        if r < acc:
            return item
    return weighted[-1][0]


def caption_for(rng: random.Random, spec: SceneSpec, background: str | None, size_word: str | None,
                canonical: bool) -> str:
    """A caption with varied phrasing (or the canonical one) that states exactly `spec`."""
    if canonical:
        if size_word and len(spec.include) == 1:
            text = "a photo of " + describe(spec.include[0], size_word)
            return text + (f" on {_article(background)} {background} background" if background else "")
        return canonical_prompt(spec, background)
    inc = spec.include
    one = "one" if rng.random() < 0.2 else "a"
    rel = next(((i, o.position) for i, o in enumerate(inc) if o.position), None)
    if rel is not None and len(inc) == 2:
        i, (r, j) = rel
        if rng.random() < 0.3:  # say it the other way round: "A left of B" == "B right of A"
            inverse = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
            i, j, r = j, i, inverse[r]
        body = f"{describe(inc[i], one_word=one)} {rng.choice(REL_PHRASES[r])} {describe(inc[j], one_word=one)}"
    else:
        parts = [describe(o, size_word if len(inc) == 1 else None, one_word=one) for o in inc]
        if len(parts) == 2 and rng.random() < 0.5:
            parts.reverse()
        body = (" and " if rng.random() < 0.8 else " with ").join(parts)
    text = _pick(rng, PREFIXES) + body
    if background:
        text += f" on {_article(background)} {background} background"
    return text


# ---- the held-out split -----------------------------------------------------------------------
def combo_key(spec: SceneSpec, background: str | None = None, size_word: str | None = None) -> str:
    """What a scene *says*, independent of phrasing: objects (kind, count, color) as a set, a
    relation normalised to left/above, the background named (if any) and a size word (if any)."""
    inc = spec.include
    objs = [f"{o.count}:{o.color or '-'}:{o.cls}" for o in inc]
    rel = ""
    for i, o in enumerate(inc):
        if o.position:
            r, j = o.position
            a, b = objs[i], objs[j]
            if r in ("right of", "below"):
                a, b = b, a
            rel = f"|{a}<{'h' if r in ('left of', 'right of') else 'v'}<{b}"
    size = {w: k for k, ws in SIZE_WORDS.items() for w in ws}.get(size_word or "", "-")
    return ",".join(sorted(objs)) + rel + f"|bg={background or '-'}|size={size}"


def content_key(spec: SceneSpec) -> str:
    return combo_key(spec).rsplit("|bg=", 1)[0]


def _h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _spec(objs: list[tuple[str, int, str | None]], rel: tuple[int, str, int] | None = None) -> SceneSpec:
    include = []
    for idx, (kind, count, color) in enumerate(objs):
        pos = (rel[1], rel[2]) if rel and rel[0] == idx else None
        include.append(ObjectSpec(cls=kind, count=count, color=color, position=pos))
    exclude = [ObjectSpec(cls=objs[0][0], count=objs[0][1] + 1)] if len(objs) == 1 and objs[0][1] > 1 else []
    return SceneSpec(include=include, exclude=exclude)


HELDOUT_PER_CATEGORY = {"single_object": 40, "two_object": 30, "counting": 60, "colors": 50,
                        "position": 60, "color_attr": 60}
_BGS = [None, *BACKGROUNDS]


def _candidates(category: str):
    """Every (spec, background, size word) a held-out prompt of `category` may be, in a fixed order."""
    out = []
    if category == "single_object":
        for s in SHAPES:
            for bg in _BGS:
                for sz in (None, "small", "large"):
                    if bg or sz:  # the five bare prompts ('a photo of a star') stay in training
                        out.append((_spec([(s, 1, None)]), bg, sz))
    elif category == "colors":
        for s in SHAPES:
            for c in COLORS:
                for bg in _BGS:
                    for sz in (None, "small", "large"):
                        if bg or sz:
                            out.append((_spec([(s, 1, c)]), bg, sz))
    elif category == "two_object":
        for a in SHAPES:
            for b in SHAPES:
                if a < b:
                    for bg in BACKGROUNDS:
                        out.append((_spec([(a, 1, None), (b, 1, None)]), bg, None))
    elif category == "counting":
        for s in SHAPES:
            for n in range(2, MAX_COUNT + 1):
                for c in [None, *COLORS]:
                    out.append((_spec([(s, n, c)]), None, None))
    elif category == "position":  # held out whole: on any background, in any phrasing
        for a in SHAPES:
            for b in SHAPES:
                if a != b:
                    for r in RELATIONS:
                        for ca in [None, *COLORS]:
                            cb = None if ca is None else _color_partner(ca, a + b + r)
                            out.append((_spec([(b, 1, cb), (a, 1, ca)], rel=(1, r, 0)), None, None))
    elif category == "color_attr":
        for a in SHAPES:
            for b in SHAPES:
                if a < b:
                    for ca in COLORS:
                        for cb in COLORS:
                            if ca != cb:
                                out.append((_spec([(a, 1, ca), (b, 1, cb)]), None, None))
    return out


def _color_partner(color: str, salt: str) -> str:
    others = [c for c in COLORS if c != color]
    return others[int(_h(salt + color), 16) % len(others)]


@lru_cache(maxsize=1)
def _heldout() -> tuple[tuple, frozenset, frozenset]:
    """(prompts, keys held out with their background/size, contents held out on any background)."""
    prompts, exact, whole = [], set(), set()
    for cat in CATEGORIES:
        cands = sorted(_candidates(cat), key=lambda c: _h("heldout-v1|" + combo_key(*c)))
        chosen, seen_keys = [], set()
        for spec, bg, sz in cands:
            key = combo_key(spec, bg, sz)
            ck = content_key(spec)
            if key in seen_keys:
                continue
            if cat == "position" and ck in whole:
                continue
            seen_keys.add(key)
            chosen.append((spec, bg, sz))
            if cat in ("position", "color_attr", "counting"):
                whole.add(ck)
            else:
                exact.add(key)
            if len(chosen) == HELDOUT_PER_CATEGORY[cat]:
                break
        for spec, bg, sz in chosen:
            if sz:
                text = "a photo of " + describe(spec.include[0], sz)
                text += f" on {_article(bg)} {bg} background" if bg else ""
            else:
                text = canonical_prompt(spec, bg)
            # the spec says what the prompt names: its background and its one object's size
            truth = spec.model_copy(deep=True, update={"background": bg or spec.background})
            if sz:
                truth.include[0].size = SIZE_OF_WORD[sz]
            prompts.append((cat, text, truth))
    return tuple(prompts), frozenset(exact), frozenset(whole)


def heldout_prompts(seed: int = 0) -> list[tuple[str, str, SceneSpec]]:
    """>= 300 (category, prompt, spec) whose combinations training never shows. Held out whole
    (any background, any phrasing): position, color attribution and counting contents. Held out
    with the background / size named in the prompt: single object, two objects and colors (those
    have only 5, 10 and 40 object combinations). `seed` shuffles the order only."""
    items = list(_heldout()[0])
    if seed:
        random.Random(seed).shuffle(items)
    return items


def is_heldout(spec: SceneSpec, background: str | None, size_word: str | None) -> bool:
    _, exact, whole = _heldout()
    return content_key(spec) in whole or combo_key(spec, background, size_word) in exact


# ---- sampling ---------------------------------------------------------------------------------
TRAIN_MIX = [("single_object", 0.08), ("colors", 0.14), ("two_object", 0.08), ("counting", 0.22),
             ("position", 0.26), ("color_attr", 0.22)]


def _draft(rng: random.Random, category: str):
    """(items, relation, spec, size word) for one scene of `category`."""
    colors = list(COLORS)
    size_word = None
    if category in ("single_object", "colors"):
        kind = rng.choice(SHAPES)
        color = rng.choice(colors)
        size = rng.choice([None, None, "small", "large"])
        size_word = rng.choice(SIZE_WORDS[size]) if size else None
        spec = _spec([(kind, 1, color if category == "colors" else None)])
        return [(kind, color, size)], None, spec, size_word
    if category in ("two_object", "color_attr"):
        a, b = rng.sample(SHAPES, 2)
        ca, cb = rng.sample(colors, 2) if category == "color_attr" or rng.random() < 0.5 else \
            (rng.choice(colors), rng.choice(colors))
        named = category == "color_attr"
        spec = _spec([(a, 1, ca if named else None), (b, 1, cb if named else None)])
        return [(a, ca, None), (b, cb, None)], None, spec, None
    if category == "counting":
        kind = rng.choice(SHAPES)
        n = rng.choice([1, 2, 2, 3, 3, 4, 4])
        color = rng.choice(colors)
        named = rng.random() < 0.6
        same = named or rng.random() < 0.5
        cols = [color if same else rng.choice(colors) for _ in range(n)]
        spec = _spec([(kind, n, color if named else None)])
        return [(kind, c, None) for c in cols], None, spec, None
    if category == "position":
        a, b = rng.sample(SHAPES, 2)
        rel = rng.choice(RELATIONS)
        named = rng.random() < 0.6
        ca, cb = rng.sample(colors, 2)
        spec = _spec([(b, 1, cb if named else None), (a, 1, ca if named else None)], rel=(1, rel, 0))
        return [(b, cb, None), (a, ca, None)], (1, rel, 0), spec, None
    raise ValueError(category)


def sample_scene(rng: random.Random, category: str | None = None, *, canonical_p: float = 0.6,
                 allow_heldout: bool = False) -> Scene:
    """One training scene (never a held-out combination unless `allow_heldout`)."""
    while True:
        cat = category or _pick(rng, TRAIN_MIX)
        items, relation, spec, size_word = _draft(rng, cat)
        bg_named = rng.random() < 0.3
        background = rng.choice(list(BACKGROUNDS))
        bg_word = background if bg_named else None
        if not allow_heldout and is_heldout(spec, bg_word, size_word):
            continue
        objects = layout(rng, items, relation)
        if objects is None:
            continue
        caption = caption_for(rng, spec, bg_word, size_word, canonical=rng.random() < canonical_p)
        return Scene(background, objects, spec, caption, cat)


def scene_for_spec(rng: random.Random, spec: SceneSpec, background: str | None = None) -> Scene | None:
    """A ground-truth rendering of `spec` (colors drawn at random where the spec leaves them open)."""
    groups: list[list[tuple]] = []
    for o in spec.include:
        color = o.color or rng.choice(list(COLORS))
        groups.append([(o.cls, color, o.size)] * o.count)  # a size the spec asks, else any
    # anchors first, so every object placed relative to another finds it already placed
    order = sorted(range(len(spec.include)), key=lambda i: spec.include[i].position is not None)
    items, first = [], {}
    for i in order:
        first[i] = len(items)
        items += groups[i]
    rels = []
    for i, o in enumerate(spec.include):
        if o.position:
            j = o.position[1]
            for a in range(first[i], first[i] + o.count):
                for b in range(first[j], first[j] + spec.include[j].count):
                    rels.append((a, o.position[0], b))
    if any(b > a for a, _, b in rels):
        return None  # chains of relations beyond what the layout sampler handles
    objects = layout(rng, items, rels)
    if objects is None:
        return None
    bg = background or spec.background or rng.choice(list(BACKGROUNDS))
    return Scene(bg, objects, spec, canonical_prompt(spec, background or spec.background))


# ---- rendering --------------------------------------------------------------------------------
def _star(cx, cy, r_out, r_in):
    pts = []
    for k in range(10):
        ang = -math.pi / 2 + k * math.pi / 5
        r = r_out if k % 2 == 0 else r_in
        pts.append((cx + r * math.cos(ang), cy + r * math.sin(ang)))
    return pts


def draw_shape(draw: ImageDraw.ImageDraw, kind: str, box, fill, bg, scale: float) -> None:
    x0, y0, x1, y1 = (v * scale for v in box)
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    if kind == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif kind == "square":
        m = 0.06 * w
        draw.rectangle((x0 + m, y0 + m, x1 - m, y1 - m), fill=fill)
    elif kind == "triangle":
        draw.polygon([(x0, y1), (x1, y1), (cx, y0)], fill=fill)
    elif kind == "star":
        r = w / 2 / math.cos(math.radians(18))  # widest points span the box
        r = min(r, h / (1 + math.cos(math.radians(36))))
        top = y0 + (h - r * (1 + math.cos(math.radians(36)))) / 2
        draw.polygon(_star(cx, top + r, r, 0.42 * r), fill=fill)
    elif kind == "ring":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
        m = 0.27 * w
        draw.ellipse((x0 + m, y0 + m, x1 - m, y1 - m), fill=bg)
    else:
        raise ValueError(kind)


def render(scene: Scene, size: int = 64, supersample: int = 4) -> Image.Image:
    """The scene as an RGB image of `size`x`size` (antialiased by supersampling)."""
    big = size * supersample
    bg = BACKGROUNDS[scene.background]
    im = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(im)
    scale = big / CANVAS
    for o in scene.objects:
        draw_shape(draw, o.kind, o.box, COLORS[o.color], bg, scale)
    return im.resize((size, size), Image.Resampling.BOX)
