"""An independent judge of a shapes-world clip (`atelier bench --video`), apart from the loop's clip
critic (`critic:detector`, video_critic.py: none of its code or thresholds is used here).

Each frame is judged as a still by `judge:shapes` (judge.py, itself written apart from the critic)
against the brief without its motion: the asked shapes, colours, counts and relations, nothing else,
no stray mark. Then each asked object is followed by its kind and colour from frame to frame, its
centre the middle of its fitted box, and checked against the world's rules (motion.TRAVEL: how far a
clip of each speed moves in 64 px):
- a direction: it goes that way at least 3/4 of the least the world moves at that speed, and at most
  5/4 of the most (slow and fast); it strays across its way by under a third of its travel (3 px at
  least), never steps back more than 2 px, and never jumps (a step over twice its even step + 2 px);
- still: it stays within 3 px of where it started;
- a speed with no direction: its travel, any way, is in that speed's band;
- a start or end place: its centre in the first or last frame is at that place (places.place_holds,
  2 px of slack at the thirds' borders).
Precision first: a frame that is not right by the still judge, or an object that cannot be followed,
makes the clip wrong, with the reason."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from agent.core.places import WORDS, place_holds
from agent.core.types import SceneSpec
from local_models.shapes.judge import judge
from local_models.shapes.motion import TRAVEL
from local_models.shapes.world import CANVAS

NAME = "judge:shapes-video"
SLACK_LOW, SLACK_HIGH = 0.75, 1.25  # of the world's travel band for a speed
STILL_PX, BACK_PX, ACROSS_SHARE, ACROSS_MIN = 3.0, 2.0, 1 / 3, 3.0
JUMP_TIMES, JUMP_PX = 2.0, 2.0  # a step over twice the clip's even step (the world moves evenly) + 2 px
PLACE_SLACK = 2.0
WAYS = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1)}


def _still_spec(spec: SceneSpec) -> SceneSpec:
    """What every frame must show: the spec without motion, speed and places."""
    cleared = {"motion": None, "speed": None, "start": None, "end": None}
    return spec.model_copy(update={"include": [o.model_copy(update=cleared) for o in spec.include]})


def _band(speed: str | None) -> tuple[float, float]:
    if speed is None:  # at the normal speed a shorter or longer move is still "moving right": the least is asked
        return SLACK_LOW * TRAVEL["slow"][0], math.inf
    lo, hi = TRAVEL[speed]
    return SLACK_LOW * lo, SLACK_HIGH * hi


def _path(frames_seen, obj) -> list[tuple[float, float]] | None:
    """The centre of `obj` (count 1) in every frame, or None when a frame has not exactly one."""
    out = []
    for seen in frames_seen:
        mine = [s for s in seen if s.kind == obj.cls and (obj.color is None or s.color == obj.color)]
        if len(mine) != 1:
            return None
        x0, y0, x1, y1 = mine[0].box
        out.append(((x0 + x1) / 2, (y0 + y1) / 2))
    return out


def _motion_reasons(name: str, obj, pts: list[tuple[float, float]]) -> list[str]:
    dx, dy = pts[-1][0] - pts[0][0], pts[-1][1] - pts[0][1]
    if obj.motion == "still":
        away = max(math.dist(p, pts[0]) for p in pts)
        return [f"{name} moves {away:.0f} px but should stay still"] if away > STILL_PX else []
    lo, hi = _band(obj.speed)
    if obj.motion is None:  # places only (their own check), or a speed with no direction
        travel = math.hypot(dx, dy)
        if obj.speed and not lo <= travel <= hi:
            return [f"{name} moves {travel:.0f} px, outside {lo:.0f}-{hi:.0f} for its speed"] + _jumps(name, pts)
        return _jumps(name, pts)
    ux, uy = WAYS[obj.motion]
    along, across = dx * ux + dy * uy, abs(dx * uy - dy * ux)
    out = []
    if not lo <= along <= hi:
        out.append(f"{name} moves {along:.0f} px {obj.motion}, outside {lo:.0f}-{hi:.0f}"
                   + (f" for '{obj.speed}'" if obj.speed else ""))
    if across > max(ACROSS_MIN, ACROSS_SHARE * max(along, 0.0)):
        out.append(f"{name} strays {across:.0f} px across its way ({obj.motion})")
    ahead = [(x - pts[0][0]) * ux + (y - pts[0][1]) * uy for x, y in pts]
    back = max(max(ahead[:i + 1]) - a for i, a in enumerate(ahead))
    if back > BACK_PX:
        out.append(f"{name} steps back {back:.0f} px against its way ({obj.motion})")
    return out + _jumps(name, pts)


def _jumps(name: str, pts: list[tuple[float, float]]) -> list[str]:
    """A step far over the even step from the first frame to the last: the object jumped."""
    even = math.dist(pts[0], pts[-1]) / (len(pts) - 1)
    for i, (a, b) in enumerate(zip(pts, pts[1:])):
        if (step := math.dist(a, b)) > JUMP_TIMES * even + JUMP_PX:
            return [f"{name} jumps {step:.0f} px between frames {i} and {i + 1}"]
    return []


def judge_frames(frames, spec: SceneSpec) -> tuple[bool, list[str]]:
    """Is a clip (its frames, any size) exactly what `spec` asks, motion and places included?"""
    if len(frames) < 2:
        return False, ["a clip of fewer than 2 frames shows no motion"]
    still = _still_spec(spec)
    seen, reasons = [], []
    for i, frame in enumerate(frames):
        j = judge(frame, still)
        seen.append(j.shapes)
        reasons += [f"frame {i}: {r}" for r in j.reasons[:2]]
    if reasons:
        return False, reasons
    for k, obj in enumerate(spec.include):
        name = f"the {obj.color or ''} {obj.cls}".replace("  ", " ")
        if obj.count != 1 and (obj.motion not in (None, "still") or obj.start or obj.end or obj.speed):
            return False, [f"{name}: the judge follows one moving object of a kind, not {obj.count}"]
        pts = _path(seen, obj)
        if pts is None:
            if obj.count == 1:
                return False, [f"{name} cannot be followed from frame to frame"]
            continue
        reasons += _motion_reasons(name, obj, pts)
        for role, place, at in (("starts", obj.start, pts[0]), ("ends", obj.end, pts[-1])):
            if place and not place_holds(place, at, CANVAS, PLACE_SLACK):
                reasons.append(f"{name} {role} at ({at[0]:.0f}, {at[1]:.0f}), not at {WORDS[place]}")
    return not reasons, reasons


def judge_clip(path: str | Path, spec: SceneSpec) -> tuple[bool, list[str]]:
    from agent.core.clips import read_frames
    frames, _ = read_frames(path)
    return judge_frames(frames, spec)


class VideoJudge:
    """This judge as the bench's judge (`atelier bench --video --judge judge:shapes-video`)."""

    name, kinds = NAME, ("video",)

    def critique(self, artifact, brief: str, spec: SceneSpec):
        from agent.core.types import Verdict
        right, why = judge_clip(artifact.path, spec)
        return Verdict(critic=NAME, approved=right, issues=why)


def rejudge(out: Path) -> list[dict]:
    """Every row of an `atelier bench --video --out OUT` folder judged again by this judge: the row's
    best clip (run.json's best_index) against its spec. Returns the rows with `judge_right` and
    `judge_reasons` added."""
    runs = {}
    for run_json in Path(out, "runs").glob("*/*/run.json"):
        d = json.loads(run_json.read_text())
        runs[(run_json.parent.parent.name, d["brief"]["text"] if isinstance(d["brief"], dict) else d["brief"],
              d["attempts"][0]["seed"] if d["attempts"] else None)] = d
    rows = []
    for line in Path(out, "video_results.jsonl").read_text().splitlines():
        row = json.loads(line)
        d = runs.get((row["strategy"], row["prompt"], row["seed"]))
        if d is None or not d["attempts"]:
            row["judge_right"], row["judge_reasons"] = False, ["no clip"]
        else:
            best = d["attempts"][d["best_index"] if d["best_index"] is not None else 0]
            right, why = judge_clip(best["artifact"]["path"], SceneSpec.model_validate(d["spec"]))
            row["judge_right"], row["judge_reasons"] = right, why[:3]
        rows.append(row)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=f"{NAME}: judge again the clips an `atelier bench --video --out OUT` made")
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=Path, help="write the judged rows here (JSON lines)")
    args = ap.parse_args(argv)
    rows = rejudge(args.out)
    if args.rows:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for key in dict.fromkeys(r["strategy"] for r in rows):
        rs = [r for r in rows if r["strategy"] == key]
        cats = {}
        for r in rs:
            ok, n = cats.get(r["category"], (0, 0))
            cats[r["category"]] = (ok + r["judge_right"], n + 1)
        agree = sum(r["judge_right"] == r["correct"] for r in rs)
        print(f"{key}: {sum(r['judge_right'] for r in rs)}/{len(rs)} right by {NAME}; "
              + "; ".join(f"{c} {ok}/{n}" for c, (ok, n) in cats.items())
              + f"; agrees with the critic on {agree}/{len(rs)} (critic-approved judge-rejected "
              f"{sum(r['correct'] and not r['judge_right'] for r in rs)}, the reverse "
              f"{sum(r['judge_right'] and not r['correct'] for r in rs)})")


if __name__ == "__main__":
    main()
