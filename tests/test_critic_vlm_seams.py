"""critic:vlm on edited pictures: the artifact records the regions an edit painted, the seam check
measures their borders, and the checklist's `whole` item passes only when the VLM saw no artefact and
no border jumps; a seam fails it with its border and region, whatever the VLM says; a border that
cannot be measured leaves it unchecked (never approved)."""
from __future__ import annotations

import pytest
from PIL import Image

from agent.core.types import Artifact, GenerationRequest
from agent.critics.seams_bench import case
from tests.test_critic_vlm import BRIEF, SPEC, critic_with, reply

CLEAN_EYE = ("yes", "yes", "yes", "no")  # the VLM: both objects, the relation, no artefact seen


def edited(tmp_path, edit: str, seed: int = 3, **meta) -> Artifact:
    image, regions, blur = case("photo", edit, seed)
    path = tmp_path / f"{edit}.png"
    image.save(path)
    record = {"task": "inpaint", "edit_regions": [list(r) for r in regions], "mask_blur": blur,
              "edit_mask_exact": True, **meta}
    return Artifact(path=path, sha256=Artifact.digest(path), request=GenerationRequest(prompt=BRIEF), meta=record)


def whole(verdict):
    (item,) = [r for r in verdict.requirements if r.id == "whole"]
    return item


def test_a_clean_edit_passes_on_both_the_eye_and_the_seams(tmp_path):
    critic, _ = critic_with(reply(answers=CLEAN_EYE))
    verdict = critic.critique(edited(tmp_path, "clean"), BRIEF, SPEC)
    assert verdict.approved and verdict.findings == []
    item = whole(verdict)
    assert item.status == "passed" and item.checker.endswith("+seams")
    assert "no seam along the" in item.evidence and "border segments of the edited regions" in item.evidence


def test_a_seam_fails_the_whole_picture_though_the_vlm_saw_none(tmp_path):
    art = edited(tmp_path, "offset-40")
    critic, _ = critic_with(reply(answers=CLEAN_EYE))
    verdict = critic.critique(art, BRIEF, SPEC)
    assert not verdict.approved and verdict.error is None
    item = whole(verdict)
    assert item.status == "failed" and item.box is not None
    assert "a seam along the" in item.evidence and "edge of the edited region at [" in item.evidence
    seams = [f for f in verdict.findings if f.kind == "artifact"]
    assert seams and all(f.box is not None for f in seams)
    assert any(f"[{','.join(map(str, r))}]" in seams[0].message for r in art.meta["edit_regions"])
    assert seams[0].message in verdict.issues
    assert [r.status for r in verdict.requirements if r.id != "whole"] == ["passed"] * 3


def test_the_vlm_seeing_an_artefact_fails_a_clean_edit_too(tmp_path):
    critic, _ = critic_with(reply(answers=("yes", "yes", "yes", "yes")))
    verdict = critic.critique(edited(tmp_path, "clean"), BRIEF, SPEC)
    assert not verdict.approved and whole(verdict).status == "failed" and "saw 4" in whole(verdict).evidence


def test_a_border_that_cannot_be_measured_is_never_a_pass(tmp_path):
    art = edited(tmp_path, "clean")
    art = art.model_copy(update={"meta": {**art.meta, "edit_regions": [[100, 100, 104, 104]]}})
    critic, _ = critic_with(reply(answers=CLEAN_EYE))
    verdict = critic.critique(art, BRIEF, SPEC)
    assert not verdict.approved and whole(verdict).status == "unchecked"
    assert "seams not measured: none of the" in whole(verdict).evidence
    brushed = art.model_copy(update={"meta": {**art.meta, "edit_regions": [[40, 40, 120, 120]],
                                              "edit_mask_exact": False}})
    brushed.request.mask = tmp_path / "gone.png"
    critic, _ = critic_with(reply(answers=CLEAN_EYE))
    item = whole(critic.critique(brushed, BRIEF, SPEC))
    assert item.status == "unchecked" and "brushed mask" in item.evidence


def test_an_edit_of_the_whole_picture_has_no_border_to_seam(tmp_path):
    art = edited(tmp_path, "clean")
    w, h = Image.open(art.path).size
    art = art.model_copy(update={"meta": {**art.meta, "edit_regions": [[0, 0, w, h]]}})
    critic, _ = critic_with(reply(answers=CLEAN_EYE))
    verdict = critic.critique(art, BRIEF, SPEC)
    assert verdict.approved and whole(verdict).status == "passed"


def test_a_brushed_mask_is_measured_along_its_own_border(tmp_path):
    import numpy as np
    from PIL import Image

    art = edited(tmp_path, "offset-40")
    (x0, y0, x1, y1), *_ = art.meta["edit_regions"]
    mask = np.zeros((256, 256), np.uint8)
    mask[y0:y1, x0:x1] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    art = art.model_copy(update={"meta": {**art.meta, "edit_regions": [[x0, y0, x1, y1]], "edit_mask_exact": False},
                                 "request": art.request.model_copy(update={"mask": tmp_path / "mask.png"})})
    critic, _ = critic_with(reply(answers=CLEAN_EYE))
    assert whole(critic.critique(art, BRIEF, SPEC)).status == "failed"


@pytest.mark.parametrize("edit, status", [("clean", "passed"), ("offset-40", "failed")])
def test_an_edited_free_form_brief_is_asked_about_artefacts(tmp_path, edit, status):
    critic, llm = critic_with(reply(answers=("yes", "no")))
    verdict = critic.critique(edited(tmp_path, edit), "a moody sunset", None)
    assert [r.id for r in verdict.requirements] == ["free:0", "whole"]
    assert "2. Does the image show a visible artefact" in llm.calls[0].prompt
    assert whole(verdict).status == status and verdict.approved == (status == "passed")


def test_an_unedited_picture_has_no_seam_check(tmp_path):
    art = edited(tmp_path, "offset-40")
    art = art.model_copy(update={"meta": {"task": "text2img"}})
    critic, llm = critic_with(reply(answers=("yes",)))
    verdict = critic.critique(art, "a moody sunset", None)
    assert [r.id for r in verdict.requirements] == ["free:0"] and verdict.approved
