"""A brief's checklist: the atomic requirements an approval must satisfy, as data (DSG / TIFA style).

`checklist(spec, brief)` turns a SceneSpec into one `Requirement` per thing a user would check:
each object's count (exact unless the brief says "at least"), its colour and kind, its size word
("small", "large": agent.core.sizes), each relation, in a clip where each object starts and ends
(`place`: agent.core.places) and a `note` where the brief's motion and places contradict each other
(no clip can pass it), each exclusion, "nothing else", the background, the words to be written (and no others), and the picture itself (no patch, seam or stray
mark: `whole`). A critic answers each one with a status (passed / failed / unchecked) and its
evidence; "unchecked" is never a pass, so a verdict that leaves one unchecked is never approved.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from agent.core.types import SceneSpec

RequirementKind = Literal["object", "size", "relation", "place", "note", "exclude", "only", "background", "whole",
                          "text", "style", "free"]
Status = Literal["passed", "failed", "unchecked"]


class Requirement(BaseModel):
    """One thing the picture must be, and (once judged) whether it is."""

    id: str = Field(description="stable within a checklist: object:0, relation:1, background, whole, ...")
    kind: RequirementKind
    text: str = Field(description="the requirement in words: 'exactly 3 blue squares'")
    object: int | None = Field(None, description="index into spec.include, for object and relation items")
    status: Status = "unchecked"
    evidence: str = Field("", description="what the checker saw, where, and how sure")
    box: tuple[int, int, int, int] | None = Field(None, description="where, in image pixels")
    checker: str = Field("", description="who decided it (a critic's name, or a part of one)")

    def judged(self, status: Status, evidence: str = "", box=None, checker: str = "") -> "Requirement":
        return self.model_copy(update={"status": status, "evidence": evidence, "box": box, "checker": checker})


def count_text(count: int, at_least: bool | None) -> str:
    return f"at least {count}" if at_least else f"exactly {count}"


def object_text(obj) -> str:
    from agent.core.captions import noun
    return f"{count_text(obj.count, obj.at_least)} {noun(obj.cls, obj.color, obj.count, obj.size)}"


def could_count(inc, ex) -> bool:
    """Whether objects of the include `inc` count against the cap or ban `ex`: the same kind, and the
    colour `ex` names (an include of no colour may be any)."""
    return inc.cls == ex.cls and (ex.color is None or inc.color in (None, ex.color))


def checklist(spec: "SceneSpec | None", brief: str = "", edited: bool = False) -> list[Requirement]:
    """The requirements `spec` states, in a stable order; a brief with no spec is one free-form item
    (the brief itself), which only a critic that can see may check. An `edited` picture (one whose
    regions were repainted) always has the `whole` item: the edit must leave no seam."""
    from agent.core.captions import noun

    if spec is None or not (spec.include or spec.exclude or spec.background or spec.text):
        return [Requirement(id="free:0", kind="free", text=brief.strip() or "the brief")] + (
            [WHOLE.model_copy()] if edited else [])
    out: list[Requirement] = []
    for k, obj in enumerate(spec.include):
        out.append(Requirement(id=f"object:{k}", kind="object", text=object_text(obj), object=k))
    for k, obj in enumerate(spec.include):
        if obj.size:
            out.append(Requirement(id=f"size:{k}", kind="size", object=k, text=size_text(obj)))
    for k, obj in enumerate(spec.include):
        if obj.position:
            rel, j = obj.position
            ref = spec.include[j]
            out.append(Requirement(id=f"relation:{k}", kind="relation", object=k,
                                   text=f"the {noun(obj.cls, obj.color, obj.count, obj.size)} {rel} the "
                                        f"{noun(ref.cls, ref.color, ref.count, ref.size)}"))
    out += place_items(spec)
    for k, ex in enumerate(spec.exclude):
        # a cap one above what the includes it bounds ask, exactly, is their requirements' business
        sharing = [inc for inc in spec.include if could_count(inc, ex)]
        if sharing and not any(inc.at_least for inc in sharing) and ex.count == 1 + sum(i.count for i in sharing):
            continue
        what = noun(ex.cls, ex.color, 2)
        out.append(Requirement(id=f"exclude:{k}", kind="exclude",
                               text=f"no {what}" if ex.count == 1 else f"fewer than {ex.count} {what}"))
    if spec.only:
        out.append(Requirement(id="only", kind="only", text="nothing but what the brief names"))
    if spec.background:
        out.append(Requirement(id="background", kind="background", text=f"a {spec.background} background"))
    for k, words in enumerate(spec.text):
        out.append(Requirement(id=f"text:{k}", kind="text", text=text_requirement(spec, words)))
    if spec.text:  # words nobody asked for are as wrong as a shape nobody asked for
        out.append(Requirement(id="text:only", kind="text", text="no words but the asked ones"))
    if spec.include or spec.text or edited:
        out.append(WHOLE.model_copy())
    return out


def place_items(spec: "SceneSpec") -> list[Requirement]:
    """Where each clip object starts and ends ("start:0": "the red circle starts at the left edge"),
    and a note for an object whose written motion the places contradict ("note:0")."""
    from agent.core.captions import noun
    from agent.core.places import contradiction, preposition

    out: list[Requirement] = []
    for k, obj in enumerate(spec.include):
        what, one = noun(obj.cls, obj.color, obj.count, obj.size), obj.count == 1
        for role, place in (("start", obj.start), ("end", obj.end)):
            if place:
                out.append(Requirement(id=f"{role}:{k}", kind="place", object=k,
                                       text=f"the {what} {role}{'s' if one else ''} {preposition(place)}"))
        if why := contradiction(obj.motion, obj.start, obj.end):
            out.append(Requirement(id=f"note:{k}", kind="note", object=k,
                                   text=f"the brief contradicts itself for the {what}: {why}"))
    return out


CONTRADICTION_HINT = "ask for one direction, or places that agree with it"


def self_contradiction(spec: "SceneSpec | None") -> str | None:
    """The one line a clip brief is refused with when an object's motion and places contradict each
    other (no clip can show it, so none is made), or None."""
    notes = [r.text for r in place_items(spec) if r.kind == "note"] if spec else []
    if not notes:
        return None
    return "; ".join(notes) + f"; {CONTRADICTION_HINT}"


def size_text(obj) -> str:
    """"the red circle is small", "the squares are large"."""
    from agent.core.captions import noun
    return f"the {noun(obj.cls, obj.color, obj.count)} {'is' if obj.count == 1 else 'are'} {obj.size}"


WHOLE = Requirement(id="whole", kind="whole", text="no patch, seam, stray mark or malformed shape")


def text_requirement(spec: "SceneSpec", words) -> str:
    """"the words 'SALE' written below the red circle", "the words 'OPEN' written at the top"."""
    from agent.core.captions import noun
    where = ""
    if rel := words.relative_to():
        obj = spec.include[rel[1]]
        where = f" written {rel[0]} the {noun(obj.cls, obj.color, obj.count)}"
    elif words.placement:
        where = " written in the center" if words.placement == "center" else f" written at the {words.placement}"
    return f"the words {words.text!r}{where}" + (" (case as written)" if words.case_sensitive else "")


def unchecked(requirements: list[Requirement]) -> list[Requirement]:
    return [r for r in requirements if r.status == "unchecked"]


def failed(requirements: list[Requirement]) -> list[Requirement]:
    return [r for r in requirements if r.status == "failed"]
