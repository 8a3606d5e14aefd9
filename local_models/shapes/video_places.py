"""The clip critic's check of where each object starts and ends (`ObjectSpec.start` / `end`,
agent/core/places.py): the object's centre in the first frame is at its start place, in the last at
its end place, on the world's 64x64 canvas whatever the clip's size.

Each `place` item of the brief's checklist (agent.core.requirements.place_items) is judged passed or
failed with its evidence: where the object was seen (its centre, and the place that is in words) and
in which frame. An object not seen as asked in the first or last frame fails its item (where it is
cannot be told, and a missing object is never a pass). A `note` (the brief's motion and places
contradict each other) stays unchecked: no clip can satisfy it.

A place is a set of thirds of the canvas; the object is there when its centre is within one of them
widened by `TOLERANCE_PX` on each side: the detector's box centre moves about a pixel from frame to
frame on the model's soft shapes and an H.264 clip's blur. No more: a shape against an edge has its
centre well inside the edge's third (a 12 px shape 1 px from the edge: at 7 of 64), and at 2 px a
clip of "starts in the centre" whose square started at 44 of 64 (by eye: low, on the border of the
bottom third) was approved in a 10-brief sample of the bench's place briefs; at 1 px it is not."""
from __future__ import annotations

from agent.core.places import cell_at, place_holds, preposition
from agent.core.requirements import CONTRADICTION_HINT, Requirement, place_items
from agent.core.types import Finding, SceneSpec, Verdict
from local_models.shapes import world

TOLERANCE_PX = 1.0  # px of the 64 canvas a centre may lie outside its place's thirds


def judge_places(spec: SceneSpec, tracks: dict, report, size, critic: str) -> list[Requirement]:
    """Each place item of `spec` judged on the tracks (video_critic._Track, by spec index) of a clip
    of `len(report.indices)` sampled frames; a failure is also added to `report` (kind "position")."""
    from local_models.shapes.detector import _the
    from local_models.shapes.video_critic import _centre

    n = len(report.indices)
    out: list[Requirement] = []
    for req in place_items(spec):
        k = req.object
        if req.kind == "note":
            out.append(req.judged("unchecked", f"no clip can show this; {CONTRADICTION_HINT}", None, critic))
            report.add("other", req.text, k)
            continue
        role = req.id.split(":")[0]
        place = spec.include[k].start if role == "start" else spec.include[k].end
        if n == 0:
            out.append(req.judged("failed", "the clip has no frames", None, critic))
            continue
        pos = 0 if role == "start" else n - 1
        frame = f"frame {report.indices[pos]} (the {'first' if role == 'start' else 'last'})"
        seen, wrong, missing, box = [], [], [], None
        for t in tracks.get(k, []):
            d = t.seen.get(pos)
            if d is None:
                missing.append(t.name)
                continue
            x, y = _centre(d, size)
            where = f"{t.name} is {preposition(cell_at((x, y), world.CANVAS))} (its centre at {x:.0f}, {y:.0f} of 64)"
            box = box or d.box
            if place_holds(place, (x, y), world.CANVAS, TOLERANCE_PX):
                if not place_holds(place, (x, y), world.CANVAS):  # say so, not the third it is just past
                    where = (f"{t.name} is {preposition(place)}, within {TOLERANCE_PX:g} px of its third (its centre "
                             f"at {x:.0f}, {y:.0f} of 64)")
                seen.append(where)
            else:
                wrong.append(where)
                box = d.box
        if missing:
            msg = (f"cannot tell where {', '.join(missing)} {role}{'s' if len(missing) == 1 else ''}: not seen "
                   f"as asked in {frame}")
        elif wrong:
            msg = f"{_the(spec.include[k])} should {role} {preposition(place)}: in {frame} {'; '.join(wrong)}"
        else:
            out.append(req.judged("passed", f"in {frame} {'; '.join(seen)}", box, critic))
            continue
        out.append(req.judged("failed", msg, box, critic))
        report.add("position", msg, k, box, [pos])
    return out


def still_image_of_motion(spec: SceneSpec, verdict: Verdict) -> Verdict:
    """A still image judged against a brief with motion: what it shows is checked, but motion cannot
    be, so it is never approved."""
    from agent.core.captions import motion_prompt
    msg = f"a still image cannot show motion; the brief asks for a clip: {motion_prompt(spec)}"
    # where an object starts and ends is that message's business too, not one "could not check" line each;
    # a contradiction (a note) is said in full, with why no clip can show it
    why = {"place": "a still image has no first and last frame",
           "note": f"no clip can show it either; {CONTRADICTION_HINT}"}
    clip_only = [r for r in verdict.requirements if r.kind in why]
    said = {f"could not check {r.text}: {r.evidence}" for r in clip_only}
    notes = [f"could not check {r.text}: {why['note']}" for r in clip_only if r.kind == "note"]
    reqs = [r.judged("unchecked", why[r.kind], None, verdict.critic) if r.kind in why else r
            for r in verdict.requirements]
    return verdict.model_copy(update={"approved": False,
                                      "issues": [*(i for i in verdict.issues if i not in said), *notes, msg],
                                      "requirements": reqs,
                                      "findings": [*verdict.findings, Finding(kind="motion", message=msg)]})
