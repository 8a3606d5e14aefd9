"""`atelier brief --executor ray` as a cluster would use it: a local instance started when none runs
(and said so), a cluster of two nodes on this machine (a head and a second `ray start --address`
node with its own resources) both running briefs, each worker several at once, and a node killed
mid-batch losing and repeating nothing. Marked `ray` (CI's optional pass runs them)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.test_batch import ROOT, child_env, write

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'atelier[ray]')")
RAY = str(Path(sys.executable).with_name("ray"))
FAKES = ["--image-model", "slow:flat", "--critic", "critic:seed"]
# a lost node is noticed in a few seconds, not the default half minute
FAST_HEALTH = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
               "RAY_health_check_failure_threshold": "3", "RAY_health_check_timeout_ms": "1000",
               "RAY_AUTH_MODE": "disabled"}  # a throwaway cluster on this machine; a real one keeps its token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """`ray start ... --block` in a session of its own, so killing its group kills that node only."""
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", "--object-store-memory",
                             str(80 * 2**20), *args], cwd=ROOT, env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill_node(node: subprocess.Popen) -> None:
    """SIGKILL every process of the node's session: its raylet, and its workers, which Ray puts in
    process groups of their own (a node lost whole, as a machine that dies)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == node.pid:  # the session id
            try:
                os.kill(int(stat.parent.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
    node.wait(timeout=30)


def wait_for_nodes(address: str, count: int, env: dict, timeout: float = 90) -> None:
    probe = "import ray; ray.init(address=%r, log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", probe % address], env=env, capture_output=True, text=True,
                             timeout=60)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise AssertionError(f"the cluster at {address} did not reach {count} nodes")


def briefs(tmp_path: Path, n: int) -> Path:
    return write(tmp_path / "briefs.yaml", [{"id": f"b{i:02d}", "brief": f"a lake number {i}", "seed": 10 * i,
                                             "max_iterations": 2} for i in range(n)])


def brief_cmd(path: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "agent.surfaces.cli", "brief", str(path), "--out", str(out), "--executor", "ray",
            "--json", *FAKES, *extra]


def test_no_cluster_starts_a_local_instance_and_says_so(tmp_path):
    env = child_env(ATELIER_TEST_DELAY="0.05", RAY_ADDRESS="")
    env.pop("RAY_ADDRESS")
    run = subprocess.run(brief_cmd(briefs(tmp_path, 3), tmp_path / "out", "--concurrency", "2"), cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    assert "started a local Ray instance" in run.stderr and "RAY_ADDRESS" in run.stderr
    lines = [json.loads(l) for l in run.stdout.splitlines() if l.startswith("{")]
    assert [l["id"] for l in lines] == ["b00", "b01", "b02"] and all(l["node_id"] for l in lines)
    bad = subprocess.run(brief_cmd(briefs(tmp_path, 1), tmp_path / "out2"), cwd=ROOT, timeout=120,
                         env={**env, "RAY_ADDRESS": f"127.0.0.1:{free_port()}"}, capture_output=True, text=True)
    assert bad.returncode == 2 and "no Ray cluster at" in bad.stderr and "ray start --head" in bad.stderr


def test_two_nodes_share_the_batch_and_a_lost_node_loses_and_repeats_nothing(tmp_path):
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = child_env(ATELIER_TEST_DELAY="0.15", **FAST_HEALTH)
    head = start_node(["--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                       "--resources", '{"head": 1}'], env, tmp_path / "head.log")
    second = batch = None
    try:
        wait_for_nodes(address, 1, env)
        second = start_node([f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--resources", '{"second": 1}'], env,
                            tmp_path / "second.log")
        wait_for_nodes(address, 2, env)
        nodes = {}
        probe = ("import ray, json; ray.init(address=%r, log_to_driver=False); "
                 "print(json.dumps({n['NodeID']: sorted(n['Resources']) for n in ray.nodes() if n['Alive']}))")
        nodes = json.loads(subprocess.run([sys.executable, "-c", probe % address], env=env, capture_output=True,
                                          text=True, timeout=60).stdout.strip().splitlines()[-1])
        second_id = next(i for i, resources in nodes.items() if "second" in resources)

        path, out = briefs(tmp_path, 48), tmp_path / "out"
        started = time.monotonic()
        batch = subprocess.Popen(brief_cmd(path, out, "--concurrency", "8"), cwd=ROOT, env={**env, "RAY_ADDRESS": address},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        summary = out / "summary.jsonl"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # kill the second node once it has finished some briefs
            done = [json.loads(l) for l in summary.read_text().splitlines()] if summary.exists() else []
            if sum(l.get("node_id") == second_id for l in done) >= 3:
                break
            assert batch.poll() is None, batch.communicate()
            time.sleep(0.05)
        kill_node(second)
        before = {l["id"]: l for l in (json.loads(x) for x in summary.read_text().splitlines())}
        try:
            stdout, stderr = batch.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            batch.kill()
            raise AssertionError("the batch did not finish after the node was lost:\n" + batch.communicate()[1][-3000:])
        assert batch.returncode == 0, stderr
        assert "joined the cluster" in stderr and "2 worker(s) × 4 briefs at once" in stderr

        printed = [json.loads(l) for l in stdout.splitlines() if l.startswith("{")]
        ledger = [json.loads(l) for l in summary.read_text().splitlines()]
        assert [p["id"] for p in printed] == [f"b{i:02d}" for i in range(48)]  # none lost
        assert len(ledger) == 48 and len({l["id"] for l in ledger}) == 48  # none counted twice
        assert {l["node_id"] for l in ledger} == set(nodes)  # both nodes ran briefs (ids in the records)
        assert len(before) < 48, "the node should be killed mid-batch"
        for line in printed:  # nothing repeated: each brief's two rounds once, its files all there
            assert [a["seed"] for a in line["attempts"]] == [line["attempts"][0]["seed"], line["attempts"][0]["seed"] + 1]
            assert all(Path(a["path"]).is_file() for a in line["attempts"])
            if line["id"] in before:
                assert before[line["id"]] == line  # finished before the kill: untouched
        assert "worker lost" in stderr and "resumes on another worker" in stderr  # its briefs in flight came back
        per_node = Counter("second" if l["node_id"] == second_id else "head" for l in ledger)
        print(f"48 briefs in {time.monotonic() - started:.1f} s: {per_node['head']} on the head, {per_node['second']} "
              f"on the second node ({sum(l['node_id'] == second_id for l in before.values())} before it was killed), "
              f"{stderr.count('resumes on another worker')} resumed after the kill; the ledger 48 lines, each brief's "
              f"two rounds once")  # the figures BENCHMARKS.md quotes (pytest -m ray -s)
    finally:
        if batch is not None and batch.poll() is None:
            batch.kill()
        if second is not None:
            kill_node(second)
        kill_node(head)
