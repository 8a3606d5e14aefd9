"""The labelled pool the learned veto (`veto.py`) is trained and cross-validated on: the eleven sets
people labelled by eye (tests/fixtures/approval_set, approval_holdout, approval_holdout2..9, critic_set),
their pictures, which wrong labels are about a visible flaw, and the critic's cached verdicts.

approval_holdout10 is never read here: it is the lead's fresh blind set for the final figure.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SETS = ("approval_set", "approval_holdout", "approval_holdout2", "approval_holdout3", "approval_holdout4",
        "approval_holdout5", "approval_holdout6", "approval_holdout7", "approval_holdout8", "approval_holdout9",
        "critic_set")
BLIND = "approval_holdout10"  # never trained on, never scored here
VERDICT_CACHE = Path(tempfile.gettempdir()) / "veto_verdicts"
RENDER_CACHE = Path(tempfile.gettempdir()) / "veto_renders"

# A wrong label whose note names one of these is about something a picture shows without the brief
# (a patch, smudge, ghost, seam, malformed shape, touching shapes, a shape cut by the edge, specks); the
# others ("two squares, asked one", "beige, not gray", "left of, not above") are brief mismatches no
# brief-blind classifier can see, and are left out of training (never out of the measurement).
FLAW_WORDS = (
    "smudge", "smear", "blob", "malformed", "misshapen", "touch", "merged", "merge", "cut by", "cut off",
    "clipped", "flush", "edge", "patch", "box", "halo", "lump", "pinch", "dent", "notch", "concave", "oval",
    "pentagon", "rounded", "irregular", "speck", "fleck", "figure eight", "figure-eight", "streak", "ghost",
    "seam", "bean", "tent", "spiky", "wedge", "noisy", "noise", "lopsided", "angular", "bell", "flask",
    "cushion", "cross-like", "no hole", "blurry", "faint", "stray", "four points", "uneven", "wobbl", "bump",
    "knob", "dot", "tint", "mottled", "textured", "two-tone", "shadow", "glow", "rim", "fringe", "band",
    "stripe", "bulge", "bowed", "skew", "squashed", "distorted", "deformed", "broken", "ragged", "rough",
    "jagged", "dome", "disc", "flame", "overlap", "double", "fused", "joined", "mark", "spot", "darker centre",
    "artefact", "artifact", "mess", "rectangle", "half")
_FLAW = re.compile("|".join(re.escape(w) for w in FLAW_WORDS), re.IGNORECASE)


def shows_flaw(note: str) -> bool:
    """Whether a wrong image's note names a visible flaw (not only a count, colour or position)."""
    return bool(_FLAW.search(note or ""))


def check_name(name: str) -> str:
    if name == BLIND:
        raise ValueError(f"{BLIND} is the lead's blind set: the veto never reads it")
    if name not in SETS:
        raise ValueError(f"unknown labelled set {name!r}; one of {', '.join(SETS)}")
    return name


def rows(name: str) -> list[dict]:
    """The labelled rows of a set, each with its png path and a `brief` (critic_set: its prompt)."""
    folder = FIXTURES / check_name(name)
    out = []
    for line in (folder / "labels.jsonl").read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out.append({**r, "png": str(folder / r["file"]), "brief": r.get("brief") or r.get("prompt", ""),
                        "set": name})
    return out


def pictures(rs: list[dict]) -> np.ndarray:
    """The rows' pictures on the 64x64 canvas (N, 64, 64, 3; uint8)."""
    from local_models.shapes.detector import canvas_pixels
    return np.stack([canvas_pixels(r["png"]).round().astype(np.uint8) for r in rs])


def training_targets(rs: list[dict]) -> np.ndarray:
    """1 flawed (wrong, its note names a visible flaw), 0 clean (right), -1 left out (a brief mismatch)."""
    return np.array([0 if r["right"] else (1 if shows_flaw(r.get("note", "")) else -1) for r in rs], np.int64)


def _critic_revision() -> str:
    """The commit of the critic's code (cache key): verdicts change only when it does."""
    # the veto's own files do not change the verdicts it is measured against
    paths = ["local_models/shapes", "agent/core", ":(exclude)local_models/shapes/veto*.py",
             ":(exclude)local_models/shapes/train_veto.py", ":(exclude)local_models/shapes/weights-veto"]
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%H", "--", *paths], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head[:12] + ("-dirty" if dirty else "")


def verdicts(name: str, refresh: bool = False) -> list[bool]:
    """critic:detector's approval of each image of the set, WITHOUT the learned veto, as the set's own
    scorer computes it (approval sets: `approval_score.score`, from the brief; critic_set: its spec, as
    critic_set.score), cached in VERDICT_CACHE per set and critic revision."""
    from local_models.shapes import veto
    cache = VERDICT_CACHE / f"{check_name(name)}.json"
    rev = _critic_revision()
    if cache.exists() and not refresh:
        saved = json.loads(cache.read_text())
        if saved.get("revision") == rev:
            return saved["approved"]
    with veto.switched_off():
        if name == "critic_set":
            from agent.core.types import SceneSpec
            from local_models.shapes import detector
            approved = [bool(detector.check_image(SceneSpec.model_validate(r["spec"]), r["png"]).approved)
                        for r in rows(name)]
        else:  # as approval_score.score judges them: the critic from the brief alone (through the registry)
            from agent.core.registry import resolve
            from agent.core.types import Artifact, GenerationRequest
            critic = resolve("critic", "critic:detector")
            approved = [bool(critic.critique(Artifact(path=r["png"], sha256=Artifact.digest(r["png"]),
                                                      request=GenerationRequest(prompt=r["brief"])),
                                             r["brief"], None).approved) for r in rows(name)]
    VERDICT_CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"revision": rev, "approved": approved}))
    return approved


def renders(name: str) -> np.ndarray:
    """The critic's re-render (`veto.rerender` of what `detector.detect` sees) of every image of the set
    (N, 64, 64, 3; float32), cached in RENDER_CACHE per set and critic revision."""
    from local_models.shapes import veto
    from local_models.shapes.detector import canvas_pixels, detect
    cache = RENDER_CACHE / f"{check_name(name)}-{_critic_revision()}.npy"
    if cache.exists():
        return np.load(cache)
    out = []
    for r in rows(name):
        out.append(veto.rerender(canvas_pixels(r["png"]), detect(r["png"])))
    RENDER_CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, np.stack(out))
    return np.load(cache)
