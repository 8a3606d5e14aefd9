"""Are the briefs the README and the UI offer approved on the embedded default? Each brief is run
with `atelier run`'s defaults (offline director, local:shapes, critic:detector, 4 iterations) for
seeds 0..19; the table gives, per brief, how many seeds were approved and within how many
iterations.

    python -m agent.surfaces.bench_examples [--seeds 20] [--brief "..."] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from agent.core.defaults import EXAMPLE_BRIEFS


def check(briefs: list[str], seeds: int, out: Path, iterations: int = 4) -> list[dict]:
    from agent.surfaces.api import Studio

    studio = Studio(runs_dir=out)
    rows = []
    for brief in briefs:
        took, t0 = [], time.perf_counter()
        for seed in range(seeds):
            result = studio.run(brief, seed=seed, budget={"max_iterations": iterations})
            took.append(result.record.iterations if result.approved else None)
        rows.append({"brief": brief, "seeds": seeds, "approved": sum(t is not None for t in took),
                     "within_2": sum(t is not None and t <= 2 for t in took),
                     "iterations": dict(sorted(Counter(t or 0 for t in took).items())),
                     "seconds_per_run": round((time.perf_counter() - t0) / seeds, 2)})
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--brief", action="append", help="a brief to check (default: the README's and the UI's)")
    ap.add_argument("--out", type=Path, default=None, help="runs folder (default: a temporary one)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="atelier-examples-"))
    rows = check(args.brief or EXAMPLE_BRIEFS, args.seeds, out)
    print("| brief | approved (of seeds) | within 2 iterations | iterations to approval (0 = not) | s/run |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['brief']} | {r['approved']}/{r['seeds']} | {r['within_2']}/{r['seeds']} | "
              f"{json.dumps(r['iterations'])} | {r['seconds_per_run']} |")


if __name__ == "__main__":
    main()
