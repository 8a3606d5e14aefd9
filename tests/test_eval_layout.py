"""The layout path's evaluation (local_models/shapes/eval_layout.py): real compositions by the shipped
inpainting model, each judged by judge:shapes; the tuning split never holds a held-out combination."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("diffusers")

from local_models.shapes import eval_layout, world  # noqa: E402
from local_models.shapes.backend import INPAINT_WEIGHTS  # noqa: E402

pytestmark = pytest.mark.skipif(not (INPAINT_WEIGHTS / "model_index.json").is_file(), reason="no shipped weights")


def test_val_prompts_are_training_scenes_of_every_category():
    items = eval_layout.val_prompts(12)
    assert {c for c, _, _ in items} == set(world.CATEGORIES)
    assert all(not world.is_heldout(spec, None, None) for _, _, spec in items)


def test_layout_path_images_are_judged_and_saved(tmp_path):
    items = eval_layout.spread(world.heldout_prompts(), 3)
    out = eval_layout.evaluate(items, None, seeds=1, save=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert out["images"] == len(rows) == 3 and out["right"] == sum(r["right"] for r in rows)
    for r in rows:
        assert (tmp_path / "images").exists() and r["path"].endswith(".png")
        assert r["right"] or r["reasons"]  # a wrong picture says why
