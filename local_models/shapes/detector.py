"""`critic:detector`: finds the shapes in an image (kind, color, box) and checks a SceneSpec exactly.

Detection, on the image scaled to the world's 64x64 canvas:
1. background = median colour of the border; foreground = pixels far from it;
2. every foreground pixel takes the nearest named colour; pixels far from all of them
   (antialiased edges) are left out; each colour's connected regions are objects;
3. the kind is the one whose ideal outline, drawn into the region's box, overlaps it best (IoU);
   a region with a hole is a ring.

Checking follows GenEval's rules (include: at least `count` of the class in that colour; exclude: fewer
than `count`; position: GenEval's relative-position rule, `world.relation_holds`), and says what is
wrong and where, in image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from agent.core.types import Artifact, Finding, ObjectSpec, SceneSpec, Verdict
from local_models.shapes import world

NAME = "critic:detector"
_PALETTE_NAMES = list(world.COLORS)
_PALETTE = np.array([world.COLORS[c] for c in _PALETTE_NAMES], dtype=np.float32)
FG_DIST = 45.0       # a pixel this far (RGB) from the background is foreground
CORE_DIST = 75.0     # ... and this close to a named colour is part of an object of that colour
MIN_AREA = 14        # regions smaller than this (canvas pixels) are noise


@dataclass
class Detection:
    kind: str
    color: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the pixels of the image given to detect()
    area: int = 0
    score: float = 1.0              # how clean the region is (1: solid, exactly one colour)

    def describe(self) -> str:
        return f"{self.color} {self.kind}"


def _features(mask: np.ndarray) -> dict[str, float]:
    ys, xs = np.nonzero(mask)
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    area = float(mask.sum())
    filled = ndimage.binary_fill_holes(mask)
    hole = (filled.sum() - area) / max(filled.sum(), 1)
    pts = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)])
    try:
        hull = ConvexHull(pts).volume
    except QhullError:
        hull = float(h * w)
    return {"fill": float(filled.sum()) / (h * w), "hole": float(hole),
            "solidity": float(filled.sum()) / max(hull, 1.0), "aspect": w / h}


@lru_cache(maxsize=None)
def _outline(kind: str) -> Image.Image:
    """The ideal shape of `kind`, drawn large and cropped to its own tight box."""
    from PIL import ImageDraw
    im = Image.new("L", (256, 256), 0)
    world.draw_shape(ImageDraw.Draw(im), kind, (0, 0, 64, 64), 255, 0, 4)
    return im.crop(im.getbbox())


@lru_cache(maxsize=4096)
def _template(kind: str, w: int, h: int) -> np.ndarray:
    """The ideal mask of `kind` stretched over a w x h box."""
    return np.asarray(_outline(kind).resize((w, h), Image.Resampling.BOX)) >= 128


def classify(mask: np.ndarray, f: dict[str, float] | None = None) -> str:
    """The kind whose ideal shape, drawn into the region's box, overlaps the region best (IoU); a
    region with a hole can only be a ring, one without can't."""
    f = f or _features(mask)
    ys, xs = np.nonzero(mask)
    region = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = region.shape
    holed = f["hole"] > 0.06
    target = region if holed else ndimage.binary_fill_holes(region)
    best, best_iou = "circle", -1.0
    for kind in world.SHAPES:
        if (kind == "ring") != holed:
            continue
        t = _template(kind, w, h)
        iou = (t & target).sum() / max((t | target).sum(), 1)
        if iou > best_iou:
            best, best_iou = kind, iou
    return best


def detect(image: Image.Image | str | Path) -> list[Detection]:
    """Every shape in the image, largest first; boxes in the given image's pixels."""
    if not isinstance(image, Image.Image):
        image = Image.open(image)
    image = image.convert("RGB")
    W, H = image.size
    n = world.CANVAS
    small = image if (W, H) == (n, n) else image.resize((n, n), Image.Resampling.BOX)
    px = np.asarray(small, dtype=np.float32)
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    bg = np.median(border, axis=0)
    fg = np.linalg.norm(px - bg, axis=-1) > FG_DIST
    if (np.linalg.norm(border - bg, axis=-1) > FG_DIST).mean() > 0.2 or fg.mean() > 0.6:
        return []  # no plain background: not a picture of the shapes world (noise, a photo, ...)
    dists = np.linalg.norm(px[:, :, None, :] - _PALETTE[None, None], axis=-1)  # H, W, colours
    nearest = dists.argmin(-1)
    core = fg & (dists.min(-1) < CORE_DIST)
    out: list[Detection] = []
    for ci, cname in enumerate(_PALETTE_NAMES):
        # a colour's objects: its core pixels, grown over the foreground edge pixels next to them
        mask = core & (nearest == ci)
        if mask.sum() < MIN_AREA:
            continue
        labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
        for k in range(1, count + 1):
            region = labels == k
            area = int(region.sum())
            if area < MIN_AREA:
                continue
            feats = _features(region)
            if feats["hole"] > 0.6 or feats["fill"] < 0.3:  # a thin halo round another object, or a scrawl
                continue
            ys, xs = np.nonzero(region)
            x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            box = (int(round(x0 * W / n)), int(round(y0 * H / n)), int(round(x1 * W / n)),
                   int(round(y1 * H / n)))
            purity = float((dists[region, ci] < 40).mean())
            out.append(Detection(classify(region, feats), cname, box, area, purity))
    out.sort(key=lambda d: -d.area)
    return out


# ---- checking a spec --------------------------------------------------------------------------
def _name(obj: ObjectSpec, count: int | None = None) -> str:
    """'3 red circles', '1 star' (digits, as a planner reads them best)."""
    n = obj.count if count is None else count
    noun = obj.cls if n == 1 else world.plural(obj.cls)
    return " ".join(x for x in (str(n), obj.color, noun) if x)


def _the(obj: ObjectSpec) -> str:
    noun = obj.cls if obj.count == 1 else world.plural(obj.cls)
    return "the " + " ".join(x for x in (obj.color, noun) if x)


def _union(boxes) -> tuple[int, int, int, int] | None:
    boxes = list(boxes)
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


def check(spec: SceneSpec, detections: list[Detection], size: tuple[int, int] | None = None,
          critic: str = NAME) -> Verdict:
    """Check `spec` constraint by constraint against `detections` (GenEval's rules)."""
    issues: list[str] = []
    findings: list[Finding] = []
    met = total = 0
    matched: list[list[Detection]] = []
    for i, obj in enumerate(spec.include):
        total += 1
        same_kind = [d for d in detections if d.kind == obj.cls]
        ok_objs = [d for d in same_kind if obj.color is None or d.color == obj.color]
        matched.append(ok_objs[: obj.count])
        if len(ok_objs) >= obj.count:
            met += 1
            continue
        wrong = [d for d in same_kind if d not in ok_objs]
        if obj.color and wrong:
            there = (f"the {obj.cls} there is {wrong[0].color}" if len(wrong) == 1 else
                     f"the {world.plural(obj.cls)} there are {', '.join(d.color for d in wrong)}")
            msg = f"expected {_name(obj)}, found {len(ok_objs)} ({there})"
            findings.append(Finding(kind="color", message=msg, object=i, box=_union(d.box for d in wrong)))
        else:
            msg = f"expected {_name(obj)}, found {len(ok_objs)}"
            findings.append(Finding(kind="missing", message=msg, object=i,
                                    box=_union(d.box for d in ok_objs) if ok_objs else None))
        issues.append(msg)
    for i, obj in enumerate(spec.include):
        if not obj.position:
            continue
        total += 1
        rel, j = obj.position
        target = spec.include[j]
        if not matched[i] or not matched[j]:
            who = _the(obj) if not matched[i] else _the(target)
            msg = (f"cannot check that {_the(obj)} {'is' if obj.count == 1 else 'are'} {rel} {_the(target)}: "
                   f"{who} {'is' if who.split()[-1] in world.SHAPES else 'are'} missing")
            issues.append(msg)
            findings.append(Finding(kind="position", message=msg, object=i))
            continue
        bad = [a for a in matched[i] if not all(world.relation_holds(rel, a.box, b.box) for b in matched[j])]
        if bad:
            msg = f"{_the(obj)} {'is' if obj.count == 1 else 'are'} not {rel} {_the(target)}"
            issues.append(msg)
            findings.append(Finding(kind="position", message=msg, object=i, box=_union(a.box for a in bad)))
        else:
            met += 1
    for ex in spec.exclude:
        total += 1
        found = [d for d in detections if d.kind == ex.cls and (ex.color is None or d.color == ex.color)]
        if len(found) < ex.count:
            met += 1
            continue
        inc = next((k for k, o in enumerate(spec.include) if o.cls == ex.cls
                    and (ex.color is None or o.color in (None, ex.color))), None)
        if inc is not None:
            want = spec.include[inc]
            msg = f"expected {_name(want)}, found {len(found)}"
            surplus = sorted(found, key=lambda d: d.area)[: len(found) - want.count]
            findings.append(Finding(kind="extra", message=msg, object=inc, box=_union(d.box for d in surplus)))
        else:
            msg = f"found {_name(ex, len(found))}; there must be fewer than {ex.count}"
            findings.append(Finding(kind="excluded", message=msg, box=_union(d.box for d in found)))
        issues.append(msg)
    score = met / total if total else 1.0
    seen = [Finding(kind="seen", message=f"{d.color} {d.kind}", box=d.box) for d in detections]
    return Verdict(critic=critic, approved=not issues, scores={"constraints": round(score, 4)},
                   issues=issues, findings=findings, detections=seen)


def check_image(spec: SceneSpec, image: Image.Image | str | Path) -> Verdict:
    if not isinstance(image, Image.Image):
        image = Image.open(image)
    return check(spec, detect(image), image.size)


class DetectorCritic:
    """Exact checks of a SceneSpec on images of the shapes world."""

    name = NAME

    def __init__(self, arg: str | None = None):
        self.arg = arg

    def critique(self, artifact: Artifact, brief_text: str, spec: SceneSpec | None) -> Verdict:
        if spec is None:
            try:
                from agent.core.spec_parser import parse_spec
                spec = parse_spec(brief_text)
            except Exception as e:  # no parser, or it could not read the brief
                return Verdict(critic=self.name, approved=False,
                               error=f"the detector needs a scene spec and none could be derived "
                                     f"from the brief ({type(e).__name__}: {e})")
        if spec is None or not spec.include:
            return Verdict(critic=self.name, approved=False,
                           error="the brief names no shapes the detector can check")
        gaps = world.vocabulary_gaps(spec)
        if gaps:
            return Verdict(critic=self.name, approved=False,
                           error=f"the detector only knows the shapes world ({world.vocabulary_text()}); "
                                 f"it cannot check: {', '.join(gaps)}")
        try:
            with Image.open(artifact.path) as im:
                image = im.convert("RGB")
        except OSError as e:
            return Verdict(critic=self.name, approved=False, error=f"cannot read {artifact.path}: {e}")
        verdict = check(spec, detect(image), image.size, critic=self.name)
        return verdict
