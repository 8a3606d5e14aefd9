"""Held-out evaluation of `local:shapes`: one image per held-out prompt at a fixed seed, scored by the
detector; prints accuracy per GenEval category and overall.

    python -m local_models.shapes.eval                 # the shipped weights, all 300 prompts
    python -m local_models.shapes.eval --limit 60      # a quick look (prompts spread over categories)
    python -m local_models.shapes.eval --ground-truth  # the detector on rendered ground truth instead
"""
from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

from local_models.shapes import detector, world

TARGETS = {"single_object": 0.95, "colors": 0.90, "two_object": 0.80, "counting": 0.60,
           "position": 0.60, "color_attr": 0.60}


def spread(items, limit: int | None):
    """The first `limit` prompts taken round-robin over categories (all when no limit)."""
    if not limit:
        return items
    by = defaultdict(list)
    for it in items:
        by[it[0]].append(it)
    out, k = [], 0
    while len(out) < limit and any(k < len(v) for v in by.values()):
        for cat in world.CATEGORIES:
            if k < len(by[cat]) and len(out) < limit:
                out.append(by[cat][k])
        k += 1
    return out


def generate_images(prompts: list[str], weights: Path, seed: int, steps: int, guidance: float, batch: int):
    import torch
    from local_models.shapes.backend import ShapesBackend

    backend = ShapesBackend("shapes", weights)
    pipe = backend.pipe()
    images = []
    for i in range(0, len(prompts), batch):
        chunk = prompts[i:i + batch]
        gens = [torch.Generator().manual_seed(seed) for _ in chunk]
        images += pipe(prompt=chunk, height=64, width=64, num_inference_steps=steps,
                       guidance_scale=guidance, generator=gens).images
    return images


def report(results: list[tuple[str, bool]]) -> dict:
    per = defaultdict(list)
    for cat, ok in results:
        per[cat].append(ok)
    table = {cat: sum(v) / len(v) for cat, v in per.items()}
    table["overall"] = sum(ok for _, ok in results) / max(len(results), 1)
    return table


def main(argv=None):
    from local_models.shapes.backend import DEFAULT_GUIDANCE, DEFAULT_STEPS, WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ap.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--ground-truth", action="store_true", help="score rendered ground truth instead")
    ap.add_argument("--save", type=Path, help="write the images and a results.jsonl here")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--split", choices=["heldout", "val"], default="heldout",
                    help="val: canonical prompts of training-distribution scenes (for tuning guidance/steps "
                         "without touching the held-out set)")
    args = ap.parse_args(argv)

    if args.split == "val":
        rng = random.Random(424242)
        pool = []
        for cat in world.CATEGORIES:
            for _ in range(50):
                sc = world.sample_scene(rng, cat, canonical_p=1.0)
                pool.append((cat, sc.caption, sc.spec))
        items = spread(pool, args.limit or len(pool))
    else:
        items = spread(world.heldout_prompts(), args.limit)
    t0 = time.time()
    if args.ground_truth:
        images = []
        for k, (_, prompt, spec) in enumerate(items):
            scene = None
            rng = random.Random(args.seed * 100_003 + k)
            while scene is None:
                scene = world.scene_for_spec(rng, spec)
            images.append(world.render(scene))
    else:
        images = generate_images([p for _, p, _ in items], args.weights, args.seed, args.steps,
                                 args.guidance, args.batch)
    gen_s = time.time() - t0
    results, rows = [], []
    for k, ((cat, prompt, spec), im) in enumerate(zip(items, images)):
        v = detector.check_image(spec, im)
        results.append((cat, v.approved))
        rows.append({"i": k, "category": cat, "prompt": prompt, "approved": v.approved,
                     "issues": v.issues, "detections": [d.describe() for d in detector.detect(im)]})
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            im.save(args.save / f"{k:03d}-{cat}-{'ok' if v.approved else 'no'}.png")
    if args.save:
        (args.save / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = report(results)
    if args.json:
        print(json.dumps({"n": len(items), "seconds": round(gen_s, 1), "accuracy": table}))
        return table
    what = "rendered ground truth" if args.ground_truth else f"{args.weights} ({args.steps} steps, guidance {args.guidance})"
    print(f"held-out prompts: {len(items)}; images: {what}; {gen_s:.1f} s")
    for cat in world.CATEGORIES:
        if cat in table:
            n = sum(1 for c, _ in results if c == cat)
            print(f"  {cat:14s} {table[cat]:6.1%}  (n={n}, target {TARGETS[cat]:.0%})")
    print(f"  {'overall':14s} {table['overall']:6.1%}")
    return table


if __name__ == "__main__":
    main()
