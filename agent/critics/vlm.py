"""`critic:vlm` (or `critic:vlm@PROVIDER:MODEL`): a vision LLM judges the image, or the clip.

It scores a rubric (prompt_adherence, quality, composition; 1-10 each), lists concrete issues, and
answers one yes/no question per SceneSpec constraint: for each `include` object "is it there, in
that number and colour", for each `position` "is it left of / above ... the other one", and for
each `exclude` "is the forbidden thing there". The wording lives in prompts/critique.md.

A clip (GIF or MP4) is judged from up to `CLIP_FRAMES` of its frames (the first, the last, evenly
between), sent in order as several images with prompts/critique_video.md; its questions are temporal:
each object in every frame, each moving as asked (or staying still), nothing appearing, vanishing or
changing colour, smooth motion.

The approval rule: **approved when every constraint question gets the expected answer and every
rubric score is at least `threshold` (7)**; a picture whose meta records the regions an edit
painted is also measured for seams along their borders (agent/critics/seams.py), and its `whole`
item passes only when that check passes too. A reply that does not fit the schema (or skips a
question) is asked again once; a second bad reply, or a service failure, gives a Verdict with
`error` set and approved False. A failed critique never approves."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from agent.core.errors import AtelierError, ConfigError, MalformedOutput
from agent.core.prompts import load_prompt
from agent.core.protocols import LLM
from agent.core.registry import resolve
from agent.core.captions import MOTION_PHRASES, SPEED_WORDS, noun
from agent.core.clips import read_sampled
from agent.core.places import preposition
from agent.core.types import Artifact, Finding, FrameCheck, ObjectSpec, SceneSpec, Verdict, number_word, plural

NAME = "critic:vlm"
THRESHOLD = 7
CRITERIA = ("prompt_adherence", "quality", "composition")
CLIP_FRAMES = 6  # frames of a clip the model sees


# ---- what the model answers (validated by pydantic) -----------------------------------------------
class RubricScores(BaseModel):
    prompt_adherence: int = Field(ge=1, le=10, description="shows what the brief asks for, nothing it rules out")
    quality: int = Field(ge=1, le=10, description="technical quality: clean, no artefacts")
    composition: int = Field(ge=1, le=10, description="framing and layout")


class Answer(BaseModel):
    id: int = Field(description="the question's id")
    answer: Literal["yes", "no"]
    observed: str = Field("", description="a few words on what the image shows")

    @field_validator("answer", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        # Models write "Yes", "yes.", or a JSON boolean; all mean the same answer.
        if isinstance(value, bool):
            return "yes" if value else "no"
        return value.strip().strip(".").lower() if isinstance(value, str) else value


class CritiqueReply(BaseModel):
    scores: RubricScores
    issues: list[str] = Field(default_factory=list, description="concrete, actionable problems to fix")
    answers: list[Answer] = Field(default_factory=list, description="one answer per question, by id")


# ---- the questions a SceneSpec implies ------------------------------------------------------------
class Question(BaseModel):
    id: int
    text: str
    expected: Literal["yes", "no"]
    kind: Literal["missing", "position", "excluded", "extra", "motion", "continuity", "background", "artifact",
                  "other"]
    object: int | None = None
    failure: str
    requirement: str | None = Field(None, description="the checklist item this question decides")


def image_questions(spec: SceneSpec | None, brief: str, decided: set[str] = frozenset(),
                    edited: bool = False) -> list[Question]:
    """One yes/no question per item of the brief's checklist (agent.core.requirements), each with
    the answer that passes it: exact counts unless the brief says "at least", the background, the
    absence of artefacts, and the brief itself when nothing more precise could be derived. Items in
    `decided` (the words, which the OCR checker reads exactly) get no question. An `edited` picture
    is asked about artefacts whatever the brief."""
    from agent.core.requirements import checklist

    out: list[Question] = []
    for req in checklist(spec, brief, edited):
        obj = spec.include[req.object] if spec is not None and req.object is not None else None
        if req.id in decided:
            continue
        if req.kind == "text":  # only where the OCR checker cannot tell: the words' place among the objects
            q = (f"Is {req.text.replace('the words', 'the text', 1)}?", "yes", "position", f"should show {req.text}")
        elif req.kind == "object":
            many = f"{'at least' if obj.at_least else 'exactly'} {obj.describe()}"
            q = (f"Does the image contain {many}?", "yes", "missing", f"expected {many}")
        elif req.kind == "relation":
            rel, j = obj.position
            subject, target = _nouns(obj), _nouns(spec.include[j])
            q = (f"{'Are' if obj.count > 1 else 'Is'} the {subject} {rel} the {target}?", "yes", "position",
                 f"the {subject} should be {rel} the {target}")
        elif req.kind == "exclude":
            ex = spec.exclude[int(req.id.split(":")[1])]
            if ex.count == 1:
                q = (f"Does the image contain any {_noun(ex)}?", "no", "excluded", f"there should be no {_noun(ex)}")
            else:
                many = f"{number_word(ex.count)} or more {plural(_noun(ex))}"
                q = (f"Does the image contain {many}?", "no", "extra", f"there should be fewer than {many}")
        elif req.kind == "only":
            named = ", ".join(o.describe() for o in spec.include)
            q = (f"Does the image show any object besides {named}?", "no", "extra", f"nothing but {named}")
        elif req.kind == "background":
            q = (f"Is the background {spec.background}?", "yes", "background",
                 f"the background should be {spec.background}")
        elif req.kind == "whole":
            q = ("Does the image show a visible artefact: a patch or box of another background, a seam, a "
                 "smear, a stray mark, or merged or malformed objects?", "no", "artifact",
                 "the image should have no patch, seam, smear or malformed object")
        else:  # free-form: the brief as a whole
            q = (f"Does the image show what this asks for: {req.text!r}?", "yes", "other", f"should show: {req.text}")
        out.append(Question(id=len(out) + 1, text=q[0], expected=q[1], kind=q[2], failure=q[3],
                            object=req.object, requirement=req.id))
    return out


def questions_for(spec: SceneSpec | None, clip: bool = False) -> list[Question]:
    """One yes/no question per constraint of `spec`, each with the answer that satisfies it. For a
    `clip` they are asked of every frame, with one about each object's motion and two about the
    clip as a whole (nothing appears, vanishes or changes; smooth motion)."""
    if spec is None:
        return []
    questions: list[Question] = []
    where = "any frame" if clip else "the image"

    def add(text: str, expected: Literal["yes", "no"], kind, failure: str, obj: int | None = None) -> None:
        questions.append(Question(id=len(questions) + 1, text=text, expected=expected, kind=kind,
                                  object=obj, failure=failure))

    for i, obj in enumerate(spec.include):
        if clip:
            add(f"Is there exactly {obj.describe()} in every frame, the same throughout?", "yes", "missing",
                f"expected {obj.describe()} in every frame", i)
        else:
            add(f"Does the image contain at least {obj.describe()}?", "yes", "missing",
                f"expected at least {obj.describe()}", i)
        if obj.position:
            relation, other = obj.position
            subject, target = _nouns(obj), _nouns(spec.include[other])
            verb = "Are" if obj.count > 1 else "Is"
            add(f"{verb} the {subject} {relation} the {target}{' in the first frame' if clip else ''}?", "yes",
                "position", f"the {subject} should be {relation} the {target}", i)
        if clip and obj.motion:
            add(_motion_question(obj), "yes", "motion", f"the {_nouns(obj)} should be {_motion_words(obj)}", i)
        for frame, role, place in (("first", "start", obj.start), ("last", "end", obj.end)):
            if clip and place:  # agent.core.places: where a clip's object starts and ends
                where = f"{preposition(place)} of the frame"
                add(f"In the {frame} frame, {'are' if obj.count > 1 else 'is'} the {_nouns(obj)} {where}?", "yes",
                    "position", f"the {_nouns(obj)} should {role} {where}", i)
    for ex in spec.exclude:
        if ex.count == 1:
            add(f"Does {where} contain any {_noun(ex)}?", "no", "excluded", f"there should be no {_noun(ex)}")
        else:
            many = f"{number_word(ex.count)} or more {plural(_noun(ex))}"
            add(f"Does {where} contain {many}?", "no", "extra", f"there should be fewer than {many}")
    if clip:
        add("Does any object appear, vanish, or change colour or shape from one frame to the next?", "no",
            "continuity", "objects should not appear, vanish or change between frames")
        add("Does everything that moves move smoothly, a little in each frame, without jumping?", "yes",
            "continuity", "the motion should be smooth, without jumps")
    return questions


def _motion_words(obj: ObjectSpec) -> str:
    """"moving to the right quickly", "staying still"."""
    words = MOTION_PHRASES[obj.motion or "still"]
    return f"{words} {SPEED_WORDS[obj.speed]}" if obj.speed and obj.motion != "still" else words


def _motion_question(obj: ObjectSpec) -> str:
    subject, verb = _nouns(obj), "Do" if obj.count > 1 else "Does"
    if obj.motion == "still":
        return f"{verb} the {subject} stay in the same place in every frame?"
    way = MOTION_PHRASES[obj.motion].removeprefix("moving ")
    pace = {"slow": ", slowly (a short way)", "fast": ", quickly (a long way)"}.get(obj.speed or "", "")
    return f"{verb} the {subject} move {way} from the first frame to the last{pace}?"


def _listing(questions: list[Question]) -> str:
    return "\n".join(f"{q.id}. {q.text}" for q in questions) or "(none)"


def _noun(obj: ObjectSpec) -> str:
    return noun(obj.cls, obj.color)


def _nouns(obj: ObjectSpec) -> str:
    """The object as its count needs it: "red circle" or "red circles"."""
    return noun(obj.cls, obj.color, obj.count)


# ---- the critic ----------------------------------------------------------------------------------
def default_llm_spec() -> str:
    """ATELIER_CRITIC_LLM, else the current default vision model (agent/core/data/models.yaml) of the
    first provider whose key is set."""
    from agent.core.defaults import critic_llm_spec

    if spec := critic_llm_spec():
        return spec
    raise ConfigError("critic:vlm needs a vision LLM: set ANTHROPIC_API_KEY or OPENAI_API_KEY, "
                      "set ATELIER_CRITIC_LLM, or name one, e.g. critic:vlm@openai-compatible:MODEL@BASE_URL")


def model_notes(artifact: Artifact) -> str:
    """What good output of the model that made `artifact` looks like, when its ModelInfo says it
    differs from a real image (the shapes world: flat colour); the rubric itself is for real images."""
    if not artifact.request.model:
        return ""
    try:
        return resolve("video" if artifact.kind == "video" else "image", artifact.request.model).info.quality_notes
    except Exception:  # an unknown or unloadable model: the generic rubric alone
        return ""


class VLMCritic:
    kinds = ("image", "video")

    def __init__(self, llm_spec: str = "", *, llm: LLM | None = None, threshold: int = THRESHOLD):
        self.name = NAME
        self.threshold = threshold
        if llm is None:
            llm = resolve("llm", llm_spec or default_llm_spec())
        self.llm = llm

    def critique(self, artifact: Artifact, brief_text: str, spec: SceneSpec | None) -> Verdict:
        if artifact.kind == "video":
            return self._critique_clip(artifact, brief_text, spec)
        if artifact.kind != "image":
            return self._failed(f"{NAME} judges images and clips; {artifact.path.name} is a {artifact.kind}")
        words, findings, readings = self._read(artifact, spec)
        if isinstance(words, Verdict):
            return words  # the OCR failed: no approval
        from agent.critics.seams import check_artifact
        seams = check_artifact(artifact)  # None unless the artifact records regions an edit painted
        questions = image_questions(spec, brief_text, {i for i, r in words.items() if r.status != "unchecked"},
                                    edited=seams is not None)
        prompt = load_prompt("critique", brief=brief_text, threshold=self.threshold,
                             questions=_listing(questions), model_notes=model_notes(artifact))
        verdict = self._ask(prompt, [artifact.path], questions)
        if verdict.error:
            return verdict
        reqs = [words.get(r.id) if r.id in words and words[r.id].status != "unchecked" else r
                for r in self._checklist(spec, brief_text, questions, verdict, edited=seams is not None)]
        if seams is not None:
            reqs = [_with_seams(r, seams) if r.id == "whole" else r for r in reqs]
            findings = findings + _seam_findings(seams)
        from agent.critics.ocr import seen
        return verdict.model_copy(update={
            "requirements": reqs, "findings": verdict.findings + findings, "detections": seen(readings),
            "issues": verdict.issues + [r.evidence for r in words.values() if r.status == "failed"]
            + [f.message for f in _seam_findings(seams)],
            "approved": verdict.approved and all(r.status == "passed" for r in reqs)})

    def _read(self, artifact: Artifact, spec: SceneSpec | None):
        """The checklist's text items decided by the OCR checker (exact), when the brief asks for words."""
        if spec is None or not spec.text:
            return {}, [], []
        from PIL import Image

        from agent.critics.ocr import judge_text, read
        try:
            with Image.open(artifact.path) as im:
                image = im.convert("RGB")
            readings = read(image)
        except Exception as e:  # the engine or the file: a critique that cannot read the words fails
            return self._failed(f"reading the words failed: {type(e).__name__}: {e}"), [], []
        judged, findings = judge_text(spec, readings, image.size, checker=f"{NAME}+critic:ocr")
        return judged, findings, readings

    def _critique_clip(self, artifact: Artifact, brief_text: str, spec: SceneSpec | None) -> Verdict:
        """Up to CLIP_FRAMES frames (first, last, evenly between) as PNG files in a temporary folder
        (removed after the call), sent in order, with the temporal questions."""
        try:
            picked, total, fps = read_sampled(artifact.path, CLIP_FRAMES,
                                              artifact.meta.get("fps") or artifact.request.fps)
        except Exception as e:  # not a clip, a truncated file, a codec PyAV lacks
            return self._failed(f"cannot read the clip {artifact.path.name}: {type(e).__name__}: {e}")
        if not picked:
            return self._failed(f"the clip {artifact.path.name} has no frames")
        questions = questions_for(spec, clip=True)
        when = ", ".join(f"frame {i}" + (f" ({i / fps:.2f} s)" if fps else "") for i, _ in picked)
        shown = f"{len(picked)} frames of a {total}-frame clip, in order: {when}"
        prompt = load_prompt("critique_video", brief=brief_text, threshold=self.threshold, frames=shown,
                             questions=_listing(questions), model_notes=model_notes(artifact))
        with tempfile.TemporaryDirectory(prefix="atelier-frames-") as tmp:
            paths = []
            for i, frame in picked:
                paths.append(Path(tmp) / f"frame-{i:04d}.png")
                frame.save(paths[-1])
            verdict = self._ask(prompt, paths, questions)
        checks = [FrameCheck(index=i, time=round(i / fps, 4) if fps else None) for i, _ in picked]
        return verdict.model_copy(update={"frames": checks})

    def _ask(self, prompt: str, images: list[Path], questions: list[Question]) -> Verdict:
        problem = ""
        for _ in range(2):  # a malformed reply gets one more chance
            try:
                reply = self.llm.structured("", prompt, CritiqueReply, images)
                return self._verdict(reply, questions)
            except MalformedOutput as e:
                problem = str(e)
            except AtelierError as e:  # service down, key refused, unreadable image: asking again won't help
                return self._failed(f"the critique failed: {e}")
        return self._failed(f"the critic's reply was malformed twice: {problem}")

    def _verdict(self, reply: CritiqueReply, questions: list[Question]) -> Verdict:
        answers: dict[int, Answer] = {}
        for a in reply.answers:
            answers.setdefault(a.id, a)
        unanswered = [q.id for q in questions if q.id not in answers]
        if unanswered:
            raise MalformedOutput(self.llm.name, f"no answer to question(s) {', '.join(map(str, unanswered))}")
        findings = []
        for q in questions:
            a = answers[q.id]
            if a.answer != q.expected:
                seen = f" (saw: {a.observed})" if a.observed else ""
                findings.append(Finding(kind=q.kind, message=q.failure + seen, object=q.object,
                                        requirement=q.requirement))
        scores = {c: float(getattr(reply.scores, c)) for c in CRITERIA}
        if questions:  # on the rubric's 1-10 scale, so Verdict.score's mean stays comparable
            scores["constraints"] = round(10.0 * (len(questions) - len(findings)) / len(questions), 2)
        low = [c for c in CRITERIA if scores[c] < self.threshold]
        issues = [f.message for f in findings] + [i.strip() for i in reply.issues if i.strip()]
        if low and not issues:  # a low score must come with something to fix
            issues.append(f"{', '.join(low)} scored below {self.threshold}")
        return Verdict(critic=NAME, approved=not findings and not low, scores=scores, issues=issues,
                       findings=findings)

    def _checklist(self, spec, brief: str, questions: list[Question], verdict: Verdict, edited: bool = False):
        """Each checklist item passed or failed by its question's answer (the observation as evidence)."""
        from agent.core.requirements import checklist

        answered = {q.requirement: q for q in questions}
        failed = {f.requirement: f.message for f in verdict.findings if f.requirement}
        out = []
        for req in checklist(spec, brief, edited):
            q = answered.get(req.id)
            if q is None:
                out.append(req.judged("unchecked", "no question decides it", None, NAME))
            elif req.id in failed:
                out.append(req.judged("failed", failed[req.id], None, f"{NAME}@{self.llm.name}"))
            else:
                out.append(req.judged("passed", f"answered {q.expected}: {q.text}", None, f"{NAME}@{self.llm.name}"))
        return out

    def _failed(self, error: str) -> Verdict:
        return Verdict(critic=NAME, approved=False, error=error, issues=[error])


def _seam_findings(seams) -> list[Finding]:
    from agent.critics.seams import SeamReport
    if not isinstance(seams, SeamReport):
        return []
    return [Finding(kind="artifact", message=seam.message(), box=seam.box) for seam in seams.seams]


def _with_seams(req, seams):
    """The `whole` item with the seam check's result: passed only when the VLM saw no artefact and
    no border of an edited region jumps; failed with the seams; unchecked when the seams could not
    be measured (never a pass on the VLM's word alone)."""
    from agent.critics.seams import SeamReport

    checker = f"{req.checker}+seams" if req.checker else "seams"
    if not isinstance(seams, SeamReport):  # the reason it could not be checked
        if req.status == "failed":
            return req.judged("failed", f"{req.evidence}; seams not measured: {seams}", req.box, checker)
        return req.judged("unchecked", f"seams not measured: {seams}", None, checker)
    if seams.seams:
        evidence = "; ".join(seam.message() for seam in seams.seams)
        if req.status == "failed":
            evidence = f"{req.evidence}; {evidence}"
        return req.judged("failed", evidence, seams.seams[0].box, checker)
    measured = f"no seam along the {seams.measured} border segments of the edited regions"
    if req.status == "passed":
        return req.judged("passed", f"{req.evidence}; {measured}", None, checker)
    return req.judged(req.status, f"{req.evidence}; {measured}", req.box, checker)
