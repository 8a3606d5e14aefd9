"""Several critics as one. Their checklists are merged item by item: failed by any is failed, passed
by one and unchecked by another is passed (each item goes to the checker that can decide it),
unchecked by all stays unchecked. Approved when every merged item passed and every critic either
approved or withheld its approval only for items another critic passed (a low rubric score, a
critique error, an issue of its own: never excused)."""
from __future__ import annotations

from agent.core.requirements import Requirement
from agent.core.types import Artifact, SceneSpec, Verdict


def merge_requirements(verdicts: list[Verdict]) -> list[Requirement]:
    merged: dict[str, Requirement] = {}
    for v in verdicts:
        for r in v.requirements:
            have = merged.get(r.id)
            if have is None or have.status == "unchecked" and r.status != "unchecked":
                merged[r.id] = r
            elif have.status == "passed" and r.status == "failed":
                merged[r.id] = r
            elif have.status == r.status == "failed" and r.evidence not in have.evidence:
                merged[r.id] = have.model_copy(update={"evidence": f"{have.evidence}; {r.evidence}",
                                                       "checker": f"{have.checker}+{r.checker}"})
    return list(merged.values())


def _excused(v: Verdict, merged: dict[str, Requirement]) -> bool:
    """A critic that did not approve only because some items were beyond it, which others passed."""
    if v.approved:
        return True
    if v.error or not v.requirements or any(r.status == "failed" for r in v.requirements):
        return False
    beyond = [r for r in v.requirements if r.status == "unchecked"]
    return (bool(beyond) and all(merged[r.id].status == "passed" for r in beyond)
            and all(i.startswith("could not check") for i in v.issues))


def combine(verdicts: list[Verdict], name: str) -> Verdict:
    errors = [v.error for v in verdicts if v.error]
    reqs = merge_requirements(verdicts)
    by_id = {r.id: r for r in reqs}
    settled = {r.text for r in reqs if r.status == "passed"}
    issues = [i for v in verdicts for i in v.issues
              if not (i.startswith("could not check ") and any(i.startswith(f"could not check {t}") for t in settled))]
    return Verdict(
        critic=name,
        approved=not errors and all(_excused(v, by_id) for v in verdicts) and all(r.status == "passed" for r in reqs),
        scores={f"{v.critic}.{k}": s for v in verdicts for k, s in v.scores.items()},
        issues=list(dict.fromkeys(issues)),
        # one finding once (critic:detector+ocr reads the words in both: WithWords and the named OCR)
        findings=list({(f.kind, f.message, repr(f.box)): f for v in verdicts for f in v.findings}.values()),
        detections=[d for v in verdicts for d in v.detections],
        frames=next((v.frames for v in verdicts if v.frames), []),
        requirements=reqs,
        error="; ".join(errors) or None,
    )


class CompositeCritic:
    def __init__(self, critics: list):
        self.critics = critics
        self.name = "+".join(c.name for c in critics)
        # it judges what every one of its critics can judge
        self.kinds = tuple(k for k in ("image", "video") if all(k in c.kinds for c in critics))

    def critique(self, artifact: Artifact, brief_text: str, spec: SceneSpec | None) -> Verdict:
        verdicts = []
        for c in self.critics:
            if c.name == "critic:ocr" and verdicts:  # where the others saw each object
                verdicts.append(c.critique(artifact, brief_text, spec, object_boxes=object_boxes(verdicts)))
            else:
                verdicts.append(c.critique(artifact, brief_text, spec))
        return combine(verdicts, self.name)


def object_boxes(verdicts: list[Verdict]) -> dict[int, list]:
    """Each include object's box, from the object items a checker passed (image pixels)."""
    out: dict[int, list] = {}
    for v in verdicts:
        for r in v.requirements:
            if r.kind == "object" and r.status == "passed" and r.box and r.object is not None:
                out.setdefault(r.object, [r.box])
    return out


class WithWords:
    """A critic that cannot read (critic:detector), with the OCR checker deciding the checklist's text
    items whenever it has any; otherwise exactly the critic alone. The words are read first, so the
    shape checker is told where they are by the OCR (never by the image's own metadata)."""

    def __init__(self, critic):
        self.critic = critic
        self.name = critic.name
        self.kinds = critic.kinds

    def critique(self, artifact: Artifact, brief_text: str, spec: SceneSpec | None) -> Verdict:
        from agent.critics.ocr import OCRCritic, counted, letters_not_shapes, maybe_a_shape, read_file, word_boxes
        if spec is None:  # as the critic itself would: the spec from the brief
            try:
                from agent.core.spec_parser import parse_spec
                spec = parse_spec(brief_text)
            except Exception:  # the critic reports it
                pass
        boxes, readings, plain = [], None, None
        if spec is not None and spec.text and artifact.kind == "image":
            try:
                from PIL import Image
                with Image.open(artifact.path) as im:
                    size = im.size
                readings = read_file(artifact.path)
            except Exception:  # an unreadable file or engine: the OCR critique below says so
                readings = None
            if readings and spec.include and any(maybe_a_shape(r) for r in counted(readings)):
                # a letter or two read where the shape checker, on the untouched picture, fits a shape: that shape
                plain = self.critic.critique(artifact, brief_text, spec)
                readings = letters_not_shapes(readings, [d.box for d in plain.detections if d.shape and d.box], spec)
            boxes = word_boxes(readings, size) if readings else []
        verdict = self.critic.critique(artifact, brief_text, spec, text_boxes=boxes) if boxes else \
            plain or self.critic.critique(artifact, brief_text, spec)
        if verdict.error or artifact.kind != "image" or not any(r.kind == "text" for r in verdict.requirements):
            return verdict
        words = OCRCritic().critique(artifact, brief_text, spec, object_boxes=object_boxes([verdict]),
                                     readings=readings)
        out = combine([verdict, words], self.name)
        share = sum(r.status == "passed" for r in out.requirements) / max(len(out.requirements), 1)
        return out.model_copy(update={"scores": {**verdict.scores, **words.scores, "constraints": round(share, 4)}})
