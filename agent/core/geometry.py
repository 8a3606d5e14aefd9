"""Geometry the whole project agrees on: GenEval's relative-position rule between two boxes
(x0, y0, x1, y1), used by the detector critic and by the offline planner's edits."""
from __future__ import annotations

import math


def relation_holds(rel: str, box_a, box_b, threshold: float = 0.1) -> bool:
    """GenEval's rule: centre offset of A from B, shrunk by 10% of both boxes' sizes, must point
    mostly (cosine > 0.5) in the relation's direction. Image y grows downwards."""
    ca = ((box_a[0] + box_a[2]) / 2, (box_a[1] + box_a[3]) / 2)
    cb = ((box_b[0] + box_b[2]) / 2, (box_b[1] + box_b[3]) / 2)
    dims = (box_a[2] - box_a[0] + box_b[2] - box_b[0], box_a[3] - box_a[1] + box_b[3] - box_b[1])
    off = (ca[0] - cb[0], ca[1] - cb[1])
    norm = math.hypot(*off)
    if norm < 1e-6:
        return False
    rev = [max(abs(o) - threshold * d, 0.0) * (1 if o > 0 else -1) for o, d in zip(off, dims)]
    dx, dy = rev[0] / norm, rev[1] / norm
    return {"left of": dx < -0.5, "right of": dx > 0.5, "above": dy < -0.5, "below": dy > 0.5}[rel]
