"""What a warm `atelier serve` buys, measured in one go (numbers for BENCHMARKS.md, not a test):

1. `atelier run "a red circle" --max-iterations 1` against the warm server vs `python -c "import torch"`
   (median of --pairs interleaved pairs; the target: within 2x);
2. --clients OpenAI SDK clients at once (`images.generate`, the loop's default budget): approved,
   p50 / p95 latency;
3. --briefs one-image briefs (max 1 round) at --concurrency 8 through the run API vs the bare
   pipeline's batch-8 images/s (`python -m local_models.shapes.bench`, before the server starts and again
   right after the briefs; the mean of both, since the load of a shared machine drifts), and where the rest goes.
   The bare pipeline denoises as many steps per image as a one-object brief's image takes (one
   inpainting pass, PASS_STEPS; --bare-steps): a brief's image is no longer one 20-step text-to-image
   call, and images/s at other steps would compare different work. The briefs' own mean steps per
   image are reported beside it (two-object prompts take two passes).

    python -m agent.surfaces.server.bench [--threads 2] [--pairs 5] [--clients 8] [--briefs 48] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = ["a red circle", "a blue square", "a green triangle", "a yellow star", "a purple ring",
           "two red circles", "a blue star", "a green circle"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch threads, for the server and the bare pipeline")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--briefs", type=int, default=48)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="the bare pipeline's repeats")
    ap.add_argument("--bare-steps", type=int, default=None,
                    help="the bare pipeline's denoising steps (default: one inpainting pass's, PASS_STEPS)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    env = {**os.environ, "ATELIER_TORCH_THREADS": str(args.threads), "ATELIER_SERVER": "off"}
    if args.bare_steps is None:
        from local_models.shapes.backend import PASS_STEPS
        args.bare_steps = PASS_STEPS
    from local_models.shapes.backend import batch_invariant
    # the server's batches as configured (the backend's own reading of ATELIER_BATCH_INVARIANT; a bad value
    # stops here, before anything is started); the bare pipeline is stock either way
    out: dict = {"threads": args.threads, "bare_steps": args.bare_steps, "batch_invariant": batch_invariant()}

    out["load_before"] = round(os.getloadavg()[0], 1)
    out["bare"] = part("bare", bare_pipeline(args.threads, args.repeats, env, args.bare_steps))
    with tempfile.TemporaryDirectory(prefix="atelier-serve-bench-") as tmp:
        runs = Path(tmp) / "runs"
        server, url = start(runs, env, Path(tmp) / "server.log")
        try:
            cli_run(url, runs, env)  # warm: weights loaded, the first run's imports done
            out["cli"] = part("cli", cli_vs_torch(url, runs, env, args.pairs))
            out["sdk"] = part("sdk", sdk_clients(url, args.clients))
            out["briefs"] = part("briefs", briefs(url, runs, args.briefs, args.concurrency))
            # again right after the briefs (the server idle): on a shared machine the load drifts
            out["bare_after"] = part("bare_after", bare_pipeline(args.threads, args.repeats, env, args.bare_steps))
        finally:
            server.terminate()
            server.wait(timeout=120)
    out["load_after"] = round(os.getloadavg()[0], 1)
    batch8 = statistics.mean([out["bare"]["images_per_s_batch8"], out["bare_after"]["images_per_s_batch8"]])
    out["briefs"]["of_bare_batch8"] = round(out["briefs"]["images_per_s"] / batch8, 3)
    print(json.dumps(out) if args.json else report(out))


def bare_pipeline(threads: int, repeats: int, env: dict, steps: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "local_models.shapes.bench", "--json", "--threads", str(threads),
                           "--repeats", str(repeats), "--steps", str(steps)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the bare pipeline bench failed ({done.returncode}): {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def part(name: str, numbers: dict) -> dict:
    """Each part on stderr as soon as it is measured, so a long run on a busy machine keeps what it got."""
    print(f"{name}: {json.dumps(numbers)} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    return numbers


def start(runs: Path, env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "agent.surfaces.cli", "serve", "--no-ui", "--port", str(port),
                               "--out", str(runs)], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/server", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not start: {log.read_text()[-2000:]}")


def cli_run(url: str, runs: Path, env: dict) -> float:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "agent.surfaces.cli", "run", "a red circle", "--max-iterations", "1",
                           "--out", str(runs), "--json"], cwd=ROOT, env={**env, "ATELIER_SERVER": url},
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if "using the warm server" not in done.stderr:
        raise SystemExit(f"the CLI did not use the server: {done.stderr[-2000:]}")
    return seconds


def cli_vs_torch(url: str, runs: Path, env: dict, pairs: int) -> dict:
    cli, torch = [], []
    for _ in range(pairs):
        cli.append(cli_run(url, runs, env))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], env=env, check=True)
        torch.append(time.perf_counter() - t)
    return {"cli_s": round(statistics.median(cli), 3), "import_torch_s": round(statistics.median(torch), 3),
            "ratio": round(statistics.median(c / t for c, t in zip(cli, torch)), 2), "pairs": pairs}


def sdk_clients(url: str, clients: int) -> dict:
    from openai import APIStatusError, OpenAI

    def one(i: int) -> tuple[float, bool]:
        client = OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=600)
        t = time.perf_counter()
        try:
            result = client.images.generate(model="atelier", prompt=PROMPTS[i % len(PROMPTS)],
                                            extra_body={"atelier": {"seed": 100 + i}})
            approved = all(d.model_extra["atelier"]["approved"] for d in result.data)
        except APIStatusError:
            approved = False
        return time.perf_counter() - t, approved

    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(one, range(clients)))
    latencies = sorted(s for s, _ in done)
    return {"clients": clients, "approved": sum(a for _, a in done), "wall_s": round(time.perf_counter() - t, 2),
            "p50_s": round(statistics.median(latencies), 2),
            "p95_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2)}


def briefs(url: str, runs: Path, count: int, concurrency: int) -> dict:
    """`count` one-image briefs, `concurrency` in flight; then, from their records, where the time went."""
    from agent.core.records import RunStore
    from agent.surfaces.server.client import _events

    def one(i: int) -> str:
        with httpx.Client(base_url=url, timeout=600) as http:
            run_id = http.post("/api/runs", json={"brief": PROMPTS[i % len(PROMPTS)], "seed": 1000 + i,
                                                  "max_iterations": 1}).json()["run_id"]
            for _ in _events(http, f"/api/runs/{run_id}/events"):
                pass
            return run_id

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        ids = list(pool.map(one, range(count)))
    wall = time.perf_counter() - t
    store = RunStore(runs)
    records = [store.load(i) for i in ids]
    generation = sum(a.artifact.seconds for r in records for a in r.attempts)
    steps = [a.artifact.meta.get("denoiser_steps") for r in records for a in r.attempts]
    in_runs = sum(r.seconds for r in records)
    return {"briefs": count, "concurrency": concurrency, "wall_s": round(wall, 2),
            "images_per_s": round(sum(len(r.attempts) for r in records) / wall, 2),
            "approved": sum(r.approved for r in records),
            "steps_per_image": round(statistics.mean(steps), 2) if steps and None not in steps else None,
            "run_seconds": round(in_runs, 1), "generation_seconds": round(generation, 1),
            "generation_share": round(generation / in_runs, 3) if in_runs else None,
            "outside_runs_share": round(max(0.0, 1 - in_runs / (wall * concurrency)), 3)}


def report(out: dict) -> str:
    b, c, s, r = out["bare"], out["cli"], out["sdk"], out["briefs"]
    return "\n".join([
        f"torch threads: {out['threads']}; batch invariant: {out['batch_invariant']}; "
        f"load average {out['load_before']} before, {out['load_after']} after",
        f"warm-server atelier run (1 round): {c['cli_s']} s vs import torch {c['import_torch_s']} s: "
        f"{c['ratio']}x (median of {c['pairs']} pairs)",
        f"{s['clients']} OpenAI SDK clients at once: {s['approved']}/{s['clients']} approved, p50 {s['p50_s']} s, "
        f"p95 {s['p95_s']} s, all done in {s['wall_s']} s",
        f"bare pipeline at {out['bare_steps']} steps: {b['images_per_s_batch8']} images/s in batches of 8 ({b['images_per_s_one_at_a_time']}/s one at a "
        f"time) before the server's parts, {out['bare_after']['images_per_s_batch8']} after the briefs",
        f"{r['briefs']} one-image briefs at concurrency {r['concurrency']}: {r['images_per_s']} images/s "
        f"({r['of_bare_batch8']:.0%} of the bare batch-8 rate, the mean of both; {r['steps_per_image']} steps an image), "
        f"{r['approved']} approved; of the time inside runs "
        f"{r['generation_share']:.0%} is generation (the pipeline owner, its queue and batching), the rest the critic, "
        f"the director, records and PNGs; {r['outside_runs_share']:.0%} of the 8 slots' time is outside any run "
        f"(HTTP, events, scheduling)",
    ])


if __name__ == "__main__":
    main()
