"""Ctrl-C during `atelier run` on the real embedded model: the run stops after its current step,
ends `stopped` with exit 130 and one error line, and its record keeps every attempt made."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
ROOT = Path(__file__).resolve().parents[1]


def test_sigint_stops_the_run_saves_it_and_exits_130(tmp_path):
    # at seed 1 the first attempt is not approved, so the run would go on to a second one
    cmd = [sys.executable, "-m", "agent.surfaces.cli", "run", "three yellow stars above two purple rings",
           "--seed", "1", "--max-iterations", "4", "--out", str(tmp_path), "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stderr:  # progress lines; SIGINT as soon as the first attempt is made
        seen.append(line)
        if line.startswith("attempt made"):
            proc.send_signal(signal.SIGINT)
            break
    stdout, rest = proc.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "terminate called" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted: run ") and "--resume" in last
    summary = json.loads(stdout.strip().splitlines()[-1])  # --json still prints its line
    assert summary["status"] == "stopped"
    record = json.loads((tmp_path / summary["run_id"] / "run.json").read_text())
    assert record["status"] == "stopped" and record["stop_reason"] == "stopped by the user"
    assert len(record["attempts"]) == 1 and record["attempts"][0]["verdict"] is not None
    assert all(Path(a["artifact"]["path"]).is_file() for a in record["attempts"])
