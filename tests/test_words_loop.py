"""The loop with a model that writes, and misspells: a back end declaring it renders text draws the
shapes right and "SALF" for "SALE" with a real font. The offline director retries once with the words
in the prompt, then typesets the word on a plate over the misspelling; the final image reads "SALE"
(read again here, apart from the critic's call), the checklist's text items passed, and the record
says what was done."""
from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw

from agent.core import registry
from agent.core.artifacts import save_image
from agent.core.protocols import ModelInfo
from agent.core.typeset import _font
from agent.core.types import GenerationRequest
from local_models.shapes.world import Obj, Scene, render

pytest.importorskip("rapidocr_onnxruntime")
BRIEF = "a red circle above the word SALE"
PROMPTS: list[str] = []


class MisspellingWriter:
    """Draws the asked shapes exactly (the world's renderer) and always writes "SALF" under them."""

    def __init__(self, model: str = ""):
        self.info = ModelInfo(name="test:writer", sizes=[(256, 256)], default_steps=1, renders_text=True)

    def generate(self, request: GenerationRequest, out_dir):
        PROMPTS.append(request.prompt)
        made = []
        for i in range(request.n):
            image = render(Scene("beige", [Obj("circle", "red", (22 + i, 14, 38 + i, 30))], None, ""), size=256)
            ImageDraw.Draw(image).text((76, 196), "SALF", font=_font("DejaVu Serif", "bold", 40), fill=(30, 30, 30))
            made.append(save_image(image, out_dir, request.model_copy(update={"seed": request.seed + i, "n": 1}), index=i))
        return made

    def edit(self, request: GenerationRequest, out_dir):
        raise AssertionError("the words are typeset, not repainted")


def test_a_misspelling_model_gets_one_retry_then_the_words_typeset(tmp_path, capsys):
    from agent import Studio
    from agent.surfaces.bench_text import read_words

    PROMPTS.clear()
    with registry.override("image", "test", "tests.test_words_loop:MisspellingWriter"):
        result = Studio(llm="offline", image_model="test:writer", critic="critic:detector", runs_dir=tmp_path).run(
            BRIEF, seed=3)
    assert result.approved
    attempts = result.record.attempts
    assert [a.action for a in attempts] == ["generate", "generate", "edit"]
    assert len(PROMPTS) == 2 and all("'SALE'" in p for p in PROMPTS)  # the words were in the prompt, twice
    for a in attempts[:2]:  # both misspelt, and the critic said so
        status = {r.id: r.status for r in a.verdict.requirements}
        assert status["text:0"] == "failed" and status["object:0"] == "passed"
        assert "read 'SALF'" in next(r.evidence for r in a.verdict.requirements if r.id == "text:0")
    best = result.best
    assert best is attempts[2] and best.note.startswith("typeset 'SALE'")
    assert best.source in (0, 1)
    (layer,) = best.artifact.meta["typeset"]
    assert layer["text"] == "SALE" and layer["plate"] is True
    with Image.open(best.artifact.path) as im:  # nothing of SALF left, nothing else written
        assert [t for t, _, _ in read_words(im)] == ["SALE"]
    status = {r.id: r.status for r in best.verdict.requirements}
    assert status == {"object:0": "passed", "text:0": "passed", "text:only": "passed", "whole": "passed"}
    from agent.surfaces.cli import show  # what `atelier run` prints of how the best was made
    show(result.record.summary())
    printed = " ".join(capsys.readouterr().out.split())
    assert f"attempt {best.source} with the words set: 'SALE' (DejaVu Sans bold" in printed, printed
    assert "repainted" not in printed
    run = json.loads((tmp_path / result.run_id / "run.json").read_text())
    notes = [a["note"] for a in run["attempts"]]
    assert notes[2].startswith("typeset 'SALE' onto attempt")
    assert [a["typeset"] for a in run["attempts"]] == [None, None, "SALE"]  # the fact, apart from the note
    assert "on a plate" in run["attempts"][2]["artifact"]["request"]["instruction"]


class WrongShapes:
    """Cannot write, and never draws what is asked: always a blue square, by generation and by edit."""

    def __init__(self, model: str = ""):
        self.info = ModelInfo(name="test:wrong", sizes=[(256, 256)], default_steps=1, renders_text=False)

    def generate(self, request: GenerationRequest, out_dir):
        image = render(Scene("beige", [Obj("square", "blue", (22, 10, 40, 28))], None, ""), size=256)
        return [save_image(image, out_dir, request.model_copy(update={"n": 1}))]

    def edit(self, request: GenerationRequest, out_dir):
        return self.generate(request, out_dir)


@pytest.mark.parametrize("brief,budget,text_status,rounds", [
    ("a red circle and the word SALE at the top", {"max_iterations": 3}, "passed", 3),
    ("a red circle and the word SALE at the top", {"max_iterations": 8, "max_denoiser_steps": 3}, "passed", 4),
    # below a circle that is not there: where the word goes cannot be checked (no better by score than
    # the picture without it, and nothing found wrong with it): the picture with the word is delivered
    (BRIEF, {"max_iterations": 3}, "unchecked", 3)])
def test_a_run_that_ends_on_its_shapes_still_delivers_the_words_not_approved(tmp_path, brief, budget, text_status,
                                                                            rounds):
    """Whichever limit ends the run (rounds, denoising steps), every round goes to the shapes and the words
    are then set on the best attempt: a typeset runs no model, so it is allowed after the budget is spent
    (past the rounds it joins the last one). The delivered picture reads the asked word, the shapes' item
    stays failed, no approval, and the record counts no round and no step that did not happen."""
    from agent import Studio
    from agent.surfaces.bench_text import read_words

    with registry.override("image", "test", "tests.test_words_loop:WrongShapes"):
        result = Studio(llm="offline", image_model="test:wrong", critic="critic:detector", runs_dir=tmp_path).run(
            brief, seed=3, budget=budget)
    record = result.record
    assert not result.approved and record.status == "budget_spent"
    attempts = record.attempts
    assert [a.typeset for a in attempts] == [None, None, None, "SALE"]  # three shape rounds, then the words
    best = result.best
    assert best is attempts[-1] and best.note.startswith("typeset 'SALE'")
    with Image.open(best.artifact.path) as im:
        assert [t for t, _, _ in read_words(im)] == ["SALE"]
    status = {r.id: r.status for r in best.verdict.requirements}
    assert status["text:0"] == text_status and status["object:0"] == "failed"
    assert "not approved" in record.presentation
    # the accounting: each shape round one denoising step, the typeset none; no round past the budget
    assert [a.artifact.denoiser_steps() for a in attempts] == [1, 1, 1, 0]
    summary = record.summary()
    assert summary["iterations"] == record.iterations == rounds <= budget["max_iterations"]
    assert [a.iteration for a in attempts] == [1, 2, 3, rounds]
    if rounds == budget["max_iterations"]:  # the rounds ran out: the stop reason says what came after
        assert record.stop_reason == ("iteration budget spent (3); then the words typeset without a model "
                                      "(0 denoising steps) as attempt(s) 3"), record.stop_reason
        assert "after the rounds were spent" in best.note
    else:
        assert record.stop_reason == "compute budget spent (3 of 3 denoising steps)", record.stop_reason


@pytest.mark.parametrize("mode", ["agent", "loop"])
def test_a_run_of_one_round_still_gets_its_words(tmp_path, mode):
    """`--max-iterations 1`: the one round draws the shapes, the words are typeset after it, in it
    (the director's check before a step lets that typeset through, whichever way the run is driven)."""
    from agent import Studio

    with registry.override("image", "test", "tests.test_words_loop:WrongShapes"):
        result = Studio(llm="offline", image_model="test:wrong", critic="critic:detector", runs_dir=tmp_path,
                        mode=mode).run("a red circle and the word SALE at the top", seed=3, budget={"max_iterations": 1})
    record = result.record
    assert [a.typeset for a in record.attempts] == [None, "SALE"] and record.iterations == 1
    assert not result.approved and record.status == "budget_spent"
