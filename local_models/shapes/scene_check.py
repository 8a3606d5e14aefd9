"""`critic:detector`'s judgement: the brief's checklist (`agent.core.requirements`) item by item,
against what the detector saw, and the whole picture explained (`explain.py`).

The rules are a demanding user's, not GenEval's "at least": "a blue circle" is exactly one blue
circle, "two squares" exactly two ("at least two" and bare plurals ask for a minimum); every shape
in the picture must be one the brief asks for; the background is the one it names; and nothing in
the picture may be unexplained (a patch, a seam, a stray blob, touching or malformed shapes). Each
requirement is passed, failed or unchecked, with what was seen and where; an approval needs every
one passed, and must hold however an ambiguous shape (`Detection.alternatives`) is read.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from agent.core.captions import noun
from agent.core.requirements import Requirement, checklist
from agent.core.types import Finding, ObjectSpec, SceneSpec, Verdict
from local_models.shapes import sizing, veto, world
from local_models.shapes.explain import background_of, cut_by_edge, explain

NAME = "critic:detector"
BACKGROUND_DIST = 40.0  # the canvas this close (RGB) to the asked colour is that background
# without the picture (detections only), a shape's side is read from its box: the share of its world box a
# detected shape's extent spans (width, height): a square is drawn 6% inside its box on every side; a
# star's points and a triangle's apex fall partly under the detector's threshold
DRAWN_SHARE = {"square": (0.88, 0.88), "star": (0.9, 0.86), "triangle": (1.0, 0.95)}


def _union(boxes) -> tuple[int, int, int, int] | None:
    boxes = [b for b in boxes if b]
    if not boxes:
        return None
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _n(count: int, kind: str, color: str | None = None) -> str:
    """'3 red circles', '1 star' (digits, as a planner reads them best)."""
    return f"{count} {noun(kind, color, count)}"


def _listing(dets) -> str:
    groups: dict[tuple[str, str], int] = {}
    for d in dets:
        groups[(d.color, d.kind)] = groups.get((d.color, d.kind), 0) + 1
    parts = [_n(n, k, c) for (c, k), n in groups.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _matches(obj: ObjectSpec, d) -> bool:
    return d.kind == obj.cls and (obj.color is None or d.color == obj.color)


def assign(spec: SceneSpec, detections) -> tuple[list[list], list]:
    """Each include object's detections (the most specific objects choose first, largest shapes
    first, up to the count asked; an "at least" object then takes every other one that fits), and
    the detections no object accounts for."""
    free = sorted(detections, key=lambda d: -d.area)
    mine: list[list] = [[] for _ in spec.include]
    order = sorted(range(len(spec.include)), key=lambda k: (spec.include[k].color is None, k))
    for k in order:
        obj = spec.include[k]
        fits = [d for d in free if _matches(obj, d)]
        if obj.size == "small":  # "a small circle and a large circle": the small one takes the smallest
            fits.reverse()
        for d in fits[: obj.count]:
            mine[k].append(d)
            free.remove(d)
    for k in order:
        obj = spec.include[k]
        if obj.at_least:
            extra = [d for d in free if _matches(obj, d)]
            mine[k] += extra
            free = [d for d in free if d not in extra]
    return mine, free


def _check(spec: SceneSpec, detections, px: np.ndarray | None, scale, critic: str, text_boxes=()) -> Verdict:
    items = checklist(spec)
    mine, left = assign(spec, detections)
    judged: dict[str, Requirement] = {}
    findings: list[Finding] = []

    def fail(req: Requirement, message: str, kind: str, box=None, obj: int | None = None):
        judged[req.id] = req.judged("failed", message, box, critic)
        findings.append(Finding(kind=kind, message=message, object=obj, box=box))

    claimed = {id(d) for ds in mine for d in ds}
    measured: dict | None = None  # each shape's side (sizing.sides), measured when a size is asked
    for req in items:
        k = req.object
        if req.kind == "object":
            obj, got = spec.include[k], mine[k]
            surplus = [d for d in left if _matches(obj, d)]
            if len(got) < obj.count:
                same_kind = [d for d in detections if d.kind == obj.cls and id(d) not in claimed]
                if obj.color and same_kind and not got:
                    colours = ", ".join(d.color for d in same_kind)
                    fail(req, f"expected {_n(obj.count, obj.cls, obj.color)}, found {len(got)} (the "
                              f"{noun(obj.cls, None, len(same_kind))} there {'is' if len(same_kind) == 1 else 'are'} "
                              f"{colours})", "color", _union(d.box for d in same_kind), k)
                else:
                    instead = [d for d in left if (obj.color and d.color == obj.color) or d.kind == obj.cls]
                    msg = f"expected {_n(obj.count, obj.cls, obj.color)}, found {len(got)}"
                    if instead:
                        msg += f": saw {_listing(instead)} where {'it was' if obj.count == 1 else 'they were'} asked"
                    fail(req, msg, "missing", _union(d.box for d in got + instead), k)
            elif surplus:
                fail(req, f"expected exactly {_n(obj.count, obj.cls, obj.color)}, found {len(got) + len(surplus)}",
                     "extra", _union(d.box for d in sorted(surplus, key=lambda d: d.area)), k)
            else:
                judged[req.id] = req.judged("passed", f"saw {_listing(got)} at {[list(d.box) for d in got]}",
                                            _union(d.box for d in got), critic)
        elif req.kind == "size":
            if measured is None:
                measured = sizing.sides(detections, px, None if px is None else background_of(px)[0])
            judged[req.id] = _size(req, spec.include[k], mine[k], scale, critic, measured)
            if judged[req.id].status == "failed":
                findings.append(Finding(kind="other", message=judged[req.id].evidence, object=k,
                                        box=judged[req.id].box, requirement=req.id))
        elif req.kind == "relation":
            obj = spec.include[k]
            rel, j = obj.position
            if not mine[k] or not mine[j]:
                who = obj if not mine[k] else spec.include[j]
                fail(req, f"cannot check that {req.text}: the {noun(who.cls, who.color, who.count)} "
                          f"{'is' if who.count == 1 else 'are'} missing", "position", None, k)
                continue
            bad = [a for a in mine[k] if not all(world.relation_holds(rel, a.box, b.box) for b in mine[j])]
            # "a red star left of a red star": the two objects look alike, so which is which is the picture's
            if bad and all(_matches(obj, d) for d in mine[j]) and all(_matches(spec.include[j], d) for d in mine[k]) \
                    and all(world.relation_holds(rel, b.box, a.box) for b in mine[j] for a in mine[k]):
                bad = []
            if bad:
                fail(req, f"the {noun(obj.cls, obj.color, obj.count)} {'is' if obj.count == 1 else 'are'} "
                          f"not {rel} the {noun(spec.include[j].cls, spec.include[j].color, spec.include[j].count)}",
                     "position", _union(a.box for a in bad), k)
            else:
                judged[req.id] = req.judged("passed", f"{req.text}: holds", None, critic)
        elif req.kind == "exclude":
            ex = spec.exclude[int(req.id.split(":")[1])]
            found = [d for d in detections if _matches(ex, d)]
            if len(found) >= ex.count:
                fail(req, f"found {_n(len(found), ex.cls, ex.color)}; there must be fewer than {ex.count}",
                     "excluded", _union(d.box for d in found))
            else:
                judged[req.id] = req.judged("passed", f"found {len(found)}", None, critic)
        elif req.kind == "background":
            judged[req.id] = _background(req, spec.background, px, critic)
            if judged[req.id].status == "failed":
                findings.append(Finding(kind="background", message=judged[req.id].evidence))
        elif req.kind in ("only", "whole"):
            continue  # below: both are about what is left over
        elif req.kind == "text":
            judged[req.id] = req.judged("unchecked", "words are read by the OCR checker", None, critic)
    unasked = [d for d in left if not any(_matches(o, d) for o in spec.include)]
    for req in items:
        if req.kind == "only" or (req.kind == "whole" and not spec.only):
            if unasked:
                fail(req, f"{_listing(unasked)} that the brief does not ask for", "extra",
                     _union(d.box for d in unasked))
                # one finding per shape, so a removal repaints each alone
                # a circle cut by the canvas edge fills its box like a square: say so (the whole picture is
                # not explained when an unasked shape already fails it)
                cuts = [cut_by_edge(px, d, detections) if px is not None else None for d in unasked]
                findings[-1:] = [Finding(kind="extra", message=f"{d.color} {d.kind} at {list(d.box)}: not asked for"
                                         + (f" (it is {cut})" if cut else ""), box=d.box) for d, cut in zip(unasked, cuts)]
                break
    whole = next((r for r in items if r.kind == "whole"), None)
    if whole is not None and whole.id not in judged:
        owner = {id(d): k for k, ds in enumerate(mine) for d in ds}  # which asked object each shape is
        judged[whole.id] = _whole(whole, detections, px, scale, critic, findings, text_boxes, owner)
    if (only := next((r for r in items if r.kind == "only"), None)) and only.id not in judged:
        judged[only.id] = only.judged("passed", "nothing else", None, critic)
    results = [judged.get(r.id, r) for r in items]
    issues = [r.evidence for r in results if r.status == "failed"]
    issues += [f"could not check {r.text}: {r.evidence}" for r in results if r.status == "unchecked"]
    passed = sum(r.status == "passed" for r in results)
    seen = [Finding(kind="seen", message=f"{d.color} {d.kind}", box=d.box, shape=d.kind, color=d.color) for d in detections]
    return Verdict(critic=critic, approved=_ok(results), issues=issues, findings=findings,
                   detections=seen, requirements=results,
                   scores={"constraints": round(passed / len(results), 4) if results else 1.0})


def side_of(d, scale, size: str = "small") -> float:
    """The side of the world box a detection was drawn in, on the 64 px canvas (world.SIZES' unit), from
    its box alone (sizing.sides reads it better from the picture), against the asked `size`: a small
    shape by its longer axis, a large one by its shorter (18 px wide and 20 high is not clearly large)."""
    share = DRAWN_SHARE.get(d.kind, (1.0, 1.0))
    sides = ((d.box[2] - d.box[0]) / scale[0] / share[0], (d.box[3] - d.box[1]) / scale[1] / share[1])
    return max(sides) if size == "small" else min(sides)


def _size(req: Requirement, obj: ObjectSpec, got, scale, critic: str, measured: dict) -> Requirement:
    """Every shape of the object has a side in the asked size's range, read as a whole pixel of the
    64 px canvas: small at most world.SIZES' largest small side, large at least its smallest large one."""
    what = noun(obj.cls, obj.color, obj.count)
    if len(got) < obj.count:
        return req.judged("failed", f"cannot check that {req.text}: the {what} {'is' if obj.count == 1 else 'are'} "
                                    f"missing", None, critic)
    lo, hi = world.SIZES[obj.size]
    sides = [measured.get(id(d)) or side_of(d, scale, obj.size) for d in got]
    wrong = [(d, s) for d, s in zip(got, sides) if not (round(s) <= hi if obj.size == "small" else round(s) >= lo)]
    seen = ", ".join(f"{s:.0f}" for s in sides)
    rule = f"{obj.size}: a side of {lo}-{hi} px on the 64 px canvas"
    if wrong:
        word = "medium" if world.SIZES["medium"][0] <= round(wrong[0][1]) <= world.SIZES["medium"][1] else \
            "large" if obj.size == "small" else "small"
        return req.judged("failed", f"the {what} {'is' if obj.count == 1 else 'are'} {word}, not {obj.size} "
                                    f"(side {seen} px; {rule})", _union(d.box for d, _ in wrong), critic)
    return req.judged("passed", f"{req.text} (side {seen} px; {rule})", _union(d.box for d in got), critic)


def _background(req: Requirement, name: str, px, critic: str) -> Requirement:
    rgb = world.BACKGROUNDS.get(name) or world.COLORS.get(name)
    if rgb is None:
        return req.judged("unchecked", f"{name} is not a colour of the shapes world", None, critic)
    if px is None:
        return req.judged("unchecked", "no picture to look at", None, critic)
    seen, nearest, _ = background_of(px)
    dist = float(np.linalg.norm(seen - np.array(rgb)))
    shade = f"({', '.join(str(int(v)) for v in seen)})"
    if dist <= BACKGROUND_DIST:
        return req.judged("passed", f"the background is {name} {shade}", None, critic)
    return req.judged("failed", f"the background is {nearest} {shade}, not {name}", None, critic)


def _ok(results) -> bool:
    """Every item this critic decides passed (text items are the OCR checker's: a composite merges them)."""
    return all(r.status == "passed" for r in results if r.kind != "text")


def _whole(req: Requirement, detections, px, scale, critic: str, findings: list[Finding], text_boxes=(),
           owner: dict | None = None) -> Requirement:
    if px is None:
        return req.judged("unchecked", "no picture to look at", None, critic)
    marks = explain(px, detections, text_boxes)
    if not marks:
        # the measured checks found nothing: the learned veto (veto.py) may still take the approval away
        learned = veto.opinion(px, detections, text_boxes)
        if learned.flawed:
            findings.append(Finding(kind="artifact", message=learned.evidence))
            return req.judged("failed", learned.evidence, None, critic)
        return req.judged("passed", "every part of the picture is background or a well-formed shape; "
                          + learned.evidence, None, critic)
    sx, sy = scale
    boxes = [(round(m.box[0] * sx), round(m.box[1] * sy), round(m.box[2] * sx), round(m.box[3] * sy)) for m in marks]
    for m, box in zip(marks, boxes):
        # a malformed shape names the asked object it stands for, so a planner can redraw it in place
        obj = (owner or {}).get(id(m.shape)) if m.shape is not None else None
        findings.append(Finding(kind="artifact", message=f"{m.what} at {list(box)}", box=box, object=obj, edge=m.edge))
    text = "; ".join(f"{m.what} at {list(b)}" for m, b in zip(marks, boxes))
    return req.judged("failed", text, _union(boxes), critic)


def check(spec: SceneSpec, detections, size: tuple[int, int] | None = None, critic: str = NAME,
          px: np.ndarray | None = None, text_boxes=()) -> Verdict:
    """Judge `spec`'s checklist against `detections` (boxes in a `size` image) and the canvas `px`
    (the image on the 64x64 canvas; without it the background and the whole picture stay unchecked).
    An approval must hold under every reading of an ambiguous shape. `text_boxes` (canvas pixels):
    typeset words, left to the OCR checker. Text items stay unchecked here (a composite with the OCR
    checker decides them), so "approved" below means every other item passed."""
    w, h = size or (world.CANVAS, world.CANVAS)
    scale = (w / world.CANVAS, h / world.CANVAS)
    verdict = _check(spec, detections, px, scale, critic, text_boxes)
    if not _ok(verdict.requirements):
        return verdict
    doubts = []
    for d in detections:
        for alt in d.alternatives:
            other = [replace(e, kind=alt, alternatives=()) if e is d else e for e in detections]
            if not _ok(_check(spec, other, px, scale, critic, text_boxes).requirements):
                doubts.append((d, alt))
    if not doubts:
        return verdict
    messages = [f"could not tell whether the {d.color} shape at {list(d.box)} is {world._article(d.kind)} "
                f"{d.kind} or {world._article(alt)} {alt}" for d, alt in doubts]
    reqs = [r.judged("failed", "; ".join(messages), r.box, critic) if r.kind == "object" and any(
        _matches(spec.include[r.object], d) or d.kind == spec.include[r.object].cls or alt == spec.include[r.object].cls
        for d, alt in doubts) else r for r in verdict.requirements]
    if _ok(reqs):  # the doubt touches no object item: the whole picture, then
        reqs = [r.judged("failed", "; ".join(messages), None, critic) if r.kind == "whole" else r for r in reqs]
    return verdict.model_copy(update={
        "approved": False, "issues": verdict.issues + messages, "requirements": reqs,
        "findings": verdict.findings + [Finding(kind="other", message=m, box=d.box) for m, (d, _) in zip(messages, doubts)],
        "scores": {"constraints": round(sum(r.status == "passed" for r in reqs) / max(len(reqs), 1), 4)}})


def check_image(spec: SceneSpec, image, critic: str = NAME, text_boxes=()) -> Verdict:
    """`check` of an image. `text_boxes` (image pixels): where an OCR engine read words, handed in by
    the caller; what lies inside them is the words checker's. Never a box the image claims in its own
    metadata: an untrusted PNG could claim any box to hide a mark from this check."""
    from PIL import Image

    from local_models.shapes.detector import canvas_pixels, detect
    if not isinstance(image, Image.Image):
        image = Image.open(image)
    boxes = [tuple(int(v) for v in b) for b in text_boxes] if spec.text else []
    image = image.convert("RGB")
    n = world.CANVAS
    sx, sy = n / image.width, n / image.height
    # one canvas pixel more on each side: the downsample spreads a letter's antialiased edge into it
    canvas = [(max(0, int(b[0] * sx) - 1), max(0, int(b[1] * sy) - 1), min(n, -(-b[2] * n // image.width) + 1),
               min(n, -(-b[3] * n // image.height) + 1)) for b in boxes]
    # letters are not shapes: what lies inside a read text box is the OCR checker's
    dets = [d for d in detect(image) if not any(_inside(d.box, b) for b in boxes)]
    return check(spec, dets, image.size, critic=critic, px=canvas_pixels(image), text_boxes=canvas)


def _inside(box, text_box) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return text_box[0] <= cx <= text_box[2] and text_box[1] <= cy <= text_box[3]


def unchecked_verdict(spec: SceneSpec | None, brief: str, why: str, critic: str = NAME) -> Verdict:
    """Every requirement unchecked, with the reason: a brief this critic cannot judge."""
    reqs = [r.judged("unchecked", why, None, critic) for r in checklist(spec, brief)]
    return Verdict(critic=critic, approved=False, requirements=reqs, issues=[f"could not check: {why}"])
