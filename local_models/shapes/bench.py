"""Speed of `local:shapes` on this machine: model load, one image, a batch of 8 vs 8 one at a time,
peak memory.

    python -m local_models.shapes.bench [--steps 20] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time


def main(argv=None):
    from local_models.shapes.backend import DEFAULT_GUIDANCE, DEFAULT_STEPS, WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ap.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import logging as dlog

    dlog.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(WEIGHTS, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    t_load = time.perf_counter() - t0
    prompt = "a photo of a blue star below a green square"

    def run(n: int) -> float:
        gens = [torch.Generator().manual_seed(i) for i in range(n)]
        t = time.perf_counter()
        pipe(prompt=[prompt] * n, height=64, width=64, num_inference_steps=args.steps,
             guidance_scale=args.guidance, generator=gens)
        return time.perf_counter() - t

    run(1)  # warm up
    one = [run(1) for _ in range(max(args.repeats, 1) * 3)]
    eight = [run(8) for _ in range(max(args.repeats, 1))]
    single = statistics.median(one)
    batch = statistics.median(eight)
    out = {
        "threads": torch.get_num_threads(), "steps": args.steps, "guidance": args.guidance,
        "import_s": round(t_import, 2), "load_s": round(t_load, 3),
        "one_image_s": round(single, 3), "one_image_min_s": round(min(one), 3),
        "batch8_s": round(batch, 3),
        "images_per_s_one_at_a_time": round(1 / single, 2), "images_per_s_batch8": round(8 / batch, 2),
        "batching_speedup": round(8 * single / batch, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:28s} {v}")
    return out


if __name__ == "__main__":
    main()
