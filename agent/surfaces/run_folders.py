"""Which folder holds a run. `atelier run --out` and `atelier history --out` name a runs folder;
`atelier brief --out` names a batch folder, whose runs are in its runs/. Every command that reads
runs takes either, and `--resume ID` / `show ID` look where runs usually are when not told."""
from __future__ import annotations

from pathlib import Path

from agent.core.errors import InputError

BATCH_MARKS = ("summary.jsonl", "report.html")  # what `atelier brief` writes beside runs/


def is_batch_folder(folder: Path) -> bool:
    return (folder / "runs").is_dir() and not (folder / "index.sqlite").exists() and \
        any((folder / mark).is_file() for mark in BATCH_MARKS)


def runs_folder(out: Path) -> tuple[Path, str]:
    """The runs folder `out` names (itself, or a batch folder's runs/), and a note when it was a
    batch folder, so the user sees which was read."""
    out = Path(out).expanduser()
    if is_batch_folder(out):
        return out / "runs", f"{out} is a batch folder (atelier brief --out); reading its runs in {out / 'runs'}"
    return out, ""


def _candidates(out: Path | None) -> list[Path]:
    """Where to look for a run: the folder given (and, for a batch folder, its runs/), then ./runs,
    ./batch/runs (the defaults of `atelier run` and `atelier brief`), then the runs/ of every batch
    folder in the current folder."""
    found: list[Path] = []
    for folder in ([Path(out).expanduser(), Path(out).expanduser() / "runs"] if out is not None else []):
        found.append(folder)
    found += [Path("runs"), Path("batch") / "runs"]
    try:
        found += sorted(d / "runs" for d in Path(".").iterdir() if d.is_dir() and is_batch_folder(d))
    except OSError:
        pass
    unique: dict[Path, Path] = {}
    for folder in found:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def find_run(run_id: str, out: Path | None = None) -> Path:
    """The runs folder holding run `run_id` (its run.json), searched as `_candidates` says; an
    InputError naming every folder looked in when none holds it."""
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise InputError(f"not a run id: {run_id!r}")
    looked = _candidates(out)
    for folder in looked:
        if (folder / run_id / "run.json").is_file():
            return folder
    raise InputError(f"no run {run_id!r} in {', '.join(str(f) for f in looked)}; pass --out with the runs "
                     f"folder (or the batch folder) that holds it")


def batch_folder(out: Path) -> tuple[Path, str]:
    """The batch folder `atelier brief --out` names: itself, or, given a batch's runs/ folder, the
    batch folder above it (with a note). A plain runs folder (`atelier run`'s) is refused: a batch
    in it would mix its summary with runs of its own."""
    out = Path(out).expanduser()
    if (out / "index.sqlite").exists() and not is_batch_folder(out):
        if is_batch_folder(out.parent) and out.name == "runs":
            return out.parent, f"{out} is the runs folder of the batch in {out.parent}; using {out.parent}"
        raise InputError(f"--out {out} is a runs folder (it holds index.sqlite); atelier brief --out takes a batch "
                         f"folder, which holds runs/, summary.jsonl and report.html: name a new or batch folder")
    return out, ""
