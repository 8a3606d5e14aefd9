"""The judge's tests of a shape's form (local_models/shapes/judge.py).

Shapes the world never draws but the model sometimes does (DECOYS): a blob one of these redraws
clearly better than any world kind is malformed. The outline test: a blob's outline traced along
rays from the centre of its fitted box, against the outline of the world's shape redrawn in that
box. A soft edge moves neither (the 0.5 coverage crossing of a blurred straight edge stays where it
was); a pinched side, a lump, a tulip triangle's curved sides or a bean move it by a pixel or more.
Corners are left out: blur rounds them."""
from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

RAYS = 72
STEP = 0.1  # pixels between samples along a ray
CORNER_DEG = 12  # rays this near a corner's direction are not compared
DECOYS = ("oval", "pentagon", "hexagon", "hexagon_flat", "diamond", "triangle_down")
# a blob a pentagon redraws best is still a star when its outline shows five points this clearly (star_points:
# the model's small stars labelled right 0.065-0.08 on the ten labelled sets, its pentagon blobs 0.025-0.063)
STAR_POINTS = 0.065


def draw_decoy(draw: ImageDraw.ImageDraw, kind: str, box) -> None:
    """`kind` filled (255) in `box` on an "L" image, drawn as world.draw_shape draws its kinds."""
    x0, y0, x1, y1 = box
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    if kind == "oval":
        draw.ellipse((x0, y0, x1, y1), fill=255)
    elif kind == "triangle_down":
        draw.polygon([(x0, y0), (x1, y0), (cx, y1)], fill=255)
    else:
        sides, turn = {"pentagon": (5, -90), "hexagon": (6, -90), "hexagon_flat": (6, 0), "diamond": (4, -90)}[kind]
        draw.polygon([(cx + rx * math.cos(math.radians(turn + k * 360 / sides)),
                       cy + ry * math.sin(math.radians(turn + k * 360 / sides))) for k in range(sides)], fill=255)


def _sample(alpha: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear coverage at pixel coordinates (a pixel's centre is at +0.5), 0 outside the canvas."""
    h, w = alpha.shape
    pad = np.pad(alpha, 1)
    fx, fy = xs - 0.5 + 1, ys - 0.5 + 1
    x0, y0 = np.clip(np.floor(fx).astype(int), 0, w), np.clip(np.floor(fy).astype(int), 0, h)
    tx, ty = np.clip(fx - x0, 0, 1), np.clip(fy - y0, 0, 1)
    return (pad[y0, x0] * (1 - tx) * (1 - ty) + pad[y0, x0 + 1] * tx * (1 - ty)
            + pad[y0 + 1, x0] * (1 - tx) * ty + pad[y0 + 1, x0 + 1] * tx * ty)


def radii(alpha: np.ndarray, centre, reach: float) -> np.ndarray:
    """Per ray, the outermost distance from `centre` where coverage falls through 0.5."""
    angles = np.arange(RAYS) * 2 * math.pi / RAYS
    r = np.arange(0, reach, STEP)
    xs = centre[0] + np.cos(angles)[:, None] * r[None, :]
    ys = centre[1] + np.sin(angles)[:, None] * r[None, :]
    inside = _sample(alpha, xs, ys) >= 0.5
    last = np.where(inside.any(1), inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1), 0)
    return last * STEP


def corners(kind: str, box) -> list[tuple[float, float]]:
    """Where the world's `kind` drawn in `box` has corners (none for round kinds)."""
    x0, y0, x1, y1 = box
    cx = (x0 + x1) / 2
    if kind == "square":
        m = 0.06 * (x1 - x0)
        return [(x0 + m, y0 + m), (x1 - m, y0 + m), (x0 + m, y1 - m), (x1 - m, y1 - m)]
    if kind == "triangle":
        return [(x0, y1), (x1, y1), (cx, y0)]
    return []


def deviation(kind: str, alpha: np.ndarray, drawn: np.ndarray, box) -> float:
    """The largest gap (pixels, averaged over 3 neighbouring rays) between the blob's outline and the
    redrawn shape's, away from corners; 0 for stars, whose thin points the model always softens."""
    if kind == "star":
        return 0.0
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    reach = max(box[2] - box[0], box[3] - box[1]) * 0.75 + 3
    gap = radii(alpha, centre, reach) - radii(drawn, centre, reach)
    keep = np.ones(RAYS, dtype=bool)
    angles = np.degrees(np.arange(RAYS) * 2 * math.pi / RAYS)
    for px, py in corners(kind, box):
        a = math.degrees(math.atan2(py - centre[1], px - centre[0])) % 360
        keep &= np.abs((angles - a + 180) % 360 - 180) > CORNER_DEG
    smooth = (np.roll(gap, 1) + gap + np.roll(gap, -1)) / 3
    return float(np.abs(smooth[keep]).max()) if keep.any() else 0.0


def pinch(alpha: np.ndarray, drawn: np.ndarray, box) -> float:
    """How far (px) the middle of a square's side sits inside its flanks, on the worst side: the
    model's commonest malformed square is pinched, its sides dented in between flared corners."""
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    reach = max(box[2] - box[0], box[3] - box[1]) * 0.75 + 3
    gap = radii(alpha, centre, reach) - radii(drawn, centre, reach)
    angles = np.degrees(np.arange(RAYS) * 2 * math.pi / RAYS)
    worst = 0.0
    for normal in (0, 90, 180, 270):
        off = np.abs((angles - normal + 180) % 360 - 180)
        worst = max(worst, float(gap[(off >= 20) & (off <= 32)].mean() - gap[off <= 10].mean()))
    return worst


def star_points(alpha: np.ndarray) -> float:
    """How clearly the blob has five points: the 5-fold harmonic of its outline's radius (the 0.5 coverage
    crossing, traced from its coverage centroid) over the mean radius. The world's crisp star: 0.14; a soft
    12 px one 0.05-0.07; a pentagon 0.04 crisp, less soft (its corners are shallow points)."""
    ys, xs = np.nonzero(alpha > 0.02)
    w = alpha[ys, xs]
    centre = (float(((xs + 0.5) * w).sum() / w.sum()), float(((ys + 0.5) * w).sum() / w.sum()))
    reach = max(xs.max() - xs.min(), ys.max() - ys.min()) + 3.0
    spectrum = np.abs(np.fft.rfft(radii(alpha, centre, reach)))
    return float(spectrum[5] / max(spectrum[0], 1e-9))


def star_pointed(alpha: np.ndarray) -> bool:
    """Does the blob show a star's five points (STAR_POINTS), however soft?"""
    return star_points(alpha) >= STAR_POINTS
