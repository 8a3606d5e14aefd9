"""The judge's reading of the brief (`judge.judge`): counts, colours, sizes, relations and exclusions of
the shapes it accepted, under the assignment of shapes to asked objects that leaves the fewest problems."""
from __future__ import annotations

import itertools

import numpy as np

from agent.core.captions import noun
from agent.core.types import SceneSpec
from local_models.shapes.judge_size import size_problems
from local_models.shapes.world import relation_holds


def against_spec(spec: SceneSpec, shapes: list, notes) -> None:
    """Counts, colours, relations and exclusions, under the best assignment of shapes to asked objects."""
    inc = spec.include
    # a shape between two colours (Seen.between, color None) answers only objects that ask no colour
    cands = [[i for i, o in enumerate(inc) if o.cls == s.kind and o.color in (None, s.color)] for s in shapes]
    for s, c in zip(shapes, cands):
        if not c:
            notes.add("extra", f"a {s.describe()} that was not asked for")
    for ex in spec.exclude:
        n = sum(s.kind == ex.cls and ex.color in (None, s.color, *s.between) for s in shapes)
        if n >= ex.count:
            notes.add("excluded", f"{n} {noun(ex.cls, ex.color, n)} where fewer than {ex.count} were asked")
    asked = [(s, c) for s, c in zip(shapes, cands) if c]
    choices = [c for _, c in asked]
    if np.prod([len(c) for c in choices] or [1]) > 4096:  # absurdly ambiguous: take the first reading
        choices = [c[:1] for c in choices]
    best = None
    for assign in itertools.product(*choices):
        problems = check_groups(inc, [s for s, _ in asked], assign, type(notes))
        if best is None or len(problems) < len(best):
            best = problems
        if not problems:
            break
    notes += best or []


def check_groups(inc, shapes: list, assign, notes_type) -> list:
    groups: list[list] = [[] for _ in inc]
    for s, i in zip(shapes, assign):
        groups[i].append(s)
    problems = notes_type()
    for o, g in zip(inc, groups):
        if not (len(g) >= o.count if o.at_least else len(g) == o.count):
            want = f"{'at least' if o.at_least else 'exactly'} {o.count}"
            problems.add("count", f"asked {want} {noun(o.cls, o.color, o.count)}, saw {len(g)}")
        for text in size_problems(o, g):
            problems.add("size", text)
    for i, o in enumerate(inc):
        if o.position:
            rel, j = o.position
            for a in groups[i]:
                for b in groups[j]:
                    if not relation_holds(rel, a.box, b.box):
                        problems.add("position", f"the {a.describe()} is not {rel} the {b.describe()}")
    return problems
