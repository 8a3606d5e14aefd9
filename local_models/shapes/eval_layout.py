"""The layout path of `local:shapes` (what `atelier run` composes first), judged by `judge:shapes`, not by
the loop's critic: each prompt's spec gets a rules layout (`plan_layout`), the inpainting model paints it one
box at a time, and the independent judge says whether the picture is exactly the spec and nothing else.
The figure to compare inpainting weights by (a fine-tune is kept only when this rises).

    python -m local_models.shapes.eval_layout                          # shipped weights, 120 held-out prompts x 2 seeds
    python -m local_models.shapes.eval_layout --inpaint-weights DIR --save OUT
    python -m local_models.shapes.eval_layout --split val              # training-distribution prompts, for tuning
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from local_models.shapes import world
from local_models.shapes.eval import spread

SEED0 = 610000  # apart from every approval set's and the bench's seeds


def val_prompts(n: int, seed: int = 0) -> list[tuple[str, str, object]]:
    """`n` (category, caption, spec) scenes of the training distribution (their combinations may be shown in
    training): what weights are tuned on, leaving the held-out suite for the figure reported."""
    rng = random.Random(seed + 97)
    out = []
    for i in range(n):
        cat = world.CATEGORIES[i % len(world.CATEGORIES)]
        scene = world.sample_scene(rng, category=cat)
        out.append((cat, scene.caption, scene.spec))
    return out


def evaluate(items, inpaint_weights: Path | None, seeds: int, save: Path | None = None) -> dict:
    from agent.core.layout import plan_layout
    from agent.core.types import GenerationRequest
    from local_models.shapes import judge
    from local_models.shapes.backend import ShapesBackend

    backend = ShapesBackend("shapes", inpaint_weights=inpaint_weights)
    work = save or Path(tempfile.mkdtemp(prefix="eval_layout_"))
    per, why, rows = defaultdict(list), Counter(), []
    t0 = time.perf_counter()
    for i, (cat, prompt, spec) in enumerate(items):
        for k in range(seeds):
            seed = SEED0 + 1000 * k + i
            layout = plan_layout(spec, seed=seed, width=64, height=64)
            if layout is None:
                continue
            art = backend.generate(GenerationRequest(prompt=prompt, seed=seed, layout=layout), work / "images")[0]
            verdict = judge.judge(art.path, spec)
            per[cat].append(verdict.right)
            why.update(set(verdict.kinds))
            rows.append({"category": cat, "prompt": prompt, "seed": seed, "right": verdict.right,
                         "reasons": verdict.reasons, "path": str(art.path)})
    if save:
        (save / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    right = sum(r["right"] for r in rows)
    return {"right": right, "images": len(rows), "rate": round(right / max(len(rows), 1), 3),
            "per_category": {c: f"{sum(v)}/{len(v)}" for c, v in per.items()},
            "wrong_by_kind": dict(why.most_common()), "seconds": round(time.perf_counter() - t0, 1),
            "inpaint_weights": str(inpaint_weights or "shipped")}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inpaint-weights", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=120, help="prompts, spread over the categories (0: all)")
    ap.add_argument("--seeds", type=int, default=2, help="images per prompt, each at its own seed")
    ap.add_argument("--split", choices=["heldout", "val"], default="heldout")
    ap.add_argument("--save", type=Path, help="write the images and a results.jsonl here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.split == "val":
        items = val_prompts(args.limit or 120)
    else:
        items = spread(world.heldout_prompts(), args.limit)
    out = evaluate(items, args.inpaint_weights, args.seeds, args.save)
    print(json.dumps(out) if args.json else "\n".join(f"{k:16s} {v}" for k, v in out.items()))
    return out


if __name__ == "__main__":
    main()
