"""Many briefs at once, time outside the model, and cold start, on the offline default
(`offline` planner, `local:shapes`, `critic:detector`), through the real `atelier` command:

  python -m local_models.bench_concurrency [--throughput] [--outside] [--cold-start]
                                           [--briefs 48] [--concurrency 1 8] [--repeats 2]

With no part named, all three run. Every number is a ratio measured within one invocation, the
configurations in turns (c=1, c=8, c=1, c=8, ...), because this machine is shared: compare the
ratios, and read the spread across repeats.

- throughput: BRIEFS one-iteration briefs (varied shapes-world prompts, fixed seeds) written to a
  JSONL file and run by `atelier brief FILE --out DIR --concurrency N --json` in a fresh process;
  images per second over the whole process, over the batch (first brief started to last finished,
  from the run records) and in steady state (after the first wave, which waits for the weights);
  per-brief p50/p95 seconds (the summary lines); the pipeline owner's coalescing (calls, largest
  and mean batch, share of the batch's time the pipeline was busy). Target: c=8 at least 2x c=1.
- outside: the same CLI at concurrency 1 over briefs with the default budget (4 iterations, the
  critic's loop and edits, as `atelier run` does): the share of each brief's wall time spent
  outside the pipeline call (planner, critic, run records, PNG writes); the first brief (the
  weights loading) is left out. Target: under 5%.
- cold-start: `atelier run "two red circles left of a blue square" --max-iterations 1` in a fresh
  process: seconds from the process start to the first denoising step (a forward hook on the
  UNet), against `python -c "import torch"`, measured in turns. Target: at most 2x.

The child processes are `python -m local_models.bench_concurrency --child STATS -- ARGS...`: the
`atelier` console script with ARGS, plus hooks that record every pipeline call of the owner."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

PROMPTS = [
    "a single triangle", "two red circles", "a blue star", "one green square", "three yellow rings",
    "a purple circle", "two blue triangles", "an orange star", "a red square left of a blue circle",
    "four white circles", "a black ring", "a green triangle above a red star", "two purple squares",
    "a large yellow circle", "a small blue square", "one ring, please", "three red stars",
    "a white triangle on a lavender background", "a circle right of a square", "two green rings",
    "an orange square below a purple triangle", "a blue circle on a beige background",
    "three black triangles", "a red star",
]
COLD_BRIEF = "two red circles left of a blue square"


# ---- the child: the atelier command with hooks ------------------------------------------------------
def child(stats_path: str, argv: list[str]) -> int:
    started = time.time()
    stats: dict = {"started": started, "calls": []}

    def dump() -> None:
        Path(stats_path).write_text(json.dumps(stats))

    from local_models import owner as owner_mod

    init = owner_mod.PipelineOwner.__init__

    def hooked_init(self, name, run, **kw):
        backend = getattr(run, "__self__", None)

        def timed_run(key, payloads):
            t0 = time.time()
            if "first_call" not in stats:
                stats["first_call"] = t0
                if backend is not None and hasattr(backend, "pipe") and isinstance(key, tuple):
                    pipe = backend.pipe(key[0])  # what the run does first; loads the weights
                    stats["loaded"] = time.time()
                    stats["load_seconds"] = getattr(backend, "load_seconds", None)

                    def first_step(module, args):
                        stats.setdefault("first_step", time.time())
                    pipe.unet.register_forward_pre_hook(first_step)
            out = run(key, payloads)
            stats["calls"].append([t0, time.time(), len(payloads), str(key[0] if isinstance(key, tuple) else key)])
            return out
        init(self, name, timed_run, **kw)
        stats.setdefault("owners", []).append(name)
        owners.append(self)

    owners: list = []
    owner_mod.PipelineOwner.__init__ = hooked_init
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "atelier"]
    cli = ep.load()
    stats["cli_loaded"] = time.time()
    sys.argv = ["atelier", *argv]
    code = 0
    try:
        cli()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        stats["ended"] = time.time()
        stats["owner_stats"] = [vars(o.stats) | {"name": o.name} for o in owners]
        dump()
    return code


def run_child(args: list[str], work: Path, tag: str, env: dict | None = None) -> tuple[dict, str, float, int]:
    """Run the atelier command with ARGS in a fresh process; (hook stats, stdout, wall s, exit code)."""
    stats = work / f"{tag}.stats.json"
    t0 = time.time()
    done = subprocess.run([sys.executable, "-m", "local_models.bench_concurrency", "--child", str(stats), "--", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.time() - t0
    (work / f"{tag}.stderr.txt").write_text(done.stderr)
    data = json.loads(stats.read_text()) if stats.exists() else {}
    data["spawned"] = t0
    return data, done.stdout, wall, done.returncode


# ---- helpers -----------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))]


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} (range {fmt.format(min(values))}-{fmt.format(max(values))})"


def load_avg() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def write_briefs(path: Path, n: int, iterations: int | None) -> None:
    with path.open("w") as f:
        for i in range(n):
            entry = {"id": f"b{i:02d}", "brief": PROMPTS[i % len(PROMPTS)], "seed": 1000 + i}
            if iterations:
                entry["max_iterations"] = iterations
            f.write(json.dumps(entry) + "\n")


def records(out: Path) -> list[dict]:
    """(start, seconds, images) of every brief's run, from its run.json."""
    rows = []
    for run_json in sorted((out / "runs").glob("*/run.json")):
        d = json.loads(run_json.read_text())
        start = datetime.fromisoformat(d["created"].replace("Z", "+00:00")).timestamp()
        rows.append({"id": d["run_id"], "start": start, "seconds": d["seconds"], "end": start + d["seconds"],
                     "images": len(d["attempts"])})
    return rows


# ---- throughput ----------------------------------------------------------------------------------------
def one_batch(file: Path, work: Path, concurrency: int, tag: str, env: dict | None = None) -> dict:
    out = work / tag
    stats, stdout, wall, code = run_child(["brief", str(file), "--out", str(out), "--concurrency", str(concurrency),
                                           "--json"], work, tag, env)
    lines = [json.loads(l) for l in stdout.splitlines() if l.startswith("{")]
    if code != 0 or not lines:
        raise SystemExit(f"`atelier brief` at concurrency {concurrency} failed (exit {code}); "
                         f"see {work / (tag + '.stderr.txt')}")
    recs = records(out)
    images = sum(r["images"] for r in recs)
    first, last = min(r["start"] for r in recs), max(r["end"] for r in recs)
    ends = sorted(r["end"] for r in recs)
    wave = min(concurrency, len(ends) - 1)
    steady = (len(ends) - wave) / (ends[-1] - ends[wave - 1]) if wave >= 1 else float("nan")
    lat = [float(l["seconds"]) for l in lines]
    lat_warm = [r["seconds"] for r in sorted(recs, key=lambda r: r["start"])[concurrency:]] or lat
    calls = stats.get("calls", [])
    in_batch = [c for c in calls if c[0] >= first and c[1] <= last]
    busy = sum(c[1] - c[0] for c in in_batch)
    sizes = [c[2] for c in calls]
    owner = (stats.get("owner_stats") or [{}])[0]
    return {"concurrency": concurrency, "briefs": len(lines), "images": images, "wall": wall,
            "span": last - first, "ips_process": images / wall, "ips_batch": images / (last - first),
            "ips_steady": steady, "p50": pct(lat, 50), "p95": pct(lat, 95),
            "p50_warm": pct(lat_warm, 50), "p95_warm": pct(lat_warm, 95),
            "calls": len(calls), "requests": sum(sizes), "largest": max(sizes or [0]),
            "mean_batch": (sum(sizes) / len(sizes)) if sizes else 0, "busy_share": busy / (last - first),
            "owner": owner, "approved": sum(bool(l.get("approved")) for l in lines),
            "failed": sum(l.get("status") == "failed" for l in lines)}


def throughput(work: Path, n: int, levels: list[int], repeats: int, compare: list[str]) -> list[dict]:
    """Every level (and the last level again with each `compare` setting, e.g.
    ATELIER_BATCH_REGROUP=0), in turns, `repeats` times."""
    file = work / "briefs.jsonl"
    write_briefs(file, n, 1)
    configs = [(c, {}, f"c={c}") for c in levels]
    for setting in compare:
        name, _, value = setting.partition("=")
        configs.append((levels[-1], {name: value}, f"c={levels[-1]} {setting}"))
    print(f"\n== throughput: {n} one-iteration briefs, `atelier brief --concurrency N --json`, "
          f"{', '.join(c[2] for c in configs)}, {repeats} repeat(s) in turns; load {load_avg()}", flush=True)
    rows = []
    for rep in range(repeats):
        for k, (c, env, label) in enumerate(configs):
            r = one_batch(file, work, c, f"cfg{k}-c{c}-r{rep}", env)
            r["repeat"], r["label"] = rep, label
            rows.append(r)
            print(f"  {label} rep {rep}: {r['images']} images; {r['ips_process']:.2f} img/s process "
                  f"({r['wall']:.1f} s), {r['ips_batch']:.2f} img/s batch ({r['span']:.1f} s), "
                  f"{r['ips_steady']:.2f} img/s steady; latency p50 {r['p50']:.2f} s p95 {r['p95']:.2f} s "
                  f"(after first wave p50 {r['p50_warm']:.2f} p95 {r['p95_warm']:.2f}); pipeline calls "
                  f"{r['calls']}, largest batch {r['largest']}, mean {r['mean_batch']:.1f}, busy "
                  f"{100 * r['busy_share']:.0f}% of the batch; approved {r['approved']}, failed {r['failed']}; "
                  f"load {load_avg()}", flush=True)
    base = [r for r in rows if r["label"] == configs[0][2]]
    for _, _, label in configs[1:]:
        mine = [r for r in rows if r["label"] == label]
        for metric in ("ips_process", "ips_batch", "ips_steady"):
            ratios = [b[metric] / a[metric] for a, b in zip(base, mine)]
            print(f"  {metric.replace('ips_', 'images/s ')}: {label} / {configs[0][2]} = {spread(ratios)}x")
    for _, _, label in configs:
        mine = [r for r in rows if r["label"] == label]
        print(f"  {label}: p50 {spread([r['p50'] for r in mine])} s, p95 {spread([r['p95'] for r in mine])} s, "
              f"after the first wave p50 {spread([r['p50_warm'] for r in mine])} s, p95 "
              f"{spread([r['p95_warm'] for r in mine])} s; largest batch {max(r['largest'] for r in mine)}, "
              f"mean batch {spread([r['mean_batch'] for r in mine], '{:.1f}')}")
    return rows


# ---- outside the model ------------------------------------------------------------------------------
def outside(work: Path, n: int, repeats: int, env: dict | None = None) -> list[float]:
    file = work / "briefs-default.jsonl"
    write_briefs(file, n + 1, None)  # the default budget; brief 0 loads the weights and is left out
    print(f"\n== outside the model: {n} briefs (default budget) at concurrency 1; load {load_avg()}", flush=True)
    shares = []
    for rep in range(repeats):
        tag = f"outside-r{rep}"
        stats, stdout, wall, code = run_child(["brief", str(file), "--out", str(work / tag), "--concurrency", "1",
                                               "--json"], work, tag, env)
        if code != 0:
            raise SystemExit(f"`atelier brief` failed (exit {code}); see {work / (tag + '.stderr.txt')}")
        recs = sorted(records(work / tag), key=lambda r: r["start"])[1:]
        calls = stats["calls"]
        total = model = 0.0
        images = 0
        for r in recs:
            total += r["seconds"]
            images += r["images"]
            model += sum(min(c[1], r["end"]) - max(c[0], r["start"]) for c in calls
                         if c[1] > r["start"] and c[0] < r["end"])
        share = (total - model) / total
        shares.append(share)
        print(f"  rep {rep}: {len(recs)} briefs, {images} images, {total:.1f} s in runs, {model:.1f} s in pipeline "
              f"calls, outside {100 * share:.1f}% ({1000 * (total - model) / max(images, 1):.0f} ms per image); "
              f"load {load_avg()}", flush=True)
    print(f"  outside the pipeline call: {spread([100 * s for s in shares], '{:.1f}')}% of wall time")
    return shares


# ---- cold start ----------------------------------------------------------------------------------------
def cold_start(work: Path, repeats: int, env: dict | None = None) -> list[float]:
    print(f"\n== cold start: `atelier run {COLD_BRIEF!r} --max-iterations 1` vs `python -c 'import torch'`, "
          f"{repeats} turns; load {load_avg()}", flush=True)
    ratios = []
    for rep in range(repeats):
        t0 = time.time()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        torch_s = time.time() - t0
        tag = f"cold-r{rep}"
        stats, _, wall, code = run_child(["run", COLD_BRIEF, "--max-iterations", "1", "--seed", "7", "--out",
                                          str(work / tag), "--json"], work, tag, env)
        if code != 0 or "first_step" not in stats:
            raise SystemExit(f"`atelier run` failed (exit {code}); see {work / (tag + '.stderr.txt')}")
        s0 = stats["spawned"]
        first = stats["first_step"] - s0
        ratios.append(first / torch_s)
        print(f"  turn {rep}: import torch {torch_s:.2f} s; atelier run: CLI loaded {stats['cli_loaded'] - s0:.2f} s, "
              f"first pipeline call {stats['first_call'] - s0:.2f} s, pipeline loaded {stats['loaded'] - s0:.2f} s "
              f"(from_pretrained {stats.get('load_seconds') or 0:.2f} s), first denoising step {first:.2f} s "
              f"= {first / torch_s:.2f}x import torch; process {wall:.2f} s; load {load_avg()}", flush=True)
    print(f"  first denoising step / import torch: {spread(ratios)}x (target <= 2)")
    return ratios


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        raise SystemExit(child(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:]))
    ap = argparse.ArgumentParser(prog="python -m local_models.bench_concurrency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--outside", action="store_true")
    ap.add_argument("--cold-start", action="store_true")
    ap.add_argument("--briefs", type=int, default=48)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--compare", nargs="*", default=[], metavar="ENV=VALUE",
                    help="also run the last concurrency level with this setting, e.g. ATELIER_BATCH_REGROUP=0")
    ap.add_argument("--outside-briefs", type=int, default=16)
    ap.add_argument("--cold-repeats", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    a = ap.parse_args(argv)
    everything = not (a.throughput or a.outside or a.cold_start)
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        work = Path(a.work or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        import platform
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
              f"{platform.python_version()}; ATELIER_TORCH_THREADS={os.environ.get('ATELIER_TORCH_THREADS', '(default)')}, "
              f"ATELIER_BATCH_WINDOW_MS={os.environ.get('ATELIER_BATCH_WINDOW_MS', '(default)')}; load {load_avg()}")
        if everything or a.cold_start:
            cold_start(work, a.cold_repeats)
        if everything or a.throughput:
            throughput(work, a.briefs, a.concurrency, a.repeats, a.compare)
        if everything or a.outside:
            outside(work, a.outside_briefs, a.repeats)
        print(f"\nload at the end: {load_avg()}")


if __name__ == "__main__":
    main()
