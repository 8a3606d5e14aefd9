"""Whole-command batch throughput: `python -m agent.surfaces.bench_batch`.

1. N one-image briefs (`max_iterations: 1`), `atelier brief` as a user runs it (a fresh process:
   imports, weights, every brief, the report), at each --concurrency: images per second and the
   ratio to --concurrency 1.
   With --server, the same against a warm `atelier serve` (a fresh one for each level, its runs
   folder the batch's OUT/runs, warmed by one `atelier run` first; neither counted).
2. With --ray: a cluster of two nodes on this machine (a head and a second `ray start --address`
   node, each with its own CPUs), `atelier brief --executor ray` on M briefs: seconds, images/s and
   how many briefs each node ran (from the node ids in summary.jsonl).
Prints one line per measurement and a JSON summary last."""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from agent.core.defaults import DEFAULT_IMAGE_MODEL

ONE_OBJECT = ["a red circle", "a blue square", "a green triangle", "a yellow star", "a purple ring",
              "an orange circle", "a blue triangle", "a green square"]
ROOT = Path(__file__).resolve().parents[2]


def write_briefs(folder: Path, count: int) -> Path:
    path = folder / f"briefs-{count}.jsonl"
    path.write_text("".join(json.dumps({"id": f"b{i:03d}", "brief": ONE_OBJECT[i % len(ONE_OBJECT)], "seed": i,
                                        "max_iterations": 1}) + "\n" for i in range(count)))
    return path


def run_batch_command(briefs: Path, out: Path, *extra: str, env: dict | None = None) -> dict:
    """Time the whole `atelier brief` command; count the images its briefs made."""
    cmd = [sys.executable, "-m", "agent.surfaces.cli", "brief", str(briefs), "--out", str(out), "--json",
           "--no-credentials", *extra]  # the loop's throughput; signing is measured apart (credentials_cost)
    load = os.getloadavg()[0]  # the machine is shared: each row says its load, before and after
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"atelier brief failed ({done.returncode}): {done.stderr[-2000:]}")
    if env and env.get("ATELIER_SERVER", "off") != "off" and "warm server" not in done.stderr:
        raise SystemExit(f"atelier brief did not use the server at {env['ATELIER_SERVER']}: {done.stderr[-2000:]}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    images = sum(len(line.get("attempts") or []) for line in lines)
    return {"seconds": round(seconds, 2), "briefs": len(lines), "images": images,
            "approved": sum(bool(line.get("approved")) for line in lines),
            "images_per_s": round(images / seconds, 3), "nodes": dict(Counter(l.get("node_id", "")[:8] for l in lines)),
            "load": [round(load, 1), round(os.getloadavg()[0], 1)]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    ray = str(Path(sys.executable).with_name("ray"))
    return subprocess.Popen([ray, "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
                             f"--object-store-memory={100 * 2**20}", *args], cwd=ROOT, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(node: subprocess.Popen) -> None:
    """Every process of the node's session (Ray gives its workers process groups of their own)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) == node.pid:
                os.kill(int(stat.parent.name), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue
    node.wait(timeout=30)


def _wait_for_nodes(address: str, count: int, env: dict, seconds: float = 180) -> None:
    probe = f"import ray; ray.init(address={address!r}, log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
        if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise SystemExit(f"the Ray cluster at {address} did not reach {count} nodes in {seconds:g} s")


def two_node_batch(folder: Path, count: int, concurrency: int, cpus: int) -> dict:
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}  # a throwaway loopback cluster
    head = _node(["--head", f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false"], env,
                 folder / "head.log")
    second = None
    try:
        _wait_for_nodes(f"127.0.0.1:{port}", 1, env)
        second = _node([f"--address=127.0.0.1:{port}", f"--num-cpus={cpus}"], env, folder / "second.log")
        _wait_for_nodes(f"127.0.0.1:{port}", 2, env)
        return run_batch_command(write_briefs(folder, count), folder / "ray-out", "--executor", "ray",
                                 "--concurrency", str(concurrency), env={**env, "RAY_ADDRESS": f"127.0.0.1:{port}"})
    finally:
        for node in (second, head):
            if node is not None:
                _stop(node)


def server_batch(briefs: Path, out: Path, level: int) -> dict:
    """The whole `atelier brief` against a fresh warm server whose runs folder is OUT/runs."""
    from agent.surfaces.server.bench import cli_run, start
    env = {**os.environ, "ATELIER_SERVER": "off"}
    out.mkdir(parents=True)
    server, url = start(out / "runs", env, out.parent / f"{out.name}-server.log")
    try:
        cli_run(url, out / "runs", env)  # the pipelines loaded, the first run's imports done
        return run_batch_command(briefs, out, "--concurrency", str(level), env={**env, "ATELIER_SERVER": url})
    finally:
        server.terminate()
        server.wait(timeout=120)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--briefs", type=int, default=96)
    parser.add_argument("--concurrency", default="1,8", help="comma-separated levels (the first is the baseline)")
    parser.add_argument("--ray", action="store_true", help="also the two-node Ray batch")
    parser.add_argument("--ray-briefs", type=int, default=48)
    parser.add_argument("--ray-cpus", type=int, default=1, help="CPUs each of the two nodes declares")
    parser.add_argument("--only-ray", action="store_true", help="skip the in-process levels")
    parser.add_argument("--server", action="store_true", help="also each level against a warm `atelier serve`")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="atelier-bench-batch-"))
    briefs = write_briefs(folder, args.briefs)
    results: dict = {"image_model": DEFAULT_IMAGE_MODEL, "briefs": args.briefs, "local": {}}
    levels = [int(c) for c in args.concurrency.split(",")]
    for level in [] if args.only_ray else levels:
        row = run_batch_command(briefs, folder / f"out-c{level}", "--concurrency", str(level))
        results["local"][level] = row
        print(f"in-process, --concurrency {level}: {row['images']} images in {row['seconds']} s = "
              f"{row['images_per_s']} images/s ({row['approved']} of {row['briefs']} approved; load {row['load']})", flush=True)
    for level in [] if args.only_ray else levels[1:]:
        base = results["local"][levels[0]]["images_per_s"]
        ratio = results["local"][level]["images_per_s"] / base
        results["local"][level]["ratio"] = round(ratio, 2)
        print(f"--concurrency {level} / --concurrency {levels[0]}: {ratio:.2f}x images/s (whole command)")
    if args.server:
        results["server"] = {}
        for level in levels:
            row = server_batch(briefs, folder / f"server-c{level}", level)
            results["server"][level] = row
            print(f"warm server, --concurrency {level}: {row['images']} images in {row['seconds']} s = "
                  f"{row['images_per_s']} images/s ({row['approved']} of {row['briefs']} approved; load {row['load']})", flush=True)
        for level in levels[1:]:
            ratio = results["server"][level]["images_per_s"] / results["server"][levels[0]]["images_per_s"]
            results["server"][level]["ratio"] = round(ratio, 2)
            print(f"warm server, --concurrency {level} / {levels[0]}: {ratio:.2f}x images/s (whole command)")
    if args.ray or args.only_ray:
        row = two_node_batch(folder, args.ray_briefs, max(levels), args.ray_cpus)
        results["ray_two_nodes"] = row
        print(f"Ray, two nodes here, {args.ray_briefs} briefs at --concurrency {max(levels)}: {row['images']} images "
              f"in {row['seconds']} s = {row['images_per_s']} images/s; briefs per node {row['nodes']}")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
