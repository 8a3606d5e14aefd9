"""The offline planner's rules for briefs with words: draw the shapes leaving room for the text, then
set the text with `typeset_text` where the layout left room.

- The text box of each TextSpec follows its placement ("below object 0": a band across the bottom,
  "top": a band across the top; none: the bottom with shapes, the middle without); the layout is
  planned around those boxes (held fixed as "in the way"), so no shape lands where words go, and a
  relation between a shape and its words holds by construction.
- A brief with words is delivered at TEXT_SIDE px on the shapes model (its native 64 px leaves
  letters 8-10 px tall; measured: OCR reads the tool's text reliably from about 16 px up).
- A model that can write (`ModelInfo.renders_text`) gets the words in its prompt and one new seed
  when it misspells; after that, and on a model that cannot write at all, the words are typeset.
  Where the model wrote the words misspelt (the OCR's box of the misreading), the typeset box
  covers them and is painted over first (a plate in the colour round it).
"""
from __future__ import annotations

import secrets
from typing import Literal

from agent.core.errors import BudgetSpent
from agent.core.geometry import relation_holds
from agent.core.layout import Layout, LayoutBox, plan_layout
from agent.core.plans import AttemptView, NextStep, PlanState
from agent.core.protocols import ToolCall
from agent.core.typeset import named_box, words_missing
from agent.core.types import SceneSpec

TEXT_SIDE = 256
UNIT = 64  # the layout's canvas
FONTS = ("DejaVu Sans", "DejaVu Serif")  # a second try sets the words in the other family
SIDE_OF = {"below": "bottom", "above": "top", "left of": "left", "right of": "right"}


class Step(NextStep):
    """A NextStep with what only this planner asks for: the delivery size, and typesetting."""

    action: Literal["generate", "edit", "video", "typeset"]
    width: int | None = None
    height: int | None = None
    text: str | None = None
    font: str | None = None
    plate: bool = False

    def call(self) -> ToolCall:
        if self.action == "typeset":
            args = {"attempt": self.attempt, "text": self.text, "box": list(self.box), "font": self.font,
                    "plate": self.plate or None}
            return ToolCall(id=f"call_{secrets.token_hex(6)}", name="typeset_text",
                            arguments={k: v for k, v in args.items() if v is not None})
        call = super().call()
        if self.action == "generate" and self.width:
            call.arguments.update(width=self.width, height=self.height)
        return call


def text_boxes(spec: SceneSpec, width: int = UNIT, height: int = UNIT) -> list[tuple[int, int, int, int]]:
    """One box per TextSpec on a width x height canvas, each in its own place."""
    out, taken = [], set()
    for t in spec.text:
        rel = t.relative_to()
        where = SIDE_OF[rel[0]] if rel else t.placement or ("bottom" if spec.include else "center")
        for alternative in (where, "bottom", "top", "center"):
            if alternative not in taken:
                where = alternative
                break
        taken.add(where)
        out.append(named_box(where, width, height))
    return out


def layout_for(spec: SceneSpec, seed: int) -> Layout | None:
    """The shapes' layout on the 64-unit canvas, clear of every text box, with every relation between a
    shape and its words holding; None when nothing fits."""
    room = [LayoutBox(object=-1, kind="text", box=b) for b in text_boxes(spec)]
    shapes = spec.model_copy(update={"text": []})
    for k in range(20):
        layout = plan_layout(shapes, seed=seed + 7919 * k, fixed=room) if spec.include else \
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


def _text_ok(a: AttemptView) -> tuple[bool, list[int]]:
    """(every item but the words passed, the indexes of the texts not yet right)."""
    reqs = a.verdict.requirements if a.verdict else []
    shapes = all(r.status == "passed" for r in reqs if r.kind != "text" or r.id == "text:only") and bool(reqs)
    missing = [int(r.id.split(":")[1]) for r in reqs if r.kind == "text" and r.id != "text:only"
               and r.status != "passed"]
    return shapes, missing


def next_step(state: PlanState) -> Step | None:
    """Typeset the next text onto the best attempt whose shapes are right, or None (the shapes need work)."""
    writes = state.renders_text
    ready = [a for a in state.attempts if a.verdict and a.size and _text_ok(a)[0] and _text_ok(a)[1]]
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


def typeset_step(state: PlanState, base: AttemptView, why: str = "whose shapes are right",
                 text: int | None = None) -> Step | None:
    """Set text `text` (else the first not yet right) onto `base`, in its box (over the model's
    misspelling, on a plate, where it wrote one); None when every font has been tried on it."""
    k = _text_ok(base)[1][0] if text is None else text
    tries = [a for a in state.attempts if a.source == base.index and a.typeset == state.spec.text[k].text]
    if len(tries) >= len(FONTS):
        return None
    w, h = base.size
    box = text_boxes(state.spec, w, h)[k]
    misspelt = next((r.box for r in base.verdict.requirements if r.id == f"text:{k}" and r.box), None)
    if misspelt and not (misspelt[2] > box[0] and box[2] > misspelt[0] and misspelt[3] > box[1] and box[3] > misspelt[1]):
        misspelt = None  # written somewhere else: a plate that big would paint over the shapes
    if misspelt:  # the model wrote it wrong where the words go: cover its words, painted over
        m = max(2, round(0.02 * min(w, h)))
        box = (max(0, min(box[0], misspelt[0] - m)), max(0, min(box[1], misspelt[1] - m)),
               min(w, max(box[2], misspelt[2] + m)), min(h, max(box[3], misspelt[3] + m)))
    return Step(action="typeset", attempt=base.index, prompt=state.spec.text[k].text, text=state.spec.text[k].text,
                box=box, font=FONTS[len(tries)], plate=bool(misspelt),
                reason=f"typeset {state.spec.text[k].text!r} at {list(box)} on attempt {base.index}, {why}"
                       + (f" ({FONTS[len(tries)]}: the first setting misread)" if tries else "")
                       + (f", on a plate over the misspelt words at {list(misspelt)}" if misspelt else ""))


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
