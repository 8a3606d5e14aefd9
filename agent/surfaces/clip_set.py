"""A labelled set of clips as users get them (issue 26 item 4): `atelier run` with the suggested video
model (`local:shapes-animate`), 128 px MP4, every clip attempt of each run kept (approved or not), for
held-out motion and start/end place briefs the bench does not use. Labelled by eye from frame strips
before any verdict is seen; then the clip critic is scored against the labels.

    python -m agent.surfaces.clip_set --make [--briefs 40] [--seed-base 0]  # clips -> candidates.jsonl
    python -m agent.surfaces.clip_set --sheet                               # frame strips to label by eye
    python -m agent.surfaces.clip_set --label NOTES                         # "id ok|bad|skip note" lines
    python -m agent.surfaces.clip_set --score                               # the critic against the labels

The set lives in tests/fixtures/clip_set/: MP4 clips and labels.jsonl, one line per clip: {"file",
"prompt", "spec" (GenEval format with motions), "seed", "right", "note"}.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SET_DIR = ROOT / "tests" / "fixtures" / "clip_set"
LABELS, CANDIDATES = SET_DIR / "labels.jsonl", SET_DIR / "candidates.jsonl"
SHEETS = Path(tempfile.gettempdir()) / "clip_set_sheets"
MODEL = "local:shapes-animate"
FIRST_BRIEF = 60  # the bench's video suite uses held-out motion briefs 0-59 and place briefs 0-19


def briefs(n: int) -> list[tuple[str, object]]:
    """`n` briefs the bench never runs: motion briefs from FIRST_BRIEF on, place briefs from 20 on, alternating."""
    from local_models.shapes.motion import heldout_motion_prompts
    from local_models.shapes.place_briefs import heldout_place_prompts
    motion = heldout_motion_prompts(FIRST_BRIEF + n)[FIRST_BRIEF:]
    places = heldout_place_prompts(20 + n)[20:]
    mixed = [b for pair in zip(motion, places) for b in pair]
    return mixed[:n]


def make(n: int = 40, seed_base: int = 0, iterations: int = 3, first: int = 0) -> None:
    """Runs briefs `first` to `first + n`; their clips are numbered after those already there."""
    from agent.surfaces.api import Studio

    SET_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="clip-set-"))
    studio = Studio(critic="critic:detector", video_model=MODEL, runs_dir=work)
    rows = [json.loads(line) for line in CANDIDATES.read_text().splitlines()] if CANDIDATES.is_file() else []
    for i, (prompt, spec) in enumerate(briefs(first + n)[first:], start=first):
        seed = 610000 + seed_base + 97 * i
        record = studio.run(prompt, seed=seed, budget={"max_iterations": iterations}).record
        for a in record.attempts:
            if a.artifact is None or a.artifact.kind != "video":
                continue
            name = f"{len(rows):03d}.mp4"
            shutil.copyfile(a.artifact.path, SET_DIR / name)
            rows.append({"file": name, "prompt": prompt, "spec": spec.to_geneval(), "seed": a.seed})
    CANDIDATES.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} clips in {SET_DIR} (briefs {first} to {first + n - 1} added)")


def sheet(rows_per_sheet: int = 8) -> list[Path]:
    """Frame strips: a row per clip at the delivered 128 px, a grid and the thirds ticked; never a verdict."""
    from local_models.shapes.video_critic_set import sheets
    return sheets(CANDIDATES, SET_DIR, SHEETS, rows_per_sheet, thirds=True)


def label(notes: Path) -> None:
    """NOTES: "ID ok|bad|skip free text" per clip; skipped clips are deleted."""
    rows = {r["file"][:3]: r for r in map(json.loads, CANDIDATES.read_text().splitlines())}
    out = []
    for line in Path(notes).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cid, verdict, *note = line.split(maxsplit=2)
        row = rows[cid.zfill(3)]
        if verdict == "skip":
            (SET_DIR / row["file"]).unlink(missing_ok=True)
            continue
        assert verdict in ("ok", "bad"), line
        out.append({**row, "right": verdict == "ok", "note": note[0] if note else ""})
    LABELS.write_text("".join(json.dumps(r) + "\n" for r in out))
    CANDIDATES.unlink()
    print(f"{len(out)} clips labelled ({sum(r['right'] for r in out)} right)")


def load() -> list[dict]:
    return [json.loads(line) for line in LABELS.read_text().splitlines()]


def score(critic_spec: str = "critic:detector") -> dict:
    """The clip critic on every labelled clip: wrong approved, right approved, and each disagreement."""
    from agent.core.registry import resolve
    from agent.core.types import Artifact, GenerationRequest, SceneSpec
    critic = resolve("critic", critic_spec)
    counts, errors = {"wrong": 0, "right": 0, "approved_wrong": 0, "approved_right": 0}, []
    for r in load():
        path = SET_DIR / r["file"]
        art = Artifact(path=path, sha256=Artifact.digest(path), kind="video",
                       request=GenerationRequest(prompt=r["prompt"], model=MODEL))
        v = critic.critique(art, r["prompt"], SceneSpec.model_validate(r["spec"]))
        kind = "right" if r["right"] else "wrong"
        counts[kind] += 1
        counts[f"approved_{kind}"] += bool(v.approved)
        if bool(v.approved) != r["right"]:
            errors.append(f"{r['file']} {r['prompt']!r}: labelled {kind} ({r['note']}), critic "
                          f"{'approved' if v.approved else 'rejected: ' + '; '.join(v.issues or [v.error or ''])}")
    return {**counts, "errors": errors}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make", action="store_true")
    ap.add_argument("--briefs", type=int, default=40)
    ap.add_argument("--seed-base", type=int, default=0)
    ap.add_argument("--first", type=int, default=0, help="with --make: the first brief")
    ap.add_argument("--sheet", action="store_true")
    ap.add_argument("--label", type=Path)
    ap.add_argument("--score", action="store_true")
    a = ap.parse_args(argv)
    if a.make:
        make(a.briefs, a.seed_base, first=a.first)
    if a.sheet:
        print("\n".join(map(str, sheet())))
    if a.label:
        label(a.label)
    if a.score:
        r = score()
        print(f"wrong approved {r['approved_wrong']} of {r['wrong']}; right approved {r['approved_right']} of {r['right']}")
        print("\n".join(r["errors"]))


if __name__ == "__main__":
    main()
