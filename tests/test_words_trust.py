"""Where the words are is the OCR's reading, never the image's word for it: a crafted PNG whose
metadata claims a typeset box over a stray mark does not hide the mark from critic:detector; words
the brief did not ask for are a finding; a misspelling of the asked word fails that word (once)."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from agent.core.artifacts import read_metadata, save_image
from agent.core.typeset import named_box, typeset
from agent.core.types import GenerationRequest
from agent.critics import load_critic
from local_models.shapes.world import COLORS, Obj, Scene, render

pytest.importorskip("rapidocr_onnxruntime")
BRIEF = "a red circle above the word SALE on a beige background"
STRAY = (20, 120, 44, 144)  # image pixels: a blue blob left of the circle, nowhere near the words


def scene_image(*words: tuple[str, str], stray: bool = False) -> Image.Image:
    """A red circle on beige drawn by the world's own renderer at 256 px, words typeset where named."""
    scene = Scene("beige", [Obj("circle", "red", (24, 20, 40, 36))], None, "")  # canvas units (64)
    image = render(scene, size=256)
    if stray:
        ImageDraw.Draw(image).rectangle(STRAY, fill=COLORS["blue"])
    for text, where in words:
        image, _ = typeset(image, text, named_box(where, 256, 256))
    return image


def critique(image: Image.Image, tmp_path, meta: dict | None = None):
    artifact = save_image(image, tmp_path, GenerationRequest(prompt=BRIEF, seed=0), meta=meta or {})
    return artifact, load_critic("critic:detector").critique(artifact, BRIEF, None)


def status(verdict) -> dict[str, str]:
    return {r.id: r.status for r in verdict.requirements}


def test_the_words_read_by_ocr_are_left_to_it(tmp_path):
    """No metadata at all: the OCR says where the word is, its letters are not taken for shapes."""
    _, v = critique(scene_image(("SALE", "bottom")), tmp_path)
    assert v.approved, v.issues
    assert status(v) == {"object:0": "passed", "background": "passed", "text:0": "passed",
                         "text:only": "passed", "whole": "passed"}


def test_a_claimed_text_box_hides_no_mark(tmp_path):
    """The PNG claims a typeset layer whose box covers the stray blob: the critic does not believe it."""
    from agent.core.spec_parser import parse_spec
    from agent.critics.ocr import read, word_boxes
    from local_models.shapes.scene_check import check_image

    claim = {"typeset": [{"text": "SALE", "box": [0, 100, 60, 160]}]}
    image = scene_image(("SALE", "bottom"), stray=True)
    artifact, v = critique(image, tmp_path, claim)
    assert read_metadata(artifact.path)["meta"]["typeset"][0]["box"] == [0, 100, 60, 160]  # the claim is there
    # believed, the claim would hide the blob: every shape item passes
    believed = check_image(parse_spec(BRIEF), image, text_boxes=[(0, 100, 60, 160), *word_boxes(read(image), image.size)])
    assert all(r.status == "passed" for r in believed.requirements if r.kind != "text")
    assert not v.approved
    wrong = [r for r in v.requirements if r.status == "failed"]
    assert wrong and all(r.kind != "text" for r in wrong)  # the words are right; the blob is what fails
    assert any(f.box and f.box[0] < STRAY[2] and f.box[2] > STRAY[0] and f.box[1] < STRAY[3] and f.box[3] > STRAY[1]
               for f in v.findings if f.kind != "seen")  # a finding points at the blob


def test_unasked_words_are_a_finding(tmp_path):
    _, v = critique(scene_image(("SALE", "bottom"), ("NOW", "top")), tmp_path)
    assert not v.approved
    s = status(v)
    assert s["text:0"] == "passed" and s["text:only"] == "failed" and s["object:0"] == "passed"
    extra = [f for f in v.findings if f.kind == "extra"]
    assert len(extra) == 1 and "'NOW'" in extra[0].message and extra[0].box[3] < 128  # at the top
    assert any("words the brief does not ask for: 'NOW'" in i for i in v.issues)


def test_a_misspelling_fails_the_word_not_also_the_only_item(tmp_path):
    _, v = critique(scene_image(("SALF", "bottom")), tmp_path)
    s = status(v)
    assert s["text:0"] == "failed" and s["text:only"] == "passed" and s["object:0"] == "passed"
    (item,) = [r for r in v.requirements if r.id == "text:0"]
    assert "expected 'SALE', read 'SALF'" in item.evidence and item.box[1] > 180  # where the misspelling is


def test_detector_and_ocr_named_together_judge_as_one(tmp_path):
    artifact = save_image(scene_image(("SALE", "bottom"), ("NOW", "top")), tmp_path,
                          GenerationRequest(prompt=BRIEF, seed=0))
    v = load_critic("critic:detector+ocr").critique(artifact, BRIEF, None)
    assert not v.approved and status(v)["text:only"] == "failed" and status(v)["whole"] == "passed"
    assert len([f for f in v.findings if f.kind == "extra"]) == 1  # read twice, reported once


def test_a_circle_the_ocr_reads_as_o_is_a_circle(tmp_path):
    """RapidOCR reads the world's orange circle on lavender as "O": a short reading mostly covered by a
    shape the shape checker fits on the untouched picture is that shape, neither an unasked word nor
    pixels taken from the shape check (the circle was 'missing' and a planner added a second one)."""
    from agent.critics.ocr import Reading, letters_not_shapes, read
    from agent.core.spec_parser import parse_spec

    brief = "an orange circle with 'TAXI' written below it on a lavender background"
    image = render(Scene("lavender", [Obj("circle", "orange", (20, 10, 40, 30))], None, ""), size=256)
    assert [r.text for r in read(image)] == ["O"]  # the engine's misreading this guards against
    before = load_critic("critic:detector").critique(save_image(image, tmp_path, GenerationRequest(prompt=brief)),
                                                     brief, None)  # the shapes drawn, the words not yet set
    failed = {k for k, s in status(before).items() if s != "passed"}
    assert failed == {"text:0"} and [f.kind for f in before.findings] == ["missing"], before.issues
    assert before.findings[0].text == "TAXI"  # the words to set, not a circle to add
    image, _ = typeset(image, "TAXI", named_box("bottom", 256, 256))
    artifact = save_image(image, tmp_path, GenerationRequest(prompt=brief, seed=1))
    verdict = load_critic("critic:detector").critique(artifact, brief, None)
    assert verdict.approved and all(s == "passed" for s in status(verdict).values()), verdict.issues
    # an asked letter stays a word, and so does a reading no fitted shape covers
    o, spec = Reading("O", (80, 40, 170, 130), 0.6), parse_spec("a red ring and the word O at the top")
    assert letters_not_shapes([o], [(76, 36, 169, 131)], spec) == [o]
    assert letters_not_shapes([o], [(76, 36, 169, 131)], parse_spec(brief)) == []
    assert letters_not_shapes([o], [(0, 0, 60, 60)], parse_spec(brief)) == [o]
    # the engine's box wider than the shape (a white square on gray read as "口" on the text bench)
    square = Reading("口", (56, 23, 149, 112), 0.7)
    assert letters_not_shapes([square], [(64, 32, 132, 100)], parse_spec("a white square above the word MENU")) == []
