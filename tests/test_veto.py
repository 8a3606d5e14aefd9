"""The learned veto on critic:detector's approvals (local_models/shapes/veto.py, issue 22): its loader, the
finding it adds, what the critic says without its weights, and that the bench's judge never uses it."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from agent.core.types import ObjectSpec, SceneSpec
from local_models.shapes import veto, veto_data, world
from local_models.shapes.scene_check import check_image


def picture(kind="circle", colour="red", box=(20, 20, 40, 40), background="beige", paint=None) -> Image.Image:
    """A clean world picture (drawn at 4x, box-averaged, blurred as generated ones are), `paint` on it first."""
    im = Image.new("RGB", (256, 256), world.BACKGROUNDS[background])
    draw = ImageDraw.Draw(im)
    world.draw_shape(draw, kind, box, world.COLORS[colour], world.BACKGROUNDS[background], 4)
    if paint:
        paint(draw)
    return im.resize((64, 64), Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(0.6))


def whole(v):
    return next(r for r in v.requirements if r.kind == "whole")


SPEC = SceneSpec(include=[ObjectSpec(cls="circle", color="red")], background="beige")


class Fixed:
    """A stand-in network that is always `p` sure."""

    def __init__(self, p):
        self.p = p

    def __call__(self, x):
        import torch
        return torch.full((x.shape[0],), float(np.log(self.p / (1 - self.p))))


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    monkeypatch.setattr(veto, "WEIGHTS_FILE", tmp_path / "absent" / "veto.safetensors")


def test_without_weights_the_check_is_absent_and_the_evidence_says_so(no_weights):
    assert veto.load() is None
    v = check_image(SPEC, picture())
    assert v.approved, v.issues
    assert "the learned check is absent" in whole(v).evidence
    with veto.switched_off():  # the verdict the CV measures against: the same
        assert check_image(SPEC, picture()).approved


def test_a_sure_veto_refuses_with_its_finding_and_a_doubtful_one_does_not(monkeypatch):
    monkeypatch.setattr(veto, "load", lambda weights=None: veto.VetoModel(Fixed(0.93), {"threshold": 0.8,
                                                                                         "inputs": ["picture"]}))
    v = check_image(SPEC, picture())
    assert not v.approved
    assert "the picture looks flawed to the learned check (p=0.93 >= 0.80)" in v.issues
    assert any(f.kind == "artifact" and "learned check" in f.message for f in v.findings)
    monkeypatch.setattr(veto, "load", lambda weights=None: veto.VetoModel(Fixed(0.3), {"threshold": 0.8,
                                                                                        "inputs": ["picture"]}))
    v = check_image(SPEC, picture())
    assert v.approved
    assert "the learned check sees no flaw (p=0.30 < 0.80)" in whole(v).evidence


def test_the_loader_reads_once_from_many_threads_and_rejects_foreign_weights(tmp_path):
    from local_models.shapes import train_veto
    import torch
    torch.manual_seed(0)
    train_veto.export(veto.build(), tmp_path / "w", {"widths": list(veto.WIDTHS), "inputs": list(veto.INPUTS),
                                                     "threshold": 0.5})
    got = []
    threads = [threading.Thread(target=lambda: got.append(veto.load(tmp_path / "w" / "veto.safetensors")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(m is got[0] for m in got) and got[0] is not None
    p = got[0].p_flawed(np.asarray(picture(), np.float32))
    assert 0.0 <= p <= 1.0
    (tmp_path / "w" / "config.json").write_text(json.dumps({"widths": [8, 8, 8, 8]}))
    with pytest.raises(ValueError, match="do not fit its network"):
        veto.read(tmp_path / "w" / "veto.safetensors")


def test_the_blind_set_is_never_read():
    with pytest.raises(ValueError, match="blind set"):
        veto_data.rows(veto_data.BLIND)
    assert veto_data.BLIND not in veto_data.SETS


def test_brief_mismatches_are_left_out_of_training_and_visible_flaws_kept():
    rows = [{"right": True, "note": "two red stars"}, {"right": False, "note": "two green squares (one asked)"},
            {"right": False, "note": "beige background, asked gray"},
            {"right": False, "note": "the red square is pinched into a cross-like shape"},
            {"right": False, "note": "star's lower point touches the triangle's tip"}]
    assert veto_data.training_targets(rows).tolist() == [0, -1, -1, 1, 1]


def test_the_judge_never_consults_the_veto(monkeypatch, tmp_path):
    from local_models.shapes.judge import judge

    def refuse(*_a, **_k):
        raise AssertionError("judge:shapes consulted the learned veto")
    monkeypatch.setattr(veto, "load", refuse)
    monkeypatch.setattr(veto, "opinion", refuse)
    png = tmp_path / "clean.png"
    picture().save(png)
    assert judge(png, SPEC).right


@pytest.mark.skipif(not veto.WEIGHTS_FILE.exists(), reason="the veto's weights are not shipped")
def test_the_shipped_veto_flags_a_patched_picture_and_passes_a_clean_one():
    model = veto.load()
    from local_models.shapes.detector import canvas_pixels, detect

    def p_of(im):
        return model.p_flawed(canvas_pixels(im), detect(im))
    lavender = world.BACKGROUNDS["lavender"]
    patched = picture(background="beige", paint=lambda d: d.rectangle([60, 60, 196, 196], fill=lavender) or
                      world.draw_shape(d, "circle", (20, 20, 40, 40), world.COLORS["red"], lavender, 4))
    assert p_of(patched) >= model.threshold
    assert p_of(picture()) < model.threshold
