"""`critic:detector` on clips: the shapes found frame by frame, each object of the spec tracked, and
exactly what a motion brief asks checked (precision first: a wrong clip is never approved).

1. frames (agent/core/clips.py): a GIF (Pillow) or an MP4 (PyAV); at most `MAX_FRAMES` of them, the
   first, the last and evenly between (`read_sampled`); a clip of 8-16 frames is read whole;
2. `detect` in every frame; each spec object is tracked by kind and colour (each track takes the
   nearest such detection to where it was last seen);
3. checks, positions measured on the world's 64x64 canvas whatever the clip's size:
   - presence: each object exactly as many times as asked in every frame; nothing vanishes, nothing
     appears, nothing changes colour or kind, nothing that was not asked for is there;
   - motion (`ObjectSpec.motion`): from the first frame to the last a moving object goes the asked
     way (dominant axis), at least `MIN_TRAVEL` px, with little drift across and no step back; with
     `speed` "slow" or "fast" its travel is in that class (`motion.TRAVEL`, with a margin); a still
     object moves less than `STILL_PX`;
   - smoothness: no step between two frames over twice the object's usual step + 1.5 px (a jump);
   - position (`ObjectSpec.position`): in the first frame where both objects are;
   - start and end places (`ObjectSpec.start` / `end`): the object's centre in the first and the last
     frame (video_places.py; the verdict's `requirements` hold those items, passed or failed).
Approved only when every check passes; every problem is one short line in `issues` and a `Finding`
(kind "missing", "extra", "excluded", "color", "position", "motion", "continuity" or "other"); each
frame's detections and problems are in `Verdict.frames`.

Measured on clips of `motion` (tests/test_video_critic.py holds a sample of it): 500 of 500
ground-truth clips approved as frames or GIF; of 436 corrupted ones (reversed; an object painted out,
recoloured or reshaped in one or two frames; an object added for one frame; a still object moving
9 px) none approved, except a skip of 3 frames in slow motion (a hop of 2-3 px, within the boxes'
noise). H.264 at 64x64 keeps colour at 32x32, so a small shape about as light as the background
(green on gray, yellow on beige) misreads in some frames even with the colour upsampled along the
luma (`clips._rgb`): in an MP4 an object's kind is what most of its frames show (`LOSSY_KIND_SHARE`),
and 6 of 700 right 64x64 MP4 clips were still refused; of 200 written at 128x128 (frames upscaled
as local:shapes-video does for larger sizes), none. The model's own soft stars read as circles in a
frame or two at any size and format (16 clips of "a yellow star moving down" at 128x128 MP4: 9
misread so; 4 of them right by eye and refused for it): at every size such a frame is forgiven when the
outline matches the track's own (`_misread`), so those 4 are approved and a crisp redrawn shape is not.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path

from PIL import Image

from agent.core.captions import SPEED_WORDS, article, noun
from agent.core.clips import MAX_FRAMES, is_gif, read_sampled, sample_frames
from agent.core.geometry import relation_holds
from agent.core.types import Finding, FrameCheck, SceneSpec, Verdict
from local_models.shapes import world
from local_models.shapes.detector import NAME, Detection, _the, detect

MIN_TRAVEL = 8.0     # px of the 64 canvas: less than this is not moving
STILL_PX = 3.0       # a still object stays this close to where it started
DRIFT_PX = 4.0       # how far a moving object may stray across its direction
BACK_PX = 2.5        # how far a moving object may step back against its direction
JUMP_FACTOR, JUMP_PX = 2.0, 1.5  # a step over twice the usual step per frame (x frames apart) + 1.5 px: a jump
SPEED_BANDS = {"slow": (MIN_TRAVEL, 15.5), "fast": (25.0, float("inf"))}  # motion.TRAVEL: 9-13, 17-24, 28-33
AMBIGUOUS_SHARE = 1 / 3  # an object whose shape reads two ways in more of its frames than this is unsure
# H.264 (4:2:0: colour at half resolution) blurs a small shape's outline enough that the detector reads
# some frames of a 64x64 clip as another kind (a circle as a square, a triangle as a star): in a lossy
# clip an object of the asked colour, tracked by place, may read as another kind in this share of its
# frames at most. Its colour may never change.
LOSSY_KIND_SHARE = 1 / 3
# At any size and format the model's soft stars read as circles in a frame or two, right by eye: such a
# frame is the asked kind when its outline matches the track's own outline in the nearest frames that
# read right (IoU >= SAME_OUTLINE, as a star's frames match each other: 0.74-0.94 on 16 clips) and the
# two kinds' ideal outlines are far apart (IoU < DISTINCT_KINDS, 0.36-0.54 for star, triangle and
# circle: a crisp star redrawn as a circle matches its neighbours at 0.45; circle and square at 0.79, a
# ring and a disc or square at 0.63-0.8, cannot be told apart so and are never forgiven).
SAME_OUTLINE, DISTINCT_KINDS = 0.75, 0.6
DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1)}


# ---- tracking -------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Track:
    obj: int                                    # index into spec.include
    name: str                                   # "the red circle", "one of the red circles"
    seen: dict[int, Detection] = field(default_factory=dict)     # frame position -> it, as asked
    misread: set[int] = field(default_factory=set)                # positions it read as another kind (lossy)
    changed: dict[int, Detection] = field(default_factory=dict)  # positions it is there in another colour/kind

    def path(self) -> dict[int, Detection]:
        """Where it is, frame by frame, changed or not (for its motion)."""
        return dict(sorted({**self.changed, **self.seen}.items()))


def _centre(d: Detection, size: tuple[int, int]) -> tuple[float, float]:
    """The box's centre on the 64x64 canvas."""
    w, h = size
    return ((d.box[0] + d.box[2]) / 2 * world.CANVAS / w, (d.box[1] + d.box[3]) / 2 * world.CANVAS / h)


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


def _assign(tracks: list[_Track], cands: list[Detection], pos: int, size) -> list[Detection]:
    """Each track takes one candidate, nearest to where it was last seen (the best assignment for a
    few tracks, greedy beyond); tracks never seen take the rest left to right. Returns what is left."""
    left = sorted(cands, key=lambda d: (d.box[0], d.box[1]))
    placed = [t for t in tracks if t.seen]
    last = {id(t): _centre(t.seen[max(t.seen)], size) for t in placed}

    def cost(pairs) -> float:
        return sum(_dist(last[id(t)], _centre(d, size)) for t, d in pairs)

    if placed and left:
        if len(placed) * len(left) <= 24:
            k = min(len(placed), len(left))
            options = ([list(zip(placed, ds)) for ds in permutations(left, k)] if len(left) >= len(placed)
                       else [list(zip(ts, left)) for ts in permutations(placed, k)])
            pairs = min(options, key=cost)
        else:
            pairs, free = [], list(left)
            for t in placed[:len(left)]:
                d = min(free, key=lambda d: _dist(last[id(t)], _centre(d, size)))
                pairs.append((t, d))
                free.remove(d)
        for t, d in pairs:
            t.seen[pos] = d
            left.remove(d)
    for t in tracks:
        if t not in placed and left:
            t.seen[pos] = left.pop(0)
    return left


def _without(items: list[Detection], gone: list[Detection]) -> list[Detection]:
    ids = {id(d) for d in gone}
    return [d for d in items if id(d) not in ids]


def _track(spec: SceneSpec, order: list[int], detections: list[list[Detection]], size,
           lossy: bool) -> tuple[dict[int, list[_Track]], list[list[Detection]]]:
    """The tracks of each spec object, and per frame what no track accounts for."""
    tracks = {i: [_Track(i, _the(spec.include[i]) if spec.include[i].count == 1 else
                         f"one of {_the(spec.include[i])}") for _ in range(spec.include[i].count)]
              for i in order}
    others: list[list[Detection]] = []
    for p, dets in enumerate(detections):
        left = list(dets)
        for i in order:
            obj = spec.include[i]
            cands = [d for d in left if d.kind == obj.cls and obj.color in (None, d.color)]
            rest = _assign(tracks[i], cands, p, size)
            left = _without(left, _without(cands, rest))
        for i in order:  # then a track's colour alone: its kind may be misread (kept if `_misread`)
            obj = spec.include[i]
            want = [t for t in tracks[i] if p not in t.seen]
            cands = [d for d in left if obj.color and d.color == obj.color and d.kind != obj.cls]
            if want and cands:
                rest = _assign(want, cands, p, size)
                left = _without(left, _without(cands, rest))
                for t in want:
                    t.misread |= {p} & t.seen.keys()
        others.append(left)
    for t in (t for ts in tracks.values() for t in ts):
        wrong = {p for p in t.misread if not (lossy or _misread(t, p, spec.include[t.obj].cls))}
        if len(t.misread) > LOSSY_KIND_SHARE * len(t.seen):  # too often: it is another kind there
            wrong = t.misread
        for p in wrong:
            others[p].append(t.seen.pop(p))
        t.misread = set()
    return tracks, others


def _misread(track: _Track, p: int, asked: str) -> bool:
    """Whether the track's detection in frame `p`, read as another kind, is `asked` misread: its
    outline matches the track's own in the nearest frames before and after that read right."""
    from local_models.shapes.detector import _template
    d = track.seen[p]
    if d.mask is None or _ideal_iou(_template, asked, d.kind) >= DISTINCT_KINDS:
        return False
    right = [q for q in track.seen if q not in track.misread]
    near = [max((q for q in right if q < p), default=None), min((q for q in right if q > p), default=None)]
    return any(q is not None and track.seen[q].mask is not None
               and outline_iou(d.mask, track.seen[q].mask) >= SAME_OUTLINE for q in near)


def _ideal_iou(template, a: str, b: str, side: int = 32) -> float:
    ta, tb = template(a, side, side), template(b, side, side)
    return float((ta & tb).sum() / max((ta | tb).sum(), 1))


def _centred(mask, r: int = 12):
    """The mask's pixels moved so that its centroid is the centre of a (2r+1)^2 grid."""
    import numpy as np
    ys, xs = np.nonzero(mask)
    out = np.zeros((2 * r + 1, 2 * r + 1), bool)
    ys, xs = np.rint(ys - ys.mean()).astype(int) + r, np.rint(xs - xs.mean()).astype(int) + r
    ok = (ys >= 0) & (xs >= 0) & (ys <= 2 * r) & (xs <= 2 * r)
    out[ys[ok], xs[ok]] = True
    return out


def outline_iou(a, b) -> float:
    """IoU of two canvas masks laid on each other by their centroids (best of one-pixel nudges)."""
    import numpy as np
    if not a.any() or not b.any():
        return 0.0
    ca, cb = _centred(a), _centred(b)
    return max(float((ca & (m := np.roll(cb, (dy, dx), (0, 1)))).sum() / max((ca | m).sum(), 1))
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


# ---- the checks -----------------------------------------------------------------------------------
@dataclass
class _Report:
    indices: list[int]
    issues: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    frame_issues: dict[int, list[str]] = field(default_factory=dict)

    def add(self, kind: str, message: str, obj: int | None = None, box=None, frames: Sequence[int] = ()) -> None:
        self.issues.append(message)
        self.findings.append(Finding(kind=kind, message=message, object=obj, box=box))
        for p in frames:
            self.frame_issues.setdefault(p, []).append(message)

    def frames(self, positions: Sequence[int]) -> str:
        """Frame positions as the clip's frame numbers: "frame 5", "frames 5-7", "frames 0-2, 9"."""
        runs: list[list[int]] = []
        for p in sorted(positions):
            if runs and p == runs[-1][-1] + 1:
                runs[-1].append(p)
            else:
                runs.append([p])
        ix = self.indices
        parts = [f"{ix[r[0]]}" if len(r) == 1 else f"{ix[r[0]]}-{ix[r[-1]]}" for r in runs]
        return ("frame " if len(positions) == 1 else "frames ") + ", ".join(parts)


def _a(color: str | None, kind: str) -> str:
    return f"{article(color or kind)} {noun(kind, color)}"


def _direction_of(dx: float, dy: float) -> str:
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def _check_presence(spec: SceneSpec, order: list[int], tracks: dict[int, list[_Track]],
                    others: list[list[Detection]], size, report: _Report) -> None:
    """Each track in every frame; where it is missing, the same kind in another colour (or the same
    colour in another kind) nearest to it that nothing else accounts for is the object, changed;
    then whatever is left over: extra copies, objects not asked for, objects that appear."""
    n = len(others)
    explained: set[int] = set()
    for i in order:
        obj = spec.include[i]
        for t in tracks[i]:
            missing = [p for p in range(n) if p not in t.seen]
            changed: dict[tuple[str, str], list[int]] = {}
            for p in missing:
                alike = [d for d in others[p] if id(d) not in explained and
                         ((d.kind == obj.cls and d.color != obj.color) or (obj.color and d.color == obj.color))]
                if not alike:
                    continue
                near = t.seen[min(t.seen, key=lambda s: abs(s - p))] if t.seen else None
                d = min(alike, key=lambda d: (d.kind != obj.cls, _dist(_centre(d, size), _centre(near, size))
                                              if near else -d.area))
                explained.add(id(d))
                t.changed[p] = d
                changed.setdefault((d.color, d.kind), []).append(p)
            gone = [p for p in missing if p not in t.changed]
            if not t.seen:
                want = _a(obj.color, obj.cls)
                saw = " and ".join(_a(c, k) for c, k in changed)
                kind = "color" if any(k == obj.cls for _, k in changed) else "missing"
                first = next(iter(t.changed.values()), None)
                report.add(kind, f"expected {want}, saw {saw} instead" if saw else f"expected {want}, found none",
                           i, first.box if first else None, range(n))
                continue
            for (color, kind), ps in changed.items():
                what = f"turns {color}" if kind == obj.cls else f"turns into {_a(color, kind)}"
                report.add("continuity", f"{t.name} {what} in {report.frames(ps)}", i, t.changed[ps[0]].box, ps)
            if gone:
                near = t.seen[min(t.seen, key=lambda s: abs(s - gone[0]))].box
                verb = "is missing" if 0 in gone else "vanishes"
                report.add("continuity", f"{t.name} {verb} in {report.frames(gone)}", i, near, gone)

    groups: dict[tuple[str, str], dict[int, list[Detection]]] = {}
    for p, left in enumerate(others):
        for d in left:
            if id(d) not in explained:
                groups.setdefault((d.color, d.kind), {}).setdefault(p, []).append(d)
    for (color, kind), by_frame in groups.items():
        ps = sorted(by_frame)
        box = by_frame[ps[0]][0].box
        asked = next((i for i in order if spec.include[i].cls == kind and spec.include[i].color in (None, color)), None)
        if asked is not None:
            want = spec.include[asked].count
            many = want + max(len(v) for v in by_frame.values())
            report.add("extra", f"expected {want} {noun(kind, color, want)}, saw {many} in {report.frames(ps)}",
                       asked, box, ps)
        elif any(ex.cls == kind and ex.color in (None, color) for ex in spec.exclude):
            report.add("excluded", f"there should be no {noun(kind, color)}: it is there in {report.frames(ps)}",
                       None, box, ps)
        elif len(ps) == n:
            report.add("extra", f"{_a(color, kind)} that the brief does not ask for", None, box, ps)
        else:
            report.add("continuity", f"{_a(color, kind)} appears in {report.frames(ps)}", None, box, ps)


def _check_ambiguity(order: list[int], tracks: dict[int, list[_Track]], report: _Report) -> None:
    """A shape that reads two ways (`Detection.alternatives`) in many of its frames: precision first."""
    for i in order:
        for t in tracks[i]:
            unsure = [p for p, d in t.seen.items() if d.alternatives]
            if t.seen and len(unsure) > AMBIGUOUS_SHARE * len(t.seen):
                d = t.seen[unsure[0]]
                alt = d.alternatives[0]
                report.add("other", f"could not tell whether {t.name} is {article(d.kind)} {d.kind} or "
                           f"{article(alt)} {alt} (in {report.frames(unsure)})", i, d.box, unsure)


def _check_positions(spec: SceneSpec, tracks: dict[int, list[_Track]], report: _Report) -> None:
    """Relative positions, in the first frame where both objects are."""
    for i, obj in enumerate(spec.include):
        if not obj.position:
            continue
        rel, j = obj.position
        both = [p for p in range(len(report.indices)) if all(p in t.seen for t in tracks[i] + tracks[j])]
        if both and not all(relation_holds(rel, a.seen[both[0]].box, b.seen[both[0]].box)
                            for a in tracks[i] for b in tracks[j]):
            report.add("position", f"{_the(obj)} {'is' if obj.count == 1 else 'are'} not {rel} "
                       f"{_the(spec.include[j])} in frame {report.indices[both[0]]}", i,
                       tracks[i][0].seen[both[0]].box, [both[0]])


def _check_motion(track: _Track, spec: SceneSpec, size, report: _Report) -> tuple[bool, bool]:
    """The track's motion against its object's `motion` and `speed`, and its smoothness.
    Returns (motion as asked, smooth)."""
    obj = spec.include[track.obj]
    path = track.path()
    pos = list(path)
    pts = [_centre(path[p], size) for p in pos]
    name, k = track.name, track.obj
    last = path[pos[-1]].box if pos else None
    problems = len(report.issues)
    if obj.motion == "still" and pts:
        far = max(range(len(pts)), key=lambda i: _dist(pts[i], pts[0]))
        if (away := _dist(pts[far], pts[0])) >= STILL_PX:
            way = _direction_of(pts[far][0] - pts[0][0], pts[far][1] - pts[0][1])
            report.add("motion", f"{name} moves {way} ({away:.0f} px of 64) but should stay still", k,
                       path[pos[far]].box, pos)
    elif obj.motion and pts:
        dx, dy = pts[-1][0] - pts[0][0], pts[-1][1] - pts[0][1]
        ux, uy = DIRECTIONS[obj.motion]
        along, across = dx * ux + dy * uy, dy * ux - dx * uy
        way = _direction_of(dx, dy)
        if (dx * dx + dy * dy) ** 0.5 >= MIN_TRAVEL / 2 and way != obj.motion:
            report.add("motion", f"{name} moves {way}, not {obj.motion}", k, last, pos)
        elif along < MIN_TRAVEL:
            report.add("motion", f"{name} barely moves ({max(along, 0):.0f} px of 64); it should move "
                       f"{obj.motion}", k, last, pos)
        else:
            if abs(across) > DRIFT_PX:
                drift = _direction_of(0, dy) if ux else _direction_of(dx, 0)
                report.add("motion", f"{name} drifts {drift} ({abs(across):.0f} px) as it moves {obj.motion}",
                           k, last, pos)
            back, at, best = 0.0, 0, 0.0
            for i, (x, y) in enumerate(pts):
                ahead = (x - pts[0][0]) * ux + (y - pts[0][1]) * uy
                best = max(best, ahead)
                if best - ahead > back:
                    back, at = best - ahead, i
            if back > BACK_PX:
                report.add("motion", f"{name} goes back {back:.0f} px against its motion ({obj.motion}) by "
                           f"frame {report.indices[pos[at]]}", k, path[pos[at]].box, [pos[at]])
            lo, hi = SPEED_BANDS.get(obj.speed or "", (0.0, float("inf")))
            if not lo <= along <= hi:
                need = f"at most {hi:.0f}" if along > hi else f"at least {lo:.0f}"
                report.add("motion", f"{name} moves {along:.0f} px of 64: too {'far' if along > hi else 'little'} "
                           f"for '{SPEED_WORDS[obj.speed]}' ({need})", k, last, pos)
    elif obj.speed and pts:  # a speed and no direction ("moving quickly"): how far it goes, whatever way
        lo, hi = SPEED_BANDS[obj.speed]
        if not lo <= (travel := _dist(pts[-1], pts[0])) <= hi:
            need = f"at most {hi:.0f}" if travel > hi else f"at least {lo:.0f}"
            report.add("motion", f"{name} moves {travel:.0f} px of 64: too {'far' if travel > hi else 'little'} "
                       f"for '{SPEED_WORDS[obj.speed]}' ({need})", k, last, pos)
    moved = len(report.issues) == problems
    if len(pts) >= 3:
        gaps = [report.indices[b] - report.indices[a] for a, b in zip(pos, pos[1:])]
        steps = [_dist(p, q) for p, q in zip(pts, pts[1:])]
        usual = statistics.median(s / g for s, g in zip(steps, gaps))
        for i, (s, g) in enumerate(zip(steps, gaps)):
            if s > g * JUMP_FACTOR * usual + JUMP_PX:
                report.add("continuity", f"{name} jumps {s:.0f} px between frames {report.indices[pos[i]]} and "
                           f"{report.indices[pos[i + 1]]}", k, path[pos[i + 1]].box, [pos[i + 1]])
                return moved, False
    return moved, True


def check_clip(spec: SceneSpec, detections: list[list[Detection]], indices: Sequence[int] | None = None,
               size: tuple[int, int] = (world.CANVAS, world.CANVAS), fps: float | None = None,
               critic: str = NAME, lossy: bool = False) -> Verdict:
    """Check `spec` on a clip's detections, frame by frame (`detections[i]` in frame `indices[i]`,
    boxes in pixels of frames of `size`). `lossy`: the frames were decoded from a lossy codec (MP4),
    so a shape's kind may misread in some frames (`LOSSY_KIND_SHARE`); its colour never may."""
    indices = list(range(len(detections))) if indices is None else list(indices)
    n = len(detections)
    report = _Report(indices)
    if n == 0:
        report.add("other", "the clip has no frames")
    # coloured objects first, so that a colourless one ("a circle") takes only what is left
    order = sorted(range(len(spec.include)), key=lambda i: spec.include[i].color is None)
    tracks, others = _track(spec, order, detections, size, lossy)
    _check_presence(spec, order, tracks, others, size, report)
    _check_ambiguity(order, tracks, report)
    _check_positions(spec, tracks, report)
    if n == 1:
        report.add("motion", "the clip has a single frame: it cannot show motion or stillness", None, None, [0])
    moving = smooth = followed = 0
    for t in (t for i in order for t in tracks[i] if t.path()):
        followed += 1
        ok, steady = _check_motion(t, spec, size, report)
        moving += ok and bool(spec.include[t.obj].motion or spec.include[t.obj].speed)
        smooth += steady
    from local_models.shapes.video_places import judge_places
    places = judge_places(spec, tracks, report, size, critic)
    asked = sum(o.count for o in spec.include if o.motion or o.speed)
    present = sum(len(t.seen) for ts in tracks.values() for t in ts)
    expected = sum(o.count for o in spec.include) * n
    frames = [FrameCheck(index=indices[p], time=round(indices[p] / fps, 4) if fps else None,
                         detections=[Finding(kind="seen", message=d.describe(), box=d.box, shape=d.kind,
                                             color=d.color) for d in detections[p]],
                         issues=report.frame_issues.get(p, []))
              for p in range(n)]
    scores = {"presence": round(present / expected, 4) if expected else 0.0,
              "continuity": round(sum(not f.issues for f in frames) / n, 4) if n else 0.0,
              "motion": round(moving / asked, 4) if asked else 1.0,
              "smoothness": round(smooth / followed, 4) if followed else 0.0}
    return Verdict(critic=critic, approved=not report.issues, scores=scores, issues=report.issues,
                   findings=report.findings, frames=frames, requirements=places)


def check_frames(spec: SceneSpec, frames: Sequence[Image.Image], fps: float | None = None,
                 k: int = MAX_FRAMES, critic: str = NAME, lossy: bool = False) -> Verdict:
    """Check `spec` on a clip given as frames (PIL images): `detect` on the sampled frames, then
    `check_clip`."""
    picked = sample_frames(frames, k)
    size = picked[0][1].size if picked else (world.CANVAS, world.CANVAS)
    return check_clip(spec, [detect(f) for _, f in picked], [i for i, _ in picked], size, fps, critic, lossy)


def check_video(spec: SceneSpec, path: str | Path, fps: float | None = None, k: int = MAX_FRAMES,
                critic: str = NAME) -> Verdict:
    """Check `spec` on a GIF or MP4 file; a file that cannot be read gives a Verdict with `error`."""
    try:
        picked, _, rate = read_sampled(path, k, fps)
        # MP4 keeps colour at half resolution: below 128 px that smears small shapes into other kinds
        # now and then (tolerated in a few frames); at 128 px and more it reads as cleanly as a GIF
        lossy = not is_gif(path) and bool(picked) and min(picked[0][1].size) < 128
    except Exception as e:  # not a clip, a truncated file, a codec PyAV lacks
        return Verdict(critic=critic, approved=False, error=f"cannot read the clip {Path(path).name}: "
                                                            f"{type(e).__name__}: {e}")
    if not picked:
        return Verdict(critic=critic, approved=False, error=f"the clip {Path(path).name} has no frames")
    return check_clip(spec, [detect(f) for _, f in picked], [i for i, _ in picked], picked[0][1].size, rate,
                      critic, lossy)


# ---- what critic:detector calls ---------------------------------------------------------------
def is_clip(artifact, spec: SceneSpec) -> bool:
    """Judged as a clip: a video artifact, or a GIF/MP4 file judged against a brief with motion."""
    from agent.core.clips import VIDEO_SUFFIXES
    return artifact.kind == "video" or (any(in_clip(o) for o in spec.include)
                                        and Path(artifact.path).suffix.lower() in VIDEO_SUFFIXES)


def in_clip(obj) -> bool:
    """Whether a spec object asks for something only a clip shows: a motion, a speed, a start or an end place."""
    return bool(obj.motion or obj.speed or obj.start or obj.end)


def judge_clip(artifact, brief_text: str, spec: SceneSpec, critic: str = NAME) -> Verdict:
    """A clip against its spec; a brief asking for motion the parser could not read is a critique
    error (approving any motion would be a guess)."""
    from agent.core.plans import CLIP_WORDS
    words = set(world.tokenize_words(brief_text))
    if not any(in_clip(o) for o in spec.include) and words & (CLIP_WORDS - {"video", "clip", "gif", "movie"}):
        return Verdict(critic=critic, approved=False,
                       error="the brief asks for motion the detector cannot read; say it as 'moving "
                             "left/right/up/down' (optionally 'slowly'/'quickly') or 'staying still'")
    return check_video(spec, artifact.path, fps=artifact.meta.get("fps") or artifact.request.fps, critic=critic)

