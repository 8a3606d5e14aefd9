"""The held-out text category of `atelier bench`: its briefs (data, truth written by hand and equal to
what the parser reads), and its judge, apart from the loop's critic, on crafted pictures: the right
words in place, a misspelling, an extra word, words in the wrong place, a ring the OCR takes for an
"O", and a wrong count of shapes under right words."""
from __future__ import annotations

import pytest
from PIL import Image

from agent.core.spec_parser import parse_spec
from agent.core.typeset import named_box, typeset
from agent.surfaces import bench
from agent.surfaces.bench_text import judge_words, text_prompts
from local_models.shapes.world import Obj, Scene, render

pytest.importorskip("rapidocr_onnxruntime")


def test_the_text_briefs_and_their_truth():
    items = bench.suite(categories=["text"])
    assert len(items) == len(text_prompts()) == 24
    assert sorted(it.index for it in items) == list(range(340, 364))  # after the 300 and the 40 backgrounds
    dev = {"SALE", "OPEN", "HELLO", "GO"}  # the words the path was developed on are not in the suite
    for it in items:
        parsed = parse_spec(it.prompt)
        assert [(t.text, t.placement) for t in it.spec.text] == [(t.text, t.placement) for t in parsed.text]
        assert [(o.cls, o.color, o.count) for o in it.spec.include] == \
            [(o.cls, o.color, o.count) for o in parsed.include]
        assert it.spec.background == parsed.background
        assert not {w for t in it.spec.text for w in t.text.split()} & dev
    assert "text" in [it.category for it in bench.suite(limit=len(bench.CATEGORIES))]
    with pytest.raises(ValueError, match="unknown category 'txt'"):
        bench.suite(categories=["txt"])


def picture(tmp_path, objects, *words, background="beige", name="p.png"):
    image = render(Scene(background, [Obj(*o) for o in objects], None, ""), size=256)
    for text, where in words:
        image, _ = typeset(image, text, named_box(where, 256, 256))
    image.save(tmp_path / name)
    return tmp_path / name


STAR_ON_TOP = [("star", "yellow", (24, 12, 40, 28))]  # canvas units
BRIEF = "a yellow star above the word JAZZ on a beige background"


@pytest.mark.parametrize("objects, words, kinds", [
    (STAR_ON_TOP, [("JAZZ", "bottom")], []),
    (STAR_ON_TOP, [("JAZ", "bottom")], ["text"]),
    (STAR_ON_TOP, [("JAZZ", "bottom"), ("NOW", "right")], ["text"]),
    ([("star", "yellow", (24, 36, 40, 52))], [("JAZZ", "top")], ["text-place"]),
    (STAR_ON_TOP + [("star", "yellow", (4, 4, 16, 16))], [("JAZZ", "bottom")], ["count"]),
    # the star asked is not there: what is wrong is the shapes, not where the words sit
    ([("circle", "yellow", (24, 12, 40, 28))], [("JAZZ", "bottom")], ["count", "extra"]),
])
def test_the_judge_on_crafted_pictures(tmp_path, objects, words, kinds):
    right, found, reasons = judge_words(picture(tmp_path, objects, *words), parse_spec(BRIEF))
    assert (right, found) == (not kinds, kinds), reasons


def test_a_ring_is_no_letter(tmp_path):
    path = picture(tmp_path, [("ring", "purple", (36, 8, 52, 24))], ("SOLD", "bottom"), background="lavender")
    assert judge_words(path, parse_spec("a purple ring with 'SOLD' written below it")) == (True, [], [])


def test_the_judge_reads_with_its_own_engine(tmp_path):
    from agent.critics import ocr
    from agent.surfaces import bench_text
    judge_words(picture(tmp_path, STAR_ON_TOP, ("JAZZ", "bottom")), parse_spec(BRIEF))
    assert bench_text._engine() is not ocr.engine()


# measured at 7c7b621 (seeds 0 + 100 i, budget 4): the words exact on 24 of 24, 21 of 24 right in all;
# 20 since layouts are drawn box by box at 10 steps (91a775d; the misses are shapes: a pentagonal star,
# a dented square, a faint star); 23 at 527b1d1 (shapes kept from the canvas edge and from the words'
# band, a circle read as "O" no longer a word; the miss: a faint white star on lavender)
WORDS_EXACT, RIGHT = 24, 23


@pytest.mark.slow  # the whole text category through `atelier run`'s loop: 2-4 minutes on 2 busy cores
def test_the_text_category_does_not_drop(tmp_path):
    """What `atelier bench --category text --strategies agent_default` measures, judged apart from the
    critic: every delivered picture carries exactly the asked words (set before the budget runs out,
    shapes right or not), and no fewer are right in all (words, shapes, background) than when measured."""
    rows = bench.run_bench(bench.suite(categories=["text"]), strategies=["agent_default"], budget=4,
                           out=tmp_path, seed=0)
    wrong_words = [(r.prompt, r.final) for r in rows if {"text", "text-cut"} & set(r.final)]
    assert len(rows) - len(wrong_words) >= WORDS_EXACT, wrong_words
    assert sum(r.correct for r in rows) >= RIGHT, [(r.prompt, r.final) for r in rows if not r.correct]


def test_typeset_letters_are_words_not_shapes(tmp_path):
    """The bench's MENU brief, typeset by the product's own typesetter under a white square: the letters
    are read as the words and painted out, not taken for blobs; a shape not asked for is still one."""
    brief = parse_spec("a white square above the word MENU on a gray background")
    square = [("square", "white", (40, 18, 58, 36))]
    path = picture(tmp_path, square, ("MENU", "bottom"), background="gray")
    assert judge_words(path, brief) == (True, [], [])
    path = picture(tmp_path, square + [("circle", "white", (6, 6, 18, 18))], ("MENU", "bottom"), background="gray")
    assert judge_words(path, brief)[1] == ["extra"]


@pytest.mark.parametrize("bottom", [44, 47, 50])  # canvas px; MENU's letters start at 48.75
def test_a_square_just_above_typeset_words_is_not_pinched(tmp_path, bottom):
    """The words are painted out before the shapes are judged: a square right above them, even one whose
    bottom the words' padded box reaches, keeps its straight sides (not pinched, cut or a mark)."""
    brief = parse_spec("a white square above the word MENU on a gray background")
    path = picture(tmp_path, [("square", "white", (23, bottom - 18, 41, bottom))], ("MENU", "bottom"), background="gray")
    assert judge_words(path, brief) == (True, [], [])


def test_a_pinched_square_above_typeset_words_is_still_malformed(tmp_path):
    """Painting the words out hides no fault of the shape above them: a square dented between flared
    corners, drawn right above MENU, is malformed."""
    from PIL import ImageDraw
    image = render(Scene("gray", [], None, ""), size=256)
    ImageDraw.Draw(image).polygon([(92, 104), (128, 116), (164, 104), (154, 140), (164, 176), (128, 166),
                                   (92, 176), (102, 140)], fill=(250, 250, 250))
    image, _ = typeset(image, "MENU", named_box("bottom", 256, 256))
    image.save(tmp_path / "pinched.png")
    brief = parse_spec("a white square above the word MENU on a gray background")
    assert judge_words(tmp_path / "pinched.png", brief)[1] == ["malformed"]
