"""The offline planner: runs the whole loop with no LLM. It speaks the LLM protocol (so agent mode
works offline) and the Planner protocol (so loop mode does), and plans by rules from the critic's
findings: a targeted edit when one region is wrong, else a new seed with a stronger guidance."""
from __future__ import annotations

import secrets

from agent.core.captions import canonical_prompt, motion_prompt
from agent.core.errors import ConfigError
from agent.core.layout import LayoutBox, plan_layout
from agent.core.plans import (AttemptView, NextStep, PlanState, Proposal, first_frame_ok, state_from_messages,
                              wants_layout)
from agent.core.prompts import load_prompt
from agent.core.protocols import Message, TextPart, ToolCall
from agent.core.requirements import text_requirement
from agent.core.sizes import side_range
from agent.core.tracks import first_frame_layout, still_spec
from agent.core.types import ObjectSpec, SceneSpec, Verdict
from agent.llm import words

MAX_EDITS_PER_SOURCE = 2
MAX_EDITS_IN_A_ROW = 3
MAX_REPAINTS = 2  # region edits of about the same place before that place is left to a new seed
REPAIRABLE = ("missing", "extra", "color", "position", "excluded")
REMOVE_PROMPT = "empty background"  # what a removal repaints a region with


class OfflinePlanner:
    structured_output = False  # the brief's spec comes from the rules parser

    def __init__(self, model: str = ""):
        self.name = "offline"

    def present(self, record) -> str:
        """The run's closing words, written by rules (there is no model to ask): what was delivered,
        from which prompt and seed, what the critic said, and how the attempts got there."""
        return offline_summary(record)

    # ---- Planner -------------------------------------------------------------------------------
    def propose(self, state: PlanState) -> Proposal:
        if state.clip and state.spec and any(o.motion for o in state.spec.include) and state.vocabulary:
            return Proposal(prompt=motion_prompt(state.spec),
                            rationale="a video model with a limited vocabulary follows the plain motion phrasing best")
        if state.spec and state.spec.include and state.vocabulary:
            return Proposal(prompt=canonical_prompt(state.spec),
                            rationale="a model with a limited vocabulary follows the plain caption grammar best")
        subject = describe_scene(state.spec) if state.spec and state.spec.include else state.brief
        if state.spec and state.spec.include and state.spec.text:  # a model that can write gets the words
            subject += ", " + ", ".join(text_requirement(state.spec, t) for t in state.spec.text)
        return Proposal(prompt=load_prompt("offline_style", subject=subject),
                        rationale="the brief's objects, stated plainly, with a neutral style")

    def first_step(self, state: PlanState) -> NextStep:
        if state.clip and state.clip_from == "image":
            return self.first_frame(state, state.seed)
        if state.clip:
            return NextStep(action="video", prompt=state.refined_prompt or state.brief, seed=state.seed,
                            n=state.candidates, reason="first clip")
        if state.spec and state.spec.text:
            return words.first_step(state)
        grounded = wants_layout(state)
        return NextStep(action="generate", prompt=state.refined_prompt or state.brief, seed=state.seed,
                        n=state.candidates, layout="auto" if grounded else None,
                        reason="layout first: boxes planned by rules, drawn one box at a time" if grounded
                        else "first round")

    def next_step(self, state: PlanState) -> NextStep:
        if not state.attempts:
            return self.first_step(state)
        if state.clip:
            return self.next_animated(state) if state.clip_from == "image" else self.next_clip(state)
        if state.spec and state.spec.text and (step := words.next_step(state) or words.last_chance(state)):
            return step  # the shapes are right, or no room is left for another shape step: set the words
        best, last = max(state.attempts, key=lambda a: a.rank), state.attempts[-1]
        # carry on from the last edit when it left something fixable (a move is a removal, then an
        # addition where the relation wants it), else repair the best attempt
        # (setting the words repaints no shape: a typeset neither counts nor breaks the chain)
        repaints = [a for a in state.attempts if a.typeset is None]
        edits_in_a_row = next((i for i, a in enumerate(reversed(repaints)) if a.action != "edit"), len(repaints))
        if state.edits and edits_in_a_row < MAX_EDITS_IN_A_ROW:
            chain = last.action == "edit" and last is not best and last.source is not None
            # an edit chain that cannot go on (no room where the relation wants the object) ends in a new seed
            if step := self.edit_for(state, last if chain else best):
                return step
        if state.spec and state.spec.text and (step := words.regenerate(state)):
            return step
        if wants_layout(state):
            return NextStep(action="generate", prompt=state.refined_prompt or state.brief, n=state.candidates,
                            layout="auto", reason="a new layout and seed")
        rounds = sum(a.action == "generate" for a in state.attempts) // max(state.candidates, 1)
        g0 = state.default_guidance or 7.0
        guidance = round(min(g0 * (1 + 0.25 * rounds), 2 * g0), 2)
        return NextStep(action="generate", prompt=state.refined_prompt or state.brief, guidance=guidance,
                        n=state.candidates, reason=f"new seeds, guidance {guidance}")

    # ---- a clip from a composed first frame (a video model that animates a source image) --------
    def first_frame(self, state: PlanState, seed: int | None = None, why: str = "first frame") -> NextStep:
        """The clip's first frame, drawn as a still from a layout with room for every object's track
        (`tracks.first_frame_layout`: each at its start place, clear of the others all the way), from
        the still's own prompt (no motion words: the image model never learnt them)."""
        still = still_spec(state.spec) if state.spec else None
        width, height = state.sizes[0] if state.sizes else (64, 64)
        layout = first_frame_layout(state.spec, state.seed + len(state.attempts), width, height) \
            if still and still.include and state.layouts == "regions" else None
        prompt = propose_for(state, still) if still and still.include else state.refined_prompt or state.brief
        return NextStep(action="generate", prompt=prompt, seed=seed, n=state.candidates,
                        layout=layout or ("auto" if wants_layout(state.model_copy(update={"clip": False})) else None),
                        reason=f"{why}: a still composed from a layout with room for each track, to animate")

    def next_animated(self, state: PlanState) -> NextStep:
        """Animate a first frame the critic approved as a still (each one once); a rejected one is
        redrawn (a new layout and seed), and so is one whose clip was rejected. When the budget leaves
        room for one more step only, the best first frame there is is animated (a clip is the result)."""
        stills = [a for a in state.attempts if a.action != "video"]
        animated = {a.source for a in state.attempts if a.action == "video"}
        ready = [a for a in stills if first_frame_ok(a) and a.index not in animated]
        b = state.budget_left
        room = min((x for x in (b.iterations, b.generations) if x is not None), default=2)
        if ready:
            source, why = ready[0], f"animate attempt {ready[0].index}, approved as a still"
        elif room <= 1 and stills:
            fresh = [a for a in stills if a.index not in animated] or stills
            source = max(fresh, key=lambda a: a.rank)
            why = f"animate attempt {source.index}, the best first frame (room for one more clip only)"
        else:
            last = state.attempts[-1]
            why = "the last clip was rejected" if last.action == "video" else "the first frame was rejected"
            return self.first_frame(state, why=f"a new first frame ({why})")
        # the animator reads each object's way from the prompt; the plain motion phrasing drops places
        places = state.spec and any(o.start or o.end for o in state.spec.include)
        prompt = state.brief if places else state.refined_prompt or (motion_prompt(state.spec) if state.spec else state.brief)
        return NextStep(action="video", attempt=source.index, prompt=prompt, n=1, reason=why)

    def next_clip(self, state: PlanState) -> NextStep:
        """A clip is redone whole (no region edits on video): a new seed each round with guidance
        raised so the motion words weigh more, and, when the critic saw an object vanish, appear,
        change colour or jump, the model's shortest clip (fewer frames stay coherent more easily)."""
        last = state.attempts[-1]
        rounds = sum(a.action == "video" for a in state.attempts) // max(state.candidates, 1)
        g0 = state.default_guidance or 4.0
        guidance = round(min(g0 * (1 + 0.25 * rounds), 2 * g0), 2)
        kinds = {f.kind for f in last.verdict.findings} if last.verdict else set()
        frames, why = last.frames, [f"a new seed, guidance {guidance}"]
        if "continuity" in kinds and state.frames and frames and frames > state.frames[0]:
            frames, why = state.frames[0], why + [f"a shorter clip ({state.frames[0]} frames)"]
        return NextStep(action="video", prompt=state.refined_prompt or state.brief, guidance=guidance,
                        n=state.candidates, num_frames=frames, reason=", ".join(why))

    def edit_for(self, state: PlanState, best: AttemptView) -> NextStep | None:
        """A region edit of the best attempt when what is wrong is one or two objects and the rest is
        right: remove an extra or excluded one, recolour a wrong one, take a misplaced one out (the
        next round puts it back where its relation wants it), add a missing one in a free box on the
        side its relation requires. None when a new seed is the better bet."""
        v, spec = best.verdict, state.spec
        if not spec or v is None or v.approved or best.size is None:
            return None
        # the words are typeset_text's job (words.py), not a region repaint's
        shapes = [f for f in v.findings if f.text is None]
        findings = [f for f in shapes if f.kind in REPAIRABLE or _fixable_mark(f, v) or _resizable(f, spec)]
        if not findings or len(findings) > 2 or len(findings) < sum(f.kind != "seen" for f in shapes):
            return None
        if sum(a.source == best.index for a in state.attempts) >= MAX_EDITS_PER_SOURCE:
            return None
        width, height = best.size
        # a region already repainted twice without success is not tried again: another finding is,
        # or a new seed when every one of them has been
        # (the place compared is the box an edit would paint, grown as the repaints were: a finding's
        # bare box overlaps the grown region it was painted in too little to count, and a small
        # pinched square was redrawn three times in a row)
        def repaints(g):
            return _repaints(state, grow(g.box, width, height) if g.box else None)
        findings.sort(key=repaints)
        if findings[0].box and repaints(findings[0]) >= MAX_REPAINTS:
            return None
        f = findings[0]
        if f.kind in ("extra", "excluded", "position") and f.box:
            box, prompt, what = grow(f.box, width, height), REMOVE_PROMPT, "remove"
        elif f.kind == "color" and f.box and f.object is not None:
            box, prompt, what = grow(f.box, width, height), object_prompt(state, f.object), "recolour"
        elif f.kind == "artifact" and f.object is not None and f.edge and state.adds_by_inpainting and repaints(f):
            # a shape at the canvas edge that a redraw in its place left there runs into it again (three
            # redraws of one triangle on the bench; one redraw is often enough, and costs one attempt, not
            # two): taken out, the next round adds it back in a free box clear of the edge
            box, prompt, what = grow(f.box, width, height), REMOVE_PROMPT, f"remove (to redraw clear of the {f.edge} edge)"
        elif f.kind == "artifact" and f.object is not None:  # a malformed shape: drawn again in its place
            box, prompt, what = grow(f.box, width, height), object_prompt(state, f.object), "redraw"
        elif f.kind == "artifact":  # a patch, smear or speck clear of every shape: painted over
            box, prompt, what = grow(f.box, width, height, by=0.1), REMOVE_PROMPT, "clean"
        elif _resizable(f, spec) and spec.include[f.object].size == "large":  # redrawn in a large box round it
            box, prompt, what = _large_box(f.box, width, height), object_prompt(state, f.object), "redraw larger"
        elif _resizable(f, spec):  # too big: taken out; the next round adds it back in a small box
            box, prompt, what = grow(f.box, width, height), REMOVE_PROMPT, "remove (to redraw small)"
        elif f.kind == "missing" and f.object is not None and state.adds_by_inpainting:
            box = self.place_missing(state, best, f.object)
            if box is None:
                return None
            box, prompt, what = grow(box, width, height, by=0.1), object_prompt(state, f.object), "add"
        else:
            return None
        return NextStep(action="edit", attempt=best.index, box=box, prompt=prompt, strength=1.0,
                        reason=f"{what} in {list(box)} of attempt {best.index}: {f.message}")

    def place_missing(self, state: PlanState, best: AttemptView, k: int) -> tuple[int, int, int, int] | None:
        """A box for one more instance of object k: free, and on the side of what the critic saw
        that the spec's relations require (the layout solver with the seen objects held fixed), clear
        of where the brief's words go (`words.text_boxes`, in the way whether set yet or not: a shape
        added there is typeset over, measured on the text bench). Only one instance short: more than
        that is a new layout's job."""
        spec, (width, height) = state.spec, best.size
        fixed = seen_boxes(best.verdict, spec)
        if spec.include[k].count - sum(b.object == k for b in fixed) != 1:
            return None
        fixed += [LayoutBox(object=-1, kind="text", box=b) for b in words.text_boxes(spec, width, height)]
        layout = plan_layout(spec, seed=best.seed + len(state.attempts), width=width, height=height, fixed=fixed,
                             gap=3)  # one box repainted: its mask only has to clear what is drawn
        added = [] if layout is None else [b for b in layout.boxes[len(fixed):] if b.object == k]
        return added[0].box if added else None

    # ---- LLM protocol (agent mode) -------------------------------------------------------------
    def complete(self, system: str, messages: list[Message], tools) -> Message:
        state = state_from_messages(messages)
        if state.refined_prompt is None:
            p = self.propose(state)
            call, why = ToolCall(id=_id(), name="refine_prompt", arguments=p.model_dump()), p.rationale
        elif not state.attempts:
            if state.last_error:
                return Message(role="assistant", parts=[TextPart(text=f"cannot generate: {state.last_error}")])
            step = self.first_step(state)
            call, why = step.call(), step.reason
        else:
            step = self.next_step(state)
            call, why = step.call(), step.reason
        return Message(role="assistant", parts=[TextPart(text=why), call])

    def structured(self, system, prompt, schema, images=()):
        raise ConfigError("the offline planner answers no free-form questions: use critic:detector, "
                          "or an LLM back end for critic:vlm")


def _fixable_mark(f, verdict: Verdict) -> bool:
    """An artefact a region edit can fix: one malformed shape (redrawn in its box), or a mark that
    touches no shape the critic saw (painted over with the background)."""
    if f.kind != "artifact" or not f.box:
        return False
    if f.object is not None:
        return True
    return not any(d.box and _overlap(f.box, d.box) for d in verdict.detections)


def _repaints(state: PlanState, box) -> int:
    """How many region edits of this run repainted about the same place as `box`."""
    if not box:
        return 0
    return sum(1 for a in state.attempts if a.region and _iou(a.region, box) > 0.3)


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _overlap(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def _id() -> str:
    return f"call_{secrets.token_hex(6)}"


def describe_scene(spec: SceneSpec) -> str:
    parts = []
    for obj in spec.include:
        text = obj.describe()
        if obj.position:
            text += f" {obj.position[0]} the {spec.include[obj.position[1]].describe()}"
        parts.append(text)
    return " and ".join(parts)


def single_prompt(state: PlanState, obj: ObjectSpec) -> str:
    return propose_for(state, SceneSpec(include=[obj]))


def propose_for(state: PlanState, spec: SceneSpec) -> str:
    return OfflinePlanner().propose(state.model_copy(update={"spec": spec})).prompt


def grow(box, width: int, height: int, by: float = 0.15) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    dx, dy = int((x1 - x0) * by) + 1, int((y1 - y0) * by) + 1
    return max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)


def _resizable(f, spec: SceneSpec) -> bool:
    """A one-instance object drawn at the wrong size (the critic's size requirement failed on it)."""
    return bool(f.requirement and f.requirement.startswith("size:") and f.object is not None and f.box
                and spec.include[f.object].size and spec.include[f.object].count == 1)


def _large_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    """A square of the largest large side round `box`'s centre, inside the canvas (the inpainting
    model draws an object a little smaller than its box)."""
    side = round(side_range("large", width)[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0 = int(min(max(cx - side / 2, 0), width - side))
    y0 = int(min(max(cy - side / 2, 0), height - side))
    return x0, y0, x0 + side, y0 + side


def object_prompt(state: PlanState, k: int) -> str:
    """The prompt for one instance of object k alone."""
    return single_prompt(state, state.spec.include[k].model_copy(update={"count": 1, "position": None}))


def seen_boxes(verdict: Verdict, spec: SceneSpec) -> list[LayoutBox]:
    """What the critic saw, as layout boxes: each assigned to the first spec object it can be
    (kind and colour), up to that object's count; the rest are in the way (object -1)."""
    left = {k: o.count for k, o in enumerate(spec.include)}
    out = []
    for d in verdict.detections:
        if not d.box:
            continue
        color, kind = d.color, d.shape or ("text" if d.text else "")  # words typeset are in the way too
        k = next((k for k, o in enumerate(spec.include) if left[k] and o.cls == kind
                  and (o.color is None or o.color == color)), -1)
        if k >= 0:
            left[k] -= 1
        out.append(LayoutBox(object=k, kind=kind, color=color, box=d.box))
    return out


def offline_summary(record) -> str:
    best = record.best
    if best is None:
        return ""
    v = best.verdict
    if v and v.unverified:  # nothing to follow: the critic could not see what the brief asks
        return (f"Delivered attempt {best.index}: \"{best.prompt}\", seed {best.seed}, NOT checked: "
                f"{v.critic} could not check {', '.join(r.text for r in v.requirements if r.status == 'unchecked')}. "
                f"Judge it yourself, or run with a critic that can see it (critic:vlm).")
    verdict = ("approved by " + v.critic) if v and v.approved else \
        ("the best so far, not approved: " + "; ".join(v.issues[:3])) if v and v.issues else "the best so far"
    edits = sum(a.action == "edit" for a in record.attempts)
    path = f"{len(record.attempts)} attempt(s)" + (f", {edits} of them targeted edits" if edits else "")
    how = f" ({best.note})" if best.note else ""
    changes = ("a new seed with stronger guidance, and the shortest clip where an object broke up"
               if best.action == "video" else
               "a region repainted where one object was wrong, otherwise a new seed with stronger guidance")
    what = f"clip {best.index} ({best.artifact.request.num_frames} frames)" if best.action == "video" \
        else f"attempt {best.index}"
    clips = sum(a.action == "video" for a in record.attempts) if best.action == "video" else 0
    frames = len(record.attempts) - clips if best.action == "video" else 0  # stills composed to be animated
    if clips == 1 and frames == 1:  # no change: the first still was approved and its first clip too
        followed = " (the first try: a first frame the critic approved as a still, then animated)"
    else:
        followed = f"; each change followed the critic's findings ({changes})" if len(record.attempts) > 1 else \
            " (the first try: nothing to change)"
    return f"Delivered {what}{how}: \"{best.prompt}\", seed {best.seed}, {verdict}. It took {path}{followed}."

