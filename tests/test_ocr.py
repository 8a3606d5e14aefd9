"""critic:ocr on crafted pictures: the right word, a missing letter, an extra word, words cut by the
edge, placements; critic:ocr alone and merged with another checker; critic:vlm with a text item on a
scripted reply (OCR decides the spelling, the VLM only where the words sit among the objects)."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from agent.core.requirements import Requirement
from agent.core.spec_parser import parse_spec
from agent.core.typeset import _font, named_box, typeset
from agent.core.types import Artifact, GenerationRequest, SceneSpec, Verdict
from agent.critics import load_critic
from agent.critics.composite import combine
from agent.critics.ocr import OCRCritic, judge_text, normalise, read
from agent.critics.vlm import VLMCritic
from agent.llm.scripted import ScriptedLLM

BEIGE = (214, 200, 164)
pytest.importorskip("rapidocr_onnxruntime")


def picture(*texts, size=256, bg=BEIGE) -> Image.Image:
    image = Image.new("RGB", (size, size), bg)
    for text, where in texts:
        image, _ = typeset(image, text, named_box(where, size, size))
    return image


def judged(brief: str, image: Image.Image, object_boxes=None) -> dict[str, Requirement]:
    return judge_text(parse_spec(brief), read(image), image.size, object_boxes)[0]


def artifact_of(image: Image.Image, tmp_path, name="a.png") -> Artifact:
    path = tmp_path / name
    image.save(path)
    return Artifact(path=path, sha256=Artifact.digest(path), request=GenerationRequest(prompt="x"))


def test_the_match_rule():
    assert normalise("Bean There, Done That") == normalise("BEANTHERE DONE-THAT") == "beantheredonethat"
    assert normalise("SALE", case_sensitive=True) != normalise("Sale", case_sensitive=True)
    assert normalise("ﬁne") == "fine"  # NFKC: a ligature is its letters


def test_right_word_missing_letter_extra_word():
    right = judged("a sign that says 'SALE' at the bottom", picture(("SALE", "bottom")))
    assert right["text:0"].status == "passed" and "read 'SALE'" in right["text:0"].evidence
    assert right["text:only"].status == "passed"
    wrong = judged("a sign that says 'SALE'", picture(("SAL", "bottom")))
    assert wrong["text:0"].status == "failed" and "read 'SAL' at [" in wrong["text:0"].evidence
    extra = judged("a sign that says 'SALE'", picture(("SALE", "bottom"), ("NOW", "top")))
    assert extra["text:0"].status == "passed"
    assert extra["text:only"].status == "failed" and "'NOW'" in extra["text:only"].evidence
    glued = judged("a sign that says 'SALE'", picture(("SALE NOW", "bottom")))
    assert glued["text:0"].status == "passed" and glued["text:only"].status == "failed"


def test_words_cut_by_the_edge_and_placement():
    image = Image.new("RGB", (256, 256), BEIGE)
    ImageDraw.Draw(image).text((150, 100), "HELLO", font=_font("DejaVu Sans", "bold", 40), fill=(20, 20, 20))
    cut = judged("the word HELLO", image)["text:0"]
    assert cut.status == "failed"
    placed = judged("a sign that says 'SALE' at the top", picture(("SALE", "bottom")))["text:0"]
    assert placed.status == "failed" and "not at the top" in placed.evidence
    # relative to a shape: decided only when another checker says where the shape is
    brief = "a red circle above the word SALE"
    image = picture(("SALE", "bottom"))
    assert judged(brief, image)["text:0"].status == "unchecked"
    assert judged(brief, image, {0: [(100, 20, 160, 80)]})["text:0"].status == "passed"
    assert judged(brief, image, {0: [(100, 200, 160, 250)]})["text:0"].status == "failed"


def test_ocr_alone_judges_only_words_and_merges_with_others(tmp_path):
    brief = "a red circle above the word SALE"
    critic = load_critic("critic:ocr")
    assert isinstance(critic, OCRCritic)
    v = critic.critique(artifact_of(picture(("SALE", "bottom")), tmp_path), brief, None)
    status = {r.id: r.status for r in v.requirements}
    assert status == {"object:0": "unchecked", "text:0": "unchecked", "text:only": "passed", "whole": "unchecked"}
    assert not v.approved and any("SALE" in d.message for d in v.detections)
    # a checker that saw the circle passes its items and leaves the words unchecked: merged, approved
    shapes = Verdict(critic="critic:shapes", approved=False, issues=["could not check the words 'SALE' ...: x"],
                     requirements=[r.judged("passed", "saw it", (100, 20, 160, 80)) if r.kind != "text" else r
                                   for r in v.requirements])
    words = critic.critique(artifact_of(picture(("SALE", "bottom")), tmp_path), brief, None,
                            object_boxes={0: [(100, 20, 160, 80)]})
    merged = combine([shapes, words], "both")
    assert merged.approved and all(r.status == "passed" for r in merged.requirements)
    wrong = critic.critique(artifact_of(picture(("SALF", "bottom")), tmp_path, "b.png"), brief, None,
                            object_boxes={0: [(100, 20, 160, 80)]})
    assert not combine([shapes, wrong], "both").approved  # failed by any is failed
    none = critic.critique(artifact_of(picture(), tmp_path, "c.png"), "a red circle", None)
    assert not none.approved and all(r.status == "unchecked" for r in none.requirements)


def test_vlm_uses_ocr_for_the_words(tmp_path):
    brief = "a red circle above the word SALE"
    spec = parse_spec(brief)
    good = {"prompt_adherence": 9, "quality": 9, "composition": 9}

    def reply(n):  # yes to every question (object, the words' place, no artefact: "no")
        return {"scores": good, "answers": [{"id": i + 1, "answer": "no" if i == n - 1 else "yes"} for i in range(n)]}
    llm = ScriptedLLM([], structured=[reply(3)])
    v = VLMCritic(llm=llm).critique(artifact_of(picture(("SALE", "bottom")), tmp_path), brief, spec)
    reqs = {r.id: r for r in v.requirements}
    assert v.approved and reqs["text:only"].checker.endswith("critic:ocr")
    assert reqs["text:0"].status == "passed"  # spelling read by OCR, the place answered by the VLM
    # misspelt: the VLM's "yes" cannot pass it (the spelling is decided by OCR, no question asked)
    llm = ScriptedLLM([], structured=[reply(3)])
    v = VLMCritic(llm=llm).critique(artifact_of(picture(("SALF", "bottom")), tmp_path, "b.png"), brief, spec)
    reqs = {r.id: r for r in v.requirements}
    assert not v.approved and reqs["text:0"].status == "failed" and "SALF" in reqs["text:0"].evidence
    assert any("SALF" in i for i in v.issues)
    # a named placement OCR decides alone: only two questions (the object, artefacts)
    spec = SceneSpec.model_validate({"include": [{"class": "circle", "color": "red"}],
                                     "text": [{"text": "SALE", "placement": "bottom"}]})
    llm = ScriptedLLM([], structured=[reply(2)])
    v = VLMCritic(llm=llm).critique(artifact_of(picture(("SALE", "bottom")), tmp_path, "c.png"), brief, spec)
    assert v.approved and {r.id: r.status for r in v.requirements}["text:0"] == "passed"
