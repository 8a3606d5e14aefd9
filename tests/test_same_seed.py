"""The same brief and seed in two fresh processes give the same pictures, an edit's included (issue 23:
the text bench's numbers were said to move run to run).

Two `atelier run` processes, one after the other, each its own interpreter (its own hash seed, its own
torch and OCR sessions). Every attempt must match: the action, the seed, the repainted region, and the
decoded pixels. The PNG files themselves are not byte-identical and are not compared as such: each
carries its run's id, timings and a signed C2PA manifest in its metadata, which differ by design.

Not covered: two runs sharing one pipeline call (`PipelineOwner` batching concurrent runs' requests). A
batched call is not bit-identical to a lone one on CPU torch (measured: an inpainting edit off by one
level when it shares a call; small-batch GEMMs differ with the batch's size), so under concurrency a
seed's picture can depend on what else ran.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("rapidocr_onnxruntime")
# a layout, a region edit of the square (an inpainting pass), then the words typeset after the rounds
BRIEF = "a yellow square with 'HONEY' written below it on a lavender background"
# the first seed from 35300 whose square is repainted before the words are set (since the inpainting
# fine-tune, 35300's square needs no repaint)
SEED = 35311
ATELIER = Path(sys.executable).with_name("atelier")


def _run(out: Path, hash_seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    env.pop("ATELIER_SERVER", None)  # each run in its own process, not a warm server's
    done = subprocess.run([str(ATELIER), "run", BRIEF, "--seed", str(SEED), "--max-iterations", "2",
                           "--out", str(out), "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _attempts(summary: dict, out: Path) -> list[tuple]:
    record = json.loads((out / summary["run_id"] / "run.json").read_text())
    made = []
    for a in record["attempts"]:
        with Image.open(a["artifact"]["path"]) as im:
            pixels = hashlib.sha256(im.convert("RGB").tobytes()).hexdigest()
        made.append((a["action"], a["seed"], a["region"], a["typeset"], a["source"], pixels))
    return made


@pytest.mark.slow
def test_the_same_seed_gives_the_same_pictures_in_two_fresh_processes(tmp_path):
    first, second = _run(tmp_path / "a", "1"), _run(tmp_path / "b", "2")
    a, b = _attempts(first, tmp_path / "a"), _attempts(second, tmp_path / "b")
    assert [x[0] for x in a] == ["generate", "edit", "edit"]  # the path this test is for: an edit, then words
    assert a[1][2] is not None and a[2][3] == "HONEY"  # a region repainted, the words set
    assert a == b
    assert first["best"]["path"] != second["best"]["path"]  # two runs, each with its own files
