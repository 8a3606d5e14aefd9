"""The bench's judge (`judge:shapes`) on every labelled approval set at once: per set, wrong passed and
right passed, and (with --out) every image's verdict, to compare two versions of the judge.

    python -m agent.surfaces.judge_sets [--sets approval_set,approval_holdout6] [--jobs 2] [--out FILE.json]

Never scores a blind set (approval_holdout14, or any set not in SCORED)."""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# the sets whose labels are read and tuned on (7 to 13 each scored once, blind, first); approval_holdout14 is blind
SCORED = ("approval_set", "approval_holdout", "approval_holdout2", "approval_holdout3", "approval_holdout4",
          "approval_holdout5", "approval_holdout6", "approval_holdout7", "approval_holdout8", "approval_holdout9",
          "approval_holdout10", "approval_holdout11", "approval_holdout12",
          "approval_holdout13")


def score_set(name: str) -> dict:
    from agent.surfaces.approval_score import JUDGE, score
    res = score(JUDGE, name=name)
    rows = res["rows"]
    return {"set": name,
            "wrong_passed": sum(r["approved"] for r in rows if not r["right"]),
            "wrong": sum(not r["right"] for r in rows),
            "right_passed": sum(r["approved"] for r in rows if r["right"]),
            "right": sum(r["right"] for r in rows),
            "verdicts": {r["file"]: {"approved": r["approved"], "right": r["right"], "issues": r["issues"]}
                         for r in rows}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="judge:shapes on every labelled approval set")
    ap.add_argument("--sets", default=",".join(SCORED), help="comma-separated set names")
    ap.add_argument("--jobs", type=int, default=1, help="processes (one set each)")
    ap.add_argument("--out", type=Path, help="write every image's verdict here (JSON)")
    args = ap.parse_args(argv)
    names = [n for n in args.sets.split(",") if n]
    for n in names:
        if n not in SCORED:
            ap.error(f"set {n!r} is not one of the scored sets ({', '.join(SCORED)})")
    with ProcessPoolExecutor(max(args.jobs, 1)) as pool:
        results = list(pool.map(score_set, names))
    for r in results:
        print(f"{r['set']:20s} wrong passed {r['wrong_passed']:3d}/{r['wrong']:3d}   "
              f"right passed {r['right_passed']:3d}/{r['right']:3d} ({r['right_passed'] / max(r['right'], 1):.1%})")
    if args.out:
        args.out.write_text(json.dumps({r["set"]: r for r in results}, indent=1))


if __name__ == "__main__":
    main()
