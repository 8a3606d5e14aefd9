"""The critic's speed-ups give the very values of the code they replaced (serve session, issue 28):
holes filled by one labelling pass, the hull on edge pixels only, the harmonics' cache."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

from local_models.shapes import detector, explain


def _masks(n=60, seed=3):
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = rng.integers(8, 90, 2)
        m = ndimage.binary_opening(rng.random((h, w)) < rng.uniform(0.3, 0.8))
        yy, xx = np.mgrid[:h, :w]
        ring = np.abs(np.hypot(yy - h / 2, xx - w / 2) - min(h, w) / 3) < 2  # a hole for sure
        yield m | ring if i % 2 else m


def test_fill_holes_equals_scipy_on_random_and_edge_cases():
    cases = list(_masks()) + [np.zeros((5, 5), bool), np.ones((5, 5), bool), np.eye(6, dtype=bool)]
    for m in cases:
        assert (detector.fill_holes(m) == ndimage.binary_fill_holes(m)).all()


def test_solidity_is_the_hull_of_every_pixel_corner():
    for m in _masks(30):
        filled = ndimage.binary_fill_holes(m)
        if filled.sum() < 3:
            continue
        ys, xs = np.nonzero(filled)
        corners = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)])
        whole = float(filled.sum()) / max(ConvexHull(corners).volume, 1.0)
        assert explain._solidity(m) == whole


def test_harmonics_cached_or_not_are_the_same_and_a_star_shows_five_points():
    yy, xx = np.mgrid[:160, :160]
    ang = np.arctan2(yy - 80, xx - 80)
    star = np.hypot(yy - 80, xx - 80) < 50 + 15 * np.cos(5 * ang)
    first = detector._harmonics(star)
    first[5] = -1.0  # a caller changing its copy does not change the cache
    detector._HARMONICS.clear()
    fresh, again = detector._harmonics(star), detector._harmonics(star)
    assert (fresh == again).all() and fresh[5] > 0.1 and fresh[5] == max(fresh[1:])
