"""The offline planner's rules for briefs with words: draw the shapes leaving room for the text, then
set the text with `typeset_text` where the layout left room.

- The text box of each TextSpec follows its placement ("below object 0": a band across the bottom,
  "top": a band across the top; none: the bottom with shapes, the middle without); the layout is
  planned around those boxes (held fixed as "in the way"), so no shape lands where words go, and a
  relation between a shape and its words holds by construction; the shapes keep TEXT_EDGE from the
  canvas edge.
- A brief with words is delivered at TEXT_SIDE px on the shapes model (its native 64 px leaves
  letters 8-10 px tall; measured: OCR reads the tool's text reliably from about 16 px up).
- A model that can write (`ModelInfo.renders_text`) gets the words in its prompt and one new seed
  when it misspells; after that, and on a model that cannot write at all, the words are typeset.
  Where the model wrote the words misspelt (the OCR's box of the misreading), the typeset box
  covers them and is painted over first (a plate in the colour round it).
"""
from __future__ import annotations

from agent.core.errors import BudgetSpent
from agent.core.geometry import relation_holds
from agent.core.layout import Layout, LayoutBox, plan_layout
from agent.core.lettering import UNIT, Step, text_boxes, text_ok, typeset_step
from agent.core.plans import PlanState
from agent.core.typeset import words_missing
from agent.core.types import SceneSpec

__all__ = ["TEXT_SIDE", "first_step", "last_chance", "layout_for", "next_step", "regenerate", "text_boxes"]
TEXT_SIDE = 256
# 64-unit pixels between a shape's box and the canvas edge on a brief with words (layout.EDGE: 2): the
# shapes share the canvas with a band of words, and one pressed into a corner came out blunt or lumpy
# (text bench, budget 4, seeds 0/1/2: right 20+21+17-of-21 at 2, 23+22+22 at 6)
TEXT_EDGE = 6


def layout_for(spec: SceneSpec, seed: int) -> Layout | None:
    """The shapes' layout on the 64-unit canvas, clear of every text box, with every relation between a
    shape and its words holding; None when nothing fits."""
    room = [LayoutBox(object=-1, kind="text", box=b) for b in text_boxes(spec)]
    shapes = spec.model_copy(update={"text": []})
    for k in range(20):
        layout = plan_layout(shapes, seed=seed + 7919 * k, fixed=room, edge=TEXT_EDGE) if spec.include else \
            Layout(width=UNIT, height=UNIT, background=spec.background)
        if layout is None:
            return None
        boxes = [b for b in layout.boxes if b.object >= 0]
        if all(relation_holds(rel[0], tb, b.box) for t, tb in zip(spec.text, text_boxes(spec))
               if (rel := t.relative_to()) for b in boxes if b.object == rel[1]):
            return layout.model_copy(update={"boxes": boxes, "background": spec.background})
    return None


def _size(state: PlanState) -> tuple[int, int] | None:
    """The smallest size on the model's menu at least TEXT_SIDE wide (else its largest), when its
    default is smaller."""
    if not state.sizes or state.sizes[0][0] >= TEXT_SIDE:
        return None
    big = [s for s in state.sizes if s[0] >= TEXT_SIDE]
    return min(big) if big else max(state.sizes)


def first_step(state: PlanState, seed: int | None = None) -> Step:
    size = _size(state) if state.vocabulary else None
    w, h = size or (None, None)
    prompt = state.refined_prompt or state.brief
    seed = state.seed if seed is None else seed
    if state.layouts == "regions" and (layout := layout_for(state.spec, seed)) is not None:
        return Step(action="generate", prompt=prompt, seed=seed, n=state.candidates, layout=layout, width=w,
                    height=h, reason="the shapes from a layout that leaves room for the words; "
                                     "the words are typeset next")
    return Step(action="generate", prompt=prompt, seed=seed, n=state.candidates, width=w, height=h,
                reason="first round" + ("" if state.vocabulary else ", the words in the prompt"))


def next_step(state: PlanState) -> Step | None:
    """Typeset the next text onto the best attempt whose shapes are right, or None (the shapes need work)."""
    writes = state.renders_text
    ready = [a for a in state.attempts if a.verdict and a.size and text_ok(a)[0] and text_ok(a)[1]]
    if not ready:
        return None
    plain = sum(a.action == "generate" for a in state.attempts)
    if writes and plain < 2 and not any(a.typeset is not None for a in state.attempts):
        return None  # a model that writes: one more seed with the words in the prompt first
    return typeset_step(state, max(ready, key=lambda a: a.rank))


def last_chance(state: PlanState) -> Step | None:
    """The words set on the best attempt, shapes right or not, when the budget has no room for another
    shape step: a typeset runs no model, so the run (`RunContext.check_budget`) allows it as its last
    action even with the rounds or the compute spent, and a run that ends on its shapes still delivers
    the asked words (not approved: the shapes' items stay failed). None when its words are set already
    (`typeset.words_missing`), or there is room for another shape step."""
    base = max((a for a in state.attempts if a.verdict and a.size), key=lambda a: a.rank, default=None)
    if base is None or not (missing := words_missing(state.spec, state.attempts, base.index)):
        return None
    if short_of_a_shape_step(state) is None:
        return None
    wrong = "; ".join(base.verdict.issues[:2]) or "not all passed"
    return typeset_step(state, base, f"the budget has no room for another shape step (the shapes are not "
                                     f"right: {wrong})", text=missing[0])


def short_of_a_shape_step(state: PlanState):
    """The budget with no room for one more shape step (a round as dear in steps as the dearest so far),
    or None when there is room. The words need none: a typeset runs no model."""
    shape_step = max((a.steps or 1 for a in state.attempts if a.typeset is None), default=1)
    return state.budget_left.short_of(steps=shape_step, rounds=1)


def regenerate(state: PlanState) -> Step | None:
    """A new seed drawn the same way as the first (room left for the words, the delivery size). The run
    ends instead, on a model that cannot write, when the budget has no room for it (the words, set by
    typesetting, need none)."""
    if not state.renders_text and (short := short_of_a_shape_step(state)):
        left = state.budget_left
        raise BudgetSpent(f"no room left for a new seed ({left.iterations} round(s)"
                          + (f", {left.generations} image(s)" if left.generations is not None else "")
                          + (f", {left.steps} denoising steps" if left.steps is not None else "") + " left)",
                          budget=short)
    return first_step(state, seed=state.seed + len(state.attempts)).model_copy(
        update={"reason": "a new seed, room left for the words"})
