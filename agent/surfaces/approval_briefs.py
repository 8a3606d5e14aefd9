"""The briefs of the approval sets: the README's examples and random briefs of the shapes world's
vocabulary (single objects, counts, relations, pairs; about a third on a named background), each with
the exact content it asks for, so edits can say what their result should now show."""
from __future__ import annotations

import random
from dataclasses import dataclass

SHAPES = ["circle", "square", "triangle", "star", "ring"]
COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "white", "black"]
BACKGROUNDS = ["gray", "beige", "lavender"]
RELATIONS = ["left of", "right of", "above", "below"]
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}
README_BRIEFS = ["two red circles left of a blue square", "three blue squares on a beige background",
                 "a purple square on a lavender background", "a yellow star above a purple ring",
                 "a blue circle", "three green triangles", "a blue star below a green square"]
N_TXT2IMG, N_LAYOUT, N_EDITS, N_LOOP = 60, 80, 66, 60


# ---- briefs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Obj:
    kind: str
    count: int = 1
    color: str | None = None
    at_least: bool = False  # "at least two"
    one: bool = False  # "one" rather than "a"

    def words(self) -> str:
        noun = " ".join(x for x in (self.color, self.kind if self.count == 1 and not self.at_least
                                    else self.kind + "s") if x)
        if self.at_least:
            return f"at least two {noun}"
        if self.count == 1:
            return f"one {noun}" if self.one else f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"
        return f"{NUMBERS[self.count]} {noun}"


@dataclass(frozen=True)
class Brief:
    objs: tuple[Obj, ...]
    rel: tuple[int, str, int] | None = None  # objs[i] <rel> objs[j]
    bg: str | None = None

    def text(self) -> str:
        if self.rel:
            i, r, j = self.rel
            body = f"{self.objs[i].words()} {r} {self.objs[j].words()}"
            rest = [o.words() for k, o in enumerate(self.objs) if k not in (i, j)]
            body = " and ".join([body, *rest])
        else:
            body = " and ".join(o.words() for o in self.objs)
        return body + (f" on {'an' if self.bg[0] in 'aeiou' else 'a'} {self.bg} background" if self.bg else "")

    def spec(self, at_least_as: int = 2):
        """The SceneSpec the product plans from (GenEval's order: a relation's reference first);
        "at least two" is drawn as `at_least_as` instances."""
        from agent.core.types import ObjectSpec, SceneSpec

        order = list(range(len(self.objs)))
        if self.rel:
            i, _, j = self.rel
            order = [j, i] + [k for k in order if k not in (i, j)]
        include = []
        for k in order:
            o = self.objs[k]
            pos = (self.rel[1], order.index(self.rel[2])) if self.rel and self.rel[0] == k else None
            include.append(ObjectSpec(cls=o.kind, count=at_least_as if o.at_least else o.count,
                                      color=o.color, position=pos))
        exclude = [ObjectSpec(cls=x.cls, count=x.count + 1, color=x.color)
                   for x, k in zip(include, order) if x.count > 1 and not self.objs[k].at_least]
        return SceneSpec(include=include, exclude=exclude), order

    def prompt(self, at_least_as: int = 2) -> str:
        from agent.core.captions import canonical_prompt
        return canonical_prompt(self.spec(at_least_as)[0], self.bg)


def parse_readme(text: str) -> Brief:
    table = {
        "two red circles left of a blue square": Brief((Obj("circle", 2, "red"), Obj("square", 1, "blue")), (0, "left of", 1)),
        "three blue squares on a beige background": Brief((Obj("square", 3, "blue"),), bg="beige"),
        "a purple square on a lavender background": Brief((Obj("square", 1, "purple"),), bg="lavender"),
        "a yellow star above a purple ring": Brief((Obj("star", 1, "yellow"), Obj("ring", 1, "purple")), (0, "above", 1)),
        "a blue circle": Brief((Obj("circle", 1, "blue"),)),
        "three green triangles": Brief((Obj("triangle", 3, "green"),)),
        "a blue star below a green square": Brief((Obj("star", 1, "blue"), Obj("square", 1, "green")), (0, "below", 1)),
    }
    b = table[text]
    assert b.text() == text, (b.text(), text)
    return b


def random_brief(rng: random.Random, kinds=("single", "count", "relation", "pair")) -> Brief:
    kind = rng.choice(kinds)
    bg = rng.choice(BACKGROUNDS) if rng.random() < 0.34 else None
    color = lambda p=0.8: rng.choice(COLORS) if rng.random() < p else None  # noqa: E731
    if kind == "single":
        return Brief((Obj(rng.choice(SHAPES), 1, color(), one=rng.random() < 0.35),), bg=bg)
    if kind == "count":
        at_least = rng.random() < 0.2
        return Brief((Obj(rng.choice(SHAPES), 2 if at_least else rng.choice([2, 2, 3, 3, 4]), color(0.7),
                          at_least=at_least),), bg=bg)
    a, b = rng.sample(SHAPES, 2) if rng.random() < 0.8 else [rng.choice(SHAPES)] * 2
    ca, cb = rng.sample(COLORS, 2)
    if rng.random() < 0.15:
        ca = cb = None if a != b else ca
    first = Obj(a, 2 if rng.random() < 0.15 else 1, ca, one=rng.random() < 0.2)
    second = Obj(b, 1, cb)
    if kind == "relation":
        return Brief((first, second), (0, rng.choice(RELATIONS), 1), bg)
    return Brief((first, second), bg=bg)


def brief_lists(seed_base: int = 0) -> dict[str, list[Brief]]:
    """The briefs of each path: the README's examples, then a seeded spread of the vocabulary. With a
    seed base the spread is another one and every list is shuffled (the README's examples stay in);
    seed base 0 is the first set's lists, README examples first, unchanged."""
    rng = random.Random(22 + seed_base)
    readme = [parse_readme(t) for t in README_BRIEFS]
    out = {}
    for path, n, kinds in [("txt2img", N_TXT2IMG, ("single", "single", "count", "count", "relation", "pair")),
                           ("layout", N_LAYOUT, ("single", "count", "count", "relation", "relation", "pair")),
                           ("loop_final", N_LOOP, ("single", "count", "relation", "relation", "pair"))]:
        out[path] = readme + [random_brief(rng, kinds) for _ in range(n - len(readme))]
        if seed_base:
            rng.shuffle(out[path])
    return out
