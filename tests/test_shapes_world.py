"""The shapes world: vocabulary, reproducible sampling and rendering, captions, the held-out split."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np

from agent.core.types import SceneSpec
from local_models.shapes import world


def test_vocabulary_sizes():
    assert len(world.SHAPES) >= 5 and len(world.COLORS) >= 8 and len(world.BACKGROUNDS) >= 2
    assert set(world.RELATIONS) == {"left of", "right of", "above", "below"}
    # colours far apart from each other and from every background
    cols = list(world.COLORS.values()) + list(world.BACKGROUNDS.values())
    d = min(np.linalg.norm(np.subtract(a, b)) for i, a in enumerate(cols) for b in cols[i + 1:])
    assert d > 60


def test_sampling_and_rendering_are_reproducible():
    for seed in range(20):
        a = world.sample_scene(random.Random(seed))
        b = world.sample_scene(random.Random(seed))
        assert a.caption == b.caption and a.spec == b.spec
        assert world.render(a).tobytes() == world.render(b).tobytes()
        assert world.render(a).size == (64, 64) and world.render(a, 128).size == (128, 128)


def test_scene_matches_its_spec():
    for seed in range(300):
        s = world.sample_scene(random.Random(seed))
        counts = Counter((o.kind, o.color) for o in s.objects)
        for obj in s.spec.include:
            n = sum(v for (k, c), v in counts.items() if k == obj.cls and (obj.color in (None, c)))
            assert n >= obj.count, (s.caption, s.objects)
            if obj.position:
                rel, j = obj.position
                a = [o for o in s.objects if o.kind == obj.cls]
                b = [o for o in s.objects if o.kind == s.spec.include[j].cls]
                assert all(world.relation_holds(rel, x.box, y.box) for x in a for y in b), s.caption
        for ex in s.spec.exclude:
            assert sum(1 for o in s.objects if o.kind == ex.cls) < ex.count
        assert len(s.objects) <= world.MAX_COUNT
        for o in s.objects:  # inside the canvas, not touching
            assert 0 <= o.box[0] < o.box[2] <= 64 and 0 <= o.box[1] < o.box[3] <= 64


def test_captions_vary_and_include_genevals_phrasing():
    caps = {world.sample_scene(random.Random(s)).caption for s in range(2000)}
    assert any(c.startswith("a photo of two ") for c in caps)
    assert any(" below " in c for c in caps) and any(" and " in c for c in caps)
    assert any(not c.startswith("a photo of") for c in caps)
    spec = SceneSpec.model_validate({"include": [{"class": "square", "count": 1, "color": "green"},
                                                 {"class": "star", "count": 1, "color": "blue",
                                                  "position": ["below", 0]}]})
    assert world.canonical_prompt(spec) == "a photo of a blue star below a green square"
    two = SceneSpec.model_validate({"include": [{"class": "circle", "count": 2, "color": "red"}]})
    assert world.canonical_prompt(two) == "a photo of two red circles"


def test_heldout_split_is_fixed_and_never_sampled_for_training():
    items = world.heldout_prompts()
    assert len(items) >= 300 and items == world.heldout_prompts()
    cats = Counter(c for c, _, _ in items)
    assert set(cats) == set(world.CATEGORIES) and min(cats.values()) >= 30
    assert len({p for _, p, _ in items}) == len(items)
    for cat, prompt, spec in items:
        assert world.vocabulary_gaps(prompt) == []
    heldout_prompts = {p for _, p, _ in items}
    for seed in range(3000):
        s = world.sample_scene(random.Random(seed))
        assert s.caption not in heldout_prompts
        size = next((w for w in world.tokenize_words(s.caption)
                     if w in sum(world.SIZE_WORDS.values(), [])), None)
        bg = next((b for b in world.BACKGROUNDS if f"{b} background" in s.caption), None)
        assert not world.is_heldout(s.spec, bg, size)


def test_vocabulary_gaps():
    assert world.vocabulary_gaps("a photo of two red circles left of a blue star") == []
    assert world.vocabulary_gaps("a photo of a giraffe under a teal moon") == ["giraffe", "teal", "moon"]
    spec = SceneSpec.model_validate({"include": [{"class": "dog", "count": 1, "color": "red"}]})
    assert world.vocabulary_gaps(spec) == ["dog"]


def test_counting_prompts_are_in_vocabulary():
    from agent.core.spec_parser import parse_spec
    from local_models.shapes.world import vocabulary_gaps
    assert vocabulary_gaps(parse_spec("a photo of four red rings")) == []  # its exclude is "not five"
    assert vocabulary_gaps(parse_spec("six red rings")) == ["6"]
