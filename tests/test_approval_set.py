"""The approval set (tests/fixtures/approval_set/) is well formed: images made by the product's own
paths, labelled by eye before any verdict was seen. No critic threshold here: that is another test."""
from __future__ import annotations

from types import SimpleNamespace

from local_models.shapes import approval_set

FIELDS = {"file", "path", "brief", "seed", "right", "note"}


def test_the_set_is_big_balanced_and_complete():
    rows = approval_set.load()
    right = sum(r["right"] for r in rows)
    assert len(rows) >= 200
    assert right >= 60 and len(rows) - right >= 60
    assert len({r["file"] for r in rows}) == len(rows)
    for r in rows:
        assert FIELDS <= set(r), r
        assert isinstance(r["right"], bool) and isinstance(r["seed"], int) and r["brief"].strip(), r
        assert r["path"] in approval_set.PATHS, r
        assert (approval_set.SET_DIR / r["file"]).is_file(), r["file"]
        if r["path"].startswith("edit_"):
            assert r["source"]["path"] in ("txt2img", "layout"), r
    # every product path is there, and nothing on disk is left unlabelled
    assert {r["path"] for r in rows} == set(approval_set.PATHS)
    assert {p.name for p in approval_set.SET_DIR.glob("*.png")} == {r["file"] for r in rows}
    assert not approval_set.CANDIDATES.exists()


def test_the_images_are_small_pngs():
    from PIL import Image

    rows = approval_set.load()
    for r in rows[:: max(1, len(rows) // 25)]:
        with Image.open(approval_set.SET_DIR / r["file"]) as im:
            assert im.format == "PNG" and im.size == (64, 64)
    assert sum(p.stat().st_size for p in approval_set.SET_DIR.iterdir()) < 2_000_000


def test_the_readme_examples_and_backgrounds_are_in_it():
    briefs = {r["brief"] for r in approval_set.load()}
    assert set(approval_set.README_BRIEFS) <= briefs
    for bg in ("gray", "beige", "lavender"):
        assert any(f"on a {bg} background" in b for b in briefs), bg
    assert any(b.startswith("at least two") for b in briefs)


def test_score_reports_a_critic_against_the_labels(monkeypatch):
    """--score's bookkeeping, with a stand-in critic that approves every image whose name is even."""
    from agent.core import registry

    class Stub:
        def critique(self, artifact, brief_text, spec):
            assert spec is None and brief_text
            return SimpleNamespace(approved=int(artifact.path.stem) % 2 == 0, issues=["stub"])

    monkeypatch.setattr(registry, "resolve", lambda kind, spec: Stub())
    rows = approval_set.load()[:12]
    res = approval_set.score("critic:stub", rows)
    assert [r["approved"] for r in res["rows"]] == [int(r["file"][:3]) % 2 == 0 for r in rows]
    text = approval_set.report(res)
    wrong = [r for r in res["rows"] if not r["right"]]
    assert f"wrong approved: {sum(r['approved'] for r in wrong)} of {len(wrong)}" in text
    assert "false approvals:" in text and "false rejections:" in text
