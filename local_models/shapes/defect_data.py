"""Synthetic training pictures for the learned defect check (`defects.py`): the world's scenes
rendered twice, clean and with the flaws the embedded model makes, so every flawed pixel is known.

The flaws are the ones people labelled wrong in the approval sets (issue 22), drawn here from the
world's own geometry, never taken from a labelled set: dented or bulging sides, lumpy or polygonal
circles, ovals, rounded squares, stars missing a point, triangles with bent sides, rings with a
pinhole, two-tone fills, faint boxes of a slightly other background, streaks, specks and smudges.
Both versions go through the same blur, halo, colour drift and noise, so what the network learns is
the flaw, not the look of the model. The target is every pixel where the two renders differ.
"""
from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from local_models.shapes import world

SS = 4                    # supersampling of the 64 px canvas
SIZE = world.CANVAS
TARGET_LEVEL = 3.0        # RGB distance between the two renders that makes a pixel flawed
SHAPE_FLAWS = ("dent", "bulge", "polygon", "oval", "rounded", "armless", "bent", "pinhole", "two_tone")
MARK_FLAWS = ("box", "streak", "speck", "smudge")


def _jitter(rgb, rng: random.Random, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.randint(-amount, amount), 0, 255)) for c in rgb)


def _big_box(box) -> tuple[float, float, float, float]:
    return tuple(v * SS for v in box)


def _draw(draw: ImageDraw.ImageDraw, kind: str, box, fill, bg, flaw: str | None, rng: random.Random,
          other: tuple[int, int, int]) -> None:
    """One shape, well formed (`flaw` None) or with a shape flaw."""
    x0, y0, x1, y1 = _big_box(box)
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if flaw == "polygon" and kind in ("circle", "ring"):
        n, rot = rng.choice((5, 6, 7)), rng.uniform(0, math.pi)
        draw.polygon([(cx + w / 2 * math.cos(rot + 2 * math.pi * k / n), cy + h / 2 * math.sin(rot + 2 * math.pi * k / n))
                      for k in range(n)], fill=fill)
        if kind == "ring":
            m = 0.27 * w
            draw.ellipse((x0 + m, y0 + m, x1 - m, y1 - m), fill=bg)
        return
    if flaw == "oval" and kind in ("circle", "ring", "square"):
        squash = rng.uniform(0.14, 0.3) * (w if rng.random() < 0.5 else -h)
        box2 = (x0 + squash / 2, y0, x1 - squash / 2, y1) if squash > 0 else (x0, y0 - squash / 2, x1, y1 + squash / 2)
        world.draw_shape(draw, kind, tuple(v / SS for v in box2), fill, bg, SS)
        return
    if flaw == "rounded" and kind == "square":
        m = 0.06 * w
        draw.rounded_rectangle((x0 + m, y0 + m, x1 - m, y1 - m), radius=rng.uniform(0.22, 0.45) * w, fill=fill)
        return
    if flaw == "armless" and kind == "star":
        r = w / 2 / math.cos(math.radians(18))
        r = min(r, h / (1 + math.cos(math.radians(36))))
        top = y0 + (h - r * (1 + math.cos(math.radians(36)))) / 2
        pts = world._star(cx, top + r, r, 0.42 * r)
        k = 2 * rng.randrange(5)
        px, py = pts[k]
        sx, sy = cx, top + r
        shrink = rng.uniform(0.35, 0.6)
        pts[k] = (sx + (px - sx) * shrink, sy + (py - sy) * shrink)
        draw.polygon(pts, fill=fill)
        return
    if flaw == "bent" and kind == "triangle":
        pull = rng.uniform(0.12, 0.3)  # how far each side's middle moves towards the centre
        a, b, c = (x0, y1), (x1, y1), (cx, y0)
        gx, gy = (x0 + x1 + cx) / 3, (2 * y1 + y0) / 3
        mids = []
        for p, q in ((a, b), (b, c), (c, a)):
            mx, my = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
            mids.append((mx + (gx - mx) * pull, my + (gy - my) * pull))
        draw.polygon([a, mids[0], b, mids[1], c, mids[2]], fill=fill)
        return
    if flaw == "pinhole" and kind == "ring":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
        m = rng.uniform(0.38, 0.44) * w
        draw.ellipse((x0 + m, y0 + m, x1 - m, y1 - m), fill=bg)
        return
    world.draw_shape(draw, kind, box, fill, bg, SS)
    if flaw in ("dent", "bulge"):
        # a notch of background bitten out of one side, or a lump of the shape's colour on it
        side = rng.randrange(4)
        along, depth = rng.uniform(0.25, 0.75), rng.uniform(1.0, 2.6) * SS
        span = rng.uniform(0.2, 0.45) * w
        edge = {0: (x0 + along * w, y0 + 0.06 * h), 1: (x1 - 0.06 * w, y0 + along * h),
                2: (x0 + along * w, y1 - 0.06 * h), 3: (x0 + 0.06 * w, y0 + along * h)}[side]
        ex, ey = edge
        horizontal = side in (0, 2)
        ell = (ex - span / 2, ey - depth, ex + span / 2, ey + depth) if horizontal else \
              (ex - depth, ey - span / 2, ex + depth, ey + span / 2)
        draw.ellipse(ell, fill=bg if flaw == "dent" else fill)
    elif flaw == "two_tone":
        part = Image.new("L", (SIZE * SS, SIZE * SS), 0)
        pd = ImageDraw.Draw(part)
        if rng.random() < 0.5:
            pd.rectangle((x0, y0 + rng.uniform(0.3, 0.7) * h, x1, y1), fill=255)
        else:
            pd.rectangle((x0 + rng.uniform(0.3, 0.7) * w, y0, x1, y1), fill=255)
        return part  # the caller paints `other` through this mask, inside the shape
    return None


def _mark(im: Image.Image, rng: random.Random, bg, flaw: str, objects) -> None:
    """A flaw that is not a shape: painted onto the canvas before (box) or after the shapes."""
    draw = ImageDraw.Draw(im)
    big = SIZE * SS
    if flaw == "box":
        if objects and rng.random() < 0.7:
            o = rng.choice(objects)
            pad = [rng.uniform(1, 6) * SS for _ in range(4)]
            x0, y0, x1, y1 = _big_box(o.box)
            rect = (x0 - pad[0], y0 - pad[1], x1 + pad[2], y1 + pad[3])
        else:
            x0, y0 = rng.uniform(0, 0.7) * big, rng.uniform(0, 0.7) * big
            rect = (x0, y0, x0 + rng.uniform(8, 28) * SS, y0 + rng.uniform(8, 28) * SS)
        if rng.random() < 0.4:
            other = world.BACKGROUNDS[rng.choice([b for b in world.BACKGROUNDS if world.BACKGROUNDS[b] != tuple(bg)])]
            a = rng.uniform(0.15, 1.0)
            colour = tuple(int(round(c * (1 - a) + d * a)) for c, d in zip(bg, other))
        else:
            delta = rng.choice((-1, 1)) * rng.uniform(3, 16)
            tint = np.array([rng.uniform(0.6, 1.0) for _ in range(3)])
            colour = tuple(int(np.clip(c + delta * t, 0, 255)) for c, t in zip(bg, tint))
        draw.rectangle(rect, fill=colour)
    elif flaw == "streak":
        x, y = rng.uniform(0, big), rng.uniform(0, big)
        ang, length = rng.uniform(0, math.pi), rng.uniform(5, 16) * SS
        delta = rng.choice((-1, 1)) * rng.uniform(12, 45)
        colour = _jitter(tuple(int(np.clip(c + delta, 0, 255)) for c in bg), rng, 8)
        draw.line((x, y, x + length * math.cos(ang), y + length * math.sin(ang)), fill=colour,
                  width=int(rng.uniform(0.8, 2.0) * SS))
    elif flaw == "speck":
        x, y, r = rng.uniform(2, SIZE - 2) * SS, rng.uniform(2, SIZE - 2) * SS, rng.uniform(0.7, 1.8) * SS
        if objects and rng.random() < 0.6:
            # the model's specks sit mostly just outside a shape's edge or in a ring's hole
            o = rng.choice(objects)
            x0, y0, x1, y1 = _big_box(o.box)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            if o.kind == "ring" and rng.random() < 0.5:
                x, y = cx + rng.uniform(-0.1, 0.1) * (x1 - x0), cy + rng.uniform(-0.1, 0.1) * (y1 - y0)
            else:
                ang, out = rng.uniform(0, 2 * math.pi), rng.uniform(1.5, 3.5) * SS
                x = cx + math.cos(ang) * ((x1 - x0) / 2 + out)
                y = cy + math.sin(ang) * ((y1 - y0) / 2 + out)
        a = rng.uniform(0.45, 1.0)  # some specks are pale: the colour only partly over the background
        colour = tuple(int(c * a + b * (1 - a)) for c, b in zip(world.COLORS[rng.choice(list(world.COLORS))], bg))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    elif flaw == "smudge":
        if objects:
            o = rng.choice(objects)
            x0, y0, x1, y1 = _big_box(o.box)
            x, y = rng.uniform(x0, x1), rng.choice((y0, y1, rng.uniform(y0, y1)))
        else:
            x, y = rng.uniform(0, big), rng.uniform(0, big)
        layer = Image.new("RGB", im.size, world.COLORS[rng.choice(list(world.COLORS))])
        alpha = Image.new("L", im.size, 0)
        r = rng.uniform(2, 5) * SS
        ImageDraw.Draw(alpha).ellipse((x - r, y - r * 0.6, x + r, y + r * 0.6), fill=int(rng.uniform(0.25, 0.6) * 255))
        alpha = alpha.filter(ImageFilter.GaussianBlur(r / 2))
        im.paste(layer, (0, 0), alpha)


def _render(scene: world.Scene, colours, bg, flaws: dict, rng_seed: int, marks: list[str]) -> np.ndarray:
    rng = random.Random(rng_seed)  # the same random choices for the clean and the flawed render
    big = SIZE * SS
    im = Image.new("RGB", (big, big), bg)
    before = [m for m in marks if m == "box"]
    after = [m for m in marks if m != "box"]
    for m in before:
        _mark(im, rng, bg, m, scene.objects)
    draw = ImageDraw.Draw(im)
    for i, o in enumerate(scene.objects):
        flaw = flaws.get(i)
        other = world.COLORS[rng.choice([c for c in world.COLORS if c != o.color])]
        part = _draw(draw, o.kind, o.box, colours[i], bg, flaw, rng, other)
        if part is not None:
            shape = Image.new("L", im.size, 0)
            world.draw_shape(ImageDraw.Draw(shape), o.kind, o.box, 255, 0, SS)
            mix = rng.uniform(0.45, 1.0)
            tone = tuple(int(c * (1 - mix) + d * mix) for c, d in zip(colours[i], other))
            mask = Image.fromarray((np.asarray(part) & np.asarray(shape)).astype(np.uint8))
            im.paste(Image.new("RGB", im.size, tone), (0, 0), mask)
            draw = ImageDraw.Draw(im)
    for m in after:
        _mark(im, rng, bg, m, scene.objects)
    return np.asarray(im.resize((SIZE, SIZE), Image.Resampling.BOX)).astype(np.float32)


def _degrade(px: np.ndarray, look: dict) -> np.ndarray:
    """The embedded model's look: soft edges, a halo, slight noise (the same for both renders)."""
    from scipy import ndimage
    soft = ndimage.gaussian_filter(px, sigma=(look["blur"], look["blur"], 0))
    halo = soft + look["halo"] * (soft - ndimage.gaussian_filter(soft, sigma=(look["halo_r"], look["halo_r"], 0)))
    return halo + look["noise"]


def sample(rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """One training picture (64x64x3 float, 0-255) and its flaw map (64x64 bool)."""
    scene = world.sample_scene(rng)
    bg = _jitter(world.BACKGROUNDS[scene.background], rng, 3)
    colours = [_jitter(world.COLORS[o.color], rng, 18) for o in scene.objects]
    flaws: dict[int, str] = {}
    marks: list[str] = []
    if rng.random() < 0.7:
        for _ in range(rng.choice((1, 1, 1, 2))):
            if scene.objects and rng.random() < 0.55:
                i = rng.randrange(len(scene.objects))
                kind = scene.objects[i].kind
                fits = {"circle": ("polygon", "oval", "bulge", "dent", "two_tone"),
                        "square": ("dent", "bulge", "rounded", "oval", "two_tone"),
                        "triangle": ("bent", "dent", "bulge", "two_tone"),
                        "star": ("armless", "bulge", "two_tone"),
                        "ring": ("polygon", "oval", "pinhole", "bulge", "dent", "two_tone")}[kind]
                flaws[i] = rng.choice(fits)
            else:
                marks.append(rng.choice(MARK_FLAWS))
    seed = rng.randrange(1 << 30)
    look = {"blur": rng.uniform(0.25, 0.9), "halo": rng.uniform(0.0, 0.7), "halo_r": rng.uniform(1.0, 2.0),
            "noise": np.random.default_rng(seed).normal(0, rng.uniform(0.0, 1.5), (SIZE, SIZE, 3)).astype(np.float32)}
    clean = _render(scene, colours, bg, {}, seed, [])
    flawed = _render(scene, colours, bg, flaws, seed, marks) if (flaws or marks) else clean
    target = np.linalg.norm(flawed - clean, axis=-1) > TARGET_LEVEL
    picture = np.clip(_degrade(flawed, look), 0, 255).round()
    return picture, target


def batch(rng: random.Random, n: int) -> tuple[np.ndarray, np.ndarray]:
    pictures, targets = zip(*(sample(rng) for _ in range(n)))
    return np.stack(pictures), np.stack(targets)
