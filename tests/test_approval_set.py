"""The approval sets are well formed: images made by the product's own paths, labelled by eye before
any verdict was seen. tests/fixtures/approval_set/ is the first set (now a development set: it was
looked at while tuning the critic); tests/fixtures/approval_holdout/ is the held-out set made the same
way with other seeds and briefs (--set approval_holdout --seed-base 50000): the figure reported.
No critic threshold here: that is another test."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from agent.surfaces import approval_set

FIELDS = {"file", "path", "brief", "seed", "right", "note"}
SETS = [approval_set.DEFAULT_SET, approval_set.HOLDOUT_SET, approval_set.SCORED_SET, approval_set.TUNED_SET,
        approval_set.READ_SET, approval_set.LAST_SET, approval_set.SIXTH_SET, approval_set.SEVENTH_SET,
        approval_set.EIGHTH_SET, approval_set.PREV_SET, approval_set.TENTH_SET, approval_set.ELEVENTH_SET,
        approval_set.TWELFTH_SET, approval_set.THIRTEENTH_SET, approval_set.FRESH_SET]


@pytest.mark.parametrize("name", SETS)
def test_the_set_is_big_balanced_and_complete(name):
    folder = approval_set.set_dir(name)
    rows = approval_set.load(name=name)
    right = sum(r["right"] for r in rows)
    assert len(rows) >= 200
    assert right >= 60 and len(rows) - right >= 60
    assert len({r["file"] for r in rows}) == len(rows)
    for r in rows:
        assert FIELDS <= set(r), r
        assert isinstance(r["right"], bool) and isinstance(r["seed"], int), r
        # a removal of the only object asks for the bare canvas: its brief is empty, its prompt says so
        assert r["brief"].strip() or (r["path"] == "edit_remove" and r["prompt"] == "empty background"), r
        assert r["path"] in approval_set.PATHS, r
        assert (folder / r["file"]).is_file(), r["file"]
        if r["path"].startswith("edit_"):
            assert r["source"]["path"] in ("txt2img", "layout"), r
            assert "mask_box" in r and len(r["mask_box"]) == 4, r
    # every product path is there, and nothing on disk is left unlabelled
    assert {r["path"] for r in rows} == set(approval_set.PATHS)
    assert {p.name for p in folder.glob("*.png")} == {r["file"] for r in rows}
    assert not approval_set.candidates_path(name).exists()
    assert (folder / "notes.txt").is_file()


@pytest.mark.parametrize("name", SETS)
def test_the_images_are_small_pngs(name):
    from PIL import Image

    folder = approval_set.set_dir(name)
    rows = approval_set.load(name=name)
    for r in rows[:: max(1, len(rows) // 25)]:
        with Image.open(folder / r["file"]) as im:
            assert im.format == "PNG" and im.size == (64, 64)
    assert sum(p.stat().st_size for p in folder.iterdir()) < 2_000_000


@pytest.mark.parametrize("name", SETS)
def test_the_readme_examples_and_backgrounds_are_in_it(name):
    briefs = {r["brief"] for r in approval_set.load(name=name)}
    assert set(approval_set.README_BRIEFS) <= briefs
    for bg in ("gray", "beige", "lavender"):
        assert any(f"on a {bg} background" in b for b in briefs), bg
    assert any(b.startswith("at least two") for b in briefs)


def test_the_holdout_is_made_the_same_way_with_other_seeds():
    """Same paths in about the same proportions as the first set, none of its seeds, mostly other briefs."""
    first = approval_set.load(name=approval_set.DEFAULT_SET)
    held = approval_set.load(name=approval_set.HOLDOUT_SET)
    assert not {(r["path"], r["seed"]) for r in first} & {(r["path"], r["seed"]) for r in held}
    assert min(r["seed"] for r in held) >= 50000
    for p in approval_set.PATHS:
        a = sum(r["path"] == p for r in first) / len(first)
        b = sum(r["path"] == p for r in held) / len(held)
        assert abs(a - b) < 0.06, (p, a, b)
    common = {r["brief"] for r in first} & {r["brief"] for r in held}
    assert len(common - set(approval_set.README_BRIEFS)) < len({r["brief"] for r in held}) / 4


def test_the_seed_base_shifts_the_briefs_but_not_the_first_sets():
    base = approval_set.brief_lists()
    assert [b.text() for b in base["txt2img"][:len(approval_set.README_BRIEFS)]] == approval_set.README_BRIEFS
    other = approval_set.brief_lists(50000)
    assert {k: len(v) for k, v in other.items()} == {k: len(v) for k, v in base.items()}
    for v in other.values():
        assert set(approval_set.README_BRIEFS) <= {b.text() for b in v}
    assert [b.text() for b in other["layout"]] != [b.text() for b in base["layout"]]
    assert approval_set.set_dir("approval_holdout") == approval_set.FIXTURES / "approval_holdout"
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            approval_set.set_dir(bad)


def test_score_reports_a_critic_against_the_labels(monkeypatch):
    """--score's bookkeeping, with a stand-in critic that approves every image whose name is even."""
    from agent.core import registry

    class Stub:
        def critique(self, artifact, brief_text, spec):
            assert spec is None and brief_text
            return SimpleNamespace(approved=int(artifact.path.stem) % 2 == 0, issues=["stub"])

    monkeypatch.setattr(registry, "resolve", lambda kind, spec: Stub())
    for name in SETS:
        rows = approval_set.load(name=name)[:12]
        res = approval_set.score("critic:stub", rows, name)
        assert [r["approved"] for r in res["rows"]] == [int(r["file"][:3]) % 2 == 0 for r in rows]
        text = approval_set.report(res)
        assert f"of {name}" in text.splitlines()[0]
        wrong = [r for r in res["rows"] if not r["right"]]
        assert f"wrong approved: {sum(r['approved'] for r in wrong)} of {len(wrong)}" in text
        assert "false approvals:" in text and "false rejections:" in text


def test_no_edit_is_planned_on_a_text_to_image_source_already_off_its_count(tmp_path):
    """"a red circle" drawn with an extra blob: removing "the only object" would leave an empty brief
    over a blob, a candidate labelled wrong that says nothing about the edit."""
    import random

    import numpy as np
    from PIL import Image

    from agent.surfaces.approval_set import Brief, Obj, _edit_plan
    px = np.full((64, 64, 3), 200, np.uint8)
    px[10:20, 10:20] = (220, 30, 30)
    png = tmp_path / "src.png"
    Image.fromarray(px).save(png)
    src = {"path": "txt2img", "brief_obj": Brief((Obj("circle", 1, "red"),)), "png": png}
    plan = _edit_plan(random.Random(0), "recolour", src)
    assert plan is not None and plan[0].objs[0].color != "red"  # one blob, one circle: an edit fits
    px[40:50, 40:50] = (220, 30, 30)
    Image.fromarray(px).save(png)
    assert all(_edit_plan(random.Random(s), op, src) is None for s in range(5) for op in ("remove", "recolour", "add"))
